"""The pemda's PBB biller (spec §3): answers the bank's inquiry (0200,
341019), payment (0200, 541019) and reversal (0400/0401, 541019) from the
SISMIOP database.

Never twice, never lost: a payment is one transaction; a conditional UPDATE of
the bill's status decides which of several concurrent payments wins; unique
constraints refuse any double the code might still attempt; a retransmission
(same invoice and NTB from the same source, whatever its STAN: a forwarder
sends each with a new one) gets the first payment's answer again.

A reversal undoes only the live payment it matches: invoice, NTB, amount and
source (docs/protocol.md, "Reversal"); anything else is refused and changes
nothing.
"""

import json
import logging
import secrets
from collections import namedtuple
from datetime import datetime

from peewee import JOIN, SQL, SqliteDatabase, fn

from appliance.store.db import Prepared, has_returning, model_fields, param, quoted
from appliance.store.groupcommit import GroupCommit
from appliance.iso.mask import mask_bits
from appliance.iso.message import COPY_BITS
from appliance.roles.pemda.tables import (
    BILL_KEY, LIVE, PAID, REVERSED, UNPAID, Inquiry, PembayaranSppt, Payment, RefKecamatan,
    RefKelurahan, RefPropinsi, Resend, Reversal, Sppt, key_matches)
from appliance.roles.pemda import calc
from appliance.roles.pemda.pgpay import PRICED_FROM, PostgresPayment
from appliance.pbb import profile
from appliance.roles.pemda.invoice import InvalidInvoice, InvoiceId
from appliance.errors import Refusal  # noqa: F401
from appliance.iso.codes import (  # noqa: F401  (bit 39 codes: docs/protocol.md)
    ALREADY_PAID, AMOUNT_DIFFERS, INQUIRY as INQUIRY_CODE, INVALID_NUMBER, NOT_FOUND, OK,
    OTHER_ERROR, PAYMENT as PAYMENT_CODE, REVERSAL_AMOUNT_DIFFERS, REVERSAL_MTIS,
    REVERSAL_NOT_PAID, REVERSAL_OTHER_SOURCE, REVERSAL_SUPERSEDED, REVERSAL_UNKNOWN_NTB)

log = logging.getLogger(__name__)

NTP_TRIES = 20

# A bill as of now: paid flag, bit 62 text and calc.Amounts; for a payment,
# also whether an inquiry of it was recorded (None when not asked).
Priced = namedtuple('Priced', 'paid profile amounts inquired', defaults=(None,))


class Mismatch(Refusal):
    """A request naming one of our payments that does not match it (another
    amount or source): a typo or a forged request, logged as a warning."""


