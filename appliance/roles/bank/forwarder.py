"""The bank's forwarder: an aggregator's link whose requests go on to the pemdas.

The seed's `opensipkd.iso8583.bjb.pbb.test_aggregator` (spec §6, Forwarding).
A listen-host with this module, e.g. `[host_agratek]`, takes the aggregator's
0200 inquiries and payments and 0400/0401 reversals and routes each by the
first four digits of its invoice id (bit 61) to a `host_<name>` link:

    host = 3271:kota_bogor 3275:kota_bekasi

A request goes out with the bank's own STAN (the target link's next_stan())
and fresh times (7, 12, 13); every other field travels unchanged. The answer
returns with the aggregator's own 7, 11, 12, 13 and the request's other fields
(spec §2), overlaid with what the pemda answered (39, 4, 47, 62, ...).

Every forwarded request is written to the forwarder's database *before* it is
sent (aggregator STAN <-> pemda STAN, invoice, NTB, target, MTI) and updated
with its outcome. A reversal from the aggregator names the payment by the
payment's aggregator-side STAN (bit 11), invoice (61) and NTB (48); the
forwarder finds the payment's row, even after a restart, and sends the
reversal to the same pemda with the payment's pemda-side STAN, as the seed's
bank does; the pemda's biller finds the payment by invoice and NTB.

Codes the forwarder answers itself (bit 39):

    33  bit 61 does not start with four digits
    55  no route for the invoice prefix (logged as a warning); or a reversal
        of a payment this forwarder never forwarded
    51  a reversal whose amount (bit 4) is not the amount of the payment it
        names: refused here, never sent to the pemda
    91  the pemda could not be asked or did not answer: its link is down
        (answered at once), its host is not configured, too many requests
        are in flight, or no answer within `forward_timeout` seconds / the
        link closed first, or (a payment) the answer had no bit 39 or could
        not be recorded. A payment with such an unknown outcome is reversed
        toward the pemda by the target host's store-and-forward queue when
        it has one (bank.pemda), else an ERROR line asks for a person.
    76  a request this module does not forward (another processing code);
        an inquiry or reversal answered without bit 39

Several bank processes (nodes, appliance.roles.bank.node) may share the
forwarder database: at start, payments a previous run of this node left
without an outcome are taken as cut short and reversed; another node's once
its heartbeat expired (appliance.roles.bank.heartbeat), by one node only.
"""
import functools
import logging
from datetime import datetime, timedelta

from peewee import AutoField, CharField, DateTimeField, IntegerField, Model, TextField

from appliance.settings import types as t
from appliance.settings.schema import REQUIRED, Schema, Setting
from appliance.iso.message import COPY_BITS, Message, from_json as _loaded, to_json as _stored
from appliance.net.outcome import LINK_DOWN, LOST, NOT_SENT, TIMEOUT
from appliance.store.schema import create
from appliance.net.module import Fatal, HostModule
from appliance.iso.codes import (  # noqa: F401
    AMOUNT_DIFFERS, INQUIRY, INVALID_NUMBER, NOT_FOUND, OK, OTHER_ERROR, PAYMENT,
    REVERSAL_MTIS, UNAVAILABLE)

log = logging.getLogger('iso8583d.forwarder')


# Set anew on each hop; the aggregator gets its own back.
HOP_BITS = (7, 11, 12, 13)

# Outcomes of a forwarded request (Forward.outcome).
SENT = 'sent'               # written before the send; not known yet
ANSWERED = 'answered'       # target_code holds the pemda's bit 39
NO_ROUTE = 'no route'       # nothing sent
NO_HOST = 'no host'
REFUSED = 'refused'         # a reversal that does not match its payment: not sent
# LINK_DOWN, NOT_SENT (busy, STAN in flight), TIMEOUT, LOST: the link's
# outcomes (appliance.net.outcome).
MALFORMED = 'malformed'     # answered without bit 39 (or the answer not recorded)
CUT = 'cut'                 # left `sent` by a run that ended without an outcome
NEVER_SENT = (NO_ROUTE, NO_HOST, LINK_DOWN, NOT_SENT)
UNKNOWN = (TIMEOUT, LOST, MALFORMED, CUT)


