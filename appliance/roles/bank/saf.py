"""Store and forward: the persistent queue of reversals a bank must deliver.

An entry (appliance.roles.bank.journal.SafEntry) is sent as 0400, then repeated as 0401
with back-off until an answer with a final bit 39 comes back:

    00       reversed (also the answer to a repeated reversal)   -> done
    54, 55   nothing to reverse at the pemda: final only when a second
             attempt, at least `saf_retry_interval` later, says so again
             (a payment and its reversal that reach a pemda together may be
             handled in either order; the second look sees the payment if it
             was booked after all)                             -> done
    other    (76, 91, ...), no answer, link closed              -> retried

An entry that reaches `saf_max_attempts` attempts or is older than
`saf_max_age` seconds is `expired`: logged as an error for a person to settle.

An entry leaves through its own host's link. While that link is down it
leaves through another link of a group the host is in (`fellows`, set by
appliance.runtime.app): every member of a group reaches the same peer, and the
peer matches a reversal by invoice, NTB, amount and source, not by link.

Several processes may share the queue (one PostgreSQL): an entry is taken by
an atomic conditional UPDATE that sets a lease (`lease_until`, `lease_owner`)
only where no unexpired lease exists, so no entry is sent by two processes at
once; a process that dies mid-send leaves a lease that simply runs out. Each
pass also sweeps the journal for entries left `sending` (see journal.sweep).
"""
import datetime
import logging
import time
from collections import namedtuple

import gevent
from gevent.pool import Pool

from appliance.roles.bank.journal import DONE, EXPIRED, QUEUED, SafEntry, loaded
from appliance.net.link import LinkError, RequestTimeout
from appliance.iso.codes import NOTHING_TO_REVERSE, OK as REVERSED

log = logging.getLogger('iso8583d.saf')

FINAL_CODES = (REVERSED,) + NOTHING_TO_REVERSE

SafSettings = namedtuple('SafSettings', 'max_attempts max_age retry_interval retry_max '
                                        'orphan_after request_timeout concurrency')
SafSettings.__new__.__defaults__ = (10,)


