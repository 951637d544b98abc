"""The bank's request journal: every financial request (payment, reversal) is
written to the database before it goes on the wire, and updated when its
answer, its timeout or its send failure is known.

It also makes teller payments idempotent: a payment is keyed by host, invoice
and NTB (`idem_key`, unique). A second payment with the same key is not sent;
it gets the first call's outcome instead (or "still in progress").

A payment (or a reversal) whose outcome is unknown (no answer in time, link
closed before the answer, malformed answer, cut by a stop, or left `sending`
by a process that died) gets a reversal queued in the store-and-forward queue
(appliance.roles.bank.saf) in the same transaction that records the outcome.

States of a journal entry:

    sending    written before the send; the outcome is not known yet
    answered   an ISO answer came back; `code` is its bit 39
    unsent     nothing was sent (link down, busy, STAN in flight); the
               idempotency key is released so the teller may try again
    timeout    sent, no answer within the timeout       -> reversal queued
    lost       the link closed before the answer          -> reversal queued
    malformed  the answer had no usable bit 39            -> reversal queued
    cut        the daemon stopped while it was in flight  -> reversal queued
    orphaned   still `sending` long after its timeout (the process that sent
               it died, or the journal was unreachable when the outcome came)
                                                          -> reversal queued
"""
import json
import logging
import time
import uuid

from peewee import (AutoField, BigIntegerField, CharField, DoubleField,
                    IntegerField, IntegrityError, Model, SqliteDatabase, TextField)

from appliance.store.db import Prepared, has_returning, model_fields, param, quoted
from appliance.iso.mask import CARD_BITS
from appliance.iso.message import Message, from_json as loaded, to_json as stored  # noqa: F401
from appliance.store.schema import create
from appliance.roles.bank.heartbeat import takeover_line
from appliance.roles.bank.node import owned_by
from appliance.roles.bank.owed import OwedReversals
from appliance.errors import Duplicate  # noqa: F401

log = logging.getLogger('iso8583d.journal')

SENDING = 'sending'
ANSWERED = 'answered'
UNSENT = 'unsent'
TIMEOUT = 'timeout'
LOST = 'lost'
MALFORMED = 'malformed'
CUT = 'cut'
ORPHANED = 'orphaned'
# Answered, but recording the answer failed: the teller was told it failed.
UNRECORDED = 'unrecorded'
UNKNOWN_OUTCOMES = (TIMEOUT, LOST, MALFORMED, CUT, ORPHANED, UNRECORDED)

# SAF entry states (appliance.roles.bank.saf).
QUEUED = 'queued'
DONE = 'done'
EXPIRED = 'expired'

PAYMENT = 'payment'
REVERSAL = 'reversal'


class JournalEntry(Model):
    id = AutoField()
    host = CharField(64)
    kind = CharField(10)                 # payment | reversal
    mti = CharField(4)
    stan = CharField(6)
    invoice_id = TextField()
    ntb = TextField()
    amount = BigIntegerField()
    idem_key = TextField(null=True, unique=True)   # payments: host|invoice|ntb
    payment_id = IntegerField(null=True)  # a reversal: the payment entry it undoes
    state = CharField(10, index=True)
    code = CharField(2, default='')      # bit 39 of the answer
    result = TextField(default='')       # the teller's result (JSON) of an answer
    message = TextField(default='')
    request = TextField()                # {"mti", "bits"} without card data
    owner = CharField(32)                # the node that sent it (roles.bank.node)
    created_at = DoubleField(index=True)  # epoch seconds
    updated_at = DoubleField()

    class Meta:
        table_name = 'iso8583d_journal'


