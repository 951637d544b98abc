"""A bounded group of greenlets answering the requests of one link.

gevent.pool.Pool gives each task a Greenlet with links, a semaphore slot and
a discard callback; a request handler needs none of that, only a cap on how
many run at once, a count for /status and a way to wait until all are done
at shutdown.

Nor does it need a new greenlet per request: on Python 3.11 every new
greenlet maps a fresh 16 KiB block for its Python frames and unmaps it when
it ends (strace: an mmap and a munmap per request answered, the munmap the
dearer on a VM). A finished task's greenlet therefore parks and takes the
next task; at most KEEP_IDLE wait so, the rest end.
"""
import logging

import gevent
from gevent.event import Event
from gevent.hub import get_hub
from greenlet import getcurrent

log = logging.getLogger('iso8583d.link')

KEEP_IDLE = 256       # parked greenlets kept per group, ~20 KiB each


class TaskGroup:
    def __init__(self, limit):
        self.limit = limit
        self.active = 0
        self._room = Event()           # set while active < limit
        self._room.set()
        self._idle = Event()           # set while active == 0
        self._idle.set()
        self._parked = []              # greenlets waiting for a task
        self._closed = False

    def __len__(self):
        return self.active

    def spawn(self, func, *args):
        """Start func(*args) on the next turn of the event loop; waits while
        `limit` tasks are running, which stops the caller (the link's
        reader) from taking more work."""
        while self.active >= self.limit:
            self._room.wait()
        self.active += 1
        if self.active == 1:
            self._idle.clear()
        if self.active == self.limit:
            self._room.clear()
        if self._parked:
            get_hub().loop.run_callback(self._parked.pop().switch, (func, args))
        else:
            gevent.spawn_raw(self._work, func, args)

    def join(self, timeout=None):
        """Wait until no task runs; True if that happened within timeout."""
        return self._idle.wait(timeout)

    def close(self):
        """End the parked greenlets; running tasks finish, then end too."""
        self._closed = True
        parked, self._parked = self._parked, []
        for worker in parked:
            get_hub().loop.run_callback(worker.throw)     # GreenletExit: a quiet end

    def _work(self, func, args):
        me = getcurrent()
        while True:
            self._run(func, args)
            if self._closed or len(self._parked) >= KEEP_IDLE:
                return
            self._parked.append(me)
            func, args = get_hub().switch()

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
