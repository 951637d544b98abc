"""The LinkAja face of the aggregator: the seed's `iso8583_web.scripts.views.linkaja`.

LinkAja (spec §6) sends its fields as a form POST, a query string (GET or
POST) or a JSON object:

    merchant, terminal, pwd, msisdn   recorded (pwd never); with `credentials`
                                      configured, merchant, terminal and pwd
                                      must name one of them (else 63)
    acc_no                            the invoice id (22 digits)
    trx_date                          YYYYmmddHHMMSS (optional, recorded)
    trx_type                          021 inquiry, 022 payment, 023 reversal
    amount, bill_ref, trx_id          payment and reversal

and gets one line of colon-separated fields back (HTTP 200, text/plain):

    021  RC:Biller Name:Bill Amount:Bill Ref:Notification Message
    022  RC:Transaction ID (the pemda's NTP):Bill Ref:Notification Message
    023  RC::Bill Ref:Notification Message

Every transaction is recorded in the route's database (`db_url`); the Bill
Ref of an inquiry is the id of its record. A payment must quote the bill_ref
and amount of an answered inquiry of the same acc_no; its trx_id is the NTB
(bit 48) of its ISO payment, and a repeated trx_id of a paid bill gets the
first answer again without a second payment. A reversal names the payment by
acc_no and trx_id (with the payment's bill_ref and amount) and goes to the
bank as 0400 with the payment's NTB and STAN, which is how the bank's
forwarder and the pemda find the payment.

On success the last field is the `notification_message` of the acc_no's
prefix. Any other answer keeps the same one-line format with a code that is
not 00 and a short reason in the last field:

    63  merchant, terminal or pwd is not one of the route's credentials
    33  acc_no is not 22 digits
    51  amount differs from the inquiry's (or the payment's) amount
    55  bill_ref is not an answered inquiry of acc_no, or no payment has
        that trx_id
    76  malformed request: a missing field, an unknown trx_type, an amount
        or bill_ref that is not a number, a body that cannot be read
    91  the bank could not be asked or did not answer (link down: at once)
    ..  any other code is the bank's (the pemda's) bit 39
"""
import json
import logging
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

import bottle
from peewee import AutoField, BigIntegerField, CharField, DateTimeField, IntegerField, Model

from appliance.settings import types as t
from appliance.settings.schema import Schema, Setting
from appliance.net.outcome import LINK_DOWN, LOST, NOT_SENT, TIMEOUT
from appliance.store.schema import create
from appliance.pbb import profile
from appliance.pbb.request import MAX_AMOUNT, RequestBuilder
from appliance.net.module import Fatal
from appliance.http.apikeys import MerchantCredentials
from appliance.http.server import View, client_address
from appliance.errors import Refused  # noqa: F401
from appliance.iso.codes import (  # noqa: F401
    AMOUNT_DIFFERS, INVALID_NUMBER, NOT_FOUND, OK, OTHER_ERROR as MALFORMED, UNAVAILABLE)

log = logging.getLogger('iso8583d.linkaja')

MODULE = 'aggregator.linkaja'       # the canonical name in appliance.runtime.registry
DEFAULT_DB_URL = 'sqlite:///aggregator.db'

# Extra keys of a [web_<name>] section with this module.
OPTIONS = Schema(
    Setting('db_url', t.db_url, DEFAULT_DB_URL, 'the record of every LinkAja transaction '
            "and the bank link's reversal queue"),
    Setting('notification_message', t.prefix_texts, {}, 'the Notification of a successful '
            'answer per invoice prefix: one PREFIX:TEXT a line', shown='none'),
    Setting('credentials', t.merchant_credentials, (), "the callers LinkAja's requests "
            'may name: one MERCHANT:TERMINAL:SHA256 a line (the SHA-256 of the pwd in hex, '
            'printf %s PWD | sha256sum); none: merchant, terminal and pwd are not checked',
            shown='none'),
)

# The answer to a request whose merchant, terminal or pwd is not configured
# (ISO 8583's "security violation").
BAD_CREDENTIALS = '63'