class Biller:
    """Handlers for one pemda. `clock` gives the local datetime (tests fix it)."""

    def __init__(self, settings, database, clock=datetime.now):
        self.settings = settings
        self.db = database
        self.clock = clock
        self.sql = _Queries(database)
        self.inquiries = _GroupWriter(database, self.sql.record_inquiry)

    def prepare(self):
        """Create what the payment's fast path needs on the server (on
        PostgreSQL, pgpay's function) now rather than at the first payment."""
        if self.sql.pg is not None:
            self.sql.pg.available()

    def handle(self, request):
        """The response to one request; 76 for what this biller does not serve."""
        code = request.get(3)
        if request.mti == '0200' and code == INQUIRY_CODE:
            return self.inquiry(request)
        if request.mti == '0200' and code == PAYMENT_CODE:
            return self.payment(request)
        if request.mti in REVERSAL_MTIS and code == PAYMENT_CODE:
            return self.reversal(request)
        log.warning('PBB biller has no handler for MTI %s processing code %s',
                    request.mti, code)
        return _refused(request, OTHER_ERROR)

    def inquiry(self, request):
        return self._run(request, self._inquiry)

    def payment(self, request):
        return self._run(request, self._payment)

    def reversal(self, request):
        return self._run(request, self._reversal)

    def _run(self, request, step):
        """Run one handler on a pooled connection held for this call only."""
        response = request.reply(copy=COPY_BITS)
        try:
            with self.db.connection_context():
                step(request, response)
            response[39] = OK
        except Refusal as refusal:
            level = logging.WARNING if isinstance(refusal, Mismatch) else logging.INFO
            log.log(level, 'PBB %s invoice %s refused: %s', request.mti, request.get(61),
                    refusal)
            response[39] = refusal.code
        except Exception:
            log.exception('PBB %s invoice %s failed', request.mti, request.get(61))
            response = _refused(request, OTHER_ERROR)
        return response

    # Inquiry --------------------------------------------------------------

    def _inquiry(self, request, response):
        invoice = _invoice(request)
        priced = self._price(invoice)
        response[62] = priced.profile
        if priced.paid or priced.amounts.total <= 0:
            raise Refusal(ALREADY_PAID, 'bill is paid or owes nothing')
        self.inquiries.record({
            'invoice_id': invoice.text, 'stan': request.get(11, ''),
            'channel': request.get(18, ''), 'amount': priced.amounts.due,
            'created_at': self.clock()})
        response[4] = _amount_field(priced.amounts.due)

    # Payment --------------------------------------------------------------

    def _payment(self, request, response):
        invoice = _invoice(request)
        booked = None
        if self.sql.pg is not None and self.sql.pg.available():
            booked = self._pay_at_once(invoice, request)
        if booked is None:
            with self.db.write_transaction():
                booked = self._settle(invoice, request, response)
        # Only a committed payment shows its NTP.
        response[47] = booked.ntp
        response[62] = booked.profile

    def _pay_at_once(self, invoice, request):
        """A fresh payment in two round trips (pgpay.py): the Payment, or None
        for the general path to give the answer (a bill paid or changed
        meanwhile, a refusal, a taken NTP). No bill: 55, as there."""
        bill = self._bill_row(invoice, paying=True)
        priced = self._priced(invoice, bill)
        if priced.paid:
            return None
        try:
            self._check_payable(priced, request)
        except Refusal:
            return None
        row, record = self._booking(invoice, request, priced)
        record['ntp'] = self._new_ntp()
        values = self._claim_values(invoice, request)
        values.update(row)
        values.update(record)
        values.update((name, bill[name]) for name in PRICED_FROM)
        sequence = self.sql.pg.pay(values)
        if sequence is None:
            return None
        return Payment(**record, pembayaran_sppt_ke=sequence)

    def _settle(self, invoice, request, response):
        """Book the payment, or find the one it repeats; the Payment record."""
        # Claim the bill before reading it: the row lock the claim takes (or
        # waits for) makes every later read see what a concurrent winner
        # committed. A refusal below rolls the claim back. A repeat of a
        # payment we booked (even one reversed since) claims nothing.
        values = self._claim_values(invoice, request)
        claimed = self.sql.mark_paid.execute(self.db, values).rowcount == 1
        priced = self._price(invoice, paying=True)
        response[62] = priced.profile
        if not claimed:
            # Paid before, or by a concurrent payment: perhaps this very one.
            earlier = self._same_payment(invoice, request)
            if earlier is not None:
                return self._repeated(earlier, request)
            raise Refusal(ALREADY_PAID, 'bill is paid')
        self._check_payable(priced, request)
        return self._book(invoice, request, priced)

    def _check_payable(self, priced, request):
        """Refuse a payment of an unpaid bill that does not pay what it owes."""
        if priced.amounts.total <= 0:
            raise Refusal(ALREADY_PAID, 'bill owes nothing')
        amount = _amount(request)
        if amount != priced.amounts.due:
            raise Refusal(AMOUNT_DIFFERS, 'bit 4 %r, bill due %d'
                          % (request.get(4), priced.amounts.due))
        if self.settings.require_inquiry and not priced.inquired:
            raise Refusal(OTHER_ERROR, 'payment without an earlier inquiry')

    def _claim_values(self, invoice, request):
        """The values the claim binds (here and in pgpay's function): the
        bill's key, and the invoice, NTB and STAN of the payment it may repeat."""
        values = invoice.key()
        values.update(paid=PAID, invoice_id=invoice.text, ntb=request.get(48, ''),
                      stan=request.get(11, ''))
        return values

    def _book(self, invoice, request, priced):
        """Insert pembayaran_sppt and our Payment record; the Payment."""
        row, record = self._booking(invoice, request, priced)
        if self.sql.insert_next_pembayaran is not None:
            # One statement: the next sequence number, the row, RETURNING it.
            sequence = self.sql.insert_next_pembayaran.execute(self.db, row).fetchone()[0]
        else:
            sequence = row['pembayaran_sppt_ke'] = self._last_sequence(invoice.key()) + 1
            self.sql.insert_pembayaran.execute(self.db, row)
        record['pembayaran_sppt_ke'] = sequence
        record['ntp'] = self._insert_with_new_ntp(record)
        return Payment(**record)

    def _booking(self, invoice, request, priced):
        """(the pembayaran_sppt row, our Payment record) of a payment, but
        their sequence number and NTP."""
        now = self.clock()
        place = self.settings.kd_tp.place(request)
        amounts = priced.amounts
        row = dict(
            invoice.key(), kd_kanwil=self.settings.kd_kanwil,
            kd_kantor=self.settings.kd_kantor, kd_tp=place,
            denda_sppt=amounts.penalty - amounts.discount, jml_sppt_yg_dibayar=amounts.due,
            tgl_pembayaran_sppt=now.date(), tgl_rekam_byr_sppt=now,
            nip_rekam_byr_sppt=self.settings.nip_pencatat)
        record = dict(
            invoice_id=invoice.text, ntb=request.get(48, ''), stan=request.get(11, ''),
            channel=request.get(18, ''), bank=request.get(32, ''), kd_tp=place,
            amount=amounts.due, profile=priced.profile,
            request=_stored(request), status=LIVE, created_at=now)
        return row, record

    def _last_sequence(self, key):
        row = self.sql.last_sequence.execute(self.db, key).fetchone()
        return (row[0] if row else None) or 0

    def _insert_with_new_ntp(self, record):
        """Insert the Payment under a fresh random NTP; its NTP. A drawn NTP
        that is taken inserts nothing (ON CONFLICT (ntp) DO NOTHING) and
        another is drawn; any other constraint still fails the payment."""
        for _ in range(NTP_TRIES):
            ntp = self._new_ntp()
            if self.sql.insert_payment.execute(self.db, dict(record, ntp=ntp)).rowcount == 1:
                return ntp
        raise RuntimeError('no unused NTP found in %d tries' % NTP_TRIES)

    def _new_ntp(self):
        return self.settings.kd_kanwil + self.settings.kd_kantor + _ntp_digits()

    def _same_payment(self, invoice, request):
        """The Payment this request may repeat, or None: the live one with its
        invoice and NTB, else the one with its invoice, NTB and STAN."""
        row = self.sql.same_payment.execute(self.db, {
            'invoice_id': invoice.text, 'ntb': request.get(48, ''),
            'stan': request.get(11, '')}).fetchone()
        return None if row is None else self.sql.payment(row)

    def _repeated(self, payment, request):
        """`payment` again, when the request is that very payment; otherwise
        the refusal that says why not (the bill is paid either way)."""
        if payment.status != LIVE:
            raise Refusal(OTHER_ERROR, 'repeat of payment NTP %s, since reversed' % payment.ntp)
        other = self._other_source(payment, request)
        if other:
            raise Mismatch(ALREADY_PAID, 'bill is paid with NTB %s, but %s'
                           % (payment.ntb, other))
        if _amount(request) != payment.amount:
            raise Mismatch(ALREADY_PAID, 'bill is paid with NTB %s for %d, this payment '
                           'with that NTB names bit 4 %r' % (payment.ntb, payment.amount,
                                                             request.get(4)))
        Resend.insert(payment=payment.id, stan=request.get(11, ''),
                      created_at=self.clock()).execute(self.db)
        log.info('PBB payment repeated: invoice %s NTB %s STAN %s answered with NTP %s '
                 '(booked with STAN %s)', payment.invoice_id, payment.ntb,
                 request.get(11, ''), payment.ntp, payment.stan)
        return payment

    # Reversal -------------------------------------------------------------

    def _reversal(self, request, response):
        """Undo the live payment the request matches (see _matched); a repeat
        of a reversal already done answers 00 again and changes nothing."""
        invoice = _invoice(request)
        with self.db.write_transaction():
            bill = self._bill_row(invoice)
            payment = self._matched(invoice, bill, request)
            if payment.status == LIVE:
                self._undo(invoice, payment, request)

    def _matched(self, invoice, bill, request):
        """The payment the reversal names by NTB, once its amount and source
        agree; a Refusal naming the first thing that does not."""
        ntb = request.get(48, '')
        payment = self._payment_by_ntb(invoice, ntb)
        if payment is None:
            if bill['status_pembayaran_sppt'] != PAID:
                raise Refusal(REVERSAL_NOT_PAID, 'reversal of an unpaid bill: no payment '
                              'with NTB %r' % ntb)
            raise Refusal(REVERSAL_UNKNOWN_NTB, 'the bill is paid, but no payment with '
                          'NTB %r' % ntb)
        if _amount(request) != payment.amount:
            raise Mismatch(REVERSAL_AMOUNT_DIFFERS, 'reversal bit 4 %r, payment NTP %s was '
                           'for %d' % (request.get(4), payment.ntp, payment.amount))
        other = self._other_source(payment, request)
        if other:
            raise Mismatch(REVERSAL_OTHER_SOURCE, 'payment NTP %s: %s' % (payment.ntp, other))
        if payment.status == LIVE:
            self._check_not_superseded(payment, request)
            if bill['status_pembayaran_sppt'] != PAID:
                # Only by hand: our live payment says paid, SISMIOP says not.
                raise Refusal(REVERSAL_NOT_PAID, 'payment NTP %s is live but the bill is '
                              'not paid' % payment.ntp)
        return payment

    def _payment_by_ntb(self, invoice, ntb):
        """The live Payment with this NTB, else the latest reversed one, else None."""
        payments = list(Payment.select().where(
            (Payment.invoice_id == invoice.text) & (Payment.ntb == ntb)
        ).order_by(Payment.id).execute(self.db))
        live = [p for p in payments if p.status == LIVE]
        return (live or payments or [None])[-1]

    def _check_not_superseded(self, payment, request):
        """55 for the reversal of an attempt the bank heard 00 for again later
        under another STAN: its queue reverses a resend it thought lost, while
        the newer attempt was answered 00 and stands. A STAN no attempt had (a
        teller's) says nothing; the newest attempt's may reverse."""
        stan = request.get(11, '')
        attempts = [payment.stan] + [row.stan for row in Resend.select(Resend.stan).where(
            Resend.payment == payment.id).order_by(Resend.id).execute(self.db)]
        if stan in attempts and stan != attempts[-1]:
            raise Refusal(REVERSAL_SUPERSEDED, 'payment NTP %s was answered again to STAN '
                          '%s after STAN %s: it stands' % (payment.ntp, attempts[-1], stan))

    def _other_source(self, payment, request):
        """Why `request` does not come from where `payment` came from, or ''.
        Judged on what the request carries: the seed's reversal has no bit 18
        (nor 32, 42, 43), so a field it lacks is no mismatch."""
        place = self.settings.kd_tp.match(request)
        if place is not None and place != payment.kd_tp:
            return 'paid at kd_tp %s, this request is from kd_tp %s' % (payment.kd_tp, place)
        for bit, recorded in ((18, payment.channel), (32, payment.bank)):
            sent = (request.get(bit) or '').strip()
            if sent and recorded and sent != recorded:
                return 'paid with bit %d %r, this request has %r' % (bit, recorded, sent)
        return ''

    def _undo(self, invoice, payment, request):
        now = self.clock()
        undone = Payment.update(status=REVERSED, reversed_at=now).where(
            (Payment.id == payment.id) & (Payment.status == LIVE)).execute(self.db)
        if not undone:
            return  # a concurrent reversal of this payment committed first
        key = invoice.key()
        PembayaranSppt.update(jml_sppt_yg_dibayar=0, denda_sppt=0).where(
            key_matches(PembayaranSppt, key)
            & (PembayaranSppt.pembayaran_sppt_ke == payment.pembayaran_sppt_ke)
        ).execute(self.db)
        Sppt.update(status_pembayaran_sppt=UNPAID).where(
            key_matches(Sppt, key)).execute(self.db)
        Reversal.insert(payment=payment.id, stan=request.get(11, ''), mti=request.mti,
                        request=_stored(request), created_at=now).execute(self.db)

    # The bill ---------------------------------------------------------------

    def _bill_row(self, invoice, paying=False):
        """The bill with its place names and the principal its payments
        covered (`paid_principal`), as a dict; 55 when there is none. For a
        payment, `inquired` says whether an inquiry of it was recorded."""
        values = invoice.key()
        if paying:
            values['invoice_id'] = invoice.text
        query = self.sql.bill_paying if paying else self.sql.bill
        row = query.execute(self.db, values).fetchone()
        return _found(row and self.sql.bill_row(row))

    def _price(self, invoice, paying=False):
        """What the bill owes today, and its bit 62."""
        return self._priced(invoice, self._bill_row(invoice, paying))

    def _priced(self, invoice, row):
        """Priced for a row of _bill_row."""
        principal = calc.principal_owed(row['pbb_yg_harus_dibayar_sppt'] or 0,
                                        [(row['paid_principal'], 0)])
        amounts = calc.amounts(principal, row['tgl_jatuh_tempo_sppt'], invoice.tax_year,
                               self.clock().date(), self.settings.persen_denda,
                               self.settings.denda_waiver_before_year)
        facts = profile.BillFacts(
            name=row['nm_wp_sppt'], address=row['jln_wp_sppt'],
            village=row['nm_kelurahan'], district=row['nm_kecamatan'],
            province=row['nm_propinsi'], land_area=row['luas_bumi_sppt'],
            building_area=row['luas_bng_sppt'], due_date=row['tgl_jatuh_tempo_sppt'])
        return Priced(row['status_pembayaran_sppt'] == PAID,
                      profile.build(invoice, facts, amounts), amounts,
                      row.get('inquired'))


