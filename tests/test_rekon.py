"""iso8583d rekon (issue 21): the bank's settlement file against the pemda's
books, with real daemons (the fault harness's pemda + bank chain) on SQLite
and PostgreSQL."""
import datetime
import json
import os
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fault'))

from harness import Chain, Stress, check, run_cli  # noqa: E402
from appliance.pbb import settlement  # noqa: E402
from appliance.roles.bank import journal as J  # noqa: E402
from appliance.roles.pemda.invoice import InvoiceId  # noqa: E402
from appliance.roles.pemda.tables import PembayaranSppt, Payment, key_matches  # noqa: E402


def _chain(request, tmp_path, **options):
    if request.param == 'sqlite':
        return Chain(tmp_path, 'sqlite', **options)
    url = request.getfixturevalue('pg_schema_url')
    return Chain(tmp_path, 'postgresql', pemda_url=url, bank_url=url, **options)


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def chain(request, tmp_path):
    c = _chain(request, tmp_path)
    yield c
    assert c.stop() == [0, 0], c.bank.output()[-3000:]


def pay(chain, count):
    """`count` paid invoices through the teller; their ids."""
    stress = Stress(chain, chain.invoices(count), concurrency=4).start()
    stress.join()
    assert [k for k, _ in stress.outcomes.values()] == ['ok'] * count, stress.outcomes
    return stress.invoices


def bank_file(chain, *extra):
    """Write today's settlement file; its path."""
    path = str(chain.tmp / 'settlement.csv')
    code, out = run_cli(['rekon', '--role', 'bank', '--date', 'today', '--out', path]
                        + chain.bank_args[2:] + list(extra))
    assert code == 0, out
    return path


def pemda_rekon(chain, path, *extra):
    """(exit code, parsed --json output) of the pemda's comparison."""
    code, out = run_cli(['rekon', '--role', 'pemda', '--file', path, '--json']
                        + chain.pemda_args[2:] + list(extra))
    assert code in (0, 1), out
    return code, json.loads(out)


def delete_booking(chain, invoice_id):
    """The pemda's pembayaran_sppt row of `invoice_id`, deleted by hand."""
    key = InvoiceId.parse(invoice_id).key()
    with chain.pemda_db.connection_context():
        assert PembayaranSppt.delete().where(
            key_matches(PembayaranSppt, key)).execute(chain.pemda_db) == 1


def sismiop_rows(chain):
    with chain.pemda_db.connection_context():
        return sorted(tuple(str(v) for v in row) for row in
                      PembayaranSppt.select().tuples().execute(chain.pemda_db))


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def stressed(request, tmp_path):
    c = _chain(request, tmp_path)
    yield c
    assert c.stop() == [0, 0], c.bank.output()[-3000:]


def test_after_a_payment_stress_with_a_pemda_sigkill_the_bank_file_and_the_pemda_books_agree(
        stressed):
    chain = stressed
    invoices = chain.invoices(40)
    before = chain.live_payments(invoices)
    stress = Stress(chain, invoices).start()
    stress.wait_done(0.3)
    stress.assert_running()
    chain.pemda.kill()                          # SIGKILL: no goodbye
    chain.start_pemda()
    stress.join()
    check(chain, stress, before, 'rekon after pemda SIGKILL', 1, chain.wait_drained())

    path = bank_file(chain)
    code, report = pemda_rekon(chain, path)
    assert (code, report['differences']) == (0, [])
    ok = sum(1 for kind, _ in stress.outcomes.values() if kind == 'ok')
    assert report['rows'] == ok


def test_a_deleted_pembayaran_sppt_row_is_reported_as_paid_at_the_bank_not_booked(chain):
    invoices = pay(chain, 3)
    delete_booking(chain, invoices[1])
    code, report = pemda_rekon(chain, bank_file(chain))
    assert code == 1
    assert [(d['kind'], d['invoice_id']) for d in report['differences']] == [
        ('paid at the bank, not booked', invoices[1])]


