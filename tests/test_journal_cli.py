"""`iso8583d journal`: the bank's journal as an operator reads it, from the
command line (a real process), on SQLite and PostgreSQL; and from a bank
daemon's own journal after a payment through it."""
import json
import os
import pathlib

import pytest

from appliance.roles.bank import journal as J
from appliance.store.db import open_database
from appliance.pbb.request import RequestBuilder
from fixtures.daemon import run_cli

from test_bank_daemon import SEED_INVOICE, rpc
from test_bank_daemon import chain  # noqa: F401  (fixture)

INVOICE = SEED_INVOICE
OTHER = '3275010001100000802021'
SEED_DIR = pathlib.Path(__file__).parent / 'seed'


def payment(invoice, ntb, stan):
    return RequestBuilder().payment(invoice, 19536, ntb, stan)


@pytest.fixture
def bank_conf(tmp_path, db_url):
    """A bank configuration whose two pemda links keep one journal in db_url,
    with four entries: paid, timed out (reversal queued), lost (reversal
    expired after 3 attempts, last answer 68), and one on the other link;
    then a forwarded payment's reversal, queued without a journal entry."""
    conf = tmp_path / 'bank.ini'
    conf.write_text(
        '[host_kota_bogor]\nip = 127.0.0.1\nport = 10002\nlisten = true\n'
        'module = bank.pemda\ndb_url = %s\n\n'
        '[host_kota_bekasi]\nip = 127.0.0.1\nport = 10003\nlisten = true\n'
        'module = bank.pemda\ndb_url = %s\n' % (db_url, db_url))
    db = open_database(db_url)
    J.create_tables(db)
    clock = [1_700_000_000.0]
    bogor = J.Journal(db, 'kota_bogor', owner='bank-a', clock=lambda: clock[0])
    bekasi = J.Journal(db, 'kota_bekasi', owner='bank-a', clock=lambda: clock[0])
    paid = bogor.begin(J.PAYMENT, payment(INVOICE, 'NTB-PAID', '000101'), 'k|1')
    bogor.answered(paid, '00', {'code': 0})
    clock[0] += 60
    msg = payment(INVOICE, 'NTB-TIMEOUT', '000102')
    saf = bogor.unknown(bogor.begin(J.PAYMENT, msg, 'k|2'), J.TIMEOUT, 'no answer', msg)
    with db.connection_context():      # as node bank-b queues it when bank-a is gone
        J.SafEntry.update(owner='bank-b').where(J.SafEntry.id == saf).execute(db)
    clock[0] += 60
    msg = payment(INVOICE, 'NTB-LOST', '000103')
    saf = bogor.unknown(bogor.begin(J.PAYMENT, msg, 'k|3'), J.LOST, 'closed', msg)
    with db.connection_context():      # as the SAF worker leaves a reversal it gave up
        J.SafEntry.update(state=J.EXPIRED, attempts=3, last_code='68').where(
            J.SafEntry.id == saf).execute(db)
    clock[0] += 60
    other = bekasi.begin(J.PAYMENT, payment(OTHER, 'NTB-BEKASI', '000104'), 'k|4')
    bekasi.answered(other, '00', {'code': 0})
    clock[0] += 60
    bogor.enqueue(payment(INVOICE, 'NTB-FORWARDED', '000105'), J.TIMEOUT)
    db.close()
    return conf


def journal(conf, *args):
    return run_cli(['journal', str(conf), '--data-dir', str(conf.parent)] + list(args))


def table(out):
    """{ntb: line} of the table's rows."""
    lines = out.splitlines()
    assert lines[0].split()[:4] == ['id', 'time', 'host', 'kind'], out
    return {line.split()[6]: line for line in lines[1:]}


def test_every_entry_of_both_links_newest_first_with_its_reversal(bank_conf):
    code, out = journal(bank_conf)
    assert code == 0, out
    rows = table(out)
    assert list(rows) == ['NTB-FORWARDED', 'NTB-BEKASI', 'NTB-LOST', 'NTB-TIMEOUT',
                          'NTB-PAID']
    assert rows['NTB-PAID'].split()[7:11] == ['000101', '19536', 'answered', '00']
    assert rows['NTB-TIMEOUT'].endswith('timeout     -   bank-a            queued #1, 0 '
                                        'attempts, taken over by node bank-b')
    assert rows['NTB-LOST'].endswith('lost        -   bank-a            expired #2, 3 '
                                     'attempts, last 68')
    assert ' kota_bekasi ' in rows['NTB-BEKASI']
    assert rows['NTB-FORWARDED'].split()[:1] + rows['NTB-FORWARDED'].split()[4:5] == [
        '-', 'forwarded']
    assert rows['NTB-FORWARDED'].endswith('timeout     -   bank-a            queued #3, 0 '
                                          'attempts')


def test_the_reversals_to_settle_by_hand_are_those_expired(bank_conf):
    code, out = journal(bank_conf, '--reversal', 'expired')
    assert code == 0, out
    assert list(table(out)) == ['NTB-LOST']
    code, out = journal(bank_conf, '--reversal', 'any')
    assert list(table(out)) == ['NTB-FORWARDED', 'NTB-LOST', 'NTB-TIMEOUT']
    code, out = journal(bank_conf, '--reversal', 'queued')
    assert list(table(out)) == ['NTB-FORWARDED', 'NTB-TIMEOUT']