class SafEntry(Model):
    """One reversal to deliver: 0400 first, then 0401 until a final answer."""
    id = AutoField()
    host = CharField(64)
    journal_id = IntegerField(null=True, unique=True)
    invoice_id = TextField()
    ntb = TextField()
    stan = CharField(6)
    request = TextField()                # the 0400's bits (JSON), card data left out
    reason = CharField(10)               # the journal state that queued it
    state = CharField(10, default=QUEUED)
    attempts = IntegerField(default=0)
    last_code = CharField(2, default='')
    last_error = TextField(default='')
    next_at = DoubleField()
    lease_until = DoubleField(default=0)
    lease_owner = CharField(32, default='')
    owner = CharField(32, default='')    # the node that queued it
    created_at = DoubleField()
    updated_at = DoubleField()
    done_at = DoubleField(null=True)

    class Meta:
        table_name = 'iso8583d_saf'
        indexes = ((('host', 'state', 'next_at'), False),)


MODELS = (JournalEntry, SafEntry)


def create_tables(db):
    create(db, MODELS)
    add_missing_columns(db, JournalEntry, {'payment_id': 'INTEGER'})
    add_missing_columns(db, SafEntry, {'owner': OWNER_COLUMN})


# The owner (appliance.roles.bank.node) of a row in a table made before it had one.
OWNER_COLUMN = "VARCHAR(32) NOT NULL DEFAULT ''"


def add_missing_columns(db, model, columns):
    """Columns added to a table since it was created ({name: SQL type}):
    added to an older table with their default (NULL) in its rows."""
    table = model._meta.table_name
    with db.connection_context():
        present = {c.name for c in db.get_columns(table)}
        for name, kind in columns.items():
            if name in present:
                continue
            # Two processes sharing a PostgreSQL database may start together.
            guard = '' if isinstance(db, SqliteDatabase) else 'IF NOT EXISTS '
            db.execute_sql('ALTER TABLE %s ADD COLUMN %s%s %s' % (table, guard, name, kind))


def new_owner():
    """An owner for a journal no node was given (tools, tests): one of its
    own, which no other process takes for its node's."""
    return 'run:' + uuid.uuid4().hex[:28]


_CARD_KEYS = frozenset(str(bit) for bit in CARD_BITS)


def _without_card_data(result):
    """The teller's result as the journal keeps it: the answer's bits (its
    `data`) without card data, which the pemda echoes (spec: responses copy
    bits 2 and 35) but no table may hold."""
    data = result.get('data') if isinstance(result, dict) else None
    if not data or _CARD_KEYS.isdisjoint(data):
        return result
    return dict(result, data={b: v for b, v in data.items() if b not in _CARD_KEYS})


def reversal_of(msg):
    """The 0400 that reverses `msg` (a 0200 payment, or a 0400/0401 itself)."""
    reversal = Message('0400', {b: v for b, v in msg.bits.items()
                                if b not in CARD_BITS and b not in (39, 47, 62)})
    return reversal


class _Statements:
    """The two writes every payment makes (its entry, then its answer),
    compiled once for a database (appliance.store.db.Prepared): building them with
    peewee on each call was most of the bank's CPU per payment."""

    def __init__(self, db):
        columns = [f for f in JournalEntry._meta.sorted_fields if f is not JournalEntry.id]
        self.returning = has_returning(db)
        self.insert = Prepared(
            db, JournalEntry.insert({f: param(f.name) for f in columns}),
            model_fields(JournalEntry),
            suffix=' RETURNING %s' % quoted(db, JournalEntry.id) if self.returning else '')
        self.answer = Prepared(db, JournalEntry.update({
            JournalEntry.state: param('state'), JournalEntry.code: param('code'),
            JournalEntry.result: param('result'), JournalEntry.updated_at: param('now'),
        }).where((JournalEntry.id == param('id')) & (JournalEntry.state == param('sending'))),
            model_fields(JournalEntry))

    def insert_entry(self, db, row):
        cursor = self.insert.execute(db, row)
        return cursor.fetchone()[0] if self.returning else cursor.lastrowid


