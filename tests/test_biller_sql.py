"""The biller's compiled queries (appliance.store.db.Prepared) and its grouped
inquiry records, on SQLite and PostgreSQL."""
import gevent
import pytest

from appliance.store.db import Prepared, open_database, param
from appliance.roles.pemda.tables import Inquiry, Payment, PembayaranSppt, Sppt
from appliance.roles.pemda import biller as biller_module
from appliance.roles.pemda.biller import Biller
from fixtures.waiting import until
from test_biller import (NOW, RECENT_INVOICE, SEED_INVOICE, count, db, inquiry,  # noqa: F401
                         make_settings)


def test_a_prepared_query_binds_values_by_name_in_the_placeholder_style_of_each_database(
        tmp_path):
    query = Sppt.select(Sppt.nm_wp_sppt).where(
        (Sppt.kd_propinsi == param('p')) & (Sppt.kd_dati2 == param('d'))
        & (Sppt.kd_blok != param('p'))).limit(1)
    sqlite = Prepared(open_database('sqlite:///%s' % (tmp_path / 'a.db')), query)
    postgres = Prepared(open_database('postgresql://127.0.0.1/test'), query)
    assert sqlite.sql.count('?') == 4 and '%s' not in sqlite.sql
    assert postgres.sql.count('%s') == 4 and '?' not in postgres.sql
    assert sqlite.names == ('p', 'd', 'p')
    assert sqlite.params({'p': '32', 'd': '71'}) == ['32', '71', '32', 1]   # LIMIT stays 1


def test_a_prepared_query_converts_values_with_the_fields_it_is_given(tmp_path):
    db = open_database('sqlite:///%s' % (tmp_path / 'a.db'))
    query = Inquiry.insert({Inquiry.amount: param('amount')})
    prepared = Prepared(db, query, {'amount': Inquiry.amount})
    # The fields' defaults (stan, channel: '') are literals; amount becomes an int.
    assert prepared.params({'amount': '12'}) == ['', '', 12]


@pytest.fixture
def biller(db):  # noqa: F811
    return Biller(make_settings(), db, clock=lambda: NOW)


def test_concurrent_inquiries_share_commits_and_each_is_recorded_before_its_answer(
        biller, db, monkeypatch):  # noqa: F811
    transactions = []
    real = db.write_transaction

    def counted(**kwargs):
        transactions.append(1)
        return real(**kwargs)
    monkeypatch.setattr(db, 'write_transaction', counted)
    recorded = []

    def ask(invoice):
        answer = biller.handle(inquiry(invoice))
        recorded.append(count(db, Inquiry))   # this inquiry's row is already there
        return answer

    invoices = [SEED_INVOICE, RECENT_INVOICE] * 20
    answers = [g.value for g in gevent.joinall([gevent.spawn(ask, i) for i in invoices],
                                                raise_error=True)]
    assert [a[39] for a in answers] == ['00'] * 40
    assert count(db, Inquiry) == 40
    assert min(recorded) >= 1 and len(transactions) < 40


def test_when_a_group_cannot_be_written_every_inquiry_in_it_is_answered_76(
        biller, db):  # noqa: F811
    with db.connection_context():
        db.execute_sql('DROP TABLE %s' % Inquiry._meta.table_name)
    answers = [g.value for g in gevent.joinall(
        [gevent.spawn(biller.handle, inquiry()) for _ in range(5)], raise_error=True)]
    assert [a[39] for a in answers] == ['76'] * 5
    assert biller.handle(inquiry(RECENT_INVOICE))[39] == '76'    # and the next one too


def test_the_group_writer_is_free_again_after_an_error(monkeypatch):
    writer = biller_module._GroupWriter(None, None)
    with pytest.raises(AttributeError):
        writer.record({'invoice_id': SEED_INVOICE})
    assert (writer.group.busy, writer.group.queue) == (False, [])


@pytest.mark.parametrize('returning', [True, False])
def test_each_payment_of_a_bill_gets_the_next_sequence_number_with_or_without_returning(
        db, monkeypatch, returning):  # noqa: F811
    from test_biller import PembayaranSppt, pay, reversal, rows
    monkeypatch.setattr(biller_module, 'has_returning', lambda database: returning)
    biller = Biller(make_settings(), db, clock=lambda: NOW)
    assert (biller.sql.insert_next_pembayaran is not None) == returning
    first = pay(biller)
    assert biller.handle(reversal(ntb=first[48], stan=first[11]))[39] == '00'
    assert pay(biller, ntb='0719054999', stan='054999')[39] == '00'
    assert [r['pembayaran_sppt_ke'] for r in rows(db, PembayaranSppt)] == [1, 2]


