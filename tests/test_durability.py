"""The databases whose commit comes before a payment is answered (the
bank's journal and SAF, the pemda's biller database) run SQLite with
synchronous=FULL, so a power cut cannot take back an answered payment;
the others keep WAL's NORMAL."""

import pytest

from appliance.roles.bank.journal import Journal, create_tables
from appliance.store.db import open_database

FULL, NORMAL = 2, 1


def synchronous(db):
    with db.connection_context():
        return db.execute_sql('PRAGMA synchronous').fetchone()[0]


@pytest.fixture
def db(tmp_path):
    database = open_database('sqlite:///%s' % (tmp_path / 'bank.db'))
    yield database
    database.close_all()


def test_a_sqlite_database_without_a_journal_commits_with_normal(db):
    assert synchronous(db) == NORMAL


def test_the_journal_database_commits_with_synchronous_full(db):
    create_tables(db)                  # a pooled connection opened with NORMAL
    Journal(db, 'kota_bogor')
    assert synchronous(db) == FULL


def test_a_connection_open_when_the_journal_starts_is_switched_to_full(db):
    with db.connection_context():
        Journal(db, 'kota_bogor')
        assert db.execute_sql('PRAGMA synchronous').fetchone()[0] == FULL


def test_the_journal_accepts_a_postgresql_database_as_it_is(pg_schema_url):
    database = open_database(pg_schema_url)
    try:
        create_tables(database)
        Journal(database, 'kota_bogor')
        with database.connection_context():
            assert database.execute_sql('SHOW synchronous_commit').fetchone()[0] == 'on'
    finally:
        database.close_all()
