"""The HTTP face: a Bottle app of the configured routes on gevent.pywsgi.

Each route (`[web_<name>]`) is served by the View its module makes:
`views[route.module].make_view(route, gateways) -> View`, where `gateways`
maps host names to their links. This module guards every route the same way
before the view runs: the client's address against `allowed_ip`, the body
against `max_body`. Every answer is JSON, errors too (the status page, an
operations endpoint that `ops` adds, is the one HTML answer).

Hostile clients (docs/operations.md "The HTTP face") meet, in this order:
- at accept, before a byte is read: an address no route admits gets 403, an
  address holding `max_connections_per_ip` connections gets 429;
- the request head (line and headers) must arrive within `head_timeout` of
  its first byte, within `max_headers` lines and `max_head_size` bytes
  (408, 431);
- the body must arrive within `body_timeout`, at most `max_body` bytes
  (408, 413), and is read before the request waits for one of `threads`
  workers: a trickling client holds a connection, never a worker.
`idle_timeout` stays what it was: the longest silence on a connection.
"""
import functools
import io
import ipaddress
import json
import logging
import socket
import time
from http import HTTPStatus
from typing import Callable, NamedTuple, Tuple

import bottle
import gevent
from gevent.pool import Pool
from gevent.pywsgi import LoggingLogAdapter, WSGIServer

from appliance import loglines
from appliance.http.gate import FairGate
from appliance.http import headers

log = logging.getLogger('iso8583d.web')
allowed_lines = loglines.Lines(log)     # one per request on a route with allowed_ip

JSON = 'application/json'
BACKLOG = 2048       # pending connections the kernel keeps during a burst
LINGER = 1.0         # s a refused client has to read its answer (see _linger)
REFUSED = 'iso8583d.refused'    # environ key: the app refused the request unread
BUFFERED = 'iso8583d.buffered'  # environ key: body bytes that came with the head


class View(NamedTuple):
    """What a web module serves on its route."""
    title: str                      # for the start-up log line, e.g. 'JSON-RPC'
    methods: Tuple[str, ...]        # HTTP methods, e.g. ('POST',)
    handle: Callable                # f(bottle.request) -> bottle.HTTPResponse
    # True when the view checks a credential of its own (API keys, LinkAja's
    # pwd): a route without allowed_ip is then open to every address.
    authenticates: bool = False


# Who may call a route that names no allowed_ip and has no credential:
# secure unless opened (docs/operations.md "Security").
LOOPBACK = (ipaddress.ip_network('127.0.0.1/32'), ipaddress.ip_network('::1/128'))


def json_response(body, status=200, **headers):
    """An HTTPResponse carrying `body`: JSON text (bytes/str) or a JSON value."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return bottle.HTTPResponse(body, status, headers, Content_Type=JSON)


def error_response(status, message, **headers):
    return json_response({'error': {'status': status, 'message': message}},
                         status, **headers)


def make_app(web_cfg, routes, views, gateways=None, ops=None, open_database=None):
    """The Bottle app serving `routes`. `views` maps a module name to its web
    module (anything with `make_view(route, gateways)`, given
    `open_database=` too when there is one). ValueError names the
    route of an unknown module or a bad allowed_ip entry. `ops`: the
    operations endpoints (appliance.ops.status.Ops: `networks`, and `views()`
    giving (path, handle) pairs), served to GET from those networks only."""
    app = bottle.Bottle()
    app.default_error_handler = _error_page
    admitted = []
    for route in routes:
        if route.module not in views:
            raise ValueError('[web_%s] no web module %s' % (route.name, route.module))
        extra = {} if open_database is None else {'open_database': open_database}
        view = views[route.module].make_view(route, gateways or {}, **extra)
        networks = _networks(route, view)
        admitted = None if admitted is None or networks is None else admitted + list(networks)
        callback = _guarded(view, networks)
        app.route(route.route_path, list(view.methods), callback, name=route.name)
        log.info('Web server %s route path %s', view.title, route.route_path)
    if ops is not None:
        for path, handle in ops.views():
            app.route(path, ['GET'], _ops_guarded(handle, ops.networks))
        log.info('Web server status page %s', ', '.join(path for path, _ in ops.views()))
        admitted = None if admitted is None else admitted + list(ops.networks)
    # The addresses some route or endpoint admits (None: every address); serve()
    # refuses the others at accept, before reading a byte from them.
    app.config['iso8583d.admitted'] = None if admitted is None else tuple(admitted)
    return app


def _error_page(error):
    """Bottle's own errors (404, 405, ...) as JSON instead of its HTML page."""
    bottle.response.content_type = JSON
    return json.dumps({'error': {'status': error.status_code, 'message': error.body}})


