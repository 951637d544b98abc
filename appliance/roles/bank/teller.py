"""The teller JSON-RPC view: the seed's `iso8583_web.scripts.views.jsonrpc`.

Methods (params: one object, or the seed's list holding one object):

    inquiry   {invoice_id}
    payment   {invoice_id, amount, ntb, stan}
    reversal  {invoice_id, amount, ntb[, stan]}

A route may name a group of hosts, links to one pemda
(appliance.roles.bank.group): each request takes a live one, and a reversal
finds its payment in every member's journal.

A payment's `stan` is accepted for the seed's client and not used: every new
request gets its STAN from the link, unique among those in flight. A
reversal's `ntb` and `stan` are the payment's NTB and the bit 11 of the
payment's answer; they identify the payment being reversed. With the journal
a reversal must match a payment in it (this bank sent it to this host with
the same invoice, NTB and amount, answered 00; `stan`, when given, is its
STAN, and without it the payment's STAN is used), or it is refused and
nothing is sent (docs/operations.md lists each refusal):

Whatever happens on the link is a JSON-RPC *result*
`{"code": ..., "message": ..., "data": {...}}`; JSON-RPC *errors* are kept for
bad requests (-32600, -32601, -32602) and bugs (-32603). Codes:

    0   OK                                 the pemda answered; data holds every
                                           bit of its answer by number, and
                                           data["39"] is its response code
    91  link kota_bogor is down            answered at once, nothing was sent
        (a group: every link of group kota_bogor_1, kota_bogor_2 is down)
    96  request not sent to kota_bogor: …  the link refused it (too many in
                                           flight, or that STAN is in flight);
                                           nothing was sent, try again
    68  no answer from kota_bogor within 30 s (or: link kota_bogor closed
        before the answer came)            sent, not answered: the
                                           outcome is unknown. With the
                                           journal (the bank.pemda host
                                           module) a payment or reversal
                                           answered 68 is reversed by the
                                           bank itself: the message ends
                                           with "reversal queued (SAF entry
                                           N)". Without it, reverse a payment
                                           answered 68 yourself (a pemda
                                           answers a reversal of a payment it
                                           never booked with 54 or 55)
    94  payment of invoice … with NTB … is still in progress
                                           the same payment (invoice and NTB)
                                           is being sent by another call;
                                           ask again later
    51  payment refused: … with NTB … was sent before with amount …
        (or: reversal refused: amount … is not the amount of …)
                                           nothing sent
    54  reversal refused: the payment … was answered 54, not 00 (or: was not
        answered, the bank reverses it itself; or: was never sent)
                                           nothing sent
    55  reversal refused: no payment of invoice … with NTB … was sent (or:
        STAN … is not the STAN of the payment …)
                                           nothing sent

With the journal, payments are idempotent: a payment with the invoice and
NTB of an earlier one is not sent again; it gets the earlier call's result
(0 with the same data, or 68 naming the reversal's state); with another
amount it is refused (51). Only a payment that was never sent (91, 96) may be
sent again with the same NTB. An answer that comes after the journal gave
its entry up (the orphan sweep, a stop) is 68 with the reversal queued,
never 0.

On every code but 0 `data` is an empty object.
"""
import json
import logging
from functools import partial

import gevent
from gevent import GreenletExit

from appliance.http.apikeys import HEADER as API_KEY_HEADER, ApiKeys
from appliance.http.jsonrpc import UNAUTHORIZED, Dispatcher, InvalidParams, error_answer
from appliance.errors import LinkDown
from appliance.net.outcome import (
    LINK_DOWN as LINK_DOWN_OUTCOME, LOST as LOST_OUTCOME, TIMEOUT as TIMEOUT_OUTCOME)
from appliance.pbb.request import (
    MAX_AMOUNT, TELLER_DEFAULTS, RequestBuilder, parse_request_bits)
from appliance.http.server import View, client_address, json_response
from appliance.roles.bank.group import Group
from appliance.settings import types as t
from appliance.settings.schema import Schema, Setting

OK = 0
AMOUNT_DIFFERS = 51         # refusals, with the BJB code of the same meaning
NOTHING_TO_REVERSE = 54
NOT_FOUND = 55
TIMED_OUT = 68
LINK_DOWN = 91
IN_PROGRESS = 94
NOT_SENT = 96