def test_apply_books_the_missing_payment_and_a_second_rekon_agrees(chain):
    invoices = pay(chain, 3)
    whole = sismiop_rows(chain)
    delete_booking(chain, invoices[0])
    path = bank_file(chain)
    code, report = pemda_rekon(chain, path, '--apply')
    assert code == 0, report
    assert [(a['invoice_id'], a['outcome']) for a in report['applied']] == [
        (invoices[0], 'booked')]
    # Booked as the payment had booked it, but for the time it was recorded.
    restored = sismiop_rows(chain)
    assert [r[:-2] + r[-1:] for r in restored] == [r[:-2] + r[-1:] for r in whole]
    assert pemda_rekon(chain, path) == (0, dict(report, applied=[]))


def test_apply_again_changes_nothing(chain):
    invoices = pay(chain, 2)
    delete_booking(chain, invoices[1])
    path = bank_file(chain)
    assert pemda_rekon(chain, path, '--apply')[0] == 0
    rows, payments = sismiop_rows(chain), _payments(chain)
    code, report = pemda_rekon(chain, path, '--apply')
    assert (code, report['applied'], report['differences']) == (0, [], [])
    assert (sismiop_rows(chain), _payments(chain)) == (rows, payments)


def _payments(chain):
    with chain.pemda_db.connection_context():
        return sorted(Payment.select().tuples().execute(chain.pemda_db))


def test_a_payment_the_bank_did_not_settle_is_reported_as_booked_not_paid(chain):
    invoices = pay(chain, 2)
    with chain.journal_db.connection_context():
        J.JournalEntry.update(code='05').where(
            J.JournalEntry.invoice_id == invoices[0]).execute(chain.journal_db)
    code, report = pemda_rekon(chain, bank_file(chain))
    assert code == 1
    assert [(d['kind'], d['invoice_id']) for d in report['differences']] == [
        ('booked, not paid at the bank', invoices[0])]


def test_the_bank_file_has_a_header_sorted_rows_a_summary_and_a_checksum(chain):
    invoices = pay(chain, 3)
    text = open(bank_file(chain)).read()
    lines = text.splitlines()
    assert lines[0].startswith('# iso8583d settlement 1 from=')
    assert lines[0].endswith('hosts=kota_bogor banks=110')
    assert lines[1] == ','.join(settlement.COLUMNS)
    parsed = settlement.parse(text)
    assert sorted(r.invoice_id for r in parsed.rows) == sorted(invoices)
    assert [r.paid_at for r in parsed.rows] == sorted(r.paid_at for r in parsed.rows)
    assert all(len(r.ntp) == 12 and r.channel == '6010' for r in parsed.rows)
    amounts = sum(int(r.amount) for r in parsed.rows)
    assert lines[-2] == '# summary count=3 sum=%d' % amounts
    assert lines[-1].startswith('# sha256 ')


def test_a_changed_settlement_file_is_refused_naming_its_checksum_line(chain):
    pay(chain, 1)
    path = bank_file(chain)
    text = open(path).read()
    with open(path, 'w') as f:
        f.write(text.replace(',6010,', ',6011,'))
    code, out = run_cli(['rekon', '--role', 'pemda', '--file', path] + chain.pemda_args[2:])
    assert code == 2
    assert out == 'iso8583d rekon: %s line 5: the checksum does not match the content\n' % path


def test_the_timers_service_writes_yesterdays_file_into_the_rekon_directory(chain, tmp_path):
    unit = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'packaging', 'debian', 'iso8583d-rekon@.service')
    command = next(line.split('=', 1)[1].split() for line in open(unit)
                   if line.startswith('ExecStart='))
    assert command[0] == '/usr/bin/iso8583d'
    out_dir = tmp_path / 'rekon'
    out_dir.mkdir()
    local = {'/etc/iso8583d/conf.d': chain.bank_args[3], '/var/lib/iso8583d': chain.bank_args[5],
             '/var/lib/iso8583d/rekon': str(out_dir), '%i': 'kota_bogor'}
    code, out = run_cli([local.get(word, word) for word in command[1:]])
    assert code == 0, out
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    written = out_dir / ('kota_bogor_%s.csv' % yesterday)
    parsed = settlement.parse(written.read_text())
    assert (parsed.first, parsed.hosts, parsed.rows) == (
        datetime.date.fromisoformat(yesterday), ['kota_bogor'], [])