def _networks(route, view):
    """The networks that may call `route` (None: every address). No
    allowed_ip: loopback only, unless the view checks a credential of its
    own. An empty `allowed_ip =` (the seed's "every address") opens it."""
    if route.allowed_ip is None:
        return None if view.authenticates else LOOPBACK
    if not route.allowed_ip:
        if not view.authenticates:
            log.warning('[web_%s] %s is open to every address: allowed_ip is empty and '
                        'the route has no credentials', route.name, route.route_path)
        return None
    try:
        return tuple(ipaddress.ip_network(entry, strict=False)
                     for entry in route.allowed_ip)
    except ValueError as e:
        raise ValueError('[web_%s] allowed_ip: %s' % (route.name, e)) from None


def _guarded(view, networks):
    """The route callback: address check, then the view (the body is read
    already, see _buffered)."""

    def callback():
        request = bottle.request
        address = _client_address(request.environ)
        if networks is not None:
            if not any(address in network for network in networks):
                log.warning('%s not allowed', address)
                return error_response(403, '%s not allowed' % address)
            if networks is not LOOPBACK:       # the seed's line, for its allowed_ip
                allowed_lines.log('%s allowed', _address_text(address))
        try:
            return view.handle(request)
        except bottle.HTTPResponse:
            raise                   # a view's deliberate answer, not a failure
        except Exception:
            log.exception('%s %s failed', request.method, request.path)
            return error_response(500, 'internal error')

    return callback


def _ops_guarded(handle, networks):
    """An operations endpoint: only from `networks` (a refusal is logged, an
    allowed scrape every few seconds is not)."""

    def callback():
        address = _client_address(bottle.request.environ)
        if not any(address in network for network in networks):
            log.warning('%s not allowed to %s', address, bottle.request.path)
            return error_response(403, '%s not allowed' % address)
        try:
            return handle(bottle.request)
        except bottle.HTTPResponse:
            raise
        except Exception:
            log.exception('GET %s failed', bottle.request.path)
            return error_response(500, 'internal error')

    return callback


def client_address(environ):
    """The peer's address; never X-Forwarded-For, which any client can forge
    (bottle's request.remote_addr would take it)."""
    return _address(environ['REMOTE_ADDR'])


_client_address = client_address


@functools.lru_cache(maxsize=4096)      # a bank has few peers; parsing each request cost ~1 %
def _address(text):
    address = ipaddress.ip_address(text)
    mapped = getattr(address, 'ipv4_mapped', None)     # ::ffff:a.b.c.d on a '::' bind
    return mapped or address


@functools.lru_cache(maxsize=4096)      # str() of an address per request was ~0.6 %
def _address_text(address):
    return str(address)


def _buffered(app, max_body, body_timeout):
    """Read each request's body into memory before `app` (and its wait for a
    worker) sees it: at most `max_body` bytes (else 413), all of it within
    `body_timeout` (else 408). Views then read it through Bottle as usual."""

    def buffered_app(environ, start_response):
        refusal = _buffer_body(environ, max_body, body_timeout)
        if refusal is None:
            return app(environ, start_response)
        status, message = refusal
        log.warning('%s %s %s: %s', _client_address(environ), environ.get('REQUEST_METHOD'),
                    environ.get('PATH_INFO'), message)
        body = _error_json(status, message)
        environ[REFUSED] = True
        start_response(_status_line(status), [('Content-Type', JSON), ('Connection', 'close'),
                                              ('Content-Length', str(len(body)))])
        return [body]
    return buffered_app


