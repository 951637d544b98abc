"""The bank's side of the daily reconciliation (issue 21): which payments it
settles with each pemda, and what it collected today.

A payment is settled when the pemda answered it `00` and it was not reversed.
"Reversed" is read from what the tables hold: a reversal journal entry for the
same invoice and NTB answered `00`, or a store-and-forward entry for them
done with `00`, whichever host sent it (a group's reversal may take another
link to the same pemda than its payment, appliance.roles.bank.group). Payments come from the teller's journal
(appliance.roles.bank.journal) and from the forwarder's record of an
aggregator's payments (appliance.roles.bank.forwarder, channel of the
aggregator). Every query of this feature lives here, so a change of those
tables touches one place.
"""
import json
from collections import namedtuple
from datetime import datetime

from appliance.iso.codes import OK, PAYMENT as PAYMENT_CODE, REVERSAL_MTIS
from appliance.pbb import profile
from appliance.pbb.settlement import day_range
from appliance.roles.bank.forwarder import ANSWERED as FORWARD_ANSWERED, Forward
from appliance.roles.bank.journal import (
    ANSWERED, DONE, PAYMENT, REVERSAL, JournalEntry, SafEntry)

# One settled payment, as a row of the settlement file.
Settled = namedtuple('Settled', 'host invoice_id ntb ntp stan amount paid_at channel '
                                'bank_code source principal penalty')


def _bits(text):
    """The bits of a stored request/answer JSON ({"mti", "bits"}), or {}."""
    try:
        return json.loads(text or '{}').get('bits') or {}
    except ValueError:
        return {}


def _split(amount, bit62):
    """(principal, penalty) of a payment from the pemda's bit 62 (penalty net
    of the discount, as pembayaran_sppt.denda_sppt); (None, None) unknown."""
    try:
        fields = profile.parse(bit62 or '')
    except ValueError:
        return None, None
    penalty = fields['penalty'] - fields['discount']
    return amount - penalty, penalty


def reversed_keys(db, since):
    """{(invoice, ntb)} whose reversal the pemda answered 00, of the reversals
    written since `since` (a reversal follows its payment), whichever host
    sent them: a group's reversal may go through another link than its
    payment (appliance.roles.bank.group), and an invoice belongs to one pemda."""
    with db.connection_context():
        keys = set(JournalEntry.select(JournalEntry.invoice_id, JournalEntry.ntb).where(
            (JournalEntry.kind == REVERSAL) & (JournalEntry.state == ANSWERED)
            & (JournalEntry.code == OK)
            & (JournalEntry.created_at >= since.timestamp())).tuples().execute(db))
        keys |= set(SafEntry.select(SafEntry.invoice_id, SafEntry.ntb).where(
            (SafEntry.state == DONE) & (SafEntry.last_code == OK)
            & (SafEntry.created_at >= since.timestamp())).tuples().execute(db))
    return keys


def journal_payments(db, hosts, start, end, memo=None):
    """[Settled] of the teller's payments answered 00 in [start, end), reversed
    ones included (the caller removes them). `memo` ({entry id: Settled}),
    when given, keeps what was parsed: an answered entry never changes, and
    the status page reads the day again every few seconds."""
    query = JournalEntry.select(
        JournalEntry.id, JournalEntry.host, JournalEntry.invoice_id, JournalEntry.ntb,
        JournalEntry.stan, JournalEntry.amount, JournalEntry.created_at).where(
        (JournalEntry.kind == PAYMENT) & (JournalEntry.state == ANSWERED)
        & (JournalEntry.code == OK) & JournalEntry.host.in_(hosts)
        & (JournalEntry.created_at >= start.timestamp())
        & (JournalEntry.created_at < end.timestamp()))
    memo = {} if memo is None else memo
    with db.connection_context():
        rows = db.execute(query).fetchall()     # plain tuples: no model per row
        missing = [row[0] for row in rows if row[0] not in memo]
        for first in range(0, len(missing), 500):
            for entry_id, request, result in JournalEntry.select(
                    JournalEntry.id, JournalEntry.request, JournalEntry.result).where(
                    JournalEntry.id.in_(missing[first:first + 500])).tuples().execute(db):
                memo[entry_id] = (request, result)
    return [_settled(row, memo) for row in rows]


def _settled(row, memo):
    entry_id, host, invoice, ntb, stan, amount, created = row
    parsed = memo[entry_id]
    if not isinstance(parsed, Settled):
        request, result = parsed
        sent = _bits(request)
        try:
            answer = json.loads(result or '{}').get('data') or {}
        except ValueError:
            answer = {}
        principal, penalty = _split(amount, answer.get('62'))
        parsed = memo[entry_id] = Settled(
            host, invoice, ntb, answer.get('47', ''), stan, amount,
            datetime.fromtimestamp(created), sent.get('18', ''), sent.get('32', ''),
            'teller', principal, penalty)
    return parsed


def forwarded_payments(db, hosts, start, end):
    """[Settled] of an aggregator's payments the pemda answered 00 in [start,
    end); a reversal the forwarder got 00 for removes its payment here."""
    with db.connection_context():
        reversed_ids = {r for (r,) in Forward.select(Forward.payment_id).where(
            Forward.mti.in_(REVERSAL_MTIS) & (Forward.target_code == OK)
            & Forward.payment_id.is_null(False)).tuples().execute(db)}
        rows = list(Forward.select().where(
            (Forward.mti == '0200') & (Forward.processing_code == PAYMENT_CODE)
            & (Forward.outcome == FORWARD_ANSWERED) & (Forward.target_code == OK)
            & Forward.target.in_(hosts) & (Forward.created_at >= start)
            & (Forward.created_at < end)).execute(db))
    found = []
    for row in rows:
        if row.id in reversed_ids:
            continue
        sent = _bits(row.request)
        amount = int(row.amount) if (row.amount or '').isdigit() else 0
        found.append(Settled(row.target, row.invoice_id, row.ntb, '', row.target_stan,
                             amount, row.created_at, sent.get('18', ''), sent.get('32', ''),
                             row.source, None, None))
    return found