def test_a_caller_killed_while_it_waits_does_not_stop_the_groups_after_it(
        biller, db):  # noqa: F811
    writer = biller.inquiries.group
    writer.busy = True                        # as if a group were being written
    waiting = gevent.spawn(biller.handle, inquiry())
    until(lambda: writer.queue, 'the inquiry queued for the writer')
    (entry,) = writer.queue
    entry.lead = True                         # it is handed the next group...
    waiting.kill()                            # ...and killed before it wakes
    assert (writer.busy, writer.queue) == (False, [])
    assert biller.handle(inquiry(RECENT_INVOICE))[39] == '00'


@pytest.mark.pg
def test_a_pooled_postgresql_connection_is_pinged_only_after_sitting_idle(
        pg_schema_url, monkeypatch):
    database = open_database(pg_schema_url)
    pings = []
    real = database._adapter.is_connection_closed
    monkeypatch.setattr(database._adapter, 'is_connection_closed',
                        lambda conn: pings.append(1) or real(conn))
    for _ in range(3):                       # given back a moment ago: no round trip
        with database.connection_context():
            database.execute_sql('SELECT 1')
    assert pings == []
    monkeypatch.setattr(database, 'PING_AFTER', 0.0)
    with database.connection_context():     # idle "too long": checked first
        database.execute_sql('SELECT 1')
    assert pings == [1]
    database.close_all()



class _CountedCursor:
    """A cursor that notes the first word of each statement it sends (one
    round trip each), with the BEGIN that rides in front of one."""

    def __init__(self, inner, sent):
        self._inner, self._sent = inner, sent

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def execute(self, sql, params=None):
        words = sql.split(' ', 2)
        self._sent.append(' '.join(words[:2]) if words[0] == 'BEGIN;' else words[0])
        return self._inner.execute(sql, params)


@pytest.mark.pg
def test_a_postgresql_payment_takes_two_round_trips_the_bill_then_one_function_that_books_it(
        pg_schema_url, monkeypatch):
    from datetime import date
    from test_biller import add_bill, pay, payment, rows
    from appliance.roles.pemda import demo
    database = open_database(pg_schema_url)
    demo.create_tables(database)
    demo.load_demo(database, bills=2)
    add_bill(database, RECENT_INVOICE, 100000, date(2015, 8, 31))
    biller = Biller(make_settings(), database, clock=lambda: NOW)
    assert pay(biller)[39] == '00'              # its statements are now prepared
    due = int(biller.handle(inquiry(RECENT_INVOICE))[4])
    sent, real = [], database.cursor
    monkeypatch.setattr(database, 'cursor', lambda *a, **k: _CountedCursor(real(*a, **k), sent))
    paid = biller.handle(payment(RECENT_INVOICE, due, '0719054952', '054238'))
    monkeypatch.undo()
    assert paid[39] == '00', paid
    # The bill's read, then one server-side function that claims it, checks
    # it and inserts both rows: each atomic by itself (no BEGIN, no COMMIT).
    assert sent == ['EXECUTE', 'EXECUTE']
    assert rows(database, Sppt, RECENT_INVOICE)[0]['status_pembayaran_sppt'] == '1'
    (booked,) = rows(database, PembayaranSppt, RECENT_INVOICE)
    (record,) = rows(database, Payment, RECENT_INVOICE)
    assert (booked['pembayaran_sppt_ke'], booked['jml_sppt_yg_dibayar']) == (1, due)
    assert (record['ntp'], record['pembayaran_sppt_ke'], record['amount']) == (paid[47], 1, due)
    database.close_all()


@pytest.mark.pg
def test_a_postgresql_inquiry_takes_two_round_trips_the_bill_and_its_record_sent_alone(
        pg_schema_url, monkeypatch):
    from appliance.roles.pemda import demo
    database = open_database(pg_schema_url)
    demo.create_tables(database)
    demo.load_demo(database, bills=2)
    biller = Biller(make_settings(), database, clock=lambda: NOW)
    assert biller.handle(inquiry())[39] == '00'     # its statements are now prepared
    sent, real = [], database.cursor
    monkeypatch.setattr(database, 'cursor', lambda *a, **k: _CountedCursor(real(*a, **k), sent))
    assert biller.handle(inquiry())[39] == '00'
    monkeypatch.undo()
    # The bill, then the record: one statement, atomic by itself (no BEGIN, no COMMIT).
    assert sent == ['EXECUTE', 'EXECUTE']
    assert count(database, Inquiry) == 2
    database.close_all()