def _buffer_body(environ, max_body, body_timeout):
    """None when the body is in memory; else (status, message)."""
    declared = environ.get('CONTENT_LENGTH') or '0'
    if declared.isdigit() and int(declared) > max_body:
        return 413, 'body larger than %d bytes' % max_body    # refused unread
    chunked = environ.get('HTTP_TRANSFER_ENCODING', '').lower() == 'chunked'
    if not chunked and declared.isdigit() and int(declared) <= environ.get(BUFFERED, 0):
        deadline = None     # in memory already (the common case): no timer to set
    else:
        deadline = gevent.Timeout(body_timeout)
        deadline.start()
    try:
        body = environ['wsgi.input'].read(max_body + 1)
    except gevent.Timeout as late:
        if late is not deadline:
            raise
        return 408, 'body not received within %g s' % body_timeout
    except (OSError, ValueError) as e:      # a bad chunk, a client gone
        return 400, 'body unreadable: %s' % e
    finally:
        if deadline is not None:
            deadline.close()
    if len(body) > max_body:
        return 413, 'body larger than %d bytes' % max_body
    environ['wsgi.input'] = io.BytesIO(body)
    environ['CONTENT_LENGTH'] = str(len(body))
    environ.pop('HTTP_TRANSFER_ENCODING', None)     # already de-chunked
    return None


def _status_line(status):
    return '%d %s' % (status, HTTPStatus(status).phrase)


def _error_json(status, message):
    return json.dumps({'error': {'status': status, 'message': message}}).encode()


def _raw_answer(status, message):
    """A whole HTTP answer in bytes, for answers given outside the WSGI app
    (before or instead of parsing a request); the connection closes after it."""
    body = _error_json(status, message)
    head = ('HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n'
            'Connection: close\r\n\r\n' % (_status_line(status), JSON, len(body)))
    return head.encode('ascii') + body


class _HeadDeadline(gevent.Timeout):
    """The request head (line and headers) arrived too slowly."""


class _Handler(headers.Handler):
    """pywsgi's handler with headers.Handler's header parser, made cheaper
    per request in two ways: no access line formatted when nothing writes
    it (pywsgi formats one whatever its log: 3 % of the bank's CPU per
    inquiry), and an answer sent by one `send` when it fits the socket's
    buffer (gevent's sendall first asks the kernel for that buffer's size:
    a system call per answer).
    It also puts the whole request head under one deadline, and answers
    every request it refuses in JSON with one WARNING line (pywsgi answers
    with an empty body and, for some, prints a traceback)."""

    _head_deadline = None
    _early_body = 0
    environ = {}            # pywsgi sets one per request; none before the first

    def read_requestline(self):
        # The wait for a request's first byte is idle time (idle_timeout,
        # the socket's timeout); from that byte on, the head has a deadline.
        # Most clients send head and body at once: what the first read got
        # then holds the whole head, and no timer is needed (two timers per
        # request cost ~10 us, about 9 % of a keep-alive inquiry).
        if self.server.stopping:        # no next request on a kept-alive connection
            return ''
        idle = self.server.idle
        idle.add(self)
        try:
            arrived = self.rfile.peek(1)
        finally:
            idle.discard(self)
        if not arrived:
            return ''
        end = arrived.find(b'\r\n\r\n')
        if end < 0:
            self._head_deadline = _HeadDeadline.start_new(self.server.head_timeout)
            self._early_body = 0
        else:
            self._early_body = len(arrived) - end - 4
        return super().read_requestline()

    def read_request(self, requestline):
        try:
            return super().read_request(requestline)
        finally:
            if self._head_deadline is not None:
                self._head_deadline.cancel()    # kept: handle_one_request checks it

    def get_environ(self):
        environ = super().get_environ()
        environ[BUFFERED] = self._early_body
        return environ

    def handle_one_request(self):
        try:
            result = super().handle_one_request()
        except _HeadDeadline as late:
            if late is not self._head_deadline:
                raise
            return self._refuse(408, 'request head not received within %g s'
                                % self.server.head_timeout)
        finally:
            self._end_head_deadline()
        if isinstance(result, tuple):           # pywsgi's own refusals: 400, 414
            status = int(result[0])
            return self._refuse(status, HTTPStatus(status).phrase.lower())
        if result is None and self.environ.get(REFUSED):
            _linger(self.socket)                # a refused body: let the answer arrive
        return result

    def _handle_client_error(self, ex):
        """A request pywsgi cannot parse (gevent's hook for that)."""
        status = 431 if isinstance(ex, headers.HeadTooLarge) else 400
        return self._refuse(status, str(ex) or type(ex).__name__)

    def _refuse(self, status, message):
        """Answer and end the connection (None: pywsgi closes it)."""
        log.warning('%s bad request, answered %d: %s', self.client_address[0], status, message)
        self.status = str(status)
        try:
            self.socket.sendall(_raw_answer(status, message))
        except OSError:
            return None
        _linger(self.socket)
        return None

    def _end_head_deadline(self):
        if self._head_deadline is not None:
            self._head_deadline.close()
            self._head_deadline = None

    def log_request(self):
        if self.server.access_log:
            super().log_request()

    def format_request(self):
        """pywsgi's access line, byte for byte, with its timestamp text made
        once a second (str() of a datetime per line was most of the line's cost)."""
        length = self.response_length or '-'
        delta = '%.6f' % (self.time_finish - self.time_start) if self.time_finish else '-'
        address = self.client_address
        if isinstance(address, tuple):
            address = address[0]
        return '%s - - [%s] "%s" %s %s %s' % (
            address or '-', _second_text(int(time.time())), self.requestline or '',
            (self._orig_status or self.status or '000').split()[0], length, delta)

    def _sendall(self, data):
        try:
            sent = self.socket.send(data, 0, 0.0)      # never waits: sendall does that below
        except OSError:         # would block (sendall waits) or failed (sendall reports it)
            sent = 0
        self.response_length += sent
        if sent < len(data):
            super()._sendall(memoryview(data)[sent:])