MAX_LLL = 999       # longest value of an LLL field (bits 48, 61)

# Extra keys of a [web_<name>] section with this module.
OPTIONS = Schema(
    Setting('request_bits', parse_request_bits, None, 'bits that override the teller '
            'defaults bit by bit, one BIT:VALUE a line (e.g. 18:6014 for internet)',
            shown='none'),
    Setting('api_keys', t.api_key_hashes, (), 'API keys a teller application sends in '
            'the X-Api-Key header: one NAME:SHA256 a line (the SHA-256 of the key in hex, '
            'printf %s KEY | sha256sum); several let keys rotate', shown='none'),
)

log = logging.getLogger('iso8583d.teller')


def make_view(route, gateways, builder=None, open_database=None):
    """The view of one teller route; `gateways` maps host names to their
    appliance.roles.bank.gateway.Gateway (the teller opens no database)."""
    teller = Teller(route, gateways, builder)
    dispatcher = Dispatcher({'inquiry': teller.inquiry, 'payment': teller.payment,
                             'reversal': teller.reversal})
    keys = ApiKeys(route.options.get('api_keys') or ())

    def handle(request):
        return json_response(dispatcher.answer(request.body.read()))

    def handle_with_key(request):
        refusal = _key_refusal(route, keys, request)
        if refusal is not None:
            return json_response(error_answer(UNAUTHORIZED, refusal), 401)
        return handle(request)

    if keys:
        return View('JSON-RPC', ('POST',), handle_with_key, authenticates=True)
    return View('JSON-RPC', ('POST',), handle)


def _key_refusal(route, keys, request):
    """None when the request carries one of the route's API keys; else why
    not (the key itself is never logged, nor its hash: the matching key's
    name is, at DEBUG)."""
    presented = request.headers.get(API_KEY_HEADER)
    name = keys.match(presented)
    if name is not None:
        log.debug('[web_%s] API key %s', route.name, name)
        return None
    why = 'no %s header' % API_KEY_HEADER if not presented else 'wrong API key'
    log.warning('%s [web_%s] %s refused: %s', client_address(request.environ), route.name,
                route.route_path, why)
    return 'unauthorized: %s' % why


