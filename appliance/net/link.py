"""One ISO8583 connection: read loop, writer, STAN matching, echo, sign-on.

A Link owns one socket. Its reader greenlet splits frames, decodes them and
either hands a response to the greenlet waiting for it (matched by MTI class
and STAN) or answers a request in a greenlet of its own. Many requests may be
in flight on one socket; what is sent leaves through an Outbox, one write per
turn of the event loop. A watchdog closes a link that has been silent for
the host's `timeout`, and on the connecting side sends an echo whenever the
link has been idle for `timeout - 5` s, signing on after the first answered
echo.
"""
import logging
import socket
import time

import gevent
from gevent.event import Event
from gevent.hub import Waiter

from appliance import loglines
from appliance.iso import netmgmt
from appliance.iso.codec import CodecError
from appliance.iso.codes import RESPONSE_MTI
from appliance.iso.framing import FramingError
from appliance.iso.mask import mask_bits, mask_frame
from appliance.iso.message import is_response
from appliance.metrics import IN, OUT
from appliance.net.outbox import Outbox
from appliance.net.taskgroup import TaskGroup
from appliance.errors import (AnswerLost, Busy, LinkDown, LinkError,  # noqa: F401
                               Rejected, RequestTimeout)

log = logging.getLogger('iso8583d.link')
lines = loglines.Lines(log)      # the six lines of every message


EXPIRY_TICK = 0.05   # s: how late a request timeout may fire, at most
REJECTED = '9'       # first MTI digit of a message the peer sends back refused


class _Pending:
    """A request waiting for its answer. Whoever takes it out of
    Link.pending (the answer, the timeout, close) wakes the waiter, once."""
    __slots__ = ('waiter', 'deadline', 'timeout')

    def __init__(self, timeout):
        self.waiter = Waiter()
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout


def match_key(mti, stan):
    """Requests and responses pair up by MTI class (02, 04, 08) and STAN."""
    return mti[:2], stan


def set_nodelay(sock):
    # Nagle + delayed ACK costs ~40 ms per round trip (docs/protocol.md,
    # "Nagle's algorithm and TCP_NODELAY").
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


