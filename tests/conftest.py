# -- web face: a fake host gateway and a served teller app --------------------
# (tests/test_web.py, test_jsonrpc.py, test_teller.py)

import http.client as _http_client
import json as _json
from types import SimpleNamespace as _Namespace

import gevent as _gevent
import pytest as _pytest

from appliance import link as _link
from appliance.config import WebConfig as _WebConfig
from appliance import teller as _teller
from appliance import web as _web

TELLER_MODULE = 'iso8583_web.scripts.views.jsonrpc'


class FakeGateway:
    """A host link whose behaviour `mode` switches: 'answer' (bit 39 '00'
    after `delay` s), 'down', 'timeout' (waits the timeout, then raises),
    'busy', 'crash' (a bug: RuntimeError)."""

    def __init__(self, mode='answer', delay=0.0, timeout=30.0):
        self.mode, self.delay, self.timeout = mode, delay, timeout
        self.sent = []              # (message, timeout) per send()
        self.in_flight = self.max_in_flight = 0
        self._stan = 0

    def next_stan(self):
        self._stan += 1
        return '%06d' % self._stan

    def send(self, msg, timeout):
        self.sent.append((msg, timeout))
        if self.mode == 'down':
            raise _link.LinkDown('link fake is down')
        if self.mode == 'busy':
            raise _link.Busy('1000 requests in flight on fake')
        if self.mode == 'crash':
            raise RuntimeError('gateway bug')
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.mode == 'timeout':
                _gevent.sleep(timeout)
                raise _link.RequestTimeout('no answer from fake within %g s' % timeout)
            _gevent.sleep(self.delay)
            answer = msg.reply(copy=sorted(msg.bits))
            answer[39] = '00'
            return answer
        finally:
            self.in_flight -= 1


def web_route(name='teller', path='/rpc', host='kota_bogor', module=TELLER_MODULE,
              allowed_ip=(), timeout=30.0, options=None):
    return _Namespace(name=name, route_path=path, host=host, module=module,
                      allowed_ip=tuple(allowed_ip), timeout=timeout,
                      options=dict(options or {}))


@_pytest.fixture
def serve_web():
    """start(routes, views, gateways=None, threads=4, max_body=1 MiB,
    bind='127.0.0.1') -> a started server on a free port, stopped after the test."""
    servers = []

    def start(routes, views, gateways=None, threads=4, max_body=1 << 20,
              bind='127.0.0.1'):
        cfg = _WebConfig(bind=bind, port=0, threads=threads, max_body=max_body)
        server = _web.serve(cfg, _web.make_app(cfg, routes, views, gateways))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=1)


@_pytest.fixture
def teller_web(serve_web):
    """start(threads=4, max_body=..., mode=..., delay=..., **route keys) -> a
    namespace (port, gateway, server) serving the teller on /rpc."""

    def start(threads=4, max_body=1 << 20, mode='answer', delay=0.0, **route_keys):
        gateway = FakeGateway(mode, delay)
        route = web_route(**route_keys)
        server = serve_web([route], {TELLER_MODULE: _teller}, {route.host: gateway},
                           threads, max_body)
        return _Namespace(port=server.server_port, gateway=gateway, server=server)

    return start


def http_request(port, method, path, body=None, headers=None):
    """One request on a new connection -> namespace(status, headers, body, json)."""
    conn = _http_client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        conn.request(method, path, body, headers or {})
        reply = conn.getresponse()
        raw = reply.read()
        return _Namespace(status=reply.status, headers=reply.headers, body=raw,
                          json=_json.loads(raw) if raw else None)
    finally:
        conn.close()


def rpc_call(port, method, params, request_id=1):
    """A JSON-RPC request in the seed's form -> the decoded answer."""
    body = _json.dumps({'jsonrpc': '2.0', 'id': request_id, 'method': method,
                        'params': [params]})
    return http_request(port, 'POST', '/rpc', body,
                        {'Content-Type': 'application/json'}).json


