"""The HTTP face: a Bottle app of the configured routes on gevent.pywsgi.

Each route (`[web_<name>]`) is served by the View its module makes:
`views[route.module].make_view(route, gateways) -> View`, where `gateways`
maps host names to their links. This module guards every route the same way
before the view runs: the client's address against `allowed_ip`, the body
against `max_body`. Every answer is JSON, errors too (the status page, an
operations endpoint that `ops` adds, is the one HTML answer).
"""
import functools
import io
import ipaddress
import json
import logging
import socket
from typing import Callable, NamedTuple, Tuple

import bottle
from gevent.pool import Pool
from gevent.pywsgi import LoggingLogAdapter, WSGIServer

from appliance.http.gate import FairGate
from appliance.http import headers

log = logging.getLogger('iso8583d.web')

JSON = 'application/json'
BACKLOG = 2048       # pending connections the kernel keeps during a burst


class View(NamedTuple):
    """What a web module serves on its route."""
    title: str                      # for the start-up log line, e.g. 'JSON-RPC'
    methods: Tuple[str, ...]        # HTTP methods, e.g. ('POST',)
    handle: Callable                # f(bottle.request) -> bottle.HTTPResponse


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
    for route in routes:
        if route.module not in views:
            raise ValueError('[web_%s] no web module %s' % (route.name, route.module))
        extra = {} if open_database is None else {'open_database': open_database}
        view = views[route.module].make_view(route, gateways or {}, **extra)
        callback = _guarded(view, _networks(route), web_cfg.max_body)
        app.route(route.route_path, list(view.methods), callback, name=route.name)
        log.info('Web server %s route path %s', view.title, route.route_path)
    if ops is not None:
        for path, handle in ops.views():
            app.route(path, ['GET'], _ops_guarded(handle, ops.networks))
        log.info('Web server status page %s', ', '.join(path for path, _ in ops.views()))
    return app


def _error_page(error):
    """Bottle's own errors (404, 405, ...) as JSON instead of its HTML page."""
    bottle.response.content_type = JSON
    return json.dumps({'error': {'status': error.status_code, 'message': error.body}})


def _networks(route):
    try:
        return tuple(ipaddress.ip_network(entry, strict=False)
                     for entry in route.allowed_ip)
    except ValueError as e:
        raise ValueError('[web_%s] allowed_ip: %s' % (route.name, e)) from None


def _guarded(view, networks, max_body):
    """The route callback: address check, body limit, then the view."""

    def callback():
        request = bottle.request
        address = _client_address(request.environ)
        if networks:
            if not any(address in network for network in networks):
                log.warning('%s not allowed', address)
                return error_response(403, '%s not allowed' % address)
            log.info('%s allowed', address)
        if not _buffer_body(request.environ, max_body):
            return error_response(413, 'body larger than %d bytes' % max_body,
                                  Connection='close')
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


def _client_address(environ):
    """The peer's address; never X-Forwarded-For, which any client can forge."""
    return _address(environ['REMOTE_ADDR'])


@functools.lru_cache(maxsize=4096)      # a bank has few peers; parsing each request cost ~1 %
def _address(text):
    address = ipaddress.ip_address(text)
    mapped = getattr(address, 'ipv4_mapped', None)     # ::ffff:a.b.c.d on a '::' bind
    return mapped or address


def _buffer_body(environ, max_body):
    """Read the body (plain or chunked) into memory, at most `max_body` bytes;
    False when it is larger. Views then read it through Bottle as usual."""
    declared = environ.get('CONTENT_LENGTH') or '0'
    if declared.isdigit() and int(declared) > max_body:
        return False                # refused before a byte of it is read
    body = environ['wsgi.input'].read(max_body + 1)
    if len(body) > max_body:
        return False
    environ['wsgi.input'] = io.BytesIO(body)
    environ['CONTENT_LENGTH'] = str(len(body))
    environ.pop('HTTP_TRANSFER_ENCODING', None)     # already de-chunked
    return True


class _Handler(headers.Handler):
    """pywsgi's handler with headers.Handler's header parser, made cheaper
    per request in two ways: no access line formatted when nothing writes
    it (pywsgi formats one whatever its log: 3 % of the bank's CPU per
    inquiry), and an answer sent by one `send` when it fits the socket's
    buffer (gevent's sendall first asks the kernel for that buffer's size:
    a system call per answer)."""

    def log_request(self):
        if self.server.access_log:
            super().log_request()

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
    hold its connection (one of `max_connections`) forever."""

    idle_timeout = None
    access_log = False

    def handle(self, sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.idle_timeout)
        super().handle(sock, address)


def serve(web_cfg, app, http_metrics=None, ops_paths=()):
    """Start serving `app`; at most `threads` requests are inside it at once,
    `ops_paths` aside (the status page answers while the workers are busy).
    The caller stops it with `server.stop(timeout)`. `http_metrics`
    (metrics.HttpMetrics) counts the answers by route path and status."""
    wsgi = _bounded(app, web_cfg.threads, ops_paths)
    if http_metrics is not None:
        wsgi = _counted(wsgi, http_metrics, {r.rule for r in app.routes})
    access_log = _access_log()
    server = _Server((web_cfg.bind, web_cfg.port), wsgi, handler_class=_Handler,
                     spawn=Pool(web_cfg.max_connections), backlog=BACKLOG,
                     log=access_log, error_log=LoggingLogAdapter(log, logging.ERROR))
    server.idle_timeout = web_cfg.idle_timeout
    server.access_log = access_log is not None
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
        return LoggingLogAdapter(log, logging.DEBUG)
    return None