@t.kind('PREFIX:NAME words')
def routes(text):
    """`3271:kota_bogor 3275:kota_bekasi` (spaces or lines) -> {prefix: host}."""
    table = t.prefix_map(text)
    for prefix in table:
        if len(prefix) != 4:
            raise ValueError('prefix %r is not 4 digits (province and regency of the '
                             'invoice id, e.g. 3271:kota_bogor)' % prefix)
    return table


class Forward(Model):
    """One request the forwarder took from its peer (or a reversal it made)."""
    id = AutoField()
    source = CharField(64)                    # the host it came from (agratek)
    source_stan = CharField(6, default='')    # its bit 11 there
    target = CharField(64, default='')        # the host it went to (kota_bogor)
    target_stan = CharField(6, default='')    # our bit 11 there
    mti = CharField(4)                        # as received: 0200, 0400, 0401
    processing_code = CharField(6, default='')
    invoice_id = TextField(default='')        # bit 61
    ntb = TextField(default='')               # bit 48
    amount = CharField(12, default='')        # bit 4
    outcome = CharField(10, default=SENT)
    target_code = CharField(2, default='')    # bit 39 the pemda answered
    reply_code = CharField(2, default='')     # bit 39 we answered
    payment_id = IntegerField(null=True)      # a reversal: the payment's row
    request = TextField(default='')           # what went out, card data left out
    owner = CharField(32, default='')         # the node that wrote it (roles.bank.node)
    created_at = DateTimeField()
    updated_at = DateTimeField()

    class Meta:
        table_name = 'iso8583d_forward'
        indexes = ((('source', 'source_stan'), False),)


MODELS = (Forward,)


def create_tables(db):
    from appliance.roles.bank.journal import OWNER_COLUMN, add_missing_columns
    create(db, MODELS)
    add_missing_columns(db, Forward, {'owner': OWNER_COLUMN})


