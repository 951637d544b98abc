"""The pemda's PostgreSQL payment in two round trips
(appliance/roles/pemda/pgpay.py): its server-side function, what it does
when the bill changed after it was read or its NTP is taken, and the five
round trips a biller falls back to where its user may not create one."""
import logging
import uuid
from urllib.parse import parse_qsl, urlsplit

import psycopg2
import pytest

from appliance.iso.codes import AMOUNT_DIFFERS
from appliance.roles.pemda import biller as biller_module, demo
from appliance.roles.pemda.biller import Biller
from appliance.roles.pemda.invoice import InvoiceId
from appliance.roles.pemda.tables import Payment, PembayaranSppt, Sppt, key_matches
from appliance.store.db import open_database
from test_biller import NOW, SEED_INVOICE, inquiry, make_settings, pay, payment, rows
from test_pemda_daemon import start_pemda

pytestmark = pytest.mark.pg


def test_a_pemda_on_postgresql_creates_its_claim_function_at_start_once_and_pays_through_it(
        tmp_path, pg_url, pg_schema_url):
    schema = _schema(pg_schema_url)
    pemda, peer, bank = start_pemda(_dir(tmp_path / 'first'), pg_schema_url)
    try:
        (function,) = _functions(pg_url, schema)      # made at start
        asked = bank.inquiry()
        paid = bank.payment(int(asked[4]), '0719054951')
        assert paid[39] == '00' and paid[47], paid
        assert 'five PostgreSQL round trips' not in pemda.output()
    finally:
        assert pemda.stop() == 0, pemda.output()[-3000:]
        peer.close()
    # A second start finds it and creates no other; a resend gets its NTP again.
    pemda, peer, bank = start_pemda(_dir(tmp_path / 'again'), pg_schema_url, demo=False)
    try:
        again = bank.payment(int(paid[4]), paid[48])
        assert (again[39], again[47]) == ('00', paid[47])
        assert _functions(pg_url, schema) == [function]
    finally:
        assert pemda.stop() == 0, pemda.output()[-3000:]
        peer.close()


def test_a_biller_whose_database_user_may_not_create_functions_says_so_and_still_pays(
        pg_url, pg_schema_url, caplog):
    # The daemon itself needs CREATE (it makes its record tables at start):
    # a biller handed such a database by other code is what remains.
    schema = _schema(pg_schema_url)
    owner = open_database(pg_schema_url)
    demo.create_tables(owner)
    demo.load_demo(owner, bills=2)
    owner.close_all()
    role = 'iso8583d_clerk_%s' % uuid.uuid4().hex[:8]
    _admin(pg_url, 'CREATE ROLE %s LOGIN' % role,
           'GRANT USAGE ON SCHEMA %s TO %s' % (schema, role),
           'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA %s TO %s' % (schema, role),
           'GRANT USAGE ON ALL SEQUENCES IN SCHEMA %s TO %s' % (schema, role))
    try:
        clerk = open_database(pg_schema_url.replace('://', '://%s@' % role, 1))
        biller = Biller(make_settings(), clerk, clock=lambda: NOW)
        biller.prepare()
        assert pay(biller)[39] == '00'
        clerk.close_all()
        assert _functions(pg_url, schema) == []
        (warning,) = [r.getMessage() for r in caplog.records
                      if 'round trips' in r.getMessage()]
        assert warning.startswith('PBB payments take five PostgreSQL round trips, not '
                                  'two: function iso8583d_pay_')
        assert warning.endswith('could not be created (permission denied for schema %s)'
                                % schema)
    finally:
        _admin(pg_url, 'DROP OWNED BY %s' % role, 'DROP ROLE %s' % role)


@pytest.fixture
def pg_biller(pg_schema_url):
    database = open_database(pg_schema_url)
    demo.create_tables(database)
    demo.load_demo(database, bills=5)
    yield Biller(make_settings(), database, clock=lambda: NOW)
    database.close_all()


def _raise_the_amount(db, key):
    Sppt.update(pbb_yg_harus_dibayar_sppt=Sppt.pbb_yg_harus_dibayar_sppt + 1000).where(
        key_matches(Sppt, key)).execute(db)