@pytest.mark.parametrize('args, ntbs', [
    (['--invoice', OTHER], ['NTB-BEKASI']),
    (['--ntb', 'NTB-TIMEOUT'], ['NTB-TIMEOUT']),
    (['--state', 'answered'], ['NTB-BEKASI', 'NTB-PAID']),
    (['--state', 'timeout'], ['NTB-FORWARDED', 'NTB-TIMEOUT']),
    (['--ntb', 'NTB-FORWARDED'], ['NTB-FORWARDED']),
    (['--host', 'kota_bogor', '--limit', '2'], ['NTB-FORWARDED', 'NTB-LOST']),
    (['--host', 'kota_bekasi'], ['NTB-BEKASI']),
])
def test_filters(bank_conf, args, ntbs):
    code, out = journal(bank_conf, *args)
    assert code == 0, out
    assert list(table(out)) == ntbs


def test_json_gives_one_object_per_entry(bank_conf):
    code, out = journal(bank_conf, '--json', '--ntb', 'NTB-LOST')
    assert code == 0, out
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert (row['invoice_id'], row['state'], row['reversal_state'], row['reversal_attempts'],
            row['reversal_last_code'], row['amount']) == (
        INVOICE, 'lost', 'expired', 3, '68', 19536)


def test_nothing_matching_says_so(bank_conf):
    assert journal(bank_conf, '--ntb', 'NOPE') == (0, 'no journal entries match\n')


@pytest.mark.parametrize('args, message', [
    (['--limit', '0'], "argument --limit: '0' is not a positive whole number"),
    (['--state', 'paid'], "argument --state: invalid choice: 'paid'"),
])
def test_bad_options_are_usage_errors(bank_conf, args, message):
    code, out = journal(bank_conf, *args)
    assert code == 2 and message in out, out


def test_a_configuration_without_a_journal_is_refused_with_exit_78():
    code, out = journal(SEED_DIR / 'test-pemda.ini')       # a pemda's, say
    assert code == 78
    assert 'no bank.pemda host in the configuration' in out, out


def test_a_host_that_does_not_exist_is_named(bank_conf):
    code, out = journal(bank_conf, '--host', 'kota_depok')
    assert code == 78 and 'no bank.pemda host named kota_depok' in out, out


def test_a_journal_not_created_yet_is_named_and_not_created(tmp_path):
    conf = tmp_path / 'bank.ini'
    conf.write_text('[host_kota_bogor]\nip = 127.0.0.1\nport = 10002\nlisten = true\n'
                    'module = bank.pemda\n')
    code, out = journal(conf)
    assert code == 1
    assert 'no journal yet at %s' % (tmp_path / 'bank.db') in out
    assert not (tmp_path / 'bank.db').exists()


@pytest.mark.skipif(os.geteuid() != 0, reason='chown needs root')
@pytest.mark.parametrize('command', ['journal', 'invoices'])
def test_root_leaves_alone_a_sqlite_database_another_user_owns(tmp_path, command):
    # As root, SQLite would add -wal and -shm files owned by root to the
    # daemon's database, and the daemon (user iso8583d) could not open it.
    if command == 'journal':
        conf, name = tmp_path / 'bank.ini', 'bank.db'
        conf.write_text('[host_kota_bogor]\nip = 127.0.0.1\nport = 10002\n'
                        'listen = true\nmodule = bank.pemda\n')
    else:
        conf, name = tmp_path / 'pemda.ini', 'demo.db'
        conf.write_text((SEED_DIR / 'test-pemda.ini').read_text().replace(
            'postgresql://user:pass@localhost/db', 'sqlite:///demo.db'))
    db = open_database('sqlite:///%s' % (tmp_path / name))
    J.create_tables(db)
    db.close_all()                       # the last close removes -wal and -shm
    os.chown(tmp_path / name, 65534, 65534)
    code, out = run_cli([command, str(conf), '--data-dir', str(tmp_path)])
    assert code == 1, out
    assert '%s belongs to nobody: run this as that user (sudo -u nobody' % (
        tmp_path / name) in out, out
    assert [p.name for p in tmp_path.glob(name + '*')] == [name]


def _call(chain, method, params):
    body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': method, 'params': [params]})
    status, answer = rpc(chain, body.encode())
    assert status == 200 and answer['result']['data']['39'] == '00', answer


def test_a_payment_through_a_running_bank_is_in_its_journal(chain, tmp_path):
    _call(chain, 'inquiry', {'invoice_id': SEED_INVOICE})      # as a teller does first
    _call(chain, 'payment', {'invoice_id': SEED_INVOICE, 'amount': 19536,
                             'ntb': 'JOURNAL-CLI-1', 'stan': '000001'})
    code, out = run_cli(['journal', '--conf-dir', str(tmp_path / 'bank.d'),
                         '--data-dir', str(tmp_path / 'bank-data'), '--ntb', 'JOURNAL-CLI-1'])
    assert code == 0, out
    (line,) = table(out).values()
    assert line.split()[3:5] == ['kota_bogor', 'payment'], line
    assert line.split()[9:11] == ['answered', '00'], line
