"""A durable SQLite commit (synchronous=FULL: it waits for an fsync) runs
on a thread of gevent's pool, so the event loop keeps serving meanwhile; a
NORMAL one, which does not wait for the disk, stays on the loop's thread."""

from gevent.monkey import get_original

from appliance.store.db import open_database

native_thread = get_original('_thread', 'get_ident')


def statements_and_threads(db):
    """Run one write transaction; [(first word of each statement, the native
    thread SQLite ran it on)], from SQLite's own trace callback."""
    seen = []
    with db.connection_context():
        db.connection().set_trace_callback(
            lambda sql: seen.append((sql.split()[0], native_thread())))
        with db.write_transaction():
            db.execute_sql('INSERT INTO t VALUES (1)')
        db.connection().set_trace_callback(None)
    return seen


def make(tmp_path, durable):
    db = open_database('sqlite:///%s' % (tmp_path / 'a.db'))
    with db.connection_context():
        db.execute_sql('CREATE TABLE t (x INTEGER)')
    if durable:
        db.require_durable()
    return db


def test_a_durable_sqlite_commit_runs_off_the_event_loop_s_thread(tmp_path):
    db = make(tmp_path, durable=True)
    seen = statements_and_threads(db)
    loop = native_thread()
    assert [word for word, _ in seen] == ['BEGIN', 'INSERT', 'COMMIT']
    assert [thread == loop for _, thread in seen] == [True, True, False]
    with db.connection_context():
        assert db.execute_sql('SELECT count(*) FROM t').fetchone()[0] == 1
    db.close_all()


def test_a_normal_sqlite_commit_stays_on_the_event_loop_s_thread(tmp_path):
    db = make(tmp_path, durable=False)
    loop = native_thread()
    assert [thread == loop for _, thread in statements_and_threads(db)] == [True] * 3
    db.close_all()
