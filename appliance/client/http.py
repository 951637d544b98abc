"""A keep-alive HTTP/1.1 POST client: one socket per worker, one request in flight.

Hand-rolled rather than http.client because a stress run spends most of its
CPU here: the request head is built once, each request is one `send`, and a
response usually arrives in one `recv`. After connecting, the socket is used
raw with the hub's I/O watchers: an answer is never there right after the
request, so waiting before `recv` saves the failed read that gevent's socket
would try first (measured: a fifth of the client's CPU per request).
"""

import socket as _socket
from urllib.parse import urlsplit

import gevent
from gevent import socket
from gevent.monkey import get_original

from appliance import __version__
from appliance.errors import ClientTimeout as RequestTimeout, HTTPError  # noqa: F401

_RECV_SIZE = 65536
_READ, _WRITE = 1, 2  # libev/libuv event masks
_raw_socket = get_original('socket', 'socket')


class Response:
    __slots__ = ('status', 'body')

    def __init__(self, status, body):
        self.status = status
        self.body = body


def describe(exc):
    """A short failure reason for a transport error, as shown after `Gagal thread N:`."""
    if isinstance(exc, HTTPError):
        return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(exc, ConnectionResetError):
        return 'connection reset'
    if isinstance(exc, _socket.gaierror):
        return 'cannot resolve host: %s' % exc.strerror
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def endpoint(url):
    """(host, port, request target, Host header) of an http:// URL; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != 'http' or not parts.hostname:
        raise ValueError('not an http:// URL: %r' % url)
    target = (parts.path or '/') + ('?' + parts.query if parts.query else '')
    return parts.hostname, parts.port or 80, target, parts.netloc


class Connection:
    """POSTs bodies of one content type to one URL over a reused socket.

    A request is never resent: after any failure the socket is dropped and the
    next request opens a new one, so a payment cannot be booked twice by us.
    """

    def __init__(self, url, content_type, timeout, headers=()):
        host, port, target, netloc = endpoint(url)
        self.address = (host, port)
        extra = ''.join('%s: %s\r\n' % pair for pair in headers)     # e.g. X-Api-Key
        self._head = (
            'POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: iso8583d-client/%s\r\n'
            '%sContent-Type: %s\r\nContent-Length: '
            % (target, netloc, __version__, extra, content_type)
        ).encode('latin-1')
        self.timeout = timeout
        self._sock = None
        self._readable = self._writable = self._wait = None
        self._buf = b''

    def post(self, body):
        """Send `body`, return the Response; raises HTTPError or OSError."""
        # A fresh timer each time: a restarted gevent.Timeout measured from
        # its first start, so after `timeout` seconds of a run every request
        # "timed out" at once.
        timer = gevent.Timeout.start_new(self.timeout, RequestTimeout)
        try:
            if self._sock is None:
                self._connect()
            self._send(b'%s%d\r\n\r\n%s' % (self._head, len(body), body))
            return self._read_response()
        except BaseException:
            # The stream is in an unknown state, including after a timeout.
            self.close()
            raise
        finally:
            timer.cancel()

    def close(self):
        if self._sock is not None:
            self._readable.close()
            self._writable.close()
            self._sock.close()
            self._sock = None
        self._buf = b''

    def _connect(self):
        # gevent's socket for the cooperative name lookup and connect.
        sock = socket.create_connection(self.address)
        # The default Nagle + delayed-ACK pairing costs ~40 ms per exchange.
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        raw = _raw_socket(fileno=sock.detach())
        raw.setblocking(False)
        hub = gevent.get_hub()
        self._readable = hub.loop.io(raw.fileno(), _READ)
        self._writable = hub.loop.io(raw.fileno(), _WRITE)
        self._wait = hub.wait
        self._sock = raw

    def _send(self, data):
        view = memoryview(data)
        while view:
            try:
                view = view[self._sock.send(view):]
            except BlockingIOError:
                self._wait(self._writable)

    def _recv_some(self):
        """The next bytes from the peer, b'' at end of stream."""
        while True:
            self._wait(self._readable)
            try:
                return self._sock.recv(_RECV_SIZE)
            except BlockingIOError:
                continue

    def _recv(self):
        data = self._recv_some()
        if not data:
            raise HTTPError('connection closed')
        return data

    def _read_response(self):
        buf = self._buf
        end = buf.find(b'\r\n\r\n')
        while end < 0:
            buf += self._recv()
            end = buf.find(b'\r\n\r\n')
        status, headers, keep_alive = _parse_head(buf[:end])
        buf = buf[end + 4:]
        if status in (204, 304):
            body = b''
        elif 'chunked' in headers.get('transfer-encoding', ''):
            body, buf = self._read_chunked(buf)
        elif 'content-length' in headers:
            body, buf = self._read_exactly(buf, _content_length(headers))
        else:
            body, buf, keep_alive = self._read_to_eof(buf), b'', False
        self._buf = buf
        if not keep_alive:
            self.close()
        return Response(status, body)

    def _read_exactly(self, buf, size):
        while len(buf) < size:
            buf += self._recv()
        return buf[:size], buf[size:]

    def _read_line(self, buf):
        end = buf.find(b'\r\n')
        while end < 0:
            buf += self._recv()
            end = buf.find(b'\r\n')
        return buf[:end], buf[end + 2:]

    def _read_chunked(self, buf):
        chunks = []
        while True:
            line, buf = self._read_line(buf)
            try:
                size = int(line.split(b';', 1)[0], 16)
            except ValueError:
                raise HTTPError('bad chunk size %r' % line[:40]) from None
            if size == 0:
                break
            chunk, buf = self._read_exactly(buf, size + 2)
            chunks.append(chunk[:-2])
        line, buf = self._read_line(buf)
        while line:  # trailer fields, unused
            line, buf = self._read_line(buf)
        return b''.join(chunks), buf

    def _read_to_eof(self, buf):
        chunks = [buf]
        while True:
            data = self._recv_some()
            if not data:
                return b''.join(chunks)
            chunks.append(data)


def _parse_head(head):
    """(status, lower-cased headers, keep-alive?) of a response head."""
    lines = head.decode('latin-1').split('\r\n')
    version, _, rest = lines[0].partition(' ')
    try:
        status = int(rest[:3])
    except ValueError:
        raise HTTPError('bad status line %r' % lines[0][:80]) from None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip().lower()
    connection = headers.get('connection', '')
    if version == 'HTTP/1.0':
        return status, headers, 'keep-alive' in connection
    return status, headers, 'close' not in connection


def _content_length(headers):
    try:
        return int(headers['content-length'])
    except ValueError:
        raise HTTPError('bad Content-Length %r' % headers['content-length']) from None
