"""A first-come, first-served limit on concurrent work.

gevent's Semaphore lets a newcomer take a slot that was just released while
earlier waiters are still being woken ("barging"). Under a keep-alive flood
the same fast clients then win again and again, and others wait for many
seconds. This gate hands a released slot straight to the longest waiter.
"""
from collections import deque
from contextlib import contextmanager

from gevent.event import Event


class FairGate:
    def __init__(self, slots):
        self.free = slots
        self.waiters = deque()

    @contextmanager
    def slot(self):
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def _acquire(self):
        if self.free and not self.waiters:
            self.free -= 1
            return
        turn = Event()
        self.waiters.append(turn)
        try:
            turn.wait()
        except BaseException:
            if turn.is_set():          # handed a slot just as we were killed
                self._release()
            else:
                self.waiters.remove(turn)
            raise

    def _release(self):
        if self.waiters:
            self.waiters.popleft().set()   # the slot passes on, never freed
        else:
            self.free += 1
