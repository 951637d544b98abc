"""The pemda's side of the daily reconciliation (issue 21): the bank's
settlement file (appliance.pbb.settlement) against SISMIOP `pembayaran_sppt`
and the biller's own payment records (appliance.roles.pemda.tables), the
booking of what the bank paid and the pemda lacks, and the day's totals for
the money view.

A payment is matched by invoice id and NTB. Our side of the file's days and
banks: the live Payment records created on those days with those bank codes
(bit 32), plus any Payment with an invoice and NTB the file names (a payment
booked just past midnight still matches). A Payment counts as booked when
its pembayaran_sppt row holds an amount.

The booking (`apply`) mirrors what a payment writes (biller.Biller._book):
a pembayaran_sppt row, the bill marked paid, and our Payment record (kept, or
written when the pemda never saw the payment); it is written here because the
biller books from a live ISO request inside its own claim of the bill.
"""
import json
import secrets
from collections import namedtuple
from datetime import datetime

from appliance.iso.message import Message
from appliance.pbb import profile
from appliance.pbb.settlement import day_range
from appliance.roles.pemda.invoice import InvalidInvoice, InvoiceId
from appliance.roles.pemda.tables import (
    LIVE, PAID, PembayaranSppt, Payment, Reversal, Sppt, key_matches)

NOT_BOOKED = 'paid at the bank, not booked'
NOT_PAID = 'booked, not paid at the bank'
AMOUNT_DIFFERS = 'amounts differ'
BOOKED_TWICE = 'booked twice'
CLASSES = (NOT_BOOKED, NOT_PAID, AMOUNT_DIFFERS, BOOKED_TWICE)

# One difference: its class, the payment, both sides' amounts (None: absent).
Difference = namedtuple('Difference', 'kind invoice_id ntb stan bank_amount pemda_amount '
                                      'detail')
# One of our payments: its record and what its pembayaran_sppt row holds
# (None: no row, or a zeroed one).
Booking = namedtuple('Booking', 'payment booked penalty')


def _key(invoice_id):
    try:
        return InvoiceId.parse(invoice_id).key()
    except InvalidInvoice:
        return None


def _booking(db, payment):
    key = _key(payment.invoice_id)
    row = None if key is None else PembayaranSppt.select(
        PembayaranSppt.jml_sppt_yg_dibayar, PembayaranSppt.denda_sppt).where(
        key_matches(PembayaranSppt, key)
        & (PembayaranSppt.pembayaran_sppt_ke == payment.pembayaran_sppt_ke)).first(db)
    if row is None or not row.jml_sppt_yg_dibayar:
        return Booking(payment, None, None)
    return Booking(payment, row.jml_sppt_yg_dibayar, row.denda_sppt)


def our_side(db, settlement, banks):
    """[Booking] of the live payments of the file's days and `banks`, and of
    every payment (live or not) with an invoice and NTB the file names."""
    start, end = day_range(settlement.first, settlement.last)
    named = {(r.invoice_id, r.ntb) for r in settlement.rows}
    with db.connection_context():
        query = Payment.select().where((Payment.status == LIVE)
                                       & (Payment.created_at >= start)
                                       & (Payment.created_at < end))
        if banks:
            query = query.where(Payment.bank.in_(banks))
        payments = {p.id: p for p in query.execute(db)}
        invoices = sorted({invoice for invoice, _ in named})
        for chunk in range(0, len(invoices), 500):
            for p in Payment.select().where(
                    Payment.invoice_id.in_(invoices[chunk:chunk + 500])).execute(db):
                if (p.invoice_id, p.ntb) in named:
                    payments[p.id] = p
        return [_booking(db, p) for _, p in sorted(payments.items())]


