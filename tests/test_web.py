"""The HTTP face over real sockets: guards, JSON errors, pool, TCP_NODELAY."""
import http.client
import json
import logging
import re
import socket
import time
from types import SimpleNamespace

import bottle
import gevent
import pytest

from appliance.http import server as web
from appliance.runtime.config import WebConfig
from fixtures.waiting import until

INQUIRY = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'inquiry',
                      'params': [{'invoice_id': '3271010001007002701995'}]})


def view_of(handle, methods=('POST',)):
    """A views mapping whose module 'test.view' serves `handle`."""
    module = SimpleNamespace(make_view=lambda route, gateways: web.View(
        'Test', methods, handle))
    return {'test.view': module}


def test_start_up_logs_the_route_and_the_listen_address_as_the_seed(teller_web,
                                                                    caplog):
    with caplog.at_level(logging.INFO, logger='iso8583d.web'):
        port = teller_web(threads=12).port
    assert caplog.messages[-2:] == [
        'Web server JSON-RPC route path /rpc',
        'Web server listen at 127.0.0.1:%d with 12 workers' % port]


def test_an_address_not_in_allowed_ip_gets_403_in_json(teller_web, http):
    web_ = teller_web(allowed_ip=('10.9.9.9',))
    reply = http(web_.port, 'POST', '/rpc', INQUIRY)
    assert reply.status == 403
    assert reply.headers['Content-Type'] == 'application/json'
    assert reply.json == {'error': {'status': 403, 'message': '127.0.0.1 not allowed'}}


def test_a_refused_address_is_logged_and_never_reaches_the_link(teller_web, http,
                                                                caplog):
    web_ = teller_web(allowed_ip=('10.9.9.9',))
    http(web_.port, 'POST', '/rpc', INQUIRY)
    assert ('iso8583d.web', logging.WARNING, '127.0.0.1 not allowed') in \
        caplog.record_tuples
    assert web_.gateway.sent == []


def test_x_forwarded_for_cannot_claim_an_allowed_address(teller_web, http):
    web_ = teller_web(allowed_ip=('10.9.9.9',))
    reply = http(web_.port, 'POST', '/rpc', INQUIRY, {'X-Forwarded-For': '10.9.9.9'})
    assert reply.status == 403


def test_an_allowed_address_is_logged_as_the_seed_does(teller_web, http, caplog):
    web_ = teller_web(allowed_ip=('10.8.20.1', '127.0.0.1'))
    with caplog.at_level(logging.INFO, logger='iso8583d.web'):
        reply = http(web_.port, 'POST', '/rpc', INQUIRY)
    assert reply.json['result']['code'] == 0
    assert ('iso8583d.web', logging.INFO, '127.0.0.1 allowed') in caplog.record_tuples


def test_an_allowed_network_admits_its_addresses(teller_web, http):
    reply = http(teller_web(allowed_ip=('127.0.0.0/8',)).port, 'POST', '/rpc', INQUIRY)
    assert reply.status == 200


def test_an_empty_allowed_ip_admits_anyone_without_a_log_line(teller_web, http,
                                                              caplog):
    web_ = teller_web(allowed_ip=())
    with caplog.at_level(logging.INFO, logger='iso8583d.web'):
        caplog.clear()
        reply = http(web_.port, 'POST', '/rpc', INQUIRY)
    assert reply.status == 200
    assert not [m for m in caplog.messages if 'allowed' in m]


def test_a_bad_allowed_ip_entry_is_refused_naming_the_route(make_route):
    cfg = WebConfig(bind='127.0.0.1', port=0, threads=1, max_body=1024)
    with pytest.raises(ValueError, match=r"\[web_teller\] allowed_ip: 'bogor' does not "
                                         r"appear to be an IPv4 or IPv6 network"):
        web.make_app(cfg, [make_route(module='test.view', allowed_ip=('bogor',))],
                     view_of(lambda request: ''))