@_pytest.fixture
def http():
    return http_request


@_pytest.fixture
def rpc():
    return rpc_call


@_pytest.fixture
def fake_gateway_class():
    return FakeGateway


@_pytest.fixture
def make_route():
    return web_route


# -- iso8583d-client: fake JSON-RPC teller and LinkAja faces -----------------
# (tests/test_client.py, test_client_linkaja.py)

import json as _json  # noqa: F811  (this section stands alone)
import socket as _socket
from urllib.parse import parse_qs as _parse_qs

import gevent as _gevent  # noqa: F811
import pytest as _pytest  # noqa: F811

from gevent.pywsgi import WSGIHandler as _WSGIHandler
from gevent.pywsgi import WSGIServer as _WSGIServer


class _ClientFaceHandler(_WSGIHandler):
    """TCP_NODELAY as the real daemon sets it, and the socket in the environ
    so that a fake can drop the connection without answering."""

    def __init__(self, sock, address, server, rfile=None):
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server, rfile)

    def get_environ(self):
        environ = super().get_environ()
        environ['fake.socket'] = self.socket
        return environ


class FakeFace:
    """An HTTP face whose behaviour per invoice id is switched by `behaviour`
    (default) and `by_invoice`: 'ok', 'fail' (answers with code 55), 'slow'
    (answers after `delay` s), 'http500' (an HTML error page), 'drop' (closes
    the connection without answering)."""

    content_type = 'text/plain'

    def __init__(self):
        self.behaviour = 'ok'
        self.by_invoice = {}
        self.delay = 1.0
        self.requests = []       # decoded requests in arrival order
        self.content_types = []  # Content-Type header of each request
        self.client_ports = set()  # one per client connection
        self.url = None

    def app(self, environ, start_response):
        request = self.decode(environ['wsgi.input'].read())
        self.requests.append(request)
        self.content_types.append(environ.get('CONTENT_TYPE'))
        self.client_ports.add(environ['REMOTE_PORT'])
        behaviour = self.by_invoice.get(self.invoice_of(request), self.behaviour)
        if behaviour == 'drop':
            environ['fake.socket'].shutdown(_socket.SHUT_RDWR)
            start_response('200 OK', [])
            return []
        if behaviour == 'http500':
            start_response('500 Internal Server Error', [('Content-Type', 'text/html')])
            return [b'<html><body>Internal Server Error</body></html>']
        if behaviour == 'slow':
            _gevent.sleep(self.delay)
        body = self.answer(request, failed=behaviour == 'fail').encode()
        start_response('200 OK', [('Content-Type', self.content_type),
                                  ('Content-Length', str(len(body)))])
        return [body]


class FakeTellerFace(FakeFace):
    """The JSON-RPC teller face of spec §6, answering like the seed's bank."""

    content_type = 'application/json'
    amount_due = 19536
    profile = ('3271010001007002701995UW** *****SNA JL LINCAR I TEGAL GUNDIL '
               'BOGOR UTARA JAWA BARAT 00000000012300000000007219951130'
               '000000019536000000009378000000028914000000009378')

    def __init__(self):
        super().__init__()
        self.stan = 235068

    def decode(self, body):
        return _json.loads(body)

    def invoice_of(self, request):
        return request['params'][0]['invoice_id']

    def answer(self, request, failed):
        self.stan += 1
        params = request['params'][0]
        method = request['method']
        data = {'3': '341019' if method == 'inquiry' else '541019',
                '4': '%012d' % params.get('amount', self.amount_due),
                '11': params['stan'] if method == 'reversal' else '%06d' % self.stan,
                '39': '55' if failed else '00'}
        if method == 'payment':
            data['47'] = '010192430486'
        if method != 'inquiry':
            data['48'] = params['ntb']
        data['61'] = params['invoice_id']
        if method != 'reversal':
            data['62'] = self.profile
        return _json.dumps({'jsonrpc': '2.0', 'id': request['id'],
                            'result': {'code': 0, 'message': 'OK', 'data': data}})


