"""A bounded group of raw greenlets: one per incoming request on a link.

gevent.pool.Pool gives each task a Greenlet with links, a semaphore slot and
a discard callback; a request handler needs none of that, only a cap on how
many run at once, a count for /status and a way to wait until all are done
at shutdown. spawn_raw is the cheapest greenlet gevent has.
"""
import logging

import gevent
from gevent.event import Event

log = logging.getLogger('iso8583d.link')


class TaskGroup:
    def __init__(self, limit):
        self.limit = limit
        self.active = 0
        self._room = Event()           # set while active < limit
        self._room.set()
        self._idle = Event()           # set while active == 0
        self._idle.set()

    def __len__(self):
        return self.active

    def spawn(self, func, *args):
        """Start func(*args); waits while `limit` tasks are running, which
        stops the caller (the link's reader) from taking more work."""
        while self.active >= self.limit:
            self._room.wait()
        self.active += 1
        if self.active == 1:
            self._idle.clear()
        if self.active == self.limit:
            self._room.clear()
        gevent.spawn_raw(self._run, func, args)

    def join(self, timeout=None):
        """Wait until no task runs; True if that happened within timeout."""
        return self._idle.wait(timeout)

    def _run(self, func, args):
        try:
            func(*args)
        except Exception:
            log.exception('Task %r failed', func)
        finally:
            self.active -= 1
            if self.active == self.limit - 1:
                self._room.set()
            if not self.active:
                self._idle.set()
