"""The live progress line on stderr during long runs.

On a terminal it appears once a run has lasted 2 s and redraws in place;
with --progress it is written every second, as plain lines when stderr is not
a terminal (logs, CI).
"""

import time

import gevent

_QUIET_SECONDS = 2.0


class Progress:
    def __init__(self, total, stream, always=False):
        self.total = total
        self.done = 0
        self.failed = 0
        self._stream = stream
        self._tty = stream.isatty()
        self._always = always
        self._drawn = False
        self._greenlet = None

    def record(self, result):
        self.done += 1
        if not result.ok:
            self.failed += 1

    def start(self):
        if self._always or self._tty:
            self._greenlet = gevent.spawn(self._tick)

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill()
        if self._drawn and self._tty:
            self._stream.write('\n')
            self._stream.flush()

    def line(self, elapsed, rate):
        return '%.0fs %d/%d done, %d failed, %.1f tx/s' % (
            elapsed, self.done, self.total, self.failed, rate)

    def _tick(self):
        start = last = time.perf_counter()
        last_done = 0
        while True:
            gevent.sleep(1.0)
            now = time.perf_counter()
            rate = (self.done - last_done) / (now - last)
            last, last_done = now, self.done
            if self._always or now - start >= _QUIET_SECONDS:
                self._draw(self.line(now - start, rate))

    def _draw(self, text):
        if self._tty:
            self._stream.write('\r%s\x1b[K' % text)
        else:
            self._stream.write(text + '\n')
        self._stream.flush()
        self._drawn = True