def compare(settlement, ours):
    """[Difference] between the bank's rows and our [Booking]s, in file order
    then ours."""
    booked = {}
    for b in ours:
        if b.booked is not None and b.payment.status == LIVE:
            booked.setdefault((b.payment.invoice_id, b.payment.ntb), []).append(b)
    found = []
    seen = set()
    for row in settlement.rows:
        key = (row.invoice_id, row.ntb)
        seen.add(key)
        ours_here = booked.get(key, [])
        if not ours_here:
            found.append(Difference(NOT_BOOKED, row.invoice_id, row.ntb, row.stan,
                                    int(row.amount), None, _why_not_booked(ours, key)))
        elif ours_here[0].booked != int(row.amount):
            found.append(Difference(AMOUNT_DIFFERS, row.invoice_id, row.ntb, row.stan,
                                    int(row.amount), ours_here[0].booked,
                                    'NTP %s' % ours_here[0].payment.ntp))
    for key, here in sorted(booked.items()):
        if key not in seen:
            p = here[0].payment
            found.append(Difference(NOT_PAID, p.invoice_id, p.ntb, p.stan, None,
                                    here[0].booked, 'NTP %s, booked %s' % (
                                        p.ntp, _clock(p.created_at))))
    by_invoice = {}
    for (invoice, _), here in booked.items():
        by_invoice.setdefault(invoice, []).extend(here)
    for invoice, here in sorted(by_invoice.items()):
        if len(here) > 1:
            found.append(Difference(
                BOOKED_TWICE, invoice, ','.join(b.payment.ntb for b in here), '', None,
                sum(b.booked for b in here), 'pembayaran_sppt_ke %s' % ','.join(
                    str(b.payment.pembayaran_sppt_ke) for b in here)))
    return found


def _why_not_booked(ours, key):
    for b in ours:
        if (b.payment.invoice_id, b.payment.ntb) == key:
            if b.payment.status != LIVE:
                return 'reversed at the pemda (NTP %s)' % b.payment.ntp
            return 'NTP %s has no pembayaran_sppt row %d' % (
                b.payment.ntp, b.payment.pembayaran_sppt_ke)
    return 'no payment record'


def _clock(value):
    return value.strftime('%Y-%m-%d %H:%M:%S') if isinstance(value, datetime) else str(value)


# Booking what the bank paid ------------------------------------------------------

BOOKED, ALREADY, SKIPPED = 'booked', 'already booked', 'skipped'

# What apply did with one row: BOOKED, ALREADY or SKIPPED, and why.
Applied = namedtuple('Applied', 'invoice_id ntb outcome detail')


def apply(db, settings, rows, clock=datetime.now):
    """Book each settlement Row the pemda lacks, each in its own transaction;
    [Applied]. Never deletes; a bill paid otherwise is left alone."""
    done = []
    for row in rows:
        with db.connection_context(), db.write_transaction():
            outcome, detail = _book(db, settings, row, clock())
        done.append(Applied(row.invoice_id, row.ntb, outcome, detail))
    return done


def _book(db, settings, row, now):
    key = _key(row.invoice_id)
    if key is None:
        return SKIPPED, 'not an invoice id'
    bill = Sppt.select().where(key_matches(Sppt, key)).first(db)
    if bill is None:
        return SKIPPED, 'no bill in sppt'
    payments = list(Payment.select().where(
        (Payment.invoice_id == row.invoice_id) & (Payment.ntb == row.ntb)
    ).order_by(Payment.id).execute(db))
    payment = payments[-1] if payments else None
    if payment is not None and payment.status != LIVE:
        return SKIPPED, 'reversed at the pemda (NTP %s): settle by hand' % payment.ntp
    rows = {r.pembayaran_sppt_ke: r for r in PembayaranSppt.select().where(
        key_matches(PembayaranSppt, key)).execute(db)}
    own = rows.get(payment.pembayaran_sppt_ke) if payment is not None else None
    if own is not None and own.jml_sppt_yg_dibayar:
        return ALREADY, 'pembayaran_sppt_ke %d' % own.pembayaran_sppt_ke
    elsewhere = sorted(k for k, r in rows.items() if r.jml_sppt_yg_dibayar)
    if elsewhere:
        return SKIPPED, 'bill paid elsewhere (pembayaran_sppt_ke %s)' % ','.join(
            map(str, elsewhere))
    amount = int(row.amount)
    penalty = _penalty(payment, bill, rows, amount)
    if payment is not None and payment.pembayaran_sppt_ke not in rows:
        sequence = payment.pembayaran_sppt_ke
    else:
        sequence = max(rows, default=0) + 1
    place = payment.kd_tp if payment is not None else settings.kd_tp.place(
        Message('0200', {18: row.channel, 32: row.bank_code}))
    PembayaranSppt.insert(
        key, pembayaran_sppt_ke=sequence, kd_kanwil=settings.kd_kanwil,
        kd_kantor=settings.kd_kantor, kd_tp=place, denda_sppt=penalty,
        jml_sppt_yg_dibayar=amount, tgl_pembayaran_sppt=_paid_at(row, now).date(),
        tgl_rekam_byr_sppt=now, nip_rekam_byr_sppt=settings.nip_pencatat).execute(db)
    Sppt.update(status_pembayaran_sppt=PAID).where(key_matches(Sppt, key)).execute(db)
    if payment is not None:
        Payment.update(pembayaran_sppt_ke=sequence).where(Payment.id == payment.id).execute(db)
        return BOOKED, 'pembayaran_sppt_ke %d (NTP %s)' % (sequence, payment.ntp)
    ntp = _record(db, settings, row, sequence, place, amount, now)
    return BOOKED, 'pembayaran_sppt_ke %d (NTP %s, a new payment record)' % (sequence, ntp)