class _Queries:
    """The biller's hot queries, compiled once for its database (see
    appliance.store.db.Prepared): an inquiry then costs two statements (its
    record shared with other inquiries, see _GroupWriter) and a payment
    four between BEGIN and COMMIT (a fresh one on PostgreSQL two in all,
    pgpay.py), without peewee building any SQL."""

    # The bill's columns _price reads, then its place names.
    BILL_COLUMNS = (Sppt.status_pembayaran_sppt, Sppt.nm_wp_sppt, Sppt.jln_wp_sppt,
                    Sppt.luas_bumi_sppt, Sppt.luas_bng_sppt, Sppt.tgl_jatuh_tempo_sppt,
                    Sppt.pbb_yg_harus_dibayar_sppt, RefKelurahan.nm_kelurahan,
                    RefKecamatan.nm_kecamatan, RefPropinsi.nm_propinsi)

    def __init__(self, db):
        key = {column: param(column) for column in BILL_KEY}
        self.bill = Prepared(db, self._bill_query(key))
        names = [field.name for field in self.BILL_COLUMNS] + ['paid_principal']
        converters = [field.python_value for field in self.BILL_COLUMNS] + [_whole]
        self._bill_converters = tuple(zip(names, converters))
        # A payment's read also tells whether the bill was inquired.
        inquired = Inquiry.select(SQL('1')).where(Inquiry.invoice_id == param('invoice_id'))
        self.bill_paying = Prepared(db, self._bill_query(key).select_extend(
            fn.EXISTS(inquired).alias('inquired')))
        self._bill_converters_paying = self._bill_converters + (('inquired', bool),)
        self.record_inquiry = Prepared(
            db, Inquiry.insert({field: param(field.name) for field in
                                (Inquiry.invoice_id, Inquiry.stan, Inquiry.channel,
                                 Inquiry.amount, Inquiry.created_at)}),
            model_fields(Inquiry))
        status = Sppt.status_pembayaran_sppt
        # The claim also looks for the payment a request repeats, sparing a
        # fresh payment that lookup: the live one with its invoice and NTB (a
        # forwarder resends with a new STAN), or, reversed since, the one with
        # its invoice, NTB and STAN (the unique index serves both).
        same = ((Payment.invoice_id == param('invoice_id')) & (Payment.ntb == param('ntb'))
                & ((Payment.status == LIVE) | (Payment.stan == param('stan'))))
        self.mark_paid = Prepared(db, Sppt.update({status: param('paid')}).where(
            key_matches(Sppt, key) & ((status != param('paid')) | status.is_null())
            & ~fn.EXISTS(Payment.select(SQL('1')).where(same))))
        sequence = PembayaranSppt.pembayaran_sppt_ke
        self.last_sequence = Prepared(db, PembayaranSppt.select(fn.MAX(sequence)).where(
            key_matches(PembayaranSppt, key)))
        self.insert_pembayaran = Prepared(db, PembayaranSppt.insert(
            {field: param(field.name) for field in PembayaranSppt._meta.sorted_fields}),
            model_fields(PembayaranSppt))
        self.insert_next_pembayaran = None
        if has_returning(db):
            following = PembayaranSppt.alias('earlier')
            next_number = (following
                           .select(fn.COALESCE(fn.MAX(following.pembayaran_sppt_ke), 0) + 1)
                           .where(key_matches(following, key)))
            values = {field: param(field.name) for field in PembayaranSppt._meta.sorted_fields}
            values[sequence] = next_number
            self.insert_next_pembayaran = Prepared(
                db, PembayaranSppt.insert(values), model_fields(PembayaranSppt),
                suffix=' RETURNING %s' % quoted(db, sequence))
        payment_fields = [f for f in Payment._meta.sorted_fields if f is not Payment.id]
        record_values = {field: param(field.name) for field in payment_fields
                         if field is not Payment.reversed_at}
        self.insert_payment = Prepared(db, Payment.insert(record_values), model_fields(Payment),
            suffix=' ON CONFLICT (%s) DO NOTHING' % quoted(db, Payment.ntp))
        # On PostgreSQL, a fresh payment's bill read, then the claim, the
        # check and both inserts in one server-side function (pgpay.py).
        self.pg = None
        if self.insert_next_pembayaran is not None and not isinstance(db, SqliteDatabase):
            self.pg = PostgresPayment(db, self.mark_paid, Prepared(db, self._paid_principal(key)),
                                      self.insert_next_pembayaran, record_values)
        self._payment_fields = tuple(Payment._meta.sorted_fields)
        # The live payment first: it is the newest of an invoice's payments.
        self.same_payment = Prepared(db, Payment.select(*self._payment_fields).where(same)
                                     .order_by(Payment.id.desc()).limit(1))

    @staticmethod
    def _paid_principal(key):
        """The principal a bill's payments covered: paid less the fines."""
        paid = PembayaranSppt.jml_sppt_yg_dibayar
        fine = PembayaranSppt.denda_sppt
        return (PembayaranSppt
                .select(fn.COALESCE(fn.SUM(fn.COALESCE(paid, 0) - fn.COALESCE(fine, 0)), 0))
                .where(key_matches(PembayaranSppt, key)))

    def _bill_query(self, key):
        return (Sppt.select(*self.BILL_COLUMNS, self._paid_principal(key).alias('paid_principal'))
                .join_from(Sppt, RefKelurahan, JOIN.LEFT_OUTER,
                           on=key_matches(RefKelurahan, _leading(key, 4)))
                .join_from(Sppt, RefKecamatan, JOIN.LEFT_OUTER,
                           on=key_matches(RefKecamatan, _leading(key, 3)))
                .join_from(Sppt, RefPropinsi, JOIN.LEFT_OUTER,
                           on=key_matches(RefPropinsi, _leading(key, 1)))
                .where(key_matches(Sppt, key)))

    def bill_row(self, row):
        converters = (self._bill_converters if len(row) == len(self._bill_converters)
                      else self._bill_converters_paying)
        return {name: (value if value is None else convert(value))
                for (name, convert), value in zip(converters, row)}

    def payment(self, row):
        """A Payment from a row of same_payment."""
        return Payment(**{field.name: (value if value is None else field.python_value(value))
                          for field, value in zip(self._payment_fields, row)})