class _Server(WSGIServer):
    """pywsgi with TCP_NODELAY on every accepted socket: without it Nagle and
    delayed ACK hold each answer ~40 ms (272 vs 9,300 req/s,
    docs/protocol.md "Nagle's algorithm and TCP_NODELAY").
    And a read timeout: pywsgi has none, so an idle or stalled client would
    hold its connection (one of `max_connections`) forever.
    Before a byte is read, the client's address must be one some route
    admits (`admitted`, None: any) and hold fewer than `max_per_ip`
    connections."""

    idle_timeout = None
    access_log = False
    admitted = None
    max_per_ip = None
    head_timeout = 10.0
    max_headers = headers.MAX_HEADERS
    max_head_size = headers.MAX_HEAD

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.open_by_ip = {}
        self.idle = set()           # handlers waiting for a request's first byte
        self.stopping = False

    def stop(self, timeout=None):
        """Stop as pywsgi does, waiting up to `timeout` for the requests
        being handled, but end the idle keep-alive connections at once: they
        would hold the stop for the whole `timeout` (a balancer keeps one open
        to every node) though no request is in them."""
        self.stopping = True
        for handler in list(self.idle):
            _end_reading(handler.socket)
        super().stop(timeout)

    def handle(self, sock, address):
        ip = _address(address[0]) if sock.family != socket.AF_UNIX else None
        refusal = self._refusal(ip)
        if refusal is not None and refusal[0] == 429:
            _answer_unread(sock, _raw_answer(*refusal), linger=0)
            return
        self.open_by_ip[ip] = self.open_by_ip.get(ip, 0) + 1    # a refused one too
        try:
            if refusal is not None:
                _answer_unread(sock, _raw_answer(*refusal))
                return
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.idle_timeout)
            super().handle(sock, address)
        finally:
            left = self.open_by_ip.pop(ip) - 1
            if left:
                self.open_by_ip[ip] = left

    def _refusal(self, ip):
        """None to serve a connection from `ip`, else (status, message)."""
        if ip is None:
            return None
        if self.max_per_ip is not None and self.open_by_ip.get(ip, 0) >= self.max_per_ip:
            log.warning('%s has %d connections open (max_connections_per_ip), one more '
                        'refused', ip, self.max_per_ip)
            return 429, '%s has too many connections open' % ip
        if self.admitted is not None and not any(ip in n for n in self.admitted):
            log.warning('%s not allowed', ip)
            return 403, '%s not allowed' % ip
        return None


def _end_reading(sock):
    """Wake a read waiting on `sock` with end of file."""
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:             # the client is gone already
        pass