class Teller:
    """The three teller methods on one route's host, or group of hosts
    (appliance.roles.bank.group): each request goes to a live link of it."""

    def __init__(self, route, gateways, builder=None):
        unknown = sorted(set(route.options) - set(OPTIONS))
        if unknown:
            raise ValueError('[web_%s] unknown option %s' % (route.name, unknown[0]))
        for name in route.hosts:
            if name not in gateways:
                raise ValueError('[web_%s] host %s has no link' % (route.name, name))
        self.route_name = route.name
        self.group = Group(route.hosts, gateways)
        self.host = self.group.name
        self.timeout = route.timeout
        self.builder = builder or RequestBuilder(_defaults(route.options))
        self.journal = self.group.journal     # None: the host keeps no journal

    def inquiry(self, params):
        invoice_id = _invoice_id(params)
        return self._exchange(partial(self.builder.inquiry, invoice_id))

    def payment(self, params):
        invoice_id, amount, ntb = _invoice_id(params), _amount(params), _ntb(params)
        if 'stan' in params:
            _stan(params)       # not used, but a bad one is a bad request
        build = partial(self.builder.payment, invoice_id, amount, ntb)
        if self.journal is None:
            return self._exchange(build)
        # Keyed by the first host: one NTB is one payment whichever link carries it.
        return self._journalled('payment', build, '%s|%s|%s' % (
            self.group.names[0], invoice_id, ntb))

    def reversal(self, params):
        invoice_id, amount, ntb = _invoice_id(params), _amount(params), _ntb(params)
        if self.journal is None:
            return self._exchange(partial(self.builder.reversal, invoice_id, amount, ntb),
                                  _stan(params))
        stan = _stan(params) if 'stan' in params else None
        try:
            payment = self.journal.payment_of(invoice_id, ntb, hosts=self.group.names)
        except Exception as e:
            log.error('[web_%s] journal unavailable, reversal not sent: %s', self.route_name, e)
            return self._failed(NOT_SENT, 'request not sent to %s: the journal is '
                                          'unavailable' % self.host)
        refusal = self._mismatch(payment, invoice_id, ntb, amount, stan)
        if refusal is not None:
            return self._failed(*refusal)
        msg = self.builder.reversal(invoice_id, amount, ntb, stan or payment.stan)
        # To the same pemda: on the payment's link while it is up, else another.
        return self._journalled('reversal', lambda _stan: msg, payment_id=payment.id,
                                preferred=payment.host)

    def _mismatch(self, payment, invoice_id, ntb, amount, stan):
        """(code, message) refusing a reversal that does not match the payment
        it names, or None: it must be one this bank sent to this host, with
        the same invoice, NTB, amount (and STAN when given), answered 00."""
        from appliance.roles.bank.journal import ANSWERED, SENDING, UNSENT
        which = 'the payment of invoice %s with NTB %s' % (invoice_id, ntb)
        if payment is None:
            why = (NOT_FOUND, 'no payment of invoice %s with NTB %s was sent to %s'
                   % (invoice_id, ntb, self.host))
        elif payment.state == SENDING:
            return IN_PROGRESS, 'payment of invoice %s with NTB %s is still in progress' % (
                invoice_id, ntb)
        elif payment.state == ANSWERED and payment.code != '00':
            why = (NOTHING_TO_REVERSE, '%s was answered %s, not 00: nothing to reverse'
                   % (which, payment.code))
        elif payment.state == UNSENT:
            why = (NOTHING_TO_REVERSE, '%s was never sent (%s)' % (which, payment.state))
        elif payment.state != ANSWERED:
            saf = self.journal.saf_of(payment.id)
            why = (NOTHING_TO_REVERSE, '%s was not answered (%s): the bank reverses it '
                   'itself (SAF entry %s)' % (which, payment.state, saf.id if saf else '?'))
        elif payment.amount != amount:
            why = (AMOUNT_DIFFERS, 'amount %d is not the amount of %s (%d)'
                   % (amount, which, payment.amount))
        elif stan is not None and stan != payment.stan:
            why = (NOT_FOUND, 'STAN %s is not the STAN of %s (%s)' % (stan, which, payment.stan))
        else:
            return None
        return why[0], 'reversal refused: %s; nothing sent' % why[1]

    def _exchange(self, build, stan=None):
        """Send build(stan) to a live host (no journal) and turn the outcome
        into a result; a link found down is skipped for the next one."""
        for gateway in self.group.candidates():
            try:
                msg = build(stan or gateway.next_stan())
            except LinkDown:            # every STAN in flight
                continue
            outcome = gateway.exchange(msg, self.timeout)
            if outcome.kind == LINK_DOWN_OUTCOME:
                continue
            if not outcome.answered:
                return self._failed(*self._not_answered(gateway, outcome))
            return _result(outcome.answer)
        return self._failed(LINK_DOWN, self.group.down_message())

    def _not_answered(self, gateway, outcome):
        """(code, message) of an outcome without an answer on `gateway`."""
        if outcome.kind == LINK_DOWN_OUTCOME:
            return LINK_DOWN, 'link %s is down' % gateway.name
        if outcome.kind == LOST_OUTCOME:
            return TIMED_OUT, '%s; the outcome is unknown' % outcome.error
        if outcome.kind == TIMEOUT_OUTCOME:
            return TIMED_OUT, 'no answer from %s %s' % (gateway.name, _within(self.timeout))
        return NOT_SENT, 'request not sent to %s: %s' % (gateway.name, outcome.error)

    def _journalled(self, kind, build, idem_key=None, payment_id=None, preferred=None):
        """Send build(stan) with the journal on a live host of the group
        (`preferred` first); a link found down before anything went out is
        skipped for the next one."""
        result = None
        for gateway in self.group.candidates(preferred):
            try:
                msg = build(gateway.next_stan())
            except LinkDown:            # every STAN in flight
                continue
            result = self._journalled_on(gateway, kind, msg, idem_key, payment_id)
            if result['code'] != LINK_DOWN:
                return result
        if result is not None and len(self.group) == 1:
            return result
        return self._failed(LINK_DOWN, self.group.down_message())

    def _journalled_on(self, gateway, kind, msg, idem_key, payment_id):
        """Send a payment or reversal on `gateway` with its journal: written
        before it goes out, updated with its outcome; an unknown outcome
        queues a reversal on that host."""
        from appliance.roles.bank.journal import Duplicate, MALFORMED, CUT
        journal = gateway.journal
        try:
            entry = journal.begin(kind, msg, idem_key, payment_id)
        except Duplicate as repeated:
            return self._repeated(repeated.entry, int(msg.get(4) or 0))
        except Exception as e:
            log.error('[web_%s] journal unavailable, %s not sent: %s', self.route_name,
                      kind, e)
            return self._failed(NOT_SENT, 'request not sent to %s: the journal is '
                                          'unavailable' % gateway.name)
        try:
            outcome = gateway.exchange(msg, self.timeout)
        except GreenletExit:
            # Cut by a stop: the outcome is unknown, the reversal must persist.
            self._unknown(gateway, entry, CUT, msg, 'stopped while waiting for %s'
                          % gateway.name)
            raise
        if not outcome.answered:
            code, message = self._not_answered(gateway, outcome)
            if outcome.unknown:     # journal states timeout and lost are the outcome's
                return self._unknown(gateway, entry, outcome.kind, msg, message)
            return self._unsent(journal, entry, code, message)
        answer = outcome.answer
        code = answer.get(39)
        if not (isinstance(code, str) and len(code) == 2) or answer.get(11) != msg.get(11):
            return self._unknown(gateway, entry, MALFORMED, msg, 'malformed answer from %s '
                                 '(bit 39 %r); the outcome is unknown' % (gateway.name, code))
        result = _result(answer)
        try:
            recorded = journal.answered(entry, code, result)
        except Exception as e:
            log.error('[web_%s] answer to journal entry %d not recorded: %s',
                      self.route_name, entry, e)
            message = 'answered by %s but the answer could not be journalled' % gateway.name
            self._owe_reversal(journal, entry, msg, message)
            return self._failed(TIMED_OUT, message + '; it will be reversed')
        if not recorded:
            return self._too_late(gateway, entry, msg)
        return result

    def _too_late(self, gateway, entry, msg):
        """The answer came after the entry left `sending`: the orphan sweep (or
        a stop) gave it up and queued its reversal, so it is not paid; the
        teller hears what the journal says."""
        from appliance.roles.bank.journal import UNRECORDED
        message = 'answered by %s after journal entry %d was given up' % (gateway.name, entry)
        try:
            saf = gateway.journal.unrecorded(entry, message, msg)   # 0 rows: its SAF entry
            found = gateway.journal.saf_of(entry)
        except Exception as e:
            log.error('[web_%s] journal entry %d: %s', self.route_name, entry, e)
            return self._failed(TIMED_OUT, '%s; reversal to be queued when the journal is '
                                           'back' % message)
        if saf is None:     # neither sending nor given up with a reversal
            log.error('[web_%s] journal entry %d: answered after it left sending, and no '
                      'reversal is queued for it; check it by hand', self.route_name, entry)
            return self._failed(TIMED_OUT, '%s; the outcome is unknown' % message)
        state = found.reason if found is not None else UNRECORDED
        return self._failed(TIMED_OUT, '%s (%s); reversal queued (SAF entry %s)' % (
            message, state, saf))

    def _owe_reversal(self, journal, entry, msg, message):
        """The teller is told the payment failed, so its reversal is owed:
        written down locally first (appliance.roles.bank.owed), then queued as soon as
        the journal takes it, by this greenlet or by the SAF sweep."""
        try:
            journal.owed.add(entry, message, msg)
        except OSError as e:
            log.error('[web_%s] journal entry %d: the owed reversal could not be written '
                      'to %s (%s); it is queued when the journal is back unless this '
                      'process stops first', self.route_name, entry, journal.owed.path, e)
        gevent.spawn(self._settle_owed, journal)

    def _settle_owed(self, journal):
        try:
            journal.settle_owed()
        except Exception as e:
            log.warning('[web_%s] owed reversals not queued yet, the SAF sweep retries: %s',
                        self.route_name, e)

    def _unsent(self, journal, entry, code, message):
        try:
            journal.unsent(entry, message)
        except Exception as e:
            log.error('[web_%s] journal entry %d not updated: %s', self.route_name,
                      entry, e)
        return self._failed(code, message)

    def _unknown(self, gateway, entry, state, msg, message):
        try:
            saf = gateway.reverse_unknown(msg, state, entry=entry, message=message)
        except Exception as e:
            log.error('[web_%s] journal entry %d not updated: %s', self.route_name,
                      entry, e)
            return self._failed(TIMED_OUT, '%s; reversal to be queued when the journal '
                                           'is back' % message)
        return self._failed(TIMED_OUT, '%s; reversal queued (SAF entry %s)' % (message, saf))

    def _repeated(self, entry, amount):
        """The outcome of the earlier payment with this invoice and NTB (when
        it had the same amount)."""
        from appliance.roles.bank.journal import ANSWERED, SENDING
        if entry.amount != amount:
            return self._failed(AMOUNT_DIFFERS, 'payment refused: invoice %s with NTB %s was '
                                'sent before with amount %d, not %d; an NTB names one '
                                'payment' % (entry.invoice_id, entry.ntb, entry.amount,
                                             amount))
        if entry.state == SENDING:
            return self._failed(IN_PROGRESS, 'payment of invoice %s with NTB %s is still '
                                             'in progress' % (entry.invoice_id, entry.ntb))
        if entry.state == ANSWERED:
            log.info('[web_%s] payment of invoice %s with NTB %s repeated: the first '
                     'answer is given again', self.route_name, entry.invoice_id, entry.ntb)
            return json.loads(entry.result)
        saf = self.journal.saf_of(entry.id)
        where = ('its reversal is %s (SAF entry %d, %d attempts)'
                 % (saf.state, saf.id, saf.attempts) if saf else 'its reversal is pending')
        return self._failed(TIMED_OUT, 'payment of invoice %s with NTB %s was sent before '
                                       'and not answered (%s); %s' % (
                                           entry.invoice_id, entry.ntb, entry.state, where))

    def _failed(self, code, message):
        log.warning('[web_%s] %s', self.route_name, message)
        return {'code': code, 'message': message, 'data': {}}


