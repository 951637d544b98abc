"""Heartbeats: which nodes (appliance.roles.bank.node) are alive in a database.

Every database that holds rows with owners (journals, the forwarder's, the
aggregator's) has a table `iso8583d_node`: one row per node, its `beat_at`
renewed every `[node] heartbeat_interval` seconds by one greenlet per
process. A node whose beat is older than `[node] expire_after`, or that
stopped cleanly (`stopped_at` set), or that never beat in that database, is
gone: other nodes take over its unfinished rows there (Journal.sweep, the
forwarder's and LinkAja's takeover passes, which this greenlet runs after
each beat). A row is taken by a conditional UPDATE, so of two surviving
nodes only one takes it.

SQLite cannot be shared by two processes: a node whose SQLite file shows
another node's fresh heartbeat is refused at start (Fatal).
"""
import logging
import os
import socket
import time

import gevent
from peewee import CharField, DoubleField, IntegerField, Model, SqliteDatabase

from appliance.errors import Fatal
from appliance.settings.dburl import mask_url
from appliance.store.schema import create

log = logging.getLogger('iso8583d.node')

ALIVE, EXPIRED, STOPPED = 'alive', 'expired', 'stopped'


class NodeRow(Model):
    node = CharField(32, primary_key=True)
    role = CharField(16, default='')
    pid = IntegerField(default=0)
    hostname = CharField(64, default='')
    started_at = DoubleField()           # epoch seconds
    beat_at = DoubleField()
    stopped_at = DoubleField(null=True)  # set by a clean stop

    class Meta:
        table_name = 'iso8583d_node'