class SafQueue:
    """The worker that delivers one host's queued reversals."""

    def __init__(self, journal, gateway, settings, clock=time.time):
        self.journal = journal
        self.db = journal.db
        self.host = journal.host
        self.owner = journal.owner
        self.gateway = gateway          # anything with send(msg, timeout), is_up and name
        self.fellows = ()               # links to the same peer (route groups)
        self.settings = settings
        self.clock = clock
        self.lease = settings.request_timeout + 10.0
        self.poll = min(1.0, max(0.05, settings.retry_interval / 4))
        self.pool = Pool(settings.concurrency)
        self.greenlet = None
        self._next_sweep = 0.0
        self._next_depth = 0.0
        self.sent = 0                   # attempts made by this process
        # The status page and /metrics show the queue of a host that has one.
        self.metrics = getattr(gateway, 'metrics', None)
        if self.metrics is not None:
            self.metrics.saf_configured = True

    # -- lifecycle ---------------------------------------------------------------

    def start(self):
        self.greenlet = gevent.spawn(self.run)

    def stop(self, timeout=None):
        if self.greenlet is not None:
            self.greenlet.kill(block=True, timeout=1)
        # An attempt cut here is not recorded; its lease runs out and the
        # entry is sent again (a reversal may be repeated safely).
        self.pool.kill(block=True, timeout=timeout or 1)

    def run(self):
        while True:
            try:
                self.step()
            except Exception as e:      # the database may be away for a while
                log.error('[host_%s] SAF pass failed: %s', self.host, e)
            gevent.sleep(self.poll)

    # -- one pass ------------------------------------------------------------------

    def step(self):
        now = self.clock()
        sweep = now >= self._next_sweep
        if self.journal.owed:
            # Every pass while any are owed: the teller was told "reversed".
            self._settle_owed(log_failure=sweep)
        if sweep:
            self._next_sweep = now + max(1.0, self.settings.orphan_after / 4)
            self.journal.sweep(self.settings.orphan_after)
            self._expire_old(now)
        if self.metrics is not None and now >= self._next_depth:
            self._next_depth = now + 1.0
            self.metrics.saf_depth = self.depth()
        carrier = self.carrier()
        if carrier is None:
            return 0
        entries = self.claim(now, self.pool.free_count())
        for entry in entries:
            self.pool.spawn(self.attempt, entry, carrier)
        return len(entries)

    def carrier(self):
        """The link this pass sends through: the host's own while it is up,
        else the first live one of its fellows; None when none is up."""
        for link in (self.gateway,) + tuple(self.fellows):
            if getattr(link, 'is_up', True):
                return link
        return None

    def _settle_owed(self, log_failure):
        """Queue the reversals owed (appliance.roles.bank.owed); one that cannot be
        queued must not stop the sweep, so its failure is only logged, at
        the sweep's pace rather than on every pass."""
        try:
            self.journal.settle_owed()
        except Exception as e:
            if log_failure:
                log.error('[host_%s] %d owed reversal(s) not queued yet: %s', self.host,
                          len(self.journal.owed), e)
        if self.metrics is not None:
            self.metrics.saf_owed = len(self.journal.owed)

    def depth(self):
        """Reversals of this host still queued."""
        with self.db.connection_context():
            return SafEntry.select().where((SafEntry.host == self.host)
                                           & (SafEntry.state == QUEUED)).count(self.db)

    def claim(self, now, limit):
        """Lease up to `limit` due entries to this process; the entries."""
        if limit <= 0:
            return []
        free = (SafEntry.lease_until < now)
        with self.db.connection_context():
            due = list(SafEntry.select(SafEntry.id).where(
                (SafEntry.host == self.host) & (SafEntry.state == QUEUED)
                & (SafEntry.next_at <= now) & free
            ).order_by(SafEntry.next_at).limit(limit).tuples().execute(self.db))
            claimed = []
            for (entry_id,) in due:
                with self.db.write_transaction():
                    taken = SafEntry.update(lease_until=now + self.lease,
                                            lease_owner=self.owner).where(
                        (SafEntry.id == entry_id) & (SafEntry.state == QUEUED) & free
                    ).execute(self.db)
                if taken:
                    claimed.append(entry_id)
            if not claimed:
                return []
            return list(SafEntry.select().where(SafEntry.id.in_(claimed))
                        .order_by(SafEntry.id).execute(self.db))

    def attempt(self, entry, carrier=None):
        """Send the entry once (through `carrier`, by default the host's own
        link) and record what came of it."""
        carrier = carrier or self.gateway
        msg = loaded(entry.request)
        msg.mti = '0400' if entry.attempts == 0 else '0401'
        if entry.attempts and self.metrics is not None:
            self.metrics.saf_retries += 1
        msg[7] = datetime.datetime.now().strftime('%m%d%H%M%S')
        try:
            answer = carrier.send(msg, self.settings.request_timeout)
        except RequestTimeout as e:
            self.sent += 1
            return self.record(entry, msg.mti, '', str(e), carrier)
        except LinkError as e:          # nothing went out: not an attempt
            return self.release(entry, str(e))
        self.sent += 1
        code = answer.get(39) or ''
        return self.record(entry, msg.mti, code if len(code) == 2 else '',
                           '' if len(code) == 2 else 'answer without bit 39', carrier)

    def record(self, entry, mti, code, error, carrier=None):
        """The outcome of one attempt; the entry's new state."""
        now = self.clock()
        attempts = entry.attempts + 1
        values = dict(attempts=attempts, last_code=code, last_error=error,
                      lease_until=0, lease_owner='', updated_at=now)
        if code == REVERSED or (code in NOTHING_TO_REVERSE
                                and entry.last_code in NOTHING_TO_REVERSE):
            values.update(state=DONE, done_at=now)
        elif code in NOTHING_TO_REVERSE:
            values.update(next_at=now + self.settings.retry_interval)    # confirm it
        else:
            values.update(next_at=now + min(self.settings.retry_interval
                                            * 2 ** (attempts - 1), self.settings.retry_max))
        if 'state' not in values and (attempts >= self.settings.max_attempts
                                      or now - entry.created_at >= self.settings.max_age):
            values.update(state=EXPIRED, done_at=now)
        with self.db.connection_context(), self.db.write_transaction():
            SafEntry.update(**values).where(
                (SafEntry.id == entry.id) & (SafEntry.state == QUEUED)).execute(self.db)
        state = values.get('state', QUEUED)
        how = 'answered %s' % code if code else error
        if state == EXPIRED:
            log.error('[host_%s] SAF entry %d (invoice %s NTB %s) given up after %d '
                      'attempts: %s; settle it by hand', self.host, entry.id,
                      entry.invoice_id, entry.ntb, attempts, how)
        else:
            through = ('' if carrier in (None, self.gateway)
                       else ' through [host_%s]' % carrier.name)
            log.info('[host_%s] SAF entry %d sent as %s%s (attempt %d): %s%s', self.host,
                     entry.id, mti, through, attempts, how, ', done' if state == DONE else '')
        return state

    def release(self, entry, error):
        """Give the lease back without counting an attempt."""
        now = self.clock()
        with self.db.connection_context(), self.db.write_transaction():
            SafEntry.update(lease_until=0, lease_owner='', last_error=error, updated_at=now,
                            next_at=now + self.settings.retry_interval).where(
                (SafEntry.id == entry.id) & (SafEntry.lease_owner == self.owner)
            ).execute(self.db)
        return QUEUED

    def _expire_old(self, now):
        with self.db.connection_context(), self.db.write_transaction():
            old = SafEntry.update(state=EXPIRED, done_at=now, updated_at=now).where(
                (SafEntry.host == self.host) & (SafEntry.state == QUEUED)
                & (SafEntry.created_at < now - self.settings.max_age)
                & (SafEntry.lease_until < now)).execute(self.db)
        if old:
            log.error('[host_%s] %d SAF entries older than %g s given up; settle them by '
                      'hand', self.host, old, self.settings.max_age)
