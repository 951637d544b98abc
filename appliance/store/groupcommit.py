"""Writes of many greenlets committed together (group commit).

Most of what a small write costs is its commit: on SQLite the WAL frames of
every page it touched, their checksums and the WAL index; on PostgreSQL the
round trips and the WAL flush. Greenlets that write at about the same time
can share one.

One group is written at a time. A caller that finds no write going on
leads: it yields once, so that the greenlets woken in the same turn of the
event loop can queue their items, then writes every queued item in one go.
Items queued while a group is written form the next group, led by the first
of them once that write is done. Every caller returns only once its item is
committed (or raises its error), as with a transaction of its own.
"""
import gevent
from gevent.event import Event


class GroupCommit:
    """`write(items)` writes a group and returns one outcome per item: its
    value, or an Exception that is that item's error alone. An exception
    raised by `write` is the error of every item in the group."""

    def __init__(self, write):
        self._write = write
        self.queue = []
        self.busy = False

    def submit(self, item):
        """Queue `item`; its outcome once its group is written."""
        entry = _Entry(item)
        self.queue.append(entry)
        if self.busy:
            try:
                entry.wake.wait()
            except BaseException:
                self._abandon(entry)
                raise
            if not entry.lead:
                return entry.outcome()
        self.busy = True
        batch = []
        try:
            gevent.sleep(0)
            batch, self.queue = self.queue, []
            outcomes = self._write([e.item for e in batch])
            for other, outcome in zip(batch, outcomes):
                other.settle(outcome)
        except BaseException as error:
            for other in batch:
                other.error = error if isinstance(error, Exception) else RuntimeError(
                    'the writer of this group was interrupted (%r)' % (error,))
            raise
        finally:
            for other in batch:
                if other is not entry:
                    other.wake.set()
            if entry in self.queue:               # killed before it took the group
                self.queue.remove(entry)
            if self.queue:
                self.queue[0].lead = True         # the next group's writer
                self.queue[0].wake.set()
            else:
                self.busy = False
        return entry.outcome()

    def _abandon(self, entry):
        """A waiting caller was killed: take its item out, pass on a lead."""
        if entry in self.queue:
            self.queue.remove(entry)
        if entry.lead:
            if self.queue:
                self.queue[0].lead = True
                self.queue[0].wake.set()
            else:
                self.busy = False


class _Entry:
    __slots__ = ('item', 'wake', 'lead', 'value', 'error')

    def __init__(self, item):
        self.item = item
        self.wake = Event()
        self.lead = False
        self.value = self.error = None

    def settle(self, outcome):
        if isinstance(outcome, Exception):
            self.error = outcome
        else:
            self.value = outcome

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.value