class Journal:
    """The journal and SAF queue of one host in one database."""

    def __init__(self, db, host, owner=None, clock=time.time, owed=None, nodes=None):
        # An entry answered 00 must not fall back to `sending` after a power
        # cut (it would be swept and reversed): SQLite commits with FULL.
        db.require_durable()
        self.db = db
        self.host = host
        self.owner = owner or new_owner()
        self.clock = clock
        self.owed = owed if owed is not None else OwedReversals()
        # This node's heartbeat (appliance.roles.bank.heartbeat): which other
        # nodes are gone, so that their stale entries are taken over. None:
        # other nodes' entries are left alone.
        self.nodes = nodes
        # Other tables whose rows owe reversals (reverse_row): kind ->
        # settle(row id, reason, taking_over), True when the row was still
        # unsettled (taking_over: only `sent` counts as unsettled).
        self.settlers = {}
        self._left_alone = set()     # other nodes' stale entries, logged once
        self._statements = None

    @property
    def sql(self):
        if self._statements is None:
            self._statements = _Statements(self.db)
        return self._statements

    # -- before the send -------------------------------------------------------

    def begin(self, kind, msg, idem_key=None, payment_id=None):
        """Write the request (state sending); its entry id. Duplicate when a
        payment with the same idem_key exists. A reversal names the entry of
        the payment it undoes (`payment_id`)."""
        now = self.clock()
        row = dict(host=self.host, kind=kind, mti=msg.mti, stan=msg.get(11, ''),
                   invoice_id=msg.get(61, ''), ntb=msg.get(48, ''),
                   amount=int(msg.get(4) or 0), idem_key=idem_key, payment_id=payment_id,
                   state=SENDING,
                   code='', result='', message='',
                   request=stored(msg), owner=self.owner, created_at=now, updated_at=now)
        try:
            return self.db.write_one(lambda: self.sql.insert_entry(self.db, row))
        except IntegrityError:
            if idem_key is None:
                raise
        with self.db.connection_context():
            earlier = JournalEntry.select().where(
                JournalEntry.idem_key == idem_key).get_or_none(self.db)
        if earlier is None:     # released between our insert and our read
            return self.begin(kind, msg, idem_key, payment_id)
        raise Duplicate(earlier)

    # -- after it ----------------------------------------------------------------

    def answered(self, entry_id, code, result):
        """Record the answer (without card data); False when the entry is no
        longer `sending` (the orphan sweep or a stop gave it up and queued its
        reversal first)."""
        values = dict(id=entry_id, state=ANSWERED, code=code or '',
                      result=json.dumps(_without_card_data(result)),
                      now=self.clock(), sending=SENDING)
        return self.db.write_one(
            lambda: self.sql.answer.execute(self.db, values).rowcount) > 0

    def unsent(self, entry_id, message):
        """Nothing went out: release the idempotency key."""
        self._set(entry_id, state=UNSENT, idem_key=None, message=message)

    def unknown(self, entry_id, state, message, msg):
        """Sent, outcome unknown: record it and queue a reversal of `msg` in one
        transaction; the SAF entry's id."""
        assert state in UNKNOWN_OUTCOMES
        now = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            changed = JournalEntry.update(state=state, message=message, updated_at=now).where(
                (JournalEntry.id == entry_id) & (JournalEntry.state == SENDING)
            ).execute(self.db)
            if not changed:      # the sweep of another process took it
                found = SafEntry.select().where(
                    SafEntry.journal_id == entry_id).get_or_none(self.db)
                return found.id if found else None
            return self._enqueue(entry_id, msg, state, now)

    def unrecorded(self, entry_id, message, msg):
        """Recording the answer failed, and that write may or may not have
        landed: the teller was told the payment failed, so it is reversed
        whether the row says `sending` or `answered`; the SAF entry's id."""
        now = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            changed = JournalEntry.update(state=UNRECORDED, message=message,
                                          updated_at=now).where(
                (JournalEntry.id == entry_id)
                & JournalEntry.state.in_((SENDING, ANSWERED))).execute(self.db)
            if not changed:      # the sweep queued it already
                found = SafEntry.select().where(
                    SafEntry.journal_id == entry_id).get_or_none(self.db)
                return found.id if found else None
            return self._enqueue(entry_id, msg, UNRECORDED, now)

    def settle_owed(self):
        """Queue the reversals owed (appliance.roles.bank.owed) whose answers could not
        be recorded; raises while the database is away (the SAF sweep and
        the teller call it again)."""
        for entry_id, message, msg in self.owed.pending():
            if isinstance(entry_id, str):       # another table's row: settle_row
                kind, _, row_id = entry_id.partition(':')
                if kind not in self.settlers:
                    continue                    # its table is not open yet
                self._settle_row(entry_id, int(row_id), message, msg)
                continue
            saf = self.unrecorded(entry_id, message, msg)
            if saf is None:      # no such entry in this database, or no reversal due
                log.error('[host_%s] journal entry %d: the reversal owed for it was not '
                          'queued (no entry sending or answered); check it by hand',
                          self.host, entry_id)
            else:
                log.info('[host_%s] journal entry %d: owed reversal queued (SAF entry %s)',
                         self.host, entry_id, saf)
            self.owed.settled(entry_id)

    def reverse_row(self, kind, row_id, reason, msg):
        """A request of another table (`kind`: 'linkaja') went out and its
        outcome is unknown: mark its row with settlers[kind](row_id, reason)
        and queue a reversal of `msg`, in one transaction when the table is in
        this database. When the database fails, the reversal is owed (the
        owed file) and queued once it is back; the SAF entry's id or None."""
        key = '%s:%d' % (kind, row_id)
        try:
            return self._settle_row(key, row_id, reason, msg)
        except Exception as e:
            log.error('[host_%s] %s row %d: cannot queue the reversal of invoice %s NTB %s '
                      'STAN %s (%s): kept in the owed file until the database is back',
                      self.host, kind, row_id, msg.get(61), msg.get(48), msg.get(11), e)
            self.owed.add(key, reason, msg)
            return None

    def _settle_row(self, key, row_id, reason, msg, taking_over=False):
        kind = key.partition(':')[0]
        now = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            due = self.settlers[kind](row_id, reason, taking_over)
            saf = self._enqueue(None, msg, reason, now) if due else None
        self.owed.settled(key)
        return saf

    def take_over_row(self, kind, row_id, reason, msg, same_db):
        """A row of another table (`kind`) that a gone node left without an
        outcome: settlers[kind] marks it `reason` only while it is still
        unsettled, so of two nodes taking it over one does, and that one
        queues its reversal; True when this node did. `same_db`: the table is
        in this database, so mark and reversal share one transaction (an
        error leaves both undone, for the next pass). In a database of its
        own the mark commits first; a reversal that then cannot be queued is
        owed (reverse_row)."""
        if same_db:
            return self._settle_row('%s:%d' % (kind, row_id), row_id, reason, msg,
                                    taking_over=True) is not None
        if not self.settlers[kind](row_id, reason, True):
            return False
        self.reverse_row(kind, row_id, reason, msg)
        return True

    def _set(self, entry_id, **values):
        values['updated_at'] = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            JournalEntry.update(**values).where(
                (JournalEntry.id == entry_id) & (JournalEntry.state == SENDING)
            ).execute(self.db)

    def enqueue(self, msg, reason, journal_id=None):
        """Queue a reversal of `msg` (without a journal state change); its id."""
        now = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            return self._enqueue(journal_id, msg, reason, now)

    def _enqueue(self, journal_id, msg, reason, now, note=''):
        reversal = reversal_of(msg)
        entry_id = SafEntry.insert(
            host=self.host, journal_id=journal_id, invoice_id=reversal.get(61, ''),
            ntb=reversal.get(48, ''), stan=reversal.get(11, ''), request=stored(reversal),
            reason=reason, state=QUEUED, next_at=now, owner=self.owner, created_at=now,
            updated_at=now, last_error=note).execute(self.db)
        log.warning('[host_%s] reversal of invoice %s NTB %s STAN %s queued '
                    '(SAF entry %d, journal %s: %s)', self.host, reversal.get(61),
                    reversal.get(48), reversal.get(11), entry_id, journal_id, reason)
        return entry_id

    # -- recovery -----------------------------------------------------------------

    def sweep(self, older_than):
        """Entries still `sending` that were written more than `older_than`
        seconds ago become `orphaned`, each with a reversal queued; how many.
        This node's always; another node's only once its heartbeat expired
        (taken over: the entry keeps its owner, the reversal is this node's);
        until then they are left alone: it may be alive and waiting for their
        answers (appliance.roles.bank.node)."""
        now = self.clock()
        before = now - older_than
        message = 'still sending after %g s' % older_than
        count = self._orphan(owned_by(JournalEntry.owner, self.owner), before, message, now)
        others = self._stale_others(before)
        gone = self.nodes.gone(self.db, {e.owner for e in others}) if self.nodes else {}
        for owner, age in sorted(gone.items()):
            note = 'taken over from node %s' % owner
            taken = self._orphan(JournalEntry.owner == owner, before,
                                 '%s: %s' % (note, message), now, note)
            if taken:
                log.warning(takeover_line('host_' + self.host, self.owner, taken, owner, age))
            count += taken
        self._note_others(e for e in others if e.owner not in gone)
        return count

    def _orphan(self, whose, before, message, now, note=''):
        """The stale `sending` entries of owners `whose` (a condition) become
        `orphaned` with their reversals queued (`note`: their SAF entries'
        last_error until a first attempt); how many. Each by a conditional
        UPDATE: of two nodes sweeping, one takes it."""
        with self.db.connection_context():
            stale = list(JournalEntry.select(JournalEntry.id, JournalEntry.request).where(
                (JournalEntry.host == self.host) & (JournalEntry.state == SENDING)
                & whose & (JournalEntry.created_at < before)).limit(500).execute(self.db))
        count = 0
        for entry in stale:
            with self.db.connection_context(), self.db.write_transaction():
                changed = JournalEntry.update(
                    state=ORPHANED, updated_at=now, message=message).where(
                    (JournalEntry.id == entry.id) & (JournalEntry.state == SENDING)
                ).execute(self.db)
                if changed:
                    self._enqueue(entry.id, loaded(entry.request), ORPHANED, now, note)
                    count += 1
        return count

    def _stale_others(self, before):
        """Other nodes' entries still `sending` since before `before`."""
        with self.db.connection_context():
            return list(JournalEntry.select(JournalEntry.id, JournalEntry.owner).where(
                (JournalEntry.host == self.host) & (JournalEntry.state == SENDING)
                & ~owned_by(JournalEntry.owner, self.owner)
                & (JournalEntry.created_at < before)).limit(500).execute(self.db))

    def _note_others(self, entries):
        """Say once per entry that another node's stale entry is left to it."""
        for entry in entries:
            if entry.id not in self._left_alone:
                self._left_alone.add(entry.id)
                log.info('[host_%s] journal entry %d of node %s is still sending: left to '
                         'its node', self.host, entry.id, entry.owner)

    # -- reading ----------------------------------------------------------------

    def payment_of(self, invoice_id, ntb):
        """The payment of invoice_id with NTB ntb this host sent: the one
        answered 00 if any, else the latest; None when there is none."""
        with self.db.connection_context():
            found = list(JournalEntry.select().where(
                (JournalEntry.host == self.host) & (JournalEntry.kind == PAYMENT)
                & (JournalEntry.invoice_id == invoice_id) & (JournalEntry.ntb == ntb)
            ).order_by(JournalEntry.id.desc()).limit(20).execute(self.db))
        paid = [e for e in found if e.state == ANSWERED and e.code == '00']
        return (paid or found or [None])[0]

    def saf_of(self, journal_id):
        with self.db.connection_context():
            return SafEntry.select().where(
                SafEntry.journal_id == journal_id).get_or_none(self.db)

