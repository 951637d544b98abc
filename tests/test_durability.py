"""The databases whose commit comes before a payment is answered (the
bank's journal and SAF, the pemda's biller database) run SQLite with
synchronous=FULL, so a power cut cannot take back an answered payment;
the others keep WAL's NORMAL."""

from contextlib import contextmanager

import pytest

from appliance.roles.bank.journal import Journal, create_tables
from appliance.store.db import open_database
from fixtures.daemon import run_cli, seed_config

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


def started_modules(role, seed, tmp_path, replace=()):
    """The host modules of `role` configured from the seed file and started
    in this process, as the daemon starts them (no links, no web server)."""
    from appliance.runtime import config
    from appliance.runtime.app import Appliance
    conf, data = tmp_path / 'conf', tmp_path / 'data'
    seed_config(seed, conf, tmp_path, replace)
    code, out = run_cli(['--role', role, '--conf-dir', str(conf), '--data-dir', str(data),
                         '--initdb'] + (['--demo'] if role == 'pemda' else []))
    assert code == 0, out
    app = Appliance(config.load(role, config.config_files(str(conf)), str(data)))
    modules = [host.module for host in app.hosts.values()]
    for module in modules:
        module.start()
    return app, modules


def stopped(app, modules):
    for module in modules:
        module.stop()
    for db in app.databases.values():
        db.close_all()


def test_the_pemda_biller_database_commits_with_synchronous_full(tmp_path):
    app, modules = started_modules('pemda', 'test-pemda.ini', tmp_path, [
        ('postgresql://user:pass@localhost/db', 'sqlite:///demo.db')])
    try:
        (biller,) = modules
        assert synchronous(biller.database) == FULL
    finally:
        stopped(app, modules)


def test_the_bank_daemon_s_journal_database_commits_with_synchronous_full(tmp_path):
    app, modules = started_modules('bank', 'test-bank.ini', tmp_path)
    try:
        (peer,) = modules
        assert synchronous(peer.journal.db) == FULL
    finally:
        stopped(app, modules)


def _synchronous_inside(db, **kwargs):
    with db.connection_context():
        with db.write_transaction(**kwargs):
            return db.execute_sql('PRAGMA synchronous').fetchone()[0]


def test_a_lazy_write_on_a_durable_store_commits_with_normal_and_the_next_with_full(db):
    db.require_durable()
    assert _synchronous_inside(db, lazy=True) == NORMAL
    assert synchronous(db) == FULL
    assert _synchronous_inside(db) == FULL


def test_a_lazy_write_that_fails_still_gives_its_connection_back_at_full(db):
    db.require_durable()
    with db.connection_context():
        with pytest.raises(RuntimeError):
            with db.write_transaction(lazy=True):
                raise RuntimeError('injected')
        assert db.execute_sql('PRAGMA synchronous').fetchone()[0] == FULL


def test_the_biller_writes_inquiry_records_lazily_and_payments_durably(tmp_path, monkeypatch):
    # An inquiry record is no money: a power cut may take back the last
    # few (the next payment's sync carries them); a payment is the
    # taxpayer's receipt and is synced before its answer.
    from appliance.roles.pemda import demo
    from appliance.roles.pemda.biller import Biller
    from test_biller import NOW, make_settings, pay
    database = open_database('sqlite:///%s' % (tmp_path / 'pemda.db'))
    demo.create_tables(database)
    demo.load_demo(database, bills=2)
    database.require_durable()
    seen, real = [], database.write_transaction

    @contextmanager
    def noted(lazy=False):
        with real(lazy=lazy):
            seen.append(database.execute_sql('PRAGMA synchronous').fetchone()[0])
            yield
    monkeypatch.setattr(database, 'write_transaction', noted)
    biller = Biller(make_settings(), database, clock=lambda: NOW)
    assert pay(biller)[39] == '00'           # an inquiry, then its payment
    assert seen == [NORMAL, FULL]
    database.close_all()