def _penalty(payment, bill, rows, amount):
    """denda_sppt as the payment booked it: from its bit 62 when we answered
    it, else the part of the amount above the principal the bill still owed."""
    if payment is not None:
        try:
            fields = profile.parse(payment.profile or '')
            return fields['penalty'] - fields['discount']
        except ValueError:
            pass
    covered = sum((r.jml_sppt_yg_dibayar or 0) - (r.denda_sppt or 0) for r in rows.values())
    owed = max(0, (bill.pbb_yg_harus_dibayar_sppt or 0) - covered)
    return max(0, amount - owed)


def _paid_at(row, now):
    try:
        return datetime.strptime(row.paid_at, '%Y-%m-%d %H:%M:%S')
    except ValueError:
        return now


def _record(db, settings, row, sequence, place, amount, now):
    """Our Payment record for a payment the pemda never saw; its NTP: the
    bank's when it has one and it is free, else a fresh one."""
    request = json.dumps({'source': 'iso8583d rekon --apply', 'row': row._asdict()})
    candidates = [row.ntp] if row.ntp else []
    candidates += [settings.kd_kanwil + settings.kd_kantor + '%08d' % secrets.randbelow(10 ** 8)
                   for _ in range(20)]
    for ntp in candidates:
        if Payment.select().where(Payment.ntp == ntp).exists(db):
            continue
        Payment.insert(invoice_id=row.invoice_id, pembayaran_sppt_ke=sequence, ntp=ntp,
                       ntb=row.ntb, stan=row.stan, channel=row.channel, bank=row.bank_code,
                       kd_tp=place, amount=amount, profile='', request=request,
                       status=LIVE, created_at=now).execute(db)
        return ntp
    raise RuntimeError('no unused NTP found for invoice %s' % row.invoice_id)


# The money view -------------------------------------------------------------------

def day_totals(db, day):
    """[{party, channel, kind, count, amount, principal, penalty}] of one day:
    the live payments booked and the reversals made that day, per bank code
    (bit 32) and channel (bit 18)."""
    start, end = day_range(day, day)
    totals = {}
    with db.connection_context():
        paid = list(Payment.select().where((Payment.status == LIVE)
                                           & (Payment.created_at >= start)
                                           & (Payment.created_at < end)).execute(db))
        undone = list(Payment.select().join(Reversal, on=(Reversal.payment == Payment.id))
                      .where((Reversal.created_at >= start)
                             & (Reversal.created_at < end)).execute(db))
    for kind, payments in (('payment', paid), ('reversal', undone)):
        for p in payments:
            cell = totals.setdefault((p.bank, p.channel, kind), {
                'party': p.bank, 'channel': p.channel, 'kind': kind, 'count': 0,
                'amount': 0, 'principal': 0, 'penalty': 0})
            penalty = _penalty_of(p)
            cell['count'] += 1
            cell['amount'] += p.amount
            cell['penalty'] += penalty
            cell['principal'] += p.amount - penalty
    return [totals[k] for k in sorted(totals)]


def _penalty_of(payment):
    try:
        fields = profile.parse(payment.profile or '')
    except ValueError:
        return 0
    return fields['penalty'] - fields['discount']


def settlement_rows(differences, settlement):
    """The file's Rows named by NOT_BOOKED differences (what apply books)."""
    wanted = {(d.invoice_id, d.ntb) for d in differences if d.kind == NOT_BOOKED}
    return [r for r in settlement.rows if (r.invoice_id, r.ntb) in wanted]