class FakeLinkAjaFace(FakeFace):
    """The LinkAja face of spec §6: a form POST in, one `RC:...` line out."""

    answers = {'021': '00:UW** *****SNA:19536:16:', '022': '00:010123882462:16:',
               '023': '00::16:'}
    failures = {'021': '55::::', '022': '55:::', '023': '55:::'}

    def decode(self, body):
        return {k: v[0] for k, v in _parse_qs(body.decode(), keep_blank_values=True).items()}

    def invoice_of(self, request):
        return request.get('acc_no')

    def answer(self, request, failed):
        return (self.failures if failed else self.answers)[request['trx_type']]


def _serve_face(face, path):
    server = _WSGIServer(('127.0.0.1', 0), face.app, log=None, error_log=None,
                         handler_class=_ClientFaceHandler)
    server.start()
    face.url = 'http://127.0.0.1:%d%s' % (server.server_port, path)
    return server


@_pytest.fixture
def fake_teller_face():
    face = FakeTellerFace()
    server = _serve_face(face, '/rpc')
    yield face
    server.stop(timeout=1)


@_pytest.fixture
def fake_linkaja_face():
    face = FakeLinkAjaFace()
    server = _serve_face(face, '/linkaja')
    yield face
    server.stop(timeout=1)


# -- databases: SQLite files and isolated PostgreSQL schemas -----------------
# (tests/test_biller.py; any test that needs a real database)

import os as _os
import uuid as _uuid
from urllib.parse import parse_qsl as _parse_qsl
from urllib.parse import urlencode as _urlencode
from urllib.parse import urlsplit as _urlsplit

import psycopg2 as _psycopg2

from appliance import db as _db

PG_URL_ENV = 'ISO8583D_TEST_PG_URL'
DEFAULT_PG_URL = 'postgresql://127.0.0.1/test'


def _pg_admin(url, statement):
    conn = _psycopg2.connect(url, connect_timeout=5)
    try:
        conn.autocommit = True
        conn.cursor().execute(statement)
    finally:
        conn.close()


def _with_search_path(url, schema):
    """`url` whose connections see `schema` first (libpq `options`)."""
    parts = _urlsplit(url)
    query = _parse_qsl(parts.query) + [('options', '-csearch_path=%s' % schema)]
    return parts._replace(query=_urlencode(query)).geturl()


@_pytest.fixture(scope='session')
def pg_url():
    """The test PostgreSQL server ($ISO8583D_TEST_PG_URL). Unreachable: the
    test fails when CI=true, else it is skipped."""
    url = _os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)
    try:
        _pg_admin(url, 'SELECT 1')
    except _psycopg2.OperationalError as e:
        reason = 'PostgreSQL %s unreachable: %s' % (_db.mask_url(url), str(e).strip())
        if _os.environ.get('CI', '').lower() == 'true':
            _pytest.fail(reason)
        _pytest.skip(reason)
    # As the daemon does after monkey-patching: queries yield to other greenlets.
    _db.patch_psycopg()
    return url


@_pytest.fixture
def pg_schema_url(pg_url):
    """A URL of a fresh empty schema on the test server, dropped afterwards,
    so runs and tests never see each other's tables."""
    schema = 'test_%s' % _uuid.uuid4().hex[:16]
    _pg_admin(pg_url, 'CREATE SCHEMA %s' % schema)
    yield _with_search_path(pg_url, schema)
    _pg_admin(pg_url, 'DROP SCHEMA %s CASCADE' % schema)


@_pytest.fixture(params=['sqlite', _pytest.param('postgresql', marks=_pytest.mark.pg)])
def db_url(request, tmp_path):
    """The URL of an empty database; tests using it run once per kind."""
    if request.param == 'sqlite':
        return 'sqlite:///%s' % (tmp_path / 'test.db')
    return request.getfixturevalue('pg_schema_url')
