"""Write combining for one socket: the frames queued during one turn of the
event loop leave in one send.

A flush is a loop callback, so it runs after every greenlet woken by the same
read (the handlers of a batch of requests, the requesters of a batch of
answers) has queued its frame. On a VM a loopback send that wakes the peer
costs as much as encoding a message; under load this turns one send per
frame into one per batch, and with one request in flight it costs nothing
but the callback.

Streamers without a length (none, bri, local, bank_kaltim) take one read for
one message: for them each frame is a send of its own (combine=False).
"""
import gevent

# Frames that go out at once without waiting for the end of the turn, so the
# peer can start on them while we encode the rest (pipelining, not ping-pong).
FLUSH_AT = 4


class Outbox:
    def __init__(self, sock, on_error, combine=True):
        self.sock = sock
        self.combine = combine
        self.on_error = on_error       # called with a reason when a write fails
        self._frames = []
        self._flush_due = False
        self._draining = None          # greenlet writing what a flush could not
        self._loop = gevent.get_hub().loop
        self.closed = False

    def put(self, frame):
        """Queue one frame; it leaves at the end of this loop turn, in order."""
        self._frames.append(frame)
        if len(self._frames) >= FLUSH_AT:
            self._flush()
        elif not self._flush_due:
            self._flush_due = True
            self._loop.run_callback(self._flush)

    def close(self):
        """Stop writing; what is queued gets one last non-blocking try."""
        if self.closed:
            return
        self.closed = True
        if self._frames and self._draining is None:
            try:
                self.sock.send(self._take(), 0, 0.0)
            except OSError:
                pass

    def _flush(self):
        # Runs in the hub (or in put), which must not block: one non-blocking
        # send (gevent's send with timeout 0.0), the rest to a greenlet.
        self._flush_due = False
        while self._draining is None and self._frames and not self.closed:
            data = self._take()
            try:
                sent = self.sock.send(data, 0, 0.0)
            except BlockingIOError:
                sent = 0
            except OSError as e:
                gevent.spawn(self.on_error, 'write failed: %s' % e)
                return
            if sent < len(data):
                self._draining = gevent.spawn(self._drain, memoryview(data)[sent:])

    def _take(self):
        """All queued frames as one write, or only the first without combining."""
        frames = self._frames
        if len(frames) == 1 or not self.combine:
            return frames.pop(0)
        data = b''.join(frames)
        frames.clear()
        return data

    def _drain(self, rest):
        """Write `rest` and whatever is queued meanwhile, blocking as needed."""
        try:
            while rest is not None and not self.closed:
                self.sock.sendall(rest)
                rest = self._take() if self._frames else None
        except OSError as e:
            self.on_error('write failed: %s' % e)
        finally:
            self._draining = None
