"""The operations endpoints in one process: who may call them, what they
answer, the page's text, the database probe, systemd's status line."""
import http.client
import json
import time
from types import SimpleNamespace

import gevent
import gevent.event
import pytest

from appliance.ops import health, status
from appliance.http import server as web
from appliance.runtime.config import AdminConfig, WebConfig
from appliance.net.hosts import Host
from appliance.metrics import OUT
from appliance.ops.status import DatabaseProbe, Ops, render_page, summary_line
from test_link import host_config


def appliance(*names, allowed_ip=(), databases=None, routes=()):
    hosts = {n: Host(host_config(1, name=n)) for n in names}
    settings = SimpleNamespace(role='bank', admin=AdminConfig(allowed_ip=tuple(allowed_ip)),
                               routes=tuple(routes))
    return SimpleNamespace(settings=settings, hosts=hosts, databases=databases or {},
                           stopping=gevent.event.Event())


@pytest.fixture
def ops_server():
    """start(ops, routes=(), views=None, threads=4) -> port of a served app."""
    servers = []

    def start(ops, routes=(), views=None, threads=4):
        cfg = WebConfig(bind='127.0.0.1', port=0, threads=threads)
        app = web.make_app(cfg, routes, views or {}, {}, ops=ops)
        server = web.serve(cfg, app, ops.http, [p for p, _ in ops.views()])
        servers.append(server)
        return server.server_port

    yield start
    for server in servers:
        server.stop(timeout=1)


def get(port, path, method='GET', source='127.0.0.1'):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5, source_address=(source, 0))
    try:
        conn.request(method, path)
        reply = conn.getresponse()
        return reply.status, reply.getheader('Content-Type'), reply.read().decode()
    finally:
        conn.close()


def test_loopback_may_call_the_endpoints_and_other_addresses_get_403_in_json(ops_server):
    port = ops_server(Ops(appliance('kota_bogor')))
    for path in ('/status', '/status.json', '/metrics'):
        assert get(port, path)[0] == 200
        code, kind, body = get(port, path, source='127.0.0.9')
        assert (code, kind) == (403, 'application/json')
        assert json.loads(body)['error']['message'] == '127.0.0.9 not allowed'


def test_admin_allowed_ip_adds_addresses_to_loopback(ops_server):
    port = ops_server(Ops(appliance('kota_bogor', allowed_ip=['127.0.0.9'])))
    assert get(port, '/metrics', source='127.0.0.9')[0] == 200
    assert get(port, '/metrics', source='127.0.0.8')[0] == 403


def test_only_get_is_served_and_unknown_paths_are_counted_as_other(ops_server):
    ops = Ops(appliance('kota_bogor'))
    port = ops_server(ops)
    assert get(port, '/status', method='POST')[:2] == (405, 'application/json')
    assert get(port, '/wp-login.php')[:2] == (404, 'application/json')
    assert ops.http.requests == {('/status', '405'): 1, ('other', '404'): 1}


def test_the_status_page_answers_while_every_worker_is_busy(ops_server):
    release = gevent.event.Event()

    def slow(request):
        release.wait(10)
        return web.json_response({})
    views = {'test.slow': SimpleNamespace(make_view=lambda route, gw: web.View(
        'Slow', ('GET',), slow))}
    route = SimpleNamespace(name='slow', route_path='/slow', host='h', module='test.slow',
                            allowed_ip=(), timeout=1.0, options={})
    port = ops_server(Ops(appliance('kota_bogor')), [route], views, threads=1)
    busy = [gevent.spawn(get, port, '/slow') for _ in range(3)]
    gevent.sleep(0.2)
    try:
        started = time.monotonic()
        assert get(port, '/status.json')[0] == 200
        assert time.monotonic() - started < 1
    finally:
        release.set()
        gevent.joinall(busy, timeout=5)


def test_the_json_has_a_row_per_host_and_300_seconds_of_chart():
    snap = Ops(appliance('kota_bogor', 'kota_bekasi')).snapshot()
    assert [(r['name'], r['state'], r['side']) for r in snap['links']] == [
        ('kota_bogor', 'down', 'connect'), ('kota_bekasi', 'down', 'connect')]
    assert snap['links'][0]['since'] is None and snap['links'][0]['changed'] is None
    assert len(snap['chart']['requests']) == 300 and not any(snap['chart']['requests'])
    assert snap['chart']['latency_ms'] == [None] * 300
    json.dumps(snap)


def test_the_page_escapes_what_it_shows():
    snap = Ops(appliance('<b>x</b>')).snapshot()
    page = render_page(snap)
    assert '<b>x</b>' not in page and '&lt;b&gt;x&lt;/b&gt;' in page
    assert 'never connected' in page and 'No database is open' in page


def test_latency_percentiles_show_once_there_are_requests():
    app = appliance('kota_bogor')
    m = app.hosts['kota_bogor'].metrics
    for ms in range(1, 101):
        m.answered(OUT, '0200', ms / 1000, time.monotonic())
    row = Ops(app).snapshot()['links'][0]
    assert row['latency_ms'] == {'out': {'p50': 50.0, 'p90': 90.0, 'p99': 99.0,
                                         'samples': 100}}
    assert '50.0 ms / 90.0 ms / 99.0 ms' in render_page(Ops(app).snapshot())