def _linger(sock, seconds=LINGER, limit=1 << 20):
    """Close our side, then drop what the client still sends for at most
    `seconds` (or `limit` bytes) until it closes: closing with bytes unread
    resets the connection, and the client would likely lose the answer."""
    deadline = time.monotonic() + seconds
    try:
        sock.shutdown(socket.SHUT_WR)
        while limit > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            data = sock.recv(65536)
            if not data:
                return
            limit -= len(data)
    except OSError:             # timed out, or the client is gone
        pass


def _answer_unread(sock, answer, linger=LINGER):
    """Send `answer` at once, without reading the request, then linger."""
    try:
        sock.settimeout(1.0)
        sock.sendall(answer)            # a few hundred bytes: the socket's buffer takes them
    except OSError:
        sock.close()
        return
    _linger(sock, linger)
    sock.close()


def serve(web_cfg, app, http_metrics=None, ops_paths=()):
    """Start serving `app`; at most `threads` requests are inside it at once,
    `ops_paths` aside (the status page answers while the workers are busy).
    The caller stops it with `server.stop(timeout)`. `http_metrics`
    (metrics.HttpMetrics) counts the answers by route path and status."""
    wsgi = _bounded(app, web_cfg.threads, ops_paths)
    wsgi = _buffered(wsgi, web_cfg.max_body, web_cfg.body_timeout)
    if http_metrics is not None:
        wsgi = _counted(wsgi, http_metrics, {r.rule for r in app.routes})
    access_log = _access_log()
    server = _Server((web_cfg.bind, web_cfg.port), wsgi, handler_class=_Handler,
                     spawn=Pool(web_cfg.max_connections), backlog=BACKLOG,
                     log=access_log, error_log=LoggingLogAdapter(log, logging.ERROR))
    server.idle_timeout = web_cfg.idle_timeout
    server.access_log = access_log is not None
    server.admitted = app.config.get('iso8583d.admitted')
    server.max_per_ip = web_cfg.max_connections_per_ip
    server.head_timeout = web_cfg.head_timeout
    server.max_headers = web_cfg.max_headers
    server.max_head_size = web_cfg.max_head_size
    server.start()
    log.info('Web server listen at %s:%d with %d workers',
             web_cfg.bind, server.server_port, web_cfg.threads)
    return server


def _bounded(app, workers, bypass=()):
    """The seed's `threads`: requests beyond `workers` wait for a free worker.
    Connections are not what is bounded (that is `max_connections`): an idle
    keep-alive connection must not hold a worker, or a thousand clients
    would be served twelve at a time, each until it hangs up."""
    gate = FairGate(workers)
    bypass = frozenset(bypass)

    def bounded_app(environ, start_response):
        if bypass and environ.get('PATH_INFO') in bypass:
            return app(environ, start_response)
        with gate.slot():
            return app(environ, start_response)
    return bounded_app


def _counted(app, http_metrics, paths):
    """Count each answer by path (one of `paths`, else 'other': a scanner's
    random paths must not grow the counters) and status code."""

    def counted_app(environ, start_response):
        path = environ.get('PATH_INFO', '')
        path = path if path in paths else 'other'

        def start(status, headers, exc_info=None):
            http_metrics.count(path, status[:3])
            return start_response(status, headers, exc_info)
        return app(environ, start)
    return counted_app


def _access_log():
    """The access log: request lines at DEBUG, else none."""
    if log.isEnabledFor(logging.DEBUG):
        return _AccessLines(log, logging.DEBUG)
    return None


@functools.lru_cache(maxsize=2)
def _second_text(second):
    """str(datetime.now().replace(microsecond=0)) for that second of the epoch."""
    return time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(second))


class _AccessLines:
    """pywsgi's access log (a file-like `write`, as gevent's LoggingLogAdapter,
    whose attributes all go to the logger) through appliance.loglines."""

    def __init__(self, logger, level):
        self.lines = loglines.Lines(logger, level)

    def write(self, msg):
        if msg and msg.endswith('\n'):
            msg = msg[:-1]
        self.lines.log(msg)

    def flush(self):
        """A file-like object's; the lines are flushed by logbatch."""