def settled(journals, forwarders, start, end, memo=None):
    """[Settled] sorted by host, time, invoice and NTB: the payments answered
    00 in [start, end) and not reversed. `journals`: [(db, hosts)] of the
    bank.pemda journals; `forwarders`: [db] of the bank.forwarder records."""
    hosts = sorted({h for _, names in journals for h in names})
    reversed_ = set()
    payments = []
    for db, names in journals:
        reversed_ |= reversed_keys(db, start)
        payments += journal_payments(db, names, start, end, memo)
    for db in forwarders:
        payments += forwarded_payments(db, hosts, start, end)
    kept = [p for p in payments if (p.invoice_id, p.ntb) not in reversed_]
    return sorted(kept, key=lambda p: (p.host, p.paid_at, p.invoice_id, p.ntb))


def reversed_today(journals, forwarders, start, end):
    """[Settled] of the payments whose reversal the pemda answered 00 in
    [start, end): the reversals of the money view."""
    found = []
    for db, names in journals:
        with db.connection_context():
            keys = set(JournalEntry.select(
                JournalEntry.host, JournalEntry.invoice_id, JournalEntry.ntb).where(
                (JournalEntry.kind == REVERSAL) & (JournalEntry.state == ANSWERED)
                & (JournalEntry.code == OK) & JournalEntry.host.in_(names)
                & (JournalEntry.updated_at >= start.timestamp())
                & (JournalEntry.updated_at < end.timestamp())).tuples().execute(db))
            keys |= set(SafEntry.select(SafEntry.host, SafEntry.invoice_id, SafEntry.ntb).where(
                (SafEntry.state == DONE) & (SafEntry.last_code == OK)
                & SafEntry.host.in_(names) & (SafEntry.done_at >= start.timestamp())
                & (SafEntry.done_at < end.timestamp())).tuples().execute(db))
            paid = _journal_payments_of(db, keys)
        seen = set()            # one payment reversed through two links counts once
        for key in sorted(keys):
            host, invoice, ntb = key
            if (invoice, ntb) in seen:
                continue
            seen.add((invoice, ntb))
            entry = paid.get((invoice, ntb))
            if entry is None:       # not the teller's: a forwarded payment
                found.append(_forwarded_reversal(forwarders, key))
                continue
            sent = _bits(entry.request)
            found.append(Settled(entry.host, invoice, ntb, '', entry.stan, entry.amount,
                                 datetime.fromtimestamp(entry.created_at),
                                 sent.get('18', ''), sent.get('32', ''), 'teller',
                                 None, None))
    return [r for r in found if r is not None]


def _journal_payments_of(db, keys):
    """{(invoice, ntb): the latest payment entry} for those keys (of any
    host: a group's reversal may go through another link), read 500
    invoices a query."""
    wanted = {(invoice, ntb) for _, invoice, ntb in keys}
    invoices = sorted({invoice for invoice, _ in wanted})
    paid = {}
    for first in range(0, len(invoices), 500):
        for entry in (JournalEntry.select(
                JournalEntry.id, JournalEntry.host, JournalEntry.invoice_id,
                JournalEntry.ntb, JournalEntry.amount, JournalEntry.request,
                JournalEntry.stan, JournalEntry.created_at)
                .where((JournalEntry.kind == PAYMENT)
                       & JournalEntry.invoice_id.in_(invoices[first:first + 500]))
                .order_by(JournalEntry.id).execute(db)):
            if (entry.invoice_id, entry.ntb) in wanted:
                paid[(entry.invoice_id, entry.ntb)] = entry
    return paid


def _forwarded_reversal(forwarders, key):
    host, invoice, ntb = key
    for db in forwarders:
        with db.connection_context():
            row = Forward.select().where(
                (Forward.mti == '0200') & (Forward.processing_code == PAYMENT_CODE)
                & (Forward.target == host) & (Forward.invoice_id == invoice)
                & (Forward.ntb == ntb)).order_by(Forward.id.desc()).first(db)
        if row is not None:
            sent = _bits(row.request)
            amount = int(row.amount) if (row.amount or '').isdigit() else 0
            return Settled(host, invoice, ntb, '', row.target_stan, amount, row.created_at,
                           sent.get('18', ''), sent.get('32', ''), row.source, None, None)
    return None


def day_totals(journals, forwarders, day, memo=None):
    """The money view of one day: [{party, channel, kind, count, amount,
    principal, penalty}] per pemda host and channel; principal and penalty
    sum the payments whose split the pemda's bit 62 told (None if none).
    `memo`: see journal_payments."""
    start, end = day_range(day, day)
    totals = {}
    for kind, rows in (('payment', settled(journals, forwarders, start, end, memo)),
                       ('reversal', reversed_today(journals, forwarders, start, end))):
        for row in rows:
            cell = totals.setdefault((row.host, row.channel, kind), {
                'party': row.host, 'channel': row.channel, 'kind': kind, 'count': 0,
                'amount': 0, 'principal': None, 'penalty': None})
            cell['count'] += 1
            cell['amount'] += row.amount
            if row.principal is not None:
                cell['principal'] = (cell['principal'] or 0) + row.principal
                cell['penalty'] = (cell['penalty'] or 0) + row.penalty
    return [totals[k] for k in sorted(totals)]