def test_a_route_naming_an_unknown_web_module_is_refused(make_route):
    cfg = WebConfig(bind='127.0.0.1', port=0, threads=1, max_body=1024)
    with pytest.raises(ValueError, match=r'\[web_teller\] no web module nope'):
        web.make_app(cfg, [make_route(module='nope')], view_of(lambda request: ''))


@pytest.mark.skipif(not socket.has_dualstack_ipv6(), reason='no dual-stack IPv6')
def test_an_ipv4_client_of_a_dual_stack_bind_is_matched_as_ipv4(serve_web, make_route,
                                                                http):
    route = make_route(module='test.view', allowed_ip=('127.0.0.1',))
    server = serve_web([route], view_of(lambda request: web.json_response({})),
                       bind='::')
    assert http(server.server_port, 'POST', '/rpc', '{}').status == 200


def test_a_declared_body_over_max_body_gets_413_without_being_read(teller_web):
    web_ = teller_web(max_body=1000)
    conn = http.client.HTTPConnection('127.0.0.1', web_.port, timeout=5)
    conn.putrequest('POST', '/rpc')
    conn.putheader('Content-Length', str(10 ** 9))
    conn.endheaders()
    reply = conn.getresponse()
    assert reply.status == 413
    assert reply.getheader('Connection') == 'close'
    assert json.loads(reply.read()) == {
        'error': {'status': 413, 'message': 'body larger than 1000 bytes'}}
    conn.close()
    assert web_.gateway.sent == []


def test_a_chunked_body_over_max_body_gets_413(teller_web):
    web_ = teller_web(max_body=1000)
    conn = http.client.HTTPConnection('127.0.0.1', web_.port, timeout=5)
    conn.request('POST', '/rpc', iter([b'x' * 600] * 3), encode_chunked=True)
    reply = conn.getresponse()
    assert (reply.status, json.loads(reply.read())['error']['status']) == (413, 413)
    conn.close()


def test_a_chunked_body_within_max_body_reaches_the_view(teller_web):
    web_ = teller_web(max_body=1000)
    conn = http.client.HTTPConnection('127.0.0.1', web_.port, timeout=5)
    conn.request('POST', '/rpc', iter([INQUIRY[:40].encode(), INQUIRY[40:].encode()]),
                 encode_chunked=True)
    assert json.loads(conn.getresponse().read())['result']['code'] == 0
    conn.close()


def test_a_body_of_exactly_max_body_is_accepted(teller_web, http):
    body = INQUIRY + ' ' * 100
    reply = http(teller_web(max_body=len(body)).port, 'POST', '/rpc', body)
    assert reply.status == 200


def test_an_unknown_path_gets_404_in_json(teller_web, http):
    reply = http(teller_web().port, 'POST', '/nope', INQUIRY)
    assert reply.status == 404
    assert reply.headers['Content-Type'] == 'application/json'
    assert reply.json == {'error': {'status': 404, 'message': "Not found: '/nope'"}}


def test_a_get_on_the_rpc_route_gets_405_in_json_with_allow(teller_web, http):
    reply = http(teller_web().port, 'GET', '/rpc')
    assert reply.status == 405
    assert reply.headers['Allow'] == 'POST'
    assert reply.json['error']['status'] == 405


def test_a_failing_view_gets_500_in_json_without_traceback(serve_web, make_route,
                                                           http):
    def handle(request):
        raise KeyError('secret detail')

    server = serve_web([make_route(module='test.view')], view_of(handle))
    reply = http(server.server_port, 'POST', '/rpc', '{}')
    assert reply.status == 500
    assert reply.json == {'error': {'status': 500, 'message': 'internal error'}}


def test_a_failing_view_is_logged_with_its_traceback(serve_web, make_route, http,
                                                     caplog):
    def handle(request):
        raise KeyError('secret detail')

    server = serve_web([make_route(module='test.view')], view_of(handle))
    http(server.server_port, 'POST', '/rpc', '{}')
    assert 'POST /rpc failed' in caplog.messages
    assert "KeyError: 'secret detail'" in caplog.text


