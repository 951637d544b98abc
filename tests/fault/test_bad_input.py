"""Bad input at a real bank daemon: random and oversized JSON-RPC bodies, slow
clients, a flood of idle connections, and a pemda that sends half a frame and
stalls. The daemon keeps serving everyone else. (Unknown peer addresses on an
ISO listen port: tests/test_daemons_link.py.)"""
import http.client
import json
import resource
import socket
import time

import gevent
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.daemon import Daemon, free_port

BANK_INI = """
[host_kota_bogor]
ip = 127.0.0.1
port = {iso}
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test
timeout = 4
request_timeout = 1

[web]
port = {web}
threads = 12
max_body = 65536

[web_teller]
route_path = /rpc
host = kota_bogor
module = iso8583_web.scripts.views.jsonrpc
# The idle clients come from 127.0.0.10-19 (a route names its callers, or
# admits loopback only).
allowed_ip = 127.0.0.0/8
"""

INQUIRY = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'inquiry',
                      'params': [{'invoice_id': '3271010001007002701995'}]})
JSONRPC_CODES = {-32700, -32600, -32601, -32602, -32603}


class Bank:
    def __init__(self, tmp_path):
        self.iso, self.web = free_port(), free_port()
        conf = tmp_path / 'bank.d'
        conf.mkdir()
        (conf / 'bank.ini').write_text(BANK_INI.format(iso=self.iso, web=self.web))
        self.daemon = Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                              str(tmp_path / 'data')], name='bank')
        self.daemon.wait_for('Web server listen at .*:%d' % self.web)

    def post(self, body, timeout=10, headers=None):
        conn = http.client.HTTPConnection('127.0.0.1', self.web, timeout=timeout)
        try:
            conn.request('POST', '/rpc', body, headers or
                         {'Content-Type': 'application/json'})
            reply = conn.getresponse()
            return reply.status, json.loads(reply.read())
        finally:
            conn.close()

    def inquiry_answered(self, within=2.0):
        """An inquiry gets its JSON-RPC result (91: no pemda) within `within` s."""
        started = time.monotonic()
        status, answer = self.post(INQUIRY, timeout=within + 1)
        assert status == 200 and answer['result']['code'] in (0, 68, 91), answer
        assert time.monotonic() - started < within
        return answer['result']


@pytest.fixture(scope='module')
def bank(tmp_path_factory):
    b = Bank(tmp_path_factory.mktemp('bad-input'))
    yield b
    assert b.daemon.stop() == 0, b.daemon.output()[-3000:]


bodies = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda t: t.encode('utf-8', 'surrogatepass')),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                 | st.text(max_size=30),
                 lambda kids: st.lists(kids, max_size=4)
                 | st.dictionaries(st.sampled_from(['jsonrpc', 'id', 'method', 'params',
                                                    'invoice_id', 'amount', 'ntb', 'stan',
                                                    'x']), kids, max_size=5),
                 max_leaves=20).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({
        'jsonrpc': st.sampled_from(['2.0', '1.0', 2]),
        'id': st.one_of(st.integers(), st.text(max_size=5), st.none()),
        'method': st.sampled_from(['inquiry', 'payment', 'reversal', 'x', '']),
        'params': st.one_of(st.lists(st.dictionaries(
            st.sampled_from(['invoice_id', 'amount', 'ntb', 'stan']),
            st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=False),
                      st.none()), max_size=4), max_size=2), st.dictionaries(
            st.text(max_size=5), st.integers(), max_size=2))}).map(
        lambda v: json.dumps(v).encode()),
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(body=bodies)
def test_any_body_gets_a_json_answer_and_never_a_crash(bank, body):
    status, answer = bank.post(body)
    assert status == 200, (status, answer)
    for item in answer if isinstance(answer, list) else [answer]:   # a batch: a list
        if 'error' in item:
            assert item['error']['code'] in JSONRPC_CODES, item
            assert item['error']['code'] != -32603, item           # never a bug
        else:
            assert set(item['result']) >= {'code', 'message', 'data'}, item


def test_an_oversized_body_is_413_in_json_and_the_bank_keeps_serving(bank):
    status, answer = bank.post(b'[' + b'1,' * 100000 + b'1]')
    assert status == 413 and answer['error']['status'] == 413
    bank.inquiry_answered()


def test_a_declared_oversized_body_is_refused_before_it_is_sent(bank):
    sock = socket.create_connection(('127.0.0.1', bank.web), timeout=5)
    try:
        sock.sendall(b'POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n')
        reply = sock.recv(65536)
    finally:
        sock.close()
    assert reply.startswith(b'HTTP/1.1 413')


def test_slow_clients_sending_a_byte_a_second_do_not_block_others(bank):
    request = ('POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
               'Content-Length: %d\r\n\r\n%s' % (len(INQUIRY), INQUIRY)).encode()
    slow = [socket.create_connection(('127.0.0.1', bank.web), timeout=10)
            for _ in range(20)]

    def dribble(sock):
        for i in range(6):          # bounded: 6 bytes, one a second
            sock.sendall(request[i:i + 1])
            gevent.sleep(1)

    dribblers = [gevent.spawn(dribble, s) for s in slow]
    try:
        gevent.sleep(1.5)
        for _ in range(5):
            bank.inquiry_answered(within=1.0)
    finally:
        gevent.killall(dribblers)
        for s in slow:
            s.close()


def test_two_thousand_idle_connections_do_not_stop_the_bank_serving(bank):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2600:
        pytest.skip('open-files limit %d is below the 2,600 this test needs' % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2600), hard))
    idle = []
    try:
        # From ten addresses: one address may hold max_connections_per_ip (1024).
        for n in range(2000):
            source = ('127.0.0.%d' % (10 + n % 10), 0)
            idle.append(socket.create_connection(('127.0.0.1', bank.web), timeout=10,
                                                 source_address=source))
        gevent.sleep(0.5)
        for _ in range(5):
            bank.inquiry_answered(within=2.0)
    finally:
        for s in idle:
            s.close()
    bank.inquiry_answered()


def test_a_pemda_sending_half_a_frame_then_stalling_is_cut_and_others_are_served(bank):
    mark = len(bank.daemon.lines)
    pemda = socket.create_connection(('127.0.0.1', bank.iso), timeout=10)
    try:
        bank.daemon.wait_for('127.0.0.1 kota_bogor connected', start=mark)
        pemda.sendall(b'0056080082200000')         # 16 of 60 bytes, then nothing
        result = bank.inquiry_answered(within=3.0)  # sent on the stalled link
        assert result['code'] == 68, result
        bank.daemon.wait_for('no data for 4 s', start=mark, timeout=10)
        assert bank.inquiry_answered()['code'] == 91   # link closed: told at once
    finally:
        pemda.close()