class ForwarderModule(HostModule):
    """Routes an aggregator's requests to the pemdas by invoice prefix."""

    OPTIONS = Schema(
        Setting('host', routes, REQUIRED, 'where requests go by invoice prefix: '
                'PREFIX:NAME words, e.g. 3271:kota_bogor 3275:kota_bekasi'),
        Setting('db_url', t.db_url, 'sqlite:///forwarder.db', 'the record of every '
                'forwarded request'),
        Setting('forward_timeout', t.seconds, 20.0, "how long a forwarded request waits "
                "for the pemda's answer"),
    )

    clock = staticmethod(datetime.now)
    db = None
    node = ''           # this process's node id, set by start()
    gateways = {}       # host name -> Gateway, given by connect()

    def _option(self, key):
        value = self.config.options.get(key)
        return self.OPTIONS.default(key) if value is None else value

    @property
    def routes(self):
        return self._option('host')

    def _database(self):
        return self.context.database(self._option('db_url'), init=create_tables)

    def start(self):
        from appliance.roles.bank.node import this_node
        try:
            self.db = self._database()
            create_tables(self.db)
        except Exception as e:
            from appliance.store.db import mask_url
            raise Fatal('[host_%s] cannot open the forwarder database %s: %s' % (
                self.config.name, mask_url(self._option('db_url')), e)) from None
        self.node = this_node(self.context, self.db)

    def connect(self, gateways):
        """The pemdas' gateways: check the routes, then reverse what a previous
        run left without an outcome (their SAF queues must exist by now)."""
        self.gateways = gateways
        for gateway in gateways.values():
            if gateway.journal is not None:
                gateway.journal.settlers[self.kind] = functools.partial(
                    self._settle, gateway.journal)
        for prefix, name in sorted(self.routes.items()):
            if name == self.config.name:
                log.warning('[host_%s] host: invoice prefix %s routes back to this host; '
                            'those requests are answered %s', self.config.name, prefix,
                            UNAVAILABLE)
            elif name not in gateways:
                log.warning('[host_%s] host: invoice prefix %s routes to host %s, but there '
                            'is no [host_%s]; those requests are answered %s',
                            self.config.name, prefix, name, name, UNAVAILABLE)
        self._settle_cut_payments()
        if self.context.nodes is not None:
            self.context.nodes.passes.append(self._take_over)

    def initdb(self, demo):
        from appliance.store.db import mask_url
        where = mask_url(self.context.db_url(self._option('db_url')))
        try:
            create_tables(self._database())
        except Exception as e:
            raise Fatal('%s: %s' % (where, e)) from None
        return 'forwarder tables ready in %s' % where

    # -- requests --------------------------------------------------------------

    def handle(self, request):
        code = request.get(3)
        if request.mti == '0200' and code in (INQUIRY, PAYMENT):
            return self.forward(request)
        if request.mti in REVERSAL_MTIS and code == PAYMENT:
            return self.reverse(request)
        return super().handle(request)

    def forward(self, request):
        """An inquiry or payment: to the pemda of its invoice prefix."""
        invoice = (request.get(61) or '').strip()
        prefix = invoice[:4]
        if len(prefix) < 4 or not (prefix.isascii() and prefix.isdigit()):
            log.warning('[host_%s] MTI %s STAN %s: bit 61 %r does not start with 4 digits; '
                        'answered %s', self.config.name, request.mti, request.get(11),
                        invoice, INVALID_NUMBER)
            return _answer(request, INVALID_NUMBER)
        name = self.routes.get(prefix)
        if name is None:
            log.warning('[host_%s] no route for invoice prefix %s (invoice %s, STAN %s): '
                        'answered %s', self.config.name, prefix, invoice, request.get(11),
                        NOT_FOUND)
            self._record(request, '', '', outcome=NO_ROUTE, reply_code=NOT_FOUND)
            return _answer(request, NOT_FOUND)
        return self._send(request, name)

    def reverse(self, request):
        """A reversal: to the pemda of the payment it names, with its STAN there."""
        payment = self._payment_of(request)
        if payment is None or payment.outcome in NEVER_SENT:
            why = ('no payment with STAN %s, invoice %s and NTB %s came through here'
                   % (request.get(11), request.get(61), request.get(48))
                   if payment is None else 'payment %d was never sent (%s)'
                   % (payment.id, payment.outcome))
            log.warning('[host_%s] reversal refused: %s; answered %s', self.config.name,
                        why, NOT_FOUND)
            self._record(request, payment.target if payment else '', '',
                         outcome=NO_ROUTE, reply_code=NOT_FOUND,
                         payment_id=payment.id if payment else None)
            return _answer(request, NOT_FOUND)
        if _amount(payment.amount) != _amount(request.get(4)):
            log.warning('[host_%s] reversal refused: amount %s is not the amount of payment '
                        '%d (%s); answered %s', self.config.name, request.get(4), payment.id,
                        payment.amount, AMOUNT_DIFFERS)
            self._record(request, payment.target, '', outcome=REFUSED,
                         reply_code=AMOUNT_DIFFERS, payment_id=payment.id)
            return _answer(request, AMOUNT_DIFFERS)
        return self._send(request, payment.target, stan=payment.target_stan,
                          payment_id=payment.id)

    def _send(self, request, name, stan=None, payment_id=None):
        host = self.gateways.get(name)
        if host is None or name == self.config.name:
            log.warning('[host_%s] invoice %s routes to host %s, which is not configured; '
                        'answered %s', self.config.name, request.get(61), name, UNAVAILABLE)
            self._record(request, name, '', outcome=NO_HOST, reply_code=UNAVAILABLE,
                         payment_id=payment_id)
            return _answer(request, UNAVAILABLE)
        out = self._outgoing(request, stan or host.next_stan())
        row = self._record(request, name, out[11], payment_id=payment_id, out=out)
        log.info('[host_%s] %s %s invoice %s STAN %s -> [host_%s] STAN %s',
                 self.config.name, request.mti, request.get(3), request.get(61),
                 request.get(11), name, out[11])
        outcome = host.exchange(out, self._option('forward_timeout'))
        if not outcome.answered:        # the outcome's kind is the row's outcome
            return self._failed(request, row, outcome.kind, outcome.error, host, out)
        answer = outcome.answer
        code = answer.get(39) or ''
        if len(code) != 2:
            error = 'the answer of [host_%s] to STAN %s has no bit 39' % (name, out[11])
            if _is_payment(request):
                return self._failed(request, row, MALFORMED, error, host, out)
            log.error('[host_%s] %s; answered %s', self.config.name, error, OTHER_ERROR)
            self._update(row, outcome=MALFORMED, reply_code=OTHER_ERROR)
            return _answer(request, OTHER_ERROR)
        reply = request.reply(copy=COPY_BITS)
        for bit, value in answer.bits.items():
            if bit not in HOP_BITS:
                reply[bit] = value
        try:
            self._answered(row, code)
        except Exception as e:
            if not _is_payment(request):
                log.error('[host_%s] cannot record the answer to STAN %s: %s',
                          self.config.name, request.get(11), e)
                return reply
            # A payment we cannot record must not stand: the next start would
            # take it for one cut short and reverse it after the aggregator
            # heard 00. Undo it now and say so.
            log.error('[host_%s] cannot record the answer to payment STAN %s (%s): '
                      'reversing it; answered %s', self.config.name, request.get(11), e,
                      UNAVAILABLE)
            self._queue_reversal(host, out, MALFORMED, row)
            return _answer(request, UNAVAILABLE)
        return reply

    def _failed(self, request, row, outcome, error, host=None, out=None):
        log.warning('[host_%s] STAN %s to [host_%s]: %s; answered %s', self.config.name,
                    request.get(11), row.target, error, UNAVAILABLE)
        if outcome in UNKNOWN and _is_payment(request):
            self._queue_reversal(host, out, outcome, row)
        else:
            self._update(row, outcome=outcome, reply_code=UNAVAILABLE)
        return _answer(request, UNAVAILABLE)

    def _queue_reversal(self, host, payment, reason, row):
        """A payment whose outcome is unknown is reversed toward the pemda by the
        target host's gateway: its row marked `reason` in the transaction that
        queues the reversal (kept in the owed file while the database fails),
        or an ERROR asking a person."""
        if host is not None and host.journal is not None:
            host.reverse_row(self.kind, row.id, payment, reason)
            row.outcome = reason
            return
        self._update(row, outcome=reason, reply_code=UNAVAILABLE)
        if host is None:
            log.error('[host_%s] payment of invoice %s NTB %s STAN %s has an unknown '
                      'outcome (%s) and its host is no longer configured: reverse it by '
                      'hand', self.config.name, payment.get(61), payment.get(48),
                      payment.get(11), reason)
            return
        host.reverse_unknown(payment, reason)

    @property
    def kind(self):
        """Its rows' name in the journals' owed files (Journal.reverse_row)."""
        return 'forward_' + self.config.name

    def _settle(self, journal, row_id, outcome, taking_over=False):
        """Called by `journal` in its transaction: mark payment row `row_id`
        `outcome` if it is still unsettled (`sent`, or `answered` when
        recording that failed); True when it was, and its reversal is due.
        Also True when it reads `outcome` already: in a database of its own
        the mark may have been committed while the journal's queueing
        failed (the reversal was owed). Taking over a gone node's row, only
        `sent` is unsettled: another node may have marked it first."""
        unsettled = (SENT,) if taking_over else (SENT, ANSWERED, outcome)

        def mark():
            return Forward.update(
                outcome=outcome, reply_code=UNAVAILABLE, updated_at=self.clock()).where(
                (Forward.id == row_id) & Forward.outcome.in_(unsettled)
            ).execute(self.db) > 0
        if journal is not None and self.db is journal.db:
            return mark()
        with self.db.connection_context(), self.db.write_transaction():
            return mark()

    def _outgoing(self, request, stan):
        now = self.clock()
        out = Message(request.mti, request.bits)
        out[7] = now.strftime('%m%d%H%M%S')
        out[11] = stan
        out[12] = now.strftime('%H%M%S')
        out[13] = now.strftime('%m%d')
        return out

    # -- the database ------------------------------------------------------------

    def _record(self, request, target, target_stan, outcome=SENT, reply_code='',
                payment_id=None, out=None):
        now = self.clock()
        row = Forward(source=self.config.name, source_stan=request.get(11, ''),
                      target=target, target_stan=target_stan, mti=request.mti,
                      processing_code=request.get(3, ''),
                      invoice_id=request.get(61, ''), ntb=request.get(48, ''),
                      amount=request.get(4, ''), outcome=outcome, reply_code=reply_code,
                      payment_id=payment_id, request=_stored(out) if out else '',
                      owner=self.node, created_at=now, updated_at=now)
        with self.db.connection_context(), self.db.write_transaction():
            row.id = Forward.insert(**row.__data__).execute(self.db)
        return row

    def _update(self, row, **values):
        values['updated_at'] = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            Forward.update(**values).where(Forward.id == row.id).execute(self.db)
        for key, value in values.items():
            setattr(row, key, value)

    def _answered(self, row, code):
        """Record the pemda's answer on a row still `sent`; raises when it is
        not: another node took it over meanwhile (this one looked dead) and
        queued its reversal, so the answer must not stand."""
        now = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            changed = Forward.update(outcome=ANSWERED, target_code=code, reply_code=code,
                                     updated_at=now).where(
                (Forward.id == row.id) & (Forward.outcome == SENT)).execute(self.db)
        if not changed:
            raise ValueError('row %d was taken over by another node meanwhile' % row.id)
        row.outcome, row.target_code, row.reply_code = ANSWERED, code, code

    def _payment_of(self, request):
        """The latest payment row a reversal names (STAN, invoice, NTB), or None."""
        with self.db.connection_context():
            return Forward.select().where(
                (Forward.source == self.config.name)
                & (Forward.source_stan == request.get(11, ''))
                & (Forward.mti == '0200') & (Forward.processing_code == PAYMENT)
                & (Forward.invoice_id == request.get(61, ''))
                & (Forward.ntb == request.get(48, ''))
            ).order_by(Forward.id.desc()).first(self.db)

    def _settle_cut_payments(self):
        """Payments a previous run of this node left `sent` (it died before the
        answer): their outcome is unknown, so they are reversed like a
        timeout. Another node's are its own to settle (it may be alive and
        waiting for their answers) until its heartbeat expires: _take_over."""
        from appliance.roles.bank.node import owned_by
        with self.db.connection_context():
            rows = list(Forward.select().where(
                self._unsettled() & owned_by(Forward.owner, self.node)).execute(self.db))
        for row in rows:
            log.warning('[host_%s] payment STAN %s of invoice %s to [host_%s] was left '
                        'without an outcome by an earlier run', self.config.name,
                        row.source_stan, row.invoice_id, row.target)
            self._queue_reversal(self.gateways.get(row.target), _loaded(row.request), CUT,
                                 row)

    def _unsettled(self):
        """Payments from this host left `sent`: their outcome is unknown."""
        return ((Forward.source == self.config.name) & (Forward.outcome == SENT)
                & (Forward.mti == '0200') & (Forward.processing_code == PAYMENT))

    def _take_over(self):
        """A pass of the heartbeat (appliance.roles.bank.heartbeat): payments
        that a gone node left `sent` more than forward_timeout + 1 s ago (no
        answer can reach the aggregator through it any more) are reversed
        here, each taken by one node only."""
        from appliance.roles.bank.heartbeat import takeover_line
        from appliance.roles.bank.node import owned_by
        before = self.clock() - timedelta(seconds=self._option('forward_timeout') + 1)
        with self.db.connection_context():
            rows = list(Forward.select().where(
                self._unsettled() & ~owned_by(Forward.owner, self.node)
                & (Forward.created_at < before)).limit(500).execute(self.db))
        gone = self.context.nodes.gone(self.db, {r.owner for r in rows})
        for owner, age in sorted(gone.items()):
            taken = sum(self._take_over_row(r) for r in rows if r.owner == owner)
            if taken:
                log.warning(takeover_line('host_' + self.config.name, self.node, taken,
                                          owner, age))

    def _take_over_row(self, row):
        """Reverse a gone node's payment row unless another node did; True
        when this node did."""
        gateway = self.gateways.get(row.target)
        journal = gateway.journal if gateway is not None else None
        payment = _loaded(row.request)
        if journal is not None:
            return journal.take_over_row(self.kind, row.id, CUT, payment,
                                         same_db=journal.db is self.db)
        if not self._settle(None, row.id, CUT, taking_over=True):
            return False
        self._queue_reversal(gateway, payment, CUT, row)     # a person must reverse it
        return True


def _amount(text):
    """Bit 4 as a number (None when it is not one): 19536 and 000000019536 match."""
    text = (text or '').strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _is_payment(request):
    return request.mti == '0200' and request.get(3) == PAYMENT


def _answer(request, code):
    reply = request.reply(copy=COPY_BITS)
    reply[39] = code
    return reply