INQUIRY, PAYMENT, REVERSAL = '021', '022', '023'
TRX_TYPES = (INQUIRY, PAYMENT, REVERSAL)


# What the last field says when the bank answers with a code that is not 00.
REASONS = {
    '33': 'invalid invoice number',
    '51': 'amount differs from the bill',
    '54': 'already paid, or nothing to reverse',
    '55': 'bill or payment not found',
    '76': 'refused by the biller',
    '91': 'biller unavailable, try again later',
}

TEXT_LIMIT = 64         # merchant, terminal, msisdn, trx_id
INVOICE_LENGTH = 22

# Record states; LINK_DOWN, NOT_SENT, TIMEOUT and LOST are the link's
# outcomes (appliance.net.outcome). A payment in an unknown outcome (TIMEOUT,
# LOST, MALFORMED: no usable answer, CUT: left `sent` by a run that died)
# has a reversal queued in the same transaction.
SENT, ANSWERED, MALFORMED_ANSWER, CUT = 'sent', 'answered', 'malformed', 'cut'

# What the last field says when the bank could not be asked or did not answer.
NOT_ANSWERED = {
    LINK_DOWN: 'the link to the bank is down',
    LOST: 'the link to the bank closed before the answer came',
    TIMEOUT: 'no answer from the bank within %g s',
    NOT_SENT: 'not sent to the bank: %s',
}


class LinkAjaTransaction(Model):
    """One LinkAja request that reached the bank's link (its id is a Bill Ref)."""
    id = AutoField()
    trx_type = CharField(3)
    acc_no = CharField(22, index=True)
    amount = BigIntegerField(null=True)
    bill_ref = IntegerField(null=True)       # payment, reversal: the inquiry's id
    payment_id = IntegerField(null=True)     # reversal: the payment's id
    trx_id = CharField(TEXT_LIMIT, default='')
    merchant = CharField(TEXT_LIMIT, default='')
    terminal = CharField(TEXT_LIMIT, default='')
    msisdn = CharField(TEXT_LIMIT, default='')
    trx_date = CharField(14, default='')
    stan = CharField(6, default='')          # bit 11 toward the bank
    ntb = CharField(TEXT_LIMIT, default='')  # bit 48 (the payment's trx_id)
    state = CharField(10, default=SENT)
    response_code = CharField(2, default='')
    biller_name = CharField(35, default='')
    ntp = CharField(32, default='')          # bit 47 of a payment's answer
    reversed_at = DateTimeField(null=True)   # payment: when a reversal was answered 00
    owner = CharField(32, default='')        # the node that sent it (roles.bank.node)
    created_at = DateTimeField()
    updated_at = DateTimeField()

    class Meta:
        table_name = 'iso8583d_linkaja'


MODELS = (LinkAjaTransaction,)


def create_tables(db):
    from appliance.roles.bank.journal import OWNER_COLUMN, add_missing_columns
    create(db, MODELS)
    add_missing_columns(db, LinkAjaTransaction, {'owner': OWNER_COLUMN})


def db_url(route):
    return route.options.get('db_url') or DEFAULT_DB_URL


def make_view(route, gateways, database=None, clock=datetime.now, open_database=None):
    """The view of one LinkAja route; `gateways` maps host names to their
    appliance.roles.bank.gateway.Gateway. Its records go to `database`, or to
    the one open_database(url, init) opens for the route's db_url."""
    unknown = sorted(set(route.options) - set(OPTIONS))
    if unknown:
        raise ValueError('[web_%s] unknown option %s' % (route.name, unknown[0]))
    if route.host not in gateways:
        raise ValueError('[web_%s] host %s has no link' % (route.name, route.host))
    gateway = gateways[route.host]
    if database is None:
        database = _open(route, open_database)
    bits = gateway.request_bits
    if bits is None:
        from appliance.roles.aggregator.preset import SEED_REQUEST_BITS
        bits = SEED_REQUEST_BITS
    face = LinkAja(route, gateway, database, RequestBuilder(bits, clock=clock), clock)
    journal = gateway.journal
    if journal is not None and journal.nodes is not None:
        journal.nodes.join(database)        # its rows' owner beats there too
        journal.nodes.passes.append(face.take_over)
    face.settle_cut_payments()
    return View('LinkAja', ('GET', 'POST'), face.handle, authenticates=bool(face.credentials))


