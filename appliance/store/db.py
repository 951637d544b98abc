"""Database connections: an SQLite file or pooled PostgreSQL, both safe to use
from many greenlets.

Models carry no database of their own (roles' tables.py): whoever runs a query
passes the database returned by `open_database`, so one process can serve a
pemda's SISMIOP database and a bank journal side by side.
"""

import itertools
import os
import re
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager

from peewee import Entity, IntegrityError, SqliteDatabase, Value
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase
from psycopg2 import extensions

from appliance.settings.dburl import mask_url, parse_url  # noqa: F401  (re-exported)
from appliance.store.groupcommit import GroupCommit

SQLITE_BUSY_TIMEOUT_MS = 5000

# WAL lets readers run beside the one writer; NORMAL is durable enough under
# WAL for most tables (a power cut may lose the last commits, never corrupt
# the file). A database whose commit comes before a payment is answered
# asks for FULL instead (SqliteStore.require_durable).
SQLITE_PRAGMAS = (
    ('journal_mode', 'wal'),
    ('synchronous', 'normal'),
    ('busy_timeout', SQLITE_BUSY_TIMEOUT_MS),
    ('foreign_keys', 1),
)
DURABLE_SYNCHRONOUS = 'full'    # PRAGMA synchronous reads it back as 2

class SqliteStore(PooledSqliteDatabase):
    """SQLite file. Every transaction begins IMMEDIATE (takes the write lock
    up front, so two writers never deadlock upgrading read locks), and this
    process's writers queue on a gevent-aware lock: a waiting greenlet then
    yields to the hub instead of freezing it inside SQLite's busy handler."""

    def __init__(self, path, **kwargs):
        super().__init__(path, pragmas=SQLITE_PRAGMAS, lock_type='IMMEDIATE',
                         check_same_thread=False, **kwargs)
        self._write_lock = threading.RLock()
        self._group = GroupCommit(self._write_group)

    @property
    def durable(self):
        return dict(self._pragmas)['synchronous'] == DURABLE_SYNCHRONOUS

    def require_durable(self):
        """Commit with synchronous=FULL from now on: every commit reaches the
        disk before it returns, so a power cut cannot take back what a caller
        was already told (a journal entry answered 00 falling back to
        `sending`). Idle pooled connections are dropped so that each
        connection made from now on sets it; the open one is switched."""
        if self.durable:
            return
        self._pragmas = tuple((name, DURABLE_SYNCHRONOUS if name == 'synchronous' else value)
                              for name, value in self._pragmas)
        self.close_idle()
        if not self.is_closed():
            self.execute_sql('PRAGMA synchronous = %s' % DURABLE_SYNCHRONOUS)

    @contextmanager
    def write_transaction(self, lazy=False):
        """One write transaction, committed on success, rolled back on error.
        `lazy`: on a durable store, the commit reaches the WAL but does not
        wait for the disk (synchronous=NORMAL for it alone): a power cut may
        take it back until the next durable commit, whose sync carries it too
        (the WAL is written in order)."""
        with self._write_lock:
            relaxed = lazy and self.durable
            if relaxed:
                self.execute_sql('PRAGMA synchronous = normal')
            try:
                with self.atomic():
                    yield
            finally:
                if relaxed:
                    self.execute_sql('PRAGMA synchronous = %s' % DURABLE_SYNCHRONOUS)

    def write_one(self, statement):
        """Run `statement()`, one write statement that does not yield, and
        commit it; its value. The writes of greenlets that come at about the
        same time share one transaction (appliance.store.groupcommit): the commit
        was most of what the bank's two journal writes per payment cost. A
        constraint error is its statement's alone (SQLite undoes the
        statement and the transaction goes on); any other error, or one that
        ended the transaction, is every statement's of the group: none of
        them is kept, and each caller is told so."""
        return self._group.submit(statement)

    def _write_group(self, statements):
        outcomes = []
        with connected(self), self.write_transaction():
            for statement in statements:
                try:
                    outcomes.append(statement())
                except IntegrityError as error:
                    if not self.connection().in_transaction:
                        raise
                    outcomes.append(error)
        return outcomes