def test_the_table_names_the_class_of_each_difference_and_the_count(chain):
    invoices = pay(chain, 2)
    delete_booking(chain, invoices[0])
    path = bank_file(chain)
    code, out = run_cli(['rekon', '--role', 'pemda', '--file', path] + chain.pemda_args[2:])
    lines = out.splitlines()
    assert code == 1
    assert lines[0].split()[:3] == ['class', 'invoice_id', 'ntb']
    assert lines[1].startswith('paid at the bank, not booked  %s' % invoices[0])
    assert lines[2] == ('1 difference(s); the file has 2 payment(s) of %s'
                        % datetime.date.today().isoformat())


def test_the_banks_metrics_show_todays_settled_payments_per_pemda_and_channel(chain):
    invoices = pay(chain, 2)
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % chain.web, timeout=10) as r:
        text = r.read().decode()
    paid = settlement.parse(open(bank_file(chain)).read()).rows
    assert sorted(r.invoice_id for r in paid) == sorted(invoices)
    labels = '{party="kota_bogor",channel="6010",kind="payment"}'
    assert 'iso8583d_today_count%s 2\n' % labels in text
    assert 'iso8583d_today_amount%s %d\n' % (labels, sum(int(r.amount) for r in paid)) in text


def test_a_booking_with_another_amount_is_reported_as_amounts_differ(chain):
    invoices = pay(chain, 2)
    key = InvoiceId.parse(invoices[1]).key()
    with chain.pemda_db.connection_context():
        PembayaranSppt.update(jml_sppt_yg_dibayar=PembayaranSppt.jml_sppt_yg_dibayar + 1).where(
            key_matches(PembayaranSppt, key)).execute(chain.pemda_db)
    code, report = pemda_rekon(chain, bank_file(chain))
    assert code == 1
    [difference] = report['differences']
    assert (difference['kind'], difference['invoice_id']) == ('amounts differ', invoices[1])
    assert difference['pemda_amount'] == difference['bank_amount'] + 1


def test_a_bill_booked_a_second_time_is_reported_as_booked_twice(chain):
    invoices = pay(chain, 1)
    key = InvoiceId.parse(invoices[0]).key()
    with chain.pemda_db.connection_context():
        row = PembayaranSppt.select().where(
            key_matches(PembayaranSppt, key)).dicts().get(chain.pemda_db)
        payment = Payment.select().where(
            Payment.invoice_id == invoices[0]).dicts().get(chain.pemda_db)
        PembayaranSppt.insert(dict(row, pembayaran_sppt_ke=2)).execute(chain.pemda_db)
        del payment['id']
        Payment.insert(dict(payment, pembayaran_sppt_ke=2, ntp='0101' + '9' * 8,
                            ntb='twice', stan='999999')).execute(chain.pemda_db)
    code, report = pemda_rekon(chain, bank_file(chain))
    assert code == 1
    assert sorted((d['kind'], d['invoice_id']) for d in report['differences']) == [
        ('booked twice', invoices[0]), ('booked, not paid at the bank', invoices[0])]


def test_apply_leaves_a_bill_paid_elsewhere_alone(chain):
    invoices = pay(chain, 1)
    key = InvoiceId.parse(invoices[0]).key()
    with chain.pemda_db.connection_context():
        row = PembayaranSppt.select().where(
            key_matches(PembayaranSppt, key)).dicts().get(chain.pemda_db)
        delete_booking(chain, invoices[0])
        # Paid at the tax office's counter since: a row of another kd_tp, no record of ours.
        PembayaranSppt.insert(dict(row, pembayaran_sppt_ke=7, kd_tp='01')).execute(
            chain.pemda_db)
    rows = sismiop_rows(chain)
    code, report = pemda_rekon(chain, bank_file(chain), '--apply')
    assert code == 1
    assert [(a['invoice_id'], a['outcome'], a['detail']) for a in report['applied']] == [
        (invoices[0], 'skipped', 'bill paid elsewhere (pembayaran_sppt_ke 7)')]
    assert sismiop_rows(chain) == rows