def _result(answer):
    """The teller's result of an answer: every bit by number."""
    data = {str(bit): value for bit, value in answer.sorted_bits().items()}
    return {'code': OK, 'message': 'OK', 'data': data}


def _defaults(options):
    bits = options.get('request_bits') or {}
    if isinstance(bits, str):       # raw text when the loader did not convert it
        bits = parse_request_bits(bits)
    return {**TELLER_DEFAULTS, **bits}


def _within(timeout):
    return 'within %g s' % timeout if timeout else 'within the host timeout'


# -- params -----------------------------------------------------------------

def _field(params, name):
    if name not in params:
        raise InvalidParams(name, 'is required')
    return params[name]


def _invoice_id(params):
    value = _field(params, 'invoice_id')
    if not (_is_digits(value) and len(value) <= MAX_LLL):
        raise InvalidParams('invoice_id', 'must be a string of 1 to %d digits' % MAX_LLL)
    return value


def _amount(params):
    value = _field(params, 'amount')
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParams('amount', 'must be a whole number of rupiah')
    if not 0 <= value <= MAX_AMOUNT:
        raise InvalidParams('amount', 'must be from 0 to %d rupiah' % MAX_AMOUNT)
    return value


def _ntb(params):
    value = _field(params, 'ntb')
    if not (isinstance(value, str) and 0 < len(value) <= MAX_LLL
            and all(' ' <= char <= '~' for char in value)):
        raise InvalidParams('ntb', 'must be a string of 1 to %d printable ASCII '
                                   'characters' % MAX_LLL)
    return value


def _stan(params):
    value = _field(params, 'stan')
    if not (_is_digits(value) and len(value) == 6):
        raise InvalidParams('stan', "must be a string of 6 digits (bit 11 of the "
                                    "payment's answer)")
    return value


def _is_digits(value):
    return isinstance(value, str) and value.isascii() and value.isdigit()