class PostgresStore(PooledPostgresqlDatabase):
    """PostgreSQL through a bounded pool; concurrency is the server's job.

    Peewee's pool checks a connection taken from it with a `SELECT 1` round
    trip, and holds the pool's lock meanwhile: under load every request paid
    that round trip and waited for everyone else's. A connection given back
    less than PING_AFTER seconds ago with no transaction open is handed out
    as it is; one that sat idle longer is still checked (the server may have
    restarted meanwhile).
    """

    PING_AFTER = 1.0

    def require_durable(self):
        """Nothing to do: commits are as durable as the server makes them
        (synchronous_commit, on by default)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._returned = weakref.WeakKeyDictionary()    # connection -> monotonic time

    def _close(self, conn, close_conn=False):
        if not close_conn:
            try:
                self._returned[conn] = time.monotonic()
            except TypeError:         # not weak-referenceable: always checked
                pass
        return super()._close(conn, close_conn)

    def _is_closed(self, conn):
        if conn.closed:
            return True
        returned = self._returned.get(conn)
        if (returned is not None and time.monotonic() - returned < self.PING_AFTER
                and conn.get_transaction_status() == extensions.TRANSACTION_STATUS_IDLE):
            return False
        return super()._is_closed(conn)

    def write_transaction(self):
        """One write transaction, committed on success, rolled back on error."""
        return self.atomic()

    def write_one(self, statement):
        """Run `statement()`, one write statement, committed; its value.
        Atomic by itself (autocommit): no BEGIN and COMMIT round trips."""
        with connected(self):
            return statement()

    # BEGIN travels with the transaction's first statement ("BEGIN; ..." in
    # one simple query; the server keeps the transaction open after it), which
    # spares every transaction a round trip: a seventh of a payment's. Every
    # statement goes through execute_sql, so none can slip in before the BEGIN.
    # The connection a BEGIN waits for is named, so no other one takes it.

    def begin(self, isolation_level=None):
        if isolation_level or self._isolation_level:
            return super().begin(isolation_level)
        if self.is_closed():
            self.connect()
        self._state.begin_pending = self._state.conn

    def execute_sql(self, sql, params=None):
        if self._take_pending_begin():
            sql = 'BEGIN; ' + sql
        return super().execute_sql(sql, params)

    def commit(self):
        if self._take_pending_begin():
            return None         # nothing was sent: nothing to commit
        return super().commit()

    def rollback(self):
        if self._take_pending_begin():
            return None
        return super().rollback()

    def _take_pending_begin(self):
        state = self._state
        pending = getattr(state, 'begin_pending', None)
        if pending is None:
            return False
        state.begin_pending = None
        return pending is state.conn


@contextmanager
def connected(db):
    """The connection this greenlet holds, else a pooled one for the block."""
    if not db.is_closed():
        yield
        return
    with db.connection_context():
        yield


_MARK = '\x00iso8583d-param:'


def param(name):
    """A named placeholder in a query compiled by Prepared."""
    return Value(_MARK + name, converter=False)


class Prepared:
    """One peewee query compiled to SQL once, run many times with new values.

    Peewee rebuilds a query's SQL text from its expression tree on every
    execute; for the biller's handful of fixed queries that was most of an
    inquiry's CPU (py-spy: ~60 %). Build the query with `param(name)` where a
    value goes and compile it for a database (its quoting and its '?' or '%s'
    placeholders); `execute(db, values)` then binds the values by name.
    `fields` maps a name to the peewee Field whose db_value() converts its
    value, as peewee would; other values go to the driver as they are.
    Literal values the query holds (a LIMIT, say) stay fixed; `suffix` is SQL
    text appended as it is (SQLite and PostgreSQL share the ON CONFLICT form
    that peewee writes differently for each).

    On PostgreSQL the statement is also prepared on the server (PREPARE once
    per connection, then EXECUTE), which spares the server parsing and
    planning it each time: a third of a bill lookup's cost. A pooler in
    transaction mode (pgbouncer pool_mode=transaction) does not keep
    prepared statements; use session mode.
    """

    __slots__ = ('sql', 'names', '_slots', '_server', '_ready')

    def __init__(self, db, query, fields=None, suffix=''):
        sql, params = db.get_sql_context().sql(query).query()
        fields = fields or {}
        slots = []
        for value in params:
            if isinstance(value, str) and value.startswith(_MARK):
                name = value[len(_MARK):]
                field = fields.get(name)
                slots.append((name, field.db_value if field is not None else None, None))
            else:
                slots.append((None, None, value))
        self._setup(db, sql + suffix, slots)

    @classmethod
    def joined(cls, db, sql, parts):
        """One statement made of other Prepared ones: `sql` holds their SQL
        (or just their placeholders), spliced in by the caller in the order
        of `parts`, whose values it then binds in that order."""
        self = cls.__new__(cls)
        self._setup(db, sql, [slot for part in parts for slot in part._slots])
        return self

    def _setup(self, db, sql, slots):
        self._server = _server_side(db, sql, len(slots))
        self._ready = weakref.WeakSet()     # connections it is prepared on
        self.sql, self._slots = sql, tuple(slots)
        self.names = tuple(name for name, _, _ in slots if name is not None)

    @property
    def placeholders(self):
        """(name, None) or (None, fixed value) for each placeholder, in order."""
        return [(name, fixed) for name, _, fixed in self._slots]

    def params(self, values):
        """The driver's parameter list for `values` (name -> value)."""
        return [(values[name] if convert is None else convert(values[name]))
                if name is not None else fixed
                for name, convert, fixed in self._slots]

    def execute(self, db, values):
        """The cursor of the query run with `values` (name -> value)."""
        if self._server is None:
            return db.execute_sql(self.sql, self.params(values))
        prepare, execute = self._server
        conn = db.connection()
        if conn not in self._ready:
            db.execute_sql(prepare)
            self._ready.add(conn)
        return db.execute_sql(execute, self.params(values))

    def __repr__(self):
        return 'Prepared(%r)' % self.sql


