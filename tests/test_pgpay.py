"""The pemda's PostgreSQL payment in three round trips
(appliance/roles/pemda/pgpay.py): its server-side function, and the five
round trips a biller falls back to where its user may not create one."""
import uuid
from urllib.parse import parse_qsl, urlsplit

import psycopg2
import pytest

from appliance.roles.pemda import demo
from appliance.roles.pemda.biller import Biller
from appliance.store.db import open_database
from test_biller import NOW, make_settings, pay
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
                                  'three: function iso8583d_pay_claim_')
        assert warning.endswith('could not be created (permission denied for schema %s)'
                                % schema)
    finally:
        _admin(pg_url, 'DROP OWNED BY %s' % role, 'DROP ROLE %s' % role)


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