def _pay_a_part_at_the_counter(db, key):
    PembayaranSppt.insert(
        key, pembayaran_sppt_ke=1, kd_kanwil='01', kd_kantor='01', kd_tp='01', denda_sppt=0,
        jml_sppt_yg_dibayar=1000, tgl_pembayaran_sppt=NOW.date(), tgl_rekam_byr_sppt=NOW,
        nip_rekam_byr_sppt='060000000').execute(db)


@pytest.mark.parametrize('change', [_raise_the_amount, _pay_a_part_at_the_counter])
def test_a_bill_changed_between_its_read_and_the_claim_is_judged_as_it_is_now(
        pg_biller, pg_schema_url, caplog, change):
    caplog.set_level(logging.INFO, logger='appliance.roles.pemda.pgpay')
    db = pg_biller.db
    due = int(pg_biller.handle(inquiry())[4])
    pay_now = pg_biller.sql.pg.pay

    def change_then_pay(values):
        other = open_database(pg_schema_url)    # another connection: the pemda's own staff
        with other.connection_context():
            change(other, InvoiceId.parse(SEED_INVOICE).key())
        other.close_all()
        return pay_now(values)
    pg_biller.sql.pg.pay = change_then_pay
    answer = pg_biller.handle(payment(amount=due))
    pg_biller.sql.pg.pay = pay_now
    # Priced as it was read, it would be booked at the old amount.
    assert answer[39] == AMOUNT_DIFFERS, answer
    assert rows(db, Payment) == []
    assert ('PBB payment of invoice %s takes the general path: bill changed since it was '
            'priced' % SEED_INVOICE) in caplog.text
    paid = pay(pg_biller)
    assert paid[39] == '00'
    assert int(paid[4]) != due and [row['amount'] for row in rows(db, Payment)] == [int(paid[4])]


def test_a_taken_ntp_undoes_the_whole_call_and_the_payment_is_booked_once_under_another(
        pg_biller, monkeypatch):
    db = pg_biller.db
    first = pay(pg_biller)
    assert first[39] == '00'
    (other,) = demo.invoice_ids(db, limit=1)
    draws = iter([first[47][-8:], '00000042'])
    monkeypatch.setattr(biller_module, '_ntp_digits', lambda: next(draws))
    answer = pay(pg_biller, invoice=other, ntb='0719054999')
    assert (answer[39], answer[47]) == ('00', first[47][:-8] + '00000042'), answer
    assert [row['pembayaran_sppt_ke'] for row in rows(db, PembayaranSppt, other)] == [1]
    assert [row['ntp'] for row in rows(db, Payment, other)] == [answer[47]]
    assert [row['invoice_id'] for row in rows(db, Payment, other)] == [other]


def _schema(url):
    """The schema a pg_schema_url puts first ('-csearch_path=NAME')."""
    return dict(parse_qsl(urlsplit(url).query))['options'].split('=', 1)[1]


def _functions(pg_url, schema):
    conn = psycopg2.connect(pg_url)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT proname FROM pg_proc JOIN pg_namespace ON pg_namespace.oid = "
                       "pronamespace WHERE nspname = %s AND proname LIKE 'iso8583d_pay_%%'",
                       (schema,))
        return [row[0] for row in cursor.fetchall()]
    finally:
        conn.close()


def _admin(pg_url, *statements):
    conn = psycopg2.connect(pg_url)
    try:
        conn.autocommit = True
        for statement in statements:
            conn.cursor().execute(statement)
    finally:
        conn.close()


def _dir(path):
    path.mkdir()
    return path


def test_billers_starting_at_once_on_one_schema_both_use_the_one_function_created(
        pg_url, pg_schema_url):
    import gevent
    schema = _schema(pg_schema_url)
    databases = [open_database(pg_schema_url) for _ in range(4)]
    demo.create_tables(databases[0])
    billers = [Biller(make_settings(), database, clock=lambda: NOW) for database in databases]
    gevent.joinall([gevent.spawn(biller.prepare) for biller in billers], raise_error=True)
    assert [biller.sql.pg.ready for biller in billers] == [True] * 4
    assert len(_functions(pg_url, schema)) == 1
    for database in databases:
        database.close_all()