def _open(route, open_database):
    from appliance.store.db import mask_url
    if open_database is None:
        raise ValueError('[web_%s] no database to record LinkAja transactions in' % route.name)
    url = db_url(route)
    try:
        database = open_database(url, init=create_tables)
        create_tables(database)
    except Exception as e:
        raise Fatal('[web_%s] cannot open the LinkAja database %s: %s'
                    % (route.name, mask_url(url), e)) from None
    return database


class LinkAja:
    """inquiry, payment and reversal of one route, on one host's link."""

    def __init__(self, route, gateway, database, builder, clock=datetime.now):
        self.route_name = route.name
        self.host = route.host
        self.gateway = gateway
        self.db = database
        self.builder = builder
        self.timeout = route.timeout
        self.notifications = dict(route.options.get('notification_message') or {})
        self.clock = clock
        # The node whose rows these are (appliance.roles.bank.node): the
        # journal's, which settles them.
        journal = gateway.journal
        self.node = journal.owner if journal is not None else ''
        self.kind = 'linkaja_' + route.name    # its rows in the owed file
        if journal is not None:
            journal.settlers[self.kind] = self._settle
        self.steps = {INQUIRY: self.inquiry, PAYMENT: self.payment,
                      REVERSAL: self.reversal}
        self.credentials = MerchantCredentials(route.options.get('credentials') or ())

    def handle(self, request):
        trx_type = ''
        try:
            fields = read_fields(request)
            trx_type = fields.get('trx_type', '').strip()
            self._admit(request, fields)
            if not trx_type:
                raise Refused(MALFORMED, 'trx_type is required (021, 022 or 023)')
            if trx_type not in self.steps:
                raise Refused(MALFORMED, 'trx_type %s is not 021, 022 or 023'
                              % _shown(trx_type))
            text = self.steps[trx_type](fields)
        except Refused as refusal:
            log.warning('[web_%s] trx_type %s answered %s: %s', self.route_name,
                        _shown(trx_type), refusal.code, refusal.reason)
            text = answer_line(trx_type, refusal.code, ref=refusal.bill_ref,
                               note=refusal.reason)
        except Exception:
            log.exception('[web_%s] trx_type %s failed', self.route_name, _shown(trx_type))
            text = answer_line(trx_type, MALFORMED, note='internal error')
        return bottle.HTTPResponse(text, 200, Content_Type='text/plain; charset=utf-8')

    def _admit(self, request, fields):
        """Refused(63) unless merchant, terminal and pwd name one of the
        route's credentials (none configured: every caller). The log names
        the address and the merchant, never the pwd."""
        if not self.credentials:
            return
        merchant, terminal = fields.get('merchant', ''), fields.get('terminal', '')
        if self.credentials.match(merchant, terminal, fields.get('pwd', '')):
            return
        log.warning('%s [web_%s] merchant %s terminal %s refused: wrong credentials',
                    client_address(request.environ), self.route_name, _shown(merchant),
                    _shown(terminal))
        raise Refused(BAD_CREDENTIALS, 'merchant, terminal or pwd refused')

    # -- the three transactions -------------------------------------------------

    def inquiry(self, fields):
        acc_no = _acc_no(fields)
        identity = _identity(fields)
        stan = self.gateway.next_stan()
        msg = self.builder.inquiry(acc_no, stan)
        record = self._begin(INQUIRY, acc_no, identity, stan=stan)
        answer = self._exchange(msg, record, str(record))
        code = _code(answer)
        name = _biller_name(answer.get(62))
        amount = _number(answer.get(4)) if code == OK else None
        self._update(record, state=ANSWERED, response_code=code, biller_name=name[:35],
                     amount=amount)
        if code != OK:
            return answer_line(INQUIRY, code, name=name, ref=record,
                               note=REASONS.get(code, 'refused'))
        return answer_line(INQUIRY, OK, name=name, amount=amount, ref=record,
                           note=self._notification(acc_no))

    def payment(self, fields):
        acc_no, amount, bill_ref, trx_id = _paid_fields(fields)
        identity = _identity(fields)
        inquiry = self._find(LinkAjaTransaction.id == bill_ref,
                             LinkAjaTransaction.trx_type == INQUIRY)
        if inquiry is None or inquiry.acc_no != acc_no or inquiry.response_code != OK:
            raise Refused(NOT_FOUND, 'bill_ref %d is not an answered inquiry of %s'
                          % (bill_ref, acc_no), bill_ref)
        if inquiry.amount != amount:
            raise Refused(AMOUNT_DIFFERS, 'amount %d is not the amount of bill_ref %d'
                          % (amount, bill_ref), bill_ref)
        earlier = self._paid(acc_no, trx_id)
        if earlier is not None:
            log.info('[web_%s] payment of %s trx_id %s repeated: answered with NTP %s again',
                     self.route_name, acc_no, trx_id, earlier.ntp)
            return answer_line(PAYMENT, OK, ntp=earlier.ntp, ref=bill_ref,
                               note=self._notification(acc_no))
        stan = self.gateway.next_stan()
        msg = self.builder.payment(acc_no, amount, trx_id, stan)
        record = self._begin(PAYMENT, acc_no, identity, stan=stan, amount=amount,
                             bill_ref=bill_ref, trx_id=trx_id, ntb=trx_id)
        answer = self._exchange(msg, record, bill_ref)
        code = _code(answer)
        ntp = (answer.get(47) or '').strip()[:32] if code == OK else ''
        try:
            if code == MALFORMED and (answer.get(39) or '').strip() != MALFORMED:
                raise ValueError('the answer has no bit 39')
            self._answered(record, response_code=code, ntp=ntp)
        except Exception as e:
            # A payment that cannot be recorded as answered must not stand.
            log.error('[web_%s] payment of %s trx_id %s: %s', self.route_name, acc_no,
                      trx_id, e)
            reason = 'the answer could not be taken' + self._reverse_unknown(
                record, msg, MALFORMED_ANSWER)
            raise Refused(UNAVAILABLE, reason, bill_ref) from None
        if code != OK:
            return answer_line(PAYMENT, code, ref=bill_ref, note=REASONS.get(code, 'refused'))
        return answer_line(PAYMENT, OK, ntp=ntp, ref=bill_ref, note=self._notification(acc_no))

    def reversal(self, fields):
        acc_no, amount, bill_ref, trx_id = _paid_fields(fields)
        identity = _identity(fields)
        payment = self._paid(acc_no, trx_id)
        if payment is None:
            raise Refused(NOT_FOUND, 'no payment of %s with trx_id %s' % (acc_no, trx_id),
                          bill_ref)
        if payment.bill_ref != bill_ref:
            raise Refused(NOT_FOUND, 'bill_ref %d is not the bill_ref of payment trx_id %s'
                          % (bill_ref, trx_id), bill_ref)
        if payment.amount != amount:
            raise Refused(AMOUNT_DIFFERS, 'amount %d is not the amount of payment trx_id %s'
                          % (amount, trx_id), bill_ref)
        msg = self.builder.reversal(acc_no, amount, payment.ntb, payment.stan)
        record = self._begin(REVERSAL, acc_no, identity, stan=payment.stan, amount=amount,
                             bill_ref=bill_ref, trx_id=trx_id, ntb=payment.ntb,
                             payment_id=payment.id)
        answer = self._exchange(msg, record, bill_ref)
        code = _code(answer)
        self._update(record, state=ANSWERED, response_code=code)
        if code != OK:
            return answer_line(REVERSAL, code, ref=bill_ref, note=REASONS.get(code, 'refused'))
        with self.db.connection_context(), self.db.write_transaction():
            LinkAjaTransaction.update(reversed_at=self.clock()).where(
                (LinkAjaTransaction.id == payment.id)
                & LinkAjaTransaction.reversed_at.is_null()).execute(self.db)
        return answer_line(REVERSAL, OK, ref=bill_ref, note=self._notification(acc_no))

    # -- the link ---------------------------------------------------------------

    def _exchange(self, msg, record, bill_ref):
        """The bank's answer to `msg`; Refused(91) when there is none."""
        outcome = self.gateway.exchange(msg, self.timeout)
        if outcome.answered:
            return outcome.answer
        state = outcome.kind
        reason = NOT_ANSWERED[state]
        if '%' in reason:
            reason %= self.timeout if state == TIMEOUT else outcome.error
        if outcome.unknown and msg.mti == '0200' and msg.get(4) is not None:
            reason += self._reverse_unknown(record, msg, state)
        else:
            self._update(record, state=state, response_code=UNAVAILABLE)
        raise Refused(UNAVAILABLE, reason, bill_ref)

    def _reverse_unknown(self, record, payment, state):
        """Payment `record` went out and its outcome is unknown: the host's
        gateway marks the record `state` and queues its reversal in one
        transaction (kept in the owed file while the database fails), or
        logs an ERROR asking a person; the words saying so."""
        if self.gateway.journal is None:
            self._update(record, state=state, response_code=UNAVAILABLE)
            self.gateway.reverse_unknown(payment, state)
            return '; the outcome is unknown'
        self.gateway.reverse_row(self.kind, record, payment, state)
        return '; the payment is being reversed'

    def _settle(self, record, state, taking_over=False):
        """Called by the journal in its transaction: mark payment `record`
        `state` if it is still unsettled (`sent`, or `answered` when recording
        that failed); True when it was, and its reversal is due. Also True
        when it reads `state` already: in a database of its own the mark may
        have been committed while the journal's queueing failed (owed).
        Taking over a gone node's row, only `sent` is unsettled."""
        unsettled = (SENT,) if taking_over else (SENT, ANSWERED, state)

        def mark():
            return LinkAjaTransaction.update(
                state=state, response_code=UNAVAILABLE, updated_at=self.clock()).where(
                (LinkAjaTransaction.id == record)
                & LinkAjaTransaction.state.in_(unsettled)).execute(self.db) > 0
        if self.db is self.gateway.journal.db:
            return mark()
        with self.db.connection_context(), self.db.write_transaction():
            return mark()

    def settle_cut_payments(self):
        """Payments this node left `sent` (its previous run died before the
        answer): their outcome is unknown, so they are reversed like a
        timeout. Another node's are its own to settle until its heartbeat
        expires (take_over)."""
        from appliance.roles.bank.node import owned_by
        if self.gateway.journal is None:
            return
        with self.db.connection_context():
            cut = list(LinkAjaTransaction.select().where(
                _unsettled() & owned_by(LinkAjaTransaction.owner, self.node)).execute(self.db))
        for row in cut:
            log.warning('[web_%s] payment of %s trx_id %s STAN %s was left without an '
                        'outcome by an earlier run: reversing it', self.route_name,
                        row.acc_no, row.trx_id, row.stan)
            self.gateway.reverse_row(self.kind, row.id, self._payment_of(row), CUT)

    def take_over(self):
        """A pass of the heartbeat (appliance.roles.bank.heartbeat): payments
        that a gone node left `sent` more than the route's timeout + 1 s ago
        are reversed here, each taken by one node only."""
        from appliance.roles.bank.heartbeat import takeover_line
        from appliance.roles.bank.node import owned_by
        journal = self.gateway.journal
        before = self.clock() - timedelta(seconds=self.timeout + 1)
        with self.db.connection_context():
            rows = list(LinkAjaTransaction.select().where(
                _unsettled() & ~owned_by(LinkAjaTransaction.owner, self.node)
                & (LinkAjaTransaction.created_at < before)).limit(500).execute(self.db))
        gone = journal.nodes.gone(self.db, {r.owner for r in rows})
        for owner, age in sorted(gone.items()):
            taken = sum(journal.take_over_row(self.kind, r.id, CUT, self._payment_of(r),
                                              same_db=self.db is journal.db)
                        for r in rows if r.owner == owner)
            if taken:
                log.warning(takeover_line('web_' + self.route_name, self.node, taken, owner,
                                          age))

    def _payment_of(self, row):
        """The 0200 that went out for payment `row` (to reverse it)."""
        return self.builder.payment(row.acc_no, row.amount, row.ntb, row.stan)

    # -- the records ------------------------------------------------------------

    def _begin(self, trx_type, acc_no, identity, **values):
        """Record a transaction before it is sent; its id."""
        now = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            return LinkAjaTransaction.insert(trx_type=trx_type, acc_no=acc_no, created_at=now,
                                             updated_at=now, owner=self.node, **identity,
                                             **values).execute(self.db)

    def _update(self, record, **values):
        values['updated_at'] = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            LinkAjaTransaction.update(**values).where(
                LinkAjaTransaction.id == record).execute(self.db)

    def _answered(self, record, **values):
        """Record a payment's answer on a record still `sent`; raises when it
        is not: another node took it over meanwhile (this one looked dead)
        and queued its reversal, so the answer must not stand."""
        with self.db.connection_context(), self.db.write_transaction():
            changed = LinkAjaTransaction.update(
                state=ANSWERED, updated_at=self.clock(), **values).where(
                (LinkAjaTransaction.id == record) & (LinkAjaTransaction.state == SENT)
            ).execute(self.db)
        if not changed:
            raise ValueError('taken over by another node meanwhile')

    def _find(self, *conditions):
        where = conditions[0]
        for condition in conditions[1:]:
            where &= condition
        with self.db.connection_context():
            return LinkAjaTransaction.select().where(where).order_by(
                LinkAjaTransaction.id.desc()).first(self.db)

    def _paid(self, acc_no, trx_id):
        """The latest payment of acc_no with trx_id answered 00, or None."""
        return self._find(LinkAjaTransaction.acc_no == acc_no,
                          LinkAjaTransaction.trx_id == trx_id,
                          LinkAjaTransaction.trx_type == PAYMENT,
                          LinkAjaTransaction.response_code == OK)

    def _notification(self, acc_no):
        """The notification_message of the longest prefix of acc_no."""
        for length in range(len(acc_no), 0, -1):
            text = self.notifications.get(acc_no[:length])
            if text is not None:
                return text
        return ''