class Heartbeat:
    """This process's node and its beats in every database it joined."""

    def __init__(self, node, role='', interval=5.0, expire_after=30.0, clock=time.time):
        self.node = node
        self.role = role
        self.interval = interval
        self.expire_after = expire_after
        self.clock = clock
        self.started_at = clock()
        self.databases = []         # distinct, in the order joined
        self.passes = []            # takeover passes, run after each beat
        self.greenlet = None
        self._failing = set()       # ids of databases and passes whose last run failed
        self._running = {}          # id(db) or 'passes' -> its latest greenlet

    # -- joining -------------------------------------------------------------------

    def join(self, db):
        """Beat in `db` from now on (a first beat at once); Fatal when `db` is
        an SQLite file where another node beat within expire_after."""
        if any(d is db for d in self.databases):
            return
        try:
            try:
                create(db, (NodeRow,))
            except Exception:       # another node created it at the same moment
                gevent.sleep(0.5)
                create(db, (NodeRow,))
            with db.connection_context(), db.write_transaction():
                if isinstance(db, SqliteDatabase):
                    self._refuse_shared(db)
                self._upsert(db, self.clock())
        except Fatal:
            raise
        except Exception as e:
            raise Fatal('node %s: cannot write its heartbeat in %s: %s' % (
                self.node, _name(db), ' '.join(str(e).split()))) from None
        self.databases.append(db)

    def _refuse_shared(self, db):
        now = self.clock()
        other = NodeRow.select().where(
            (NodeRow.node != self.node) & NodeRow.stopped_at.is_null()
            & (NodeRow.beat_at > now - self.expire_after)
        ).order_by(NodeRow.beat_at.desc()).first(db)
        if other is not None:
            raise Fatal('the SQLite database %s is in use by node %s (pid %d on %s, last '
                        'heartbeat %.1f s ago): SQLite cannot be shared by two nodes; give '
                        'each node its own db_url, or use PostgreSQL' % (
                            _name(db), other.node, other.pid, other.hostname,
                            max(0.0, now - other.beat_at)))

    def _upsert(self, db, now, stopped_at=None):
        values = dict(node=self.node, role=self.role, pid=os.getpid(),
                      hostname=socket.gethostname()[:64], started_at=self.started_at,
                      beat_at=now, stopped_at=stopped_at)
        NodeRow.insert(**values).on_conflict(
            conflict_target=[NodeRow.node],
            update={getattr(NodeRow, k): v for k, v in values.items() if k != 'node'}
        ).execute(db)

    # -- beating ---------------------------------------------------------------------

    def start(self):
        self.greenlet = gevent.spawn(self.run)

    def run(self):
        """Every interval: a beat in each database, each in a greenlet of its
        own (one database that hangs delays no other's beat), then the
        takeover passes, in another (a long pass delays no beat)."""
        while True:
            gevent.sleep(self.interval)
            for db in self.databases:
                self._unless_running(id(db), self.beat, db)
            self._unless_running('passes', self.take_over)

    def _unless_running(self, key, function, *args):
        """Spawn function(*args) unless the last one spawned for `key` runs."""
        running = self._running.get(key)
        if running is None or running.dead:
            self._running[key] = gevent.spawn(function, *args)

    def beat(self, db):
        """Renew this node's row in `db`; a failure is logged once per
        outage of that database and stops nothing."""
        try:
            with db.connection_context(), db.write_transaction():
                self._upsert(db, self.clock())
        except Exception as e:
            if id(db) not in self._failing:
                self._failing.add(id(db))
                log.error('node %s: cannot write its heartbeat in %s: %s (other nodes '
                          'take over its unfinished rows after %g s without one)',
                          self.node, _name(db), ' '.join(str(e).split()), self.expire_after)
            return
        if id(db) in self._failing:
            self._failing.discard(id(db))
            log.info('node %s: heartbeat in %s written again', self.node, _name(db))

    def take_over(self):
        """Run the takeover passes (modules add theirs to `passes`)."""
        for take_over in list(self.passes):
            try:
                take_over()
            except Exception as e:      # the database may be away: the next round
                if id(take_over) not in self._failing:
                    log.error('takeover pass failed (tried again every %g s): %s',
                              self.interval, ' '.join(str(e).split()))
                self._failing.add(id(take_over))
            else:
                self._failing.discard(id(take_over))

    def stop(self):
        """Mark this node stopped in every database: others need not wait
        for its heartbeat to expire (it left nothing unfinished)."""
        if self.greenlet is not None:
            self.greenlet.kill(block=True, timeout=1)
        gevent.killall(list(self._running.values()), block=True, timeout=1)
        for db in self.databases:
            try:
                with db.connection_context(), db.write_transaction():
                    now = self.clock()
                    self._upsert(db, now, stopped_at=now)
            except Exception as e:
                log.warning('node %s: cannot mark it stopped in %s: %s', self.node,
                            _name(db), e)

    # -- the other nodes -------------------------------------------------------------

    def others(self, db):
        """The other nodes that beat in `db`: [dict(node, role, hostname, pid,
        age, state)], the freshest first."""
        now = self.clock()
        with db.connection_context():
            rows = list(NodeRow.select().where(NodeRow.node != self.node)
                        .order_by(NodeRow.beat_at.desc()).execute(db))
        return [dict(node=r.node, role=r.role, hostname=r.hostname, pid=r.pid,
                     age=round(max(0.0, now - r.beat_at), 1), state=self._state(r, now))
                for r in rows]

    def _state(self, row, now):
        if row.stopped_at is not None:
            return STOPPED
        return EXPIRED if now - row.beat_at > self.expire_after else ALIVE

    def gone(self, db, owners):
        """Of the node ids `owners` (not this node), those whose rows in `db`
        may be taken over: {node: seconds since its last beat, None when it
        never beat there}."""
        owners = set(owners) - {self.node}
        if not owners:
            return {}
        now = self.clock()
        with db.connection_context():
            rows = {r.node: r for r in NodeRow.select().where(
                NodeRow.node.in_(sorted(owners))).execute(db)}
        found = {}
        for owner in owners:
            row = rows.get(owner)
            if row is None:
                found[owner] = None
            elif self._state(row, now) != ALIVE:
                found[owner] = max(0.0, now - row.beat_at)
        return found


def takeover_line(where, node, count, owner, age):
    """The one log line of a takeover pass for one gone node."""
    return '[%s] node %s takes over %d unfinished entries of node %s (%s)' % (
        where, node, count, owner,
        'no heartbeat' if age is None else 'last heartbeat %.0f s ago' % age)


def _name(db):
    return mask_url(str(db.database))