class Link:
    """One connected socket of a host."""

    def __init__(self, sock, host, peer, connecting):
        self.sock = sock
        self.host = host
        self.peer_ip = peer[0]
        self.connecting = connecting
        self.id = id(self)
        self.prefix = '%s %s %d' % (self.peer_ip, host.name, self.id)
        # Splits what arrives and frames what leaves: bri and local answer
        # with the header the peer sent on this connection.
        self.splitter = host.streamer.splitter()
        self.pending = {}              # match_key -> _Pending
        self._stans = {}               # STAN -> requests pending with it
        self._expiring = None          # the greenlet timing out self.pending
        self.handlers = TaskGroup(host.config.max_in_flight)
        self.outbox = Outbox(sock, self.close,
                             combine=not host.streamer.one_read_one_message)
        self._loop = gevent.get_hub().loop
        self.closed = Event()
        self.signed_on = False
        self.since = time.time()
        self.last_rx = self.last_tx = time.monotonic()
        self.last_echo_rtt = None      # s, of our last answered echo
        self.last_echo = None          # time.time() of the last echo answered, either way
        self.metrics = host.metrics
        set_nodelay(sock)

    # -- lifecycle -----------------------------------------------------------

    def serve(self):
        """Run until the connection ends; returns after close()."""
        watchdog = gevent.spawn(self._watch)
        try:
            self._read_loop()
        finally:
            watchdog.kill(block=False)
            self.close()

    def close(self, reason=None):
        if self.closed.is_set():
            return
        self.closed.set()
        if reason:
            log.info('%s Close: %s', self.prefix, reason)
        self.outbox.close()
        self.handlers.close()
        try:
            self.sock.close()
        except OSError:
            pass
        down = AnswerLost('link %s closed before the answer came' % self.host.name)
        for key in list(self.pending):
            self._wake(key, down)
        self.host.detach(self)

    @property
    def is_open(self):
        return not self.closed.is_set()

    # -- receiving -----------------------------------------------------------

    def _read_loop(self):
        while not self.closed.is_set():
            try:
                data = self.sock.recv(65536)
            except OSError as e:
                if not self.closed.is_set():
                    log.error('%s %s', self.prefix, e)
                return
            if not data:
                log.info('%s Peer closed the connection', self.prefix)
                return
            self.last_rx = time.monotonic()
            try:
                payloads = self.splitter.feed(data)
            except FramingError as e:
                log.error('%s Framing error, closing: %s', self.prefix, e)
                return
            for raw in payloads:
                self._dispatch(raw)

    def _dispatch(self, raw):
        spans = [] if log.isEnabledFor(logging.INFO) else None
        try:
            msg = self.host.codec.decode(raw, spans)
        except CodecError as e:
            if spans is not None:
                self._log_raw(raw, self.host.codec.locate_card_data(raw),
                              'Receive', 'Raw to ISO8583')
            log.warning('%s Cannot decode, frame dropped: %s', self.prefix, e)
            self.metrics.decode_errors += 1
            return
        self.metrics.count(IN, msg)
        if spans is not None:
            self._log_raw(raw, spans, 'Receive', 'Raw to ISO8583')
        if msg.mti.startswith(REJECTED):
            self._rejected(msg)
        elif is_response(msg.mti):
            self._log_msg('Decode', msg)
            self._deliver(msg)
        elif msg.mti in RESPONSE_MTI:
            self.handlers.spawn(self._answer, msg)
        else:       # no answer is defined for it (spec §2, MTIs): nothing to send
            log.warning('%s Unknown MTI %s STAN %s, frame dropped', self.prefix, msg.mti,
                        msg.get(11))

    def _deliver(self, msg):
        if not self._wake(match_key(msg.mti, msg.get(11)), msg):
            log.warning('%s Late or unmatched response MTI %s STAN %s dropped',
                        self.prefix, msg.mti, msg.get(11))
            self.metrics.unmatched += 1

    def _rejected(self, msg):
        """Our request sent back with its MTI's first digit set to 9 (the
        bank_kaltim interchange does so with a message it refuses)."""
        mti = '0' + msg.mti[1:]
        header = getattr(self.splitter, 'header', None)
        status = ' (header status %s)' % header[7:10].decode() if header else ''
        log.warning('%s Peer rejected MTI %s STAN %s%s', self.prefix, mti, msg.get(11),
                    status)
        self._wake(match_key(mti, msg.get(11)), Rejected(
            '%s rejected MTI %s STAN %s%s' % (self.host.name, mti, msg.get(11), status)))

    def _wake(self, key, outcome):
        """Take a pending request out and hand it its answer or exception;
        False if it is no longer pending (answered, timed out, closed)."""
        entry = self.pending.pop(key, None)
        if entry is None:
            return False
        self._untrack(key[1])
        # A Waiter is switched to from the hub only, hence the callback.
        if isinstance(outcome, BaseException):
            self._loop.run_callback(entry.waiter.throw, outcome)
        else:
            self._loop.run_callback(entry.waiter.switch, outcome)
        return True

    def _answer(self, request):
        started = time.monotonic()
        self._log_msg('Decode', request, handler=True)
        try:
            if request.mti == '0800':
                reply = netmgmt.answer(request)
                if request.get(70) == netmgmt.ECHO:
                    self.last_echo = time.time()
            else:
                reply = self.host.module.handle(request)
        except Exception:
            log.exception('%s Handler failed on MTI %s STAN %s', self.prefix,
                          request.mti, request.get(11))
            reply = netmgmt.error_reply(request)
        if reply is None:
            return
        try:
            self.send(reply, handler=True)
        except (OSError, LinkError) as e:
            log.error('%s Cannot send the answer to STAN %s: %s', self.prefix,
                      request.get(11), e)
            return
        self.metrics.answered(IN, request.mti, self.last_tx - started, self.last_tx)

    # -- sending -------------------------------------------------------------

    def send(self, msg, handler=False):
        """Encode and frame one message; it leaves at the end of this turn
        of the event loop, with whatever else was sent in it."""
        self._log_msg('Encode', msg, handler)
        spans = [] if log.isEnabledFor(logging.INFO) else None
        raw = self.host.codec.encode(msg, spans)
        frame = self.splitter.frame(raw)
        if spans is not None:
            self._log_raw(raw, spans, 'Send', 'ISO8583 to raw')
        if self.closed.is_set():
            raise LinkDown('link %s is down' % self.host.name)
        self.outbox.put(frame)
        self.last_tx = time.monotonic()
        self.metrics.count(OUT, msg)

    def request(self, msg, timeout):
        """Send a request and wait for its response (matched by STAN)."""
        if self.closed.is_set():
            raise LinkDown('link %s is down' % self.host.name)
        key = match_key(msg.mti, msg.get(11))
        if key[1] is None:
            raise ValueError('a request needs a STAN (bit 11)')
        if key in self.pending:
            raise LinkError('STAN %s is already in flight on %s' % (key[1], self.host.name))
        if len(self.pending) >= self.host.config.max_in_flight:
            raise Busy('%d requests in flight on %s' % (len(self.pending), self.host.name))
        self.send(msg)       # only queues: nothing can answer before we wait
        sent = self.last_tx
        entry = self.pending[key] = _Pending(timeout)
        self._stans[key[1]] = self._stans.get(key[1], 0) + 1
        if self._expiring is None:
            self._expiring = gevent.spawn(self._expire)
        try:
            answer = entry.waiter.get()
        except RequestTimeout:         # not Rejected: that one was answered
            self.metrics.timeouts += 1
            raise
        finally:
            if self.pending.get(key) is entry:     # left early, e.g. killed
                del self.pending[key]
                self._untrack(key[1])
        now = time.monotonic()
        self.metrics.answered(OUT, msg.mti, now - sent, now)
        return answer

    def _untrack(self, stan):
        left = self._stans.pop(stan) - 1
        if left:
            self._stans[stan] = left

    def _expire(self):
        """Time out pending requests: one greenlet that polls every
        EXPIRY_TICK while any are pending, not one timer per request."""
        try:
            while self.pending and not self.closed.is_set():
                gevent.sleep(EXPIRY_TICK)
                now = time.monotonic()
                late = [(key, entry.timeout) for key, entry in self.pending.items()
                        if entry.deadline <= now]
                for key, timeout in late:
                    self._wake(key, RequestTimeout('no answer from %s within %g s'
                                                   % (self.host.name, timeout)))
        finally:
            self._expiring = None

    def in_flight(self, stan):
        return stan in self._stans

    # -- keepalive -----------------------------------------------------------

    def _watch(self):
        """Close a silent link; on the connecting side echo when idle."""
        timeout = self.host.config.timeout
        echo_after = timeout - 5 if timeout > 10 else timeout / 2
        tick = min(1.0, timeout / 10)
        if self.connecting:
            gevent.spawn(self.echo)
        while not self.closed.is_set():
            gevent.sleep(tick)
            now = time.monotonic()
            if now - self.last_rx >= timeout:
                self.close('no data for %g s' % timeout)
                return
            if self.connecting and now - max(self.last_rx, self.last_tx) >= echo_after:
                gevent.spawn(self.echo)
                self.last_tx = now     # one echo per idle period, not one per tick

    def echo(self):
        """Send 0800/301; sign on after the first answered echo."""
        started = time.monotonic()
        reply = self._netmgmt(netmgmt.ECHO)
        if reply is None:
            return
        self.last_echo_rtt = time.monotonic() - started
        self.last_echo = time.time()
        if reply.get(39) == '00' and not self.signed_on:
            self.signed_on = True
            self._netmgmt(netmgmt.SIGN_ON)

    def answers_echo(self):
        """True when the peer answers an echo within the host's `timeout`:
        the test of whether this link is alive (Listener, second connection)."""
        try:
            self.request(netmgmt.request(netmgmt.ECHO, self.host.next_stan()),
                         self.host.config.timeout)
        except (LinkDown, RequestTimeout):      # AnswerLost too: it closed meanwhile
            return False
        except (Rejected, Busy):                # refused or full, but there
            return True
        return True

    def sign_off(self):
        self._netmgmt(netmgmt.SIGN_OFF, timeout=2)

    def _netmgmt(self, function, timeout=None):
        msg = netmgmt.request(function, self.host.next_stan())
        try:
            return self.request(msg, timeout or self.host.config.request_timeout)
        except LinkError as e:
            if self.is_open:
                log.warning('%s Network management %s not answered: %s',
                            self.prefix, function, e)
            return None

    # -- logging -------------------------------------------------------------

    def _log_raw(self, raw, spans, frame_verb, raw_verb):
        """The seed's two lines about bytes (framed, then bare), in wire order,
        with the card data at `spans` (from the codec) masked in place; the
        framing header and suffix depend on the length (and the connection's
        header) alone, which masking keeps."""
        raw = mask_frame(raw, spans, self.host.codec.spec.encoding)
        frame = self.splitter.frame(raw)
        pair = [(frame_verb, frame), (raw_verb, raw)]
        if frame_verb == 'Send':
            pair.reverse()
        for verb, data in pair:
            lines.log('%s %s [%r]', self.prefix, verb, data)

    def _log_msg(self, verb, msg, handler=False):
        if not log.isEnabledFor(logging.INFO):
            return
        who = self.prefix
        if handler:
            who = '%s -> %d' % (who, id(gevent.getcurrent()))
        lines.log('%s %s MTI %s Data %s', who, verb, msg.mti, mask_bits(msg.sorted_bits()))