def model_fields(model):
    """name -> Field of a model, for Prepared's db_value conversions."""
    return {field.name: field for field in model._meta.sorted_fields}


def has_returning(db):
    """INSERT ... RETURNING: PostgreSQL, and SQLite from 3.35 on."""
    if isinstance(db, SqliteDatabase):
        return sqlite3.sqlite_version_info >= (3, 35)
    return True


def quoted(db, field):
    """A column name quoted as the database wants it."""
    return db.get_sql_context().sql(Entity(field.column_name)).query()[0]


_STATEMENTS = itertools.count(1)


def numbered(sql, first=1):
    """`sql` with its '%s' placeholders written $first, $first+1, ... (the
    server's own form, for PREPARE and function bodies)."""
    numbers = itertools.count(first)
    return re.sub('%s', lambda match: '$%d' % next(numbers), sql)


def _server_side(db, sql, count):
    """(PREPARE ..., EXECUTE ...) for PostgreSQL, else None."""
    if not isinstance(db, PooledPostgresqlDatabase) or '%%' in sql or sql.count('%s') != count:
        return None
    name = 'iso8583d_%d' % next(_STATEMENTS)
    body = numbered(sql)
    arguments = ' (%s)' % ', '.join(['%s'] * count) if count else ''
    return 'PREPARE %s AS %s' % (name, body), 'EXECUTE %s%s' % (name, arguments)


def open_database(url, max_connections=20, stale_timeout=300, wait_timeout=30):
    """A SqliteStore or PostgresStore for `url`; connects lazily.

    max_connections bounds the pool, stale_timeout (s) retires old idle
    connections, wait_timeout (s) is how long a caller waits for a free one.
    """
    checked = parse_url(url)
    pool = dict(max_connections=max_connections, stale_timeout=stale_timeout,
                timeout=wait_timeout)
    if checked.kind == 'sqlite':
        parent = os.path.dirname(os.path.abspath(checked.target))
        os.makedirs(parent, exist_ok=True)
        return SqliteStore(checked.target, **pool)
    return PostgresStore(checked.target, **pool)


def open_as_owner(url):
    """open_database for a command run beside a daemon. Root is refused a
    SQLite file that another user owns (PermissionError naming the owner):
    SQLite would create its -wal and -shm files as root, and the owner's
    daemon could then no longer open the database."""
    checked = parse_url(url)
    if checked.kind == 'sqlite' and os.geteuid() == 0 and os.path.exists(checked.target):
        owner = os.stat(checked.target).st_uid
        if owner != 0:
            try:
                import pwd
                name = pwd.getpwuid(owner).pw_name
            except KeyError:
                name = str(owner)
            raise PermissionError(
                '%s belongs to %s: run this as that user (sudo -u %s ...), or root would '
                'leave files there that its daemon cannot open' % (checked.target, name, name))
    return open_database(url)