def _unsettled():
    """Payments left `sent`: their outcome is unknown."""
    return (LinkAjaTransaction.trx_type == PAYMENT) & (LinkAjaTransaction.state == SENT)


def answer_line(trx_type, code, name='', amount=None, ref='', ntp='', note=''):
    """The one-line answer; an unknown trx_type gets the payment's layout."""
    ref = '' if ref is None else str(ref)
    note = ' '.join(str(note).split())
    if trx_type == INQUIRY:
        fields = [code, _field(name), '' if amount is None else str(amount), ref, note]
    else:
        fields = [code, _field(ntp), ref, note]
    return ':'.join(fields)


def _field(text):
    # A colon would shift the fields after it; the last field may keep them.
    return ' '.join(str(text).replace(':', ' ').split())


# -- reading a request -----------------------------------------------------------

def read_fields(request):
    """The LinkAja fields from the query string and the body (a form, JSON or
    multipart); the body wins over the query. Refused(76) when unreadable."""
    fields = {}
    _merge(fields, parse_qsl(request.query_string, keep_blank_values=True))
    body = request.body.read()
    if body.strip():
        fields.update(_body_fields(request, body))
    return fields


def _body_fields(request, body):
    kind = (request.content_type or '').split(';')[0].strip().lower()
    if kind == 'multipart/form-data':
        return dict(request.forms.decode().allitems())
    if kind == 'application/json' or body.lstrip()[:1] in (b'{', b'['):
        try:
            data = json.loads(body.decode('utf-8'))
        except ValueError:
            raise Refused(MALFORMED, 'the body is not JSON') from None
        if not isinstance(data, dict):
            raise Refused(MALFORMED, 'the JSON body is not an object')
        values = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                if value is None:
                    continue
                raise Refused(MALFORMED, '%s must be text or a number' % _shown(key))
            values[key] = str(value)
        return values
    try:
        text = body.decode('utf-8')
    except UnicodeDecodeError:
        raise Refused(MALFORMED, 'the body is not UTF-8 text') from None
    values = {}
    _merge(values, parse_qsl(text, keep_blank_values=True))
    return values