def test_a_views_own_http_response_is_passed_through(serve_web, make_route, http):
    def handle(request):
        raise bottle.HTTPResponse('{"teapot": true}', 418,
                                  Content_Type='application/json')

    server = serve_web([make_route(module='test.view')], view_of(handle))
    reply = http(server.server_port, 'POST', '/rpc', '{}')
    assert (reply.status, reply.json) == (418, {'teapot': True})


def test_at_most_threads_requests_are_handled_at_once(teller_web, rpc):
    web_ = teller_web(threads=2, delay=0.3)
    jobs = [gevent.spawn(rpc, web_.port, 'inquiry', {'invoice_id': '32710100010070027'})
            for _ in range(5)]
    gevent.joinall(jobs, raise_error=True)
    assert [job.value['result']['code'] for job in jobs] == [0] * 5
    assert web_.gateway.max_in_flight == 2


def test_accepted_sockets_have_tcp_nodelay_set(teller_web, http):
    web_ = teller_web()
    seen = []

    class Probe(web_.server.handler_class):
        def handle(self):
            seen.append(self.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            super().handle()

    web_.server.handler_class = Probe
    http(web_.port, 'POST', '/rpc', INQUIRY)
    assert seen and seen[0] != 0


def test_sequential_keep_alive_requests_do_not_wait_for_delayed_acks(teller_web):
    # Without TCP_NODELAY each request here takes ~44 ms: 100 take over 4 s.
    conn = http.client.HTTPConnection('127.0.0.1', teller_web().port, timeout=5)
    started = time.monotonic()
    for _ in range(100):
        conn.request('POST', '/rpc', INQUIRY)
        conn.getresponse().read()
    assert time.monotonic() - started < 1.5
    conn.close()


def test_the_server_keeps_serving_after_garbage_that_is_not_http(teller_web, rpc):
    port = teller_web().port
    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.sendall(b'\x00\xffGARBAGE \x16\x03\x01\r\n\r\n')
        sock.recv(4096)
    assert rpc(port, 'inquiry', {'invoice_id': '3271'})['result']['code'] == 0


def test_the_server_keeps_serving_after_a_connection_dropped_mid_body(teller_web, rpc):
    port = teller_web().port
    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.sendall(b'POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"js')
    assert rpc(port, 'inquiry', {'invoice_id': '3271'})['result']['code'] == 0


def test_the_access_log_goes_to_logging_not_stderr(teller_web, http, caplog, capfd):
    with caplog.at_level(logging.DEBUG, logger='iso8583d.web'):
        http(teller_web().port, 'POST', '/rpc', INQUIRY)
    assert capfd.readouterr().err == ''
    assert any('"POST /rpc HTTP/1.1" 200' in m for m in caplog.messages)


def test_the_access_line_is_pywsgi_s_own_text(teller_web, http, caplog, monkeypatch):
    from gevent.pywsgi import WSGIHandler
    from appliance.http.server import _Handler
    pairs = []
    ours = _Handler.format_request

    def both(handler):
        text = ours(handler)
        pairs.append((text, WSGIHandler.format_request(handler)))
        return text
    monkeypatch.setattr(_Handler, 'format_request', both)
    with caplog.at_level(logging.DEBUG, logger='iso8583d.web'):
        port = teller_web().port
        for request in (('POST', '/rpc', INQUIRY), ('GET', '/nowhere', None)):
            http(port, *request)
    assert len(pairs) == 2
    stamp = re.compile(r'\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]')
    for text, theirs in pairs:
        # The same text; the timestamps at most a second apart (the clock
        # may turn between the two calls).
        assert stamp.sub('[]', text) == stamp.sub('[]', theirs), (text, theirs)
        ours_at, theirs_at = (time.mktime(time.strptime(stamp.search(line).group(1),
                                                        '%Y-%m-%d %H:%M:%S'))
                              for line in (text, theirs))
        assert 0 <= theirs_at - ours_at <= 1, (text, theirs)
    assert '"GET /nowhere HTTP/1.1" 404 ' in pairs[1][0]


def test_no_access_line_is_formatted_when_the_access_log_is_off(teller_web, http, caplog,
                                                                 monkeypatch):
    from appliance.http.server import _Handler
    formatted = []
    real = _Handler.format_request
    monkeypatch.setattr(_Handler, 'format_request',
                        lambda handler: formatted.append(1) or real(handler))
    with caplog.at_level(logging.INFO, logger='iso8583d.web'):
        answer = http(teller_web().port, 'POST', '/rpc', INQUIRY)
    assert answer.status == 200 and formatted == []


def test_an_answer_leaves_in_one_send_and_one_larger_than_the_socket_buffer_whole(
        monkeypatch):
    from gevent import socket as gsocket
    sendalls, port = [], []
    real = gsocket.socket.sendall

    def sendall(sock, data, *args):
        if sock.getsockname()[1] in port:                  # the server's side only
            sendalls.append(len(data))
        return real(sock, data, *args)
    monkeypatch.setattr(gsocket.socket, 'sendall', sendall)
    big = bytes(range(256)) * (16 * 1024)                 # 4 MiB: beyond any socket buffer
    app = bottle.Bottle()
    app.route('/small', 'GET', lambda: {'pong': True})
    app.route('/big', 'GET', lambda: big)
    server = web.serve(WebConfig(bind='127.0.0.1', port=0, threads=2), app)
    port.append(server.server_port)
    conn = http.client.HTTPConnection('127.0.0.1', server.server_port, timeout=10)
    try:
        conn.request('GET', '/small')
        assert json.loads(conn.getresponse().read()) == {'pong': True}
        assert sendalls == []                              # one send did it
        conn.request('GET', '/big')
        answer = conn.getresponse()
        assert answer.status == 200 and answer.read() == big
        assert sendalls and sendalls[0] < len(big)         # the rest, after a partial send
    finally:
        conn.close()
        server.stop(timeout=1)


def test_an_idle_connection_is_closed_after_idle_timeout_and_others_are_served(http):
    cfg = WebConfig(bind='127.0.0.1', port=0, threads=2, idle_timeout=0.3)
    app = bottle.Bottle()
    app.route('/ping', 'GET', lambda: {'pong': True})
    server = web.serve(cfg, app)
    try:
        idle = socket.create_connection(('127.0.0.1', server.server_port), timeout=5)
        idle.sendall(b'GET /ping HTTP/1.1\r\n')        # a request that never finishes
        started = time.monotonic()
        answer = b''
        while True:                                      # until the server hangs up
            chunk = idle.recv(1024)
            if not chunk:
                break
            answer += chunk
        assert 0.2 < time.monotonic() - started < 3
        assert answer == b'' or answer.startswith(b'HTTP/1.1 400')
        assert http(server.server_port, 'GET', '/ping').status == 200
    finally:
        idle.close()
        server.stop(timeout=1)


def test_a_stop_ends_idle_keep_alive_connections_at_once_and_answers_the_requests_in_flight(
        teller_web, rpc):
    web_ = teller_web(delay=0.5)
    idle = http.client.HTTPConnection('127.0.0.1', web_.port, timeout=10)
    idle.request('POST', '/rpc', INQUIRY)
    idle.getresponse().read()                      # kept alive, then idle
    busy = gevent.spawn(rpc, web_.port, 'inquiry', {'invoice_id': '32710100010070027'})
    until(lambda: web_.gateway.in_flight == 1, 'the second request in flight')
    started = time.monotonic()
    web_.server.stop(timeout=10)
    took = time.monotonic() - started
    assert busy.get(timeout=1)['result']['code'] == 0
    assert idle.sock.recv(1) == b''                # the server closed it
    # Waiting on the idle connection, the stop took its whole timeout (10 s).
    assert took < 5, 'the stop took %.1f s' % took
