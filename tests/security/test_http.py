"""The bank's teller face under hostile HTTP clients: slow heads and bodies,
oversized and malformed requests, deeply nested JSON, foreign addresses,
too many connections. Every refusal is JSON, and no traceback is logged."""
import json
import time

import gevent
import pytest

from attacks import (WEB_LIMITS, Attack, Chain, connect, json_error, read_answer,
                     teller_inquiry, teller_ok)

TRICKLE = 0.3       # s between two bytes of a slow client


@pytest.fixture(scope='module')
def chain(tmp_path_factory):
    c = Chain(tmp_path_factory.mktemp('security-http'))
    yield c
    c.stop()


def _trickle(sock, first, drip=b'a'):
    """Send `first`, then one byte every TRICKLE s until the socket fails."""
    try:
        sock.sendall(first)
        while True:
            gevent.sleep(TRICKLE)
            sock.sendall(drip)
    except OSError:
        pass


HEAD = b'POST /rpc HTTP/1.1\r\nHost: bank\r\nContent-Type: application/json\r\n'


def test_a_client_trickling_its_head_gets_408_within_head_timeout(chain):
    with Attack('slowloris: head, 1 byte / 0.3 s', chain.bank) as attack:
        sock = connect(chain.web)
        started = time.monotonic()
        trickler = gevent.spawn(_trickle, sock, HEAD + b'X-Slow: ')
        latency, answer = teller_inquiry(chain.web)
        status, headers, body = read_answer(sock)
        took = time.monotonic() - started
        trickler.kill()
        sock.close()
        attack.latency = latency
        attack.tried(json_error(status, headers, body, 408)
                     and took < WEB_LIMITS['head_timeout'] + 1.5 and teller_ok(answer))
    chain.bank.wait_for('bad request, answered 408: request head not received within 2 s')


def test_a_client_trickling_its_body_gets_408_within_body_timeout(chain):
    with Attack('slowloris: body, 1 byte / 0.3 s', chain.bank) as attack:
        sock = connect(chain.web)
        started = time.monotonic()
        trickler = gevent.spawn(_trickle, sock, HEAD + b'Content-Length: 1000\r\n\r\n[')
        latency, answer = teller_inquiry(chain.web)
        status, headers, body = read_answer(sock)
        took = time.monotonic() - started
        trickler.kill()
        sock.close()
        attack.latency = latency
        attack.tried(json_error(status, headers, body, 408)
                     and took < WEB_LIMITS['body_timeout'] + 1.5 and teller_ok(answer))
    chain.bank.wait_for('body not received within 3 s')


def test_200_trickling_clients_do_not_delay_a_normal_teller_request_beyond_1_s(chain):
    """100 slow heads and 100 slow bodies: more than the 12 workers."""
    with Attack('200 clients trickling heads and bodies', chain.bank) as attack:
        socks = [connect(chain.web) for _ in range(200)]
        firsts = [HEAD + b'X-Slow: '] * 100 + [HEAD + b'Content-Length: 1000\r\n\r\n['] * 100
        tricklers = [gevent.spawn(_trickle, s, f) for s, f in zip(socks, firsts)]
        # No log line says a body is being read: give the 200 a few drips to get there.
        gevent.sleep(4 * TRICKLE)
        latencies = []
        for _ in range(3):
            latency, answer = teller_inquiry(chain.web)
            latencies.append(latency)
            attack.tried(teller_ok(answer) and latency < 1.0)
        attack.latency = max(latencies)
        gevent.killall(tricklers)
        for s in socks:
            s.close()
    assert max(latencies) < 1.0, latencies


@pytest.mark.parametrize('name, request_bytes, status', [
    ('101 headers', HEAD + b''.join(b'X-%d: v\r\n' % n for n in range(101)) + b'\r\n', 431),
    ('a 70 kB header', HEAD + b'X-Big: ' + b'v' * 70000 + b'\r\n\r\n', 431),
    ('a 9 kB request line', b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\n\r\n', 414),
    ('a garbage request line', b'HELLO THERE\r\n\r\n', 400),
    ('Content-Length of 2 MB', HEAD + b'Content-Length: 2000000\r\n\r\n[', 413),
    ('a bad chunk', HEAD + b'Transfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n', 400),
    ('an unknown path', b'GET /nothing HTTP/1.1\r\nHost: bank\r\n\r\n', 404),
])
def test_an_oversized_or_malformed_request_gets_its_status_in_json(chain, name, request_bytes,
                                                                  status):
    with Attack('HTTP: ' + name, chain.bank) as attack:
        sock = connect(chain.web)
        try:
            sock.sendall(request_bytes)
        except OSError:         # refused before it was all sent: the answer is still there
            pass
        got = read_answer(sock)
        sock.close()
        attack.tried(json_error(*got, status))
    assert got[0] == status, got


def _rpc(port, body):
    sock = connect(port)
    sock.sendall(HEAD + b'Content-Length: %d\r\n\r\n' % len(body) + body)
    status, headers, answer = read_answer(sock)
    sock.close()
    return status, json.loads(answer)


@pytest.mark.parametrize('name, body, code', [
    ('[ x 200,000', b'[' * 200000, -32600),
    ('33 nested arrays', b'[' * 33 + b']' * 33, -32600),
    ('params nested 40 deep', b'{"jsonrpc": "2.0", "id": 1, "method": "inquiry", "params": '
     + b'[' * 40 + b']' * 40 + b'}', -32600),
    ('a batch of 101', b'[' + b','.join([b'{"jsonrpc": "2.0", "id": 1, "method": "x"}'] * 101)
     + b']', -32600),
    ('not JSON', b'{"jsonrpc": ', -32700),
])
def test_hostile_json_gets_a_jsonrpc_error_not_a_500(chain, name, body, code):
    with Attack('JSON: ' + name, chain.bank) as attack:
        status, answer = _rpc(chain.web, body)
        attack.tried(status == 200 and answer['error']['code'] == code)
    assert (status, answer['error']['code']) == (200, code), answer


def test_a_refused_address_that_sends_nothing_gets_403_at_once(chain):
    with Attack('foreign address, sends nothing', chain.bank) as attack:
        started = time.monotonic()
        sock = connect(chain.web, source='127.0.0.2')
        got = read_answer(sock)
        sock.close()
        attack.tried(json_error(*got, 403) and time.monotonic() - started < 1.0)
    chain.bank.wait_for('127.0.0.2 not allowed')


def test_a_connection_over_max_connections_per_ip_gets_429(chain):
    limit = WEB_LIMITS['max_connections_per_ip']
    with Attack('%d idle connections from one address' % (limit + 1), chain.bank) as attack:
        held = [connect(chain.web) for _ in range(limit)]
        sock = connect(chain.web)
        got = read_answer(sock)
        sock.close()
        for s in held:
            s.close()
        attack.tried(json_error(*got, 429))
    chain.bank.wait_for('127.0.0.1 has %d connections open' % limit)


def test_an_idle_keepalive_connection_is_not_cut_by_the_head_deadline(chain):
    """The head deadline starts at the request's first byte, not at connect."""
    sock = connect(chain.web)
    gevent.sleep(WEB_LIMITS['head_timeout'] + 0.5)
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "inquiry", "params": [{"invoice_id": ' \
           b'"3271010001007002701995"}]}'
    sock.sendall(HEAD + b'Content-Length: %d\r\n\r\n' % len(body) + body)
    sock.settimeout(10)
    assert sock.recv(12) == b'HTTP/1.1 200'
    sock.close()