def _merge(fields, pairs):
    for key, value in pairs:
        fields.setdefault(key, value)       # the first of repeated keys


def _required(fields, name, bill_ref=''):
    value = fields.get(name, '').strip()
    if not value:
        raise Refused(MALFORMED, '%s is required' % name, bill_ref)
    return value


def _acc_no(fields):
    value = _required(fields, 'acc_no')
    if len(value) != INVOICE_LENGTH or not _digits(value):
        raise Refused(INVALID_NUMBER, 'acc_no %s is not %d digits'
                      % (_shown(value), INVOICE_LENGTH))
    return value


def _paid_fields(fields):
    """acc_no, amount, bill_ref and trx_id of a payment or reversal."""
    acc_no = _acc_no(fields)
    text = _required(fields, 'bill_ref')
    if not _digits(text) or len(text) > 18:
        raise Refused(MALFORMED, 'bill_ref %s is not a number' % _shown(text))
    bill_ref = int(text)
    text = _required(fields, 'amount', bill_ref)
    if not _digits(text) or int(text) > MAX_AMOUNT:
        raise Refused(MALFORMED, 'amount %s is not a whole number of rupiah up to %d'
                      % (_shown(text), MAX_AMOUNT), bill_ref)
    amount = int(text)
    trx_id = _required(fields, 'trx_id', bill_ref)
    if len(trx_id) > TEXT_LIMIT or not all(' ' <= c <= '~' for c in trx_id):
        raise Refused(MALFORMED, 'trx_id must be 1 to %d printable ASCII characters'
                      % TEXT_LIMIT, bill_ref)
    return acc_no, amount, bill_ref, trx_id