@pytest.mark.parametrize('seconds, text', [
    (0, '0 s'), (59.9, '59 s'), (61, '1 min 1 s'), (3600 * 5 + 120, '5 h 2 min'),
    (86400 * 3 + 3600, '3 d 1 h')])
def test_ages_are_short_and_readable(seconds, text):
    assert status._ago(seconds) == text


@pytest.mark.parametrize('highest, ceiling', [(0, 1), (0.3, 0.5), (1, 1), (7, 10),
                                              (120, 200), (2400, 2500)])
def test_chart_scales_end_on_a_round_number(highest, ceiling):
    assert status._nice_ceiling(highest) == pytest.approx(ceiling)


class FakeDb:
    def __init__(self, fail=None, delay=0):
        self.fail, self.delay, self.queries = fail, delay, 0

    def connection_context(self):
        import contextlib
        return contextlib.nullcontext()

    def execute_sql(self, sql):
        assert sql == 'SELECT 1'
        self.queries += 1
        gevent.sleep(self.delay)
        if self.fail:
            raise self.fail
        return SimpleNamespace(fetchall=lambda: [(1,)])


def test_the_database_probe_is_cached_for_a_few_seconds():
    clock = [100.0]
    db = FakeDb()
    probe = DatabaseProbe('sqlite:///x.db', db, clock=lambda: clock[0])
    assert probe.state() is True and probe.state() is True and db.queries == 1
    clock[0] += status.DB_CACHE_SECONDS
    probe.state()
    assert db.queries == 2


def test_an_unreachable_database_is_down_with_the_drivers_message():
    probe = DatabaseProbe('postgresql://u:***@h/db', FakeDb(
        fail=Exception('could not connect to server:\n  Connection refused')))
    assert probe.state() is False
    assert probe.error == 'could not connect to server: Connection refused'


def test_a_database_that_does_not_answer_is_down_after_the_probe_timeout(monkeypatch):
    monkeypatch.setattr(status, 'DB_PROBE_TIMEOUT', 0.1)
    probe = DatabaseProbe('postgresql://h/db', FakeDb(delay=5))
    started = time.monotonic()
    assert probe.state() is False and probe.error == 'no answer within 0.1 s'
    assert time.monotonic() - started < 3          # not the database's 5 s


def test_the_systemd_status_line_names_the_links():
    hosts = [SimpleNamespace(name='kota_bogor', is_up=True),
             SimpleNamespace(name='kota_bekasi', is_up=False)]
    assert summary_line(hosts) == '1/2 links up (kota_bogor up, kota_bekasi down)'
    assert summary_line([]) == 'no ISO8583 links configured'


def test_a_long_systemd_status_line_names_only_the_links_down():
    hosts = [SimpleNamespace(name='pemda_%02d' % i, is_up=i % 10 != 0) for i in range(40)]
    assert summary_line(hosts) == '36/40 links up; down: pemda_00, pemda_10, pemda_20, ' \
                                  'pemda_30'
    many = [SimpleNamespace(name='pemda_%02d' % i, is_up=False) for i in range(40)]
    line = summary_line(many)
    assert len(line) <= 200 and line.startswith('0/40 links up; down: pemda_00, ')
    assert line.endswith(', ...')


def teller_route(host='kota_bogor'):
    return SimpleNamespace(name='teller', route_path='/rpc', host=host, hosts=(host,),
                           module='iso8583_web.scripts.views.jsonrpc', allowed_ip=(),
                           timeout=1.0, options={})


def test_status_json_is_503_naming_the_route_when_no_route_has_a_link_up(ops_server):
    port = ops_server(Ops(appliance('kota_bogor', routes=[teller_route()])))
    code, _, body = get(port, '/status.json')
    assert (code, json.loads(body)['serving']) == (503, False)
    assert json.loads(body)['not_serving'] == (
        'no web route has a link up: [web_teller] kota_bogor')
    assert get(port, '/status')[0] == 200               # the page for people stays 200


def test_status_json_is_503_while_the_process_is_stopping(ops_server):
    ops = Ops(appliance('kota_bogor'))
    port = ops_server(ops)
    assert get(port, '/status.json')[0] == 200          # no web route: nothing to balance
    ops.appliance.stopping.set()
    code, _, body = get(port, '/status.json')
    assert (code, json.loads(body)['not_serving']) == (503, 'stopping')


def test_one_route_with_a_link_up_is_enough_to_serve():
    up = SimpleNamespace(is_up=True)
    down = SimpleNamespace(is_up=False)
    routes = [teller_route('kota_bogor'), teller_route('kota_bekasi')]
    assert health.serving(routes, {'kota_bogor': down, 'kota_bekasi': up}) == (True, '')
    assert health.serving(routes, {'kota_bogor': down, 'kota_bekasi': down}) == (
        False, 'no web route has a link up: [web_teller] kota_bogor; [web_teller] kota_bekasi')