class _GroupWriter:
    """Rows of one INSERT written in shared transactions (appliance.store.groupcommit):
    under load many inquiries' records share one commit, which was most of
    what a record cost (on SQLite a WAL append and its locks). On PostgreSQL
    a group is one multi-row INSERT sent alone, atomic by itself: one round
    trip, where BEGIN with it and COMMIT took two. Each inquiry is answered
    once its row is committed."""

    def __init__(self, db, insert):
        self.db, self.insert = db, insert
        self.group = GroupCommit(self._write)

    def record(self, values):
        self.group.submit(values)

    def _write(self, rows):
        if isinstance(self.db, SqliteDatabase):
            with self.db.write_transaction(lazy=True):
                self.db.cursor().executemany(self.insert.sql,
                                             [self.insert.params(row) for row in rows])
        elif len(rows) == 1:
            self.insert.execute(self.db, rows[0])
        else:
            # One statement, one round trip: INSERT ... VALUES (...), (...)
            params = [self.insert.params(row) for row in rows]
            head, _, row = self.insert.sql.partition(' VALUES ')
            self.db.execute_sql('%s VALUES %s' % (head, ', '.join([row] * len(rows))),
                                [value for values in params for value in values])
        return [None] * len(rows)


def _whole(value):
    """A SUM: int on SQLite, Decimal on PostgreSQL; whole rupiah either way."""
    return int(value)


def _found(bill):
    """`bill`, the bill's row; 55 when there is none."""
    if not bill:
        raise Refusal(NOT_FOUND, 'no bill')
    return bill


def _invoice(request):
    try:
        return InvoiceId.parse(request.get(61))
    except InvalidInvoice as error:
        raise Refusal(INVALID_NUMBER, str(error)) from None


def _leading(key, count):
    """The first `count` columns of a bill key (a ref table's key)."""
    return dict(list(key.items())[:count])


def _amount(request):
    text = (request.get(4) or '').strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _amount_field(value):
    return '%012d' % value


def _ntp_digits():
    return '%08d' % secrets.randbelow(10 ** 8)


def _stored(request):
    """The request as JSON for the records, card data masked."""
    bits = mask_bits(request.sorted_bits())
    return json.dumps({'mti': request.mti, 'bits': {str(bit): bits[bit] for bit in bits}})


def _refused(request, code):
    response = request.reply(copy=COPY_BITS)
    response[39] = code
    return response