def _identity(fields):
    """merchant, terminal, msisdn and trx_date, recorded as given (pwd never)."""
    values = {}
    for name in ('merchant', 'terminal', 'msisdn'):
        value = fields.get(name, '').strip()
        if len(value) > TEXT_LIMIT:
            raise Refused(MALFORMED, '%s is longer than %d characters' % (name, TEXT_LIMIT))
        values[name] = value
    trx_date = fields.get('trx_date', '').strip()
    if trx_date and (len(trx_date) != 14 or not _digits(trx_date)):
        raise Refused(MALFORMED, 'trx_date %s is not YYYYmmddHHMMSS' % _shown(trx_date))
    values['trx_date'] = trx_date
    return values


def _digits(text):
    return text.isascii() and text.isdigit()


def _shown(text):
    """A caller's value fit for a log line or an answer: short, printable."""
    text = ''.join(c if ' ' <= c <= '~' else '?' for c in str(text))
    return repr(text[:40] + ('...' if len(text) > 40 else ''))


# -- reading an answer -----------------------------------------------------------

def _code(answer):
    code = (answer.get(39) or '').strip()
    return code if len(code) == 2 else MALFORMED


def _number(text):
    text = (text or '').strip()
    return int(text) if _digits(text) else None


def _biller_name(bit62):
    """The taxpayer's name from the invoice profile (bit 62)."""
    if not bit62:
        return ''
    try:
        return profile.parse(bit62)['name']
    except ValueError:
        return bit62[INVOICE_LENGTH:INVOICE_LENGTH + profile.TEXT_WIDTH].strip()
