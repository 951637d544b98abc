"""Operations endpoints of real daemons: /status, /status.json and /metrics of
a bank and a pemda linked over real sockets, loaded by iso8583d-client, read
over HTTP (and by headless Chromium in test_status_page_browser.py)."""
import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from fixtures.waiting import until

SEED_INVOICE = '3271010001007002701995'
LINK_TIMEOUT = 4        # s of silence before a link is closed; the pemda echoes every 2 s


class OpsChain:
    """A pemda and a bank from the seed's files on free ports, with a short
    link timeout and the pemda's status server on a port the kernel picks
    (`port = 0`; read back from its log line)."""

    def __init__(self, tmp_path, timeout=LINK_TIMEOUT):
        self.timeout = timeout
        self.iso, self.web, self.admin = free_port(), free_port(), None
        self.url = 'http://127.0.0.1:%d/rpc' % self.web
        pemda_conf, bank_conf = tmp_path / 'pemda.d', tmp_path / 'bank.d'
        seed_config('test-pemda.ini', pemda_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso),
            ('timeout = 60', 'timeout = %d' % timeout),
            ('postgresql://user:pass@localhost/db', 'sqlite:///demo.db')])
        (pemda_conf / '50-admin.ini').write_text('[admin]\nport = 0\n')
        seed_config('test-bank.ini', bank_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso), ('port = 7000', 'port = %d' % self.web)])
        (bank_conf / '50-timeout.ini').write_text('[host_kota_bogor]\ntimeout = %d\n' % timeout)
        self.pemda_args = ['--role', 'pemda', '--conf-dir', str(pemda_conf),
                           '--data-dir', str(tmp_path / 'pemda-data')]
        code, out = run_cli(self.pemda_args + ['--initdb', '--demo'])
        assert code == 0, out
        self.bank = Daemon(['--role', 'bank', '--conf-dir', str(bank_conf), '--data-dir',
                            str(tmp_path / 'bank-data')], name='bank')
        self.bank.wait_for('Web server listen at 0.0.0.0:%d with 12 workers' % self.web)
        self.pemda = None
        self.start_pemda()

    def start_pemda(self):
        mark = len(self.bank.lines)
        self.pemda = Daemon(self.pemda_args, name='pemda')
        self.bank.wait_for(r'Encode MTI 0810 Data \{.*70: .001.\}', start=mark)   # signed on
        line = self.pemda.wait_for(r'Web server listen at 127\.0\.0\.1:\d+ with 4 workers')
        self.admin = int(line.split(':')[-1].split()[0])

    def stop(self):
        self.pemda.proc.send_signal(signal.SIGCONT)      # in case a test froze it
        codes = (self.pemda.stop(), self.bank.stop())
        assert codes == (0, 0), self.bank.output()[-3000:] + self.pemda.output()[-3000:]


@pytest.fixture
def chain(tmp_path):
    c = OpsChain(tmp_path)
    yield c
    c.stop()


def get(port, path, source='127.0.0.1'):
    """(status, headers, body text) of GET http://127.0.0.1:port/path."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request('GET', path)
        reply = conn.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read().decode('utf-8')
    finally:
        conn.close()


def status(port):
    """The /status.json of a daemon: 200 while it can serve, else 503."""
    code, headers, body = get(port, '/status.json')
    snap = json.loads(body)
    assert code == (200 if snap['serving'] else 503), body
    return snap


def link(snapshot, name):
    (found,) = [row for row in snapshot['links'] if row['name'] == name]
    return found


def client(chain, *args):
    proc = subprocess.run([sys.executable, '-m', 'appliance.client', '--url=' + chain.url,
                           '--invoice-id=' + SEED_INVOICE] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout
    assert 'Tidak ada yang gagal' in proc.stdout      # "nothing failed"
    return proc.stdout


def metrics(port):
    """{family name: [(labels, value)]} of /metrics, parsed by the Prometheus
    client library's parser (it rejects malformed text)."""
    code, headers, body = get(port, '/metrics')
    assert code == 200, body
    assert headers['Content-Type'] == 'text/plain; version=0.0.4; charset=utf-8'
    families = {}
    for family in text_string_to_metric_families(body):
        assert family.name not in families, 'family %s appears twice' % family.name
        families[family.name] = family
    return families


def value(families, family, sample=None, **labels):
    """The value of the one sample of `family` (or its sample named `sample`)
    whose labels include `labels`; 0 when none has them."""
    name = sample or family
    found = [s.value for s in families[family].samples
             if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (family, labels, found)
    return found[0] if found else 0


def total(families, family, **labels):
    return sum(s.value for s in families[family].samples
               if all(s.labels.get(k) == v for k, v in labels.items()))


# -- /status ------------------------------------------------------------------

def test_the_bank_status_shows_the_pemda_link_up_with_a_recent_echo(chain):
    snap = status(chain.web)
    row = link(snap, 'kota_bogor')
    assert (row['state'], row['side'], row['peer']) == ('up', 'listen', '127.0.0.1')
    assert row['echo'] == 'received'            # the pemda connects, so it echoes
    assert snap['now'] - row['last_echo'] < LINK_TIMEOUT
    assert snap['now'] - row['since'] < 30
    # The bank's pemda link has a store-and-forward reversal queue, empty,
    # and no reversal owed.
    assert row['reversal_queue'] == {'configured': True, 'depth': 0, 'retries': 0, 'owed': 0}

    code, headers, page = get(chain.web, '/status')
    assert code == 200 and headers['Content-Type'] == 'text/html; charset=utf-8'
    assert '<tr data-link="kota_bogor" data-state="up">' in page
    assert '<span class="badge up">up</span>' in page
    assert '(not configured)' not in page


def test_the_pemda_status_shows_its_echo_round_trip_and_its_database(chain):
    snap = status(chain.admin)
    row = link(snap, 'bjb')
    assert (row['state'], row['side'], row['echo'], row['signed_on']) == (
        'up', 'connect', 'sent', True)
    assert 0 < row['echo_rtt_ms'] < 1000
    (database,) = snap['databases']
    assert database['up'] is True and database['name'].endswith('demo.db')


def test_stopping_the_pemda_turns_its_row_down_within_the_link_timeout(chain):
    assert chain.pemda.stop() == 0
    started = time.monotonic()
    until(lambda: link(status(chain.web), 'kota_bogor')['state'] == 'down',
          'the link shown down', LINK_TIMEOUT)
    assert time.monotonic() - started < LINK_TIMEOUT
    code, _, page = get(chain.web, '/status')
    assert '<tr data-link="kota_bogor" data-state="down">' in page
    assert 'down since' in page
    chain.start_pemda()
    assert link(status(chain.web), 'kota_bogor')['state'] == 'up'


def test_the_banks_status_json_is_503_while_its_teller_route_has_no_link_up(chain):
    """What a load balancer's health check reads (docs/two-nodes.md)."""
    assert get(chain.web, '/status.json')[0] == 200
    assert chain.pemda.stop() == 0
    code, _, body = until(lambda: (lambda r: r[0] == 503 and r)(get(chain.web, '/status.json')),
                          'the status answered 503', LINK_TIMEOUT + 2)
    assert json.loads(body)['not_serving'] == (
        'no web route has a link up: [web_teller] kota_bogor')
    assert get(chain.web, '/status')[0] == 200          # the page for people stays 200
    chain.start_pemda()
    assert get(chain.web, '/status.json')[0] == 200


def test_a_frozen_pemda_turns_its_row_down_within_the_link_timeout(chain):
    """SIGSTOP keeps the TCP connection open: only the bank's silence watchdog
    can tell, after `timeout` s without a byte."""
    chain.pemda.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        until(lambda: link(status(chain.web), 'kota_bogor')['state'] == 'down',
              'the link shown down', LINK_TIMEOUT + 2)
        took = time.monotonic() - started
    finally:
        chain.pemda.proc.send_signal(signal.SIGCONT)
    assert took <= LINK_TIMEOUT + 1.5     # the watchdog looks every timeout/10 s
    chain.bank.wait_for('Close: no data for %d s' % LINK_TIMEOUT)


def test_the_throughput_chart_moves_under_load(chain):
    assert not any(status(chain.web)['chart']['requests'])
    client(chain, '--count=100')
    # The chart holds whole seconds: the current one shows once it is over.
    def chart_of_100():
        chart = status(chain.web)['chart']
        return chart if sum(chart['requests']) == 100 else None
    chart = until(chart_of_100, 'a chart of 100 requests', 3)
    assert len(chart['requests']) == 300 and chart['step'] == 1
    busy = [i for i, n in enumerate(chart['requests']) if n]
    assert busy and all(chart['latency_ms'][i] > 0 for i in busy)
    assert all(chart['latency_ms'][i] is None for i in range(300) if i not in busy)
    code, _, page = get(chain.web, '/status')
    assert 'data-series="throughput" data-points="300" data-nonzero="%d"' % len(busy) in page


# -- /metrics -----------------------------------------------------------------

def test_metrics_parse_and_count_every_inquiry_sent(chain):
    before = metrics(chain.web)
    echoes_before = value(before, 'iso8583d_messages', 'iso8583d_messages_total',
                          host='kota_bogor', direction='in', mti='0800')
    n = 37
    client(chain, '--count=10', '--requests=%d' % n)
    bank = metrics(chain.web)
    out = dict(host='kota_bogor', direction='out')
    assert total(bank, 'iso8583d_messages', mti='0200', **out) == n
    assert value(bank, 'iso8583d_messages', 'iso8583d_messages_total', mti='0210', code='00',
                 host='kota_bogor', direction='in') == n
    # Echoes are counted apart from the inquiries: 0800 in, 0810 out.
    echoes = value(bank, 'iso8583d_messages', 'iso8583d_messages_total', host='kota_bogor',
                   direction='in', mti='0800')
    assert echoes >= echoes_before >= 1
    assert value(bank, 'iso8583d_messages', 'iso8583d_messages_total', host='kota_bogor',
                 direction='out', mti='0810', code='00') == echoes
    latency = dict(host='kota_bogor', direction='out', mti='0200')
    assert value(bank, 'iso8583d_request_duration_seconds',
                 'iso8583d_request_duration_seconds_count', **latency) == n
    assert value(bank, 'iso8583d_request_duration_seconds',
                 'iso8583d_request_duration_seconds_bucket', le='+Inf', **latency) == n
    assert value(bank, 'iso8583d_link_up', host='kota_bogor') == 1
    assert value(bank, 'iso8583d_in_flight', host='kota_bogor', direction='out') == 0
    assert value(bank, 'iso8583d_saf_depth', host='kota_bogor') == 0
    assert value(bank, 'iso8583d_saf_retries', 'iso8583d_saf_retries_total',
                 host='kota_bogor') == 0
    assert value(bank, 'iso8583d_http_requests', 'iso8583d_http_requests_total',
                 path='/rpc', code='200') == n
    assert bank['iso8583d_messages'].type == 'counter'
    assert bank['iso8583d_request_duration_seconds'].type == 'histogram'
    assert bank['iso8583d_link_up'].type == 'gauge'

    pemda = metrics(chain.admin)
    assert value(pemda, 'iso8583d_messages', 'iso8583d_messages_total', host='bjb',
                 direction='in', mti='0200', code='') == n
    assert value(pemda, 'iso8583d_messages', 'iso8583d_messages_total', host='bjb',
                 direction='out', mti='0210', code='00') == n
    assert value(pemda, 'iso8583d_request_duration_seconds',
                 'iso8583d_request_duration_seconds_count', host='bjb', direction='in',
                 mti='0200') == n
    assert value(pemda, 'iso8583d_database_up') == 1
    assert value(pemda, 'iso8583d_build_info', role='pemda') == 1


def test_a_stopped_pemda_shows_as_link_down_in_the_banks_metrics(chain):
    assert chain.pemda.stop() == 0
    until(lambda: value(metrics(chain.web), 'iso8583d_link_up', host='kota_bogor') == 0,
          'iso8583d_link_up 0', LINK_TIMEOUT)
    chain.start_pemda()
    bank = metrics(chain.web)
    assert value(bank, 'iso8583d_link_up', host='kota_bogor') == 1
    assert value(bank, 'iso8583d_link_connects', 'iso8583d_link_connects_total',
                 host='kota_bogor') == 2


# -- who may look ---------------------------------------------------------------

@pytest.mark.parametrize('path', ['/status', '/status.json', '/metrics'])
def test_the_pemdas_status_server_answers_loopback_and_refuses_other_addresses(chain, path):
    code, headers, body = get(chain.admin, path, source='127.0.0.2')
    assert code == 403 and headers['Content-Type'] == 'application/json'
    assert json.loads(body) == {'error': {'status': 403, 'message': '127.0.0.2 not allowed'}}
    chain.pemda.wait_for('127.0.0.2 not allowed$')     # refused at accept, unread
    code, _, _ = get(chain.admin, path)
    assert code == 200


def test_an_address_in_admin_allowed_ip_may_read_the_status(tmp_path):
    port, iso = free_port(), free_port()
    conf = tmp_path / 'conf'
    conf.mkdir()
    (conf / 'bank.ini').write_text(
        '[host_pemda]\nport = %d\nlisten = true\nmodule = bank.pemda\n'
        '[admin]\nport = %d\nallowed_ip = 127.0.0.2\n' % (iso, port))
    bank = Daemon(['--conf-dir', str(conf), '--data-dir', str(tmp_path / 'data')],
                  name='bank')
    try:
        bank.wait_for('Web server listen at 127.0.0.1:%d' % port)
        assert get(port, '/status.json', source='127.0.0.2')[0] == 200
        assert get(port, '/status.json', source='127.0.0.3')[0] == 403
    finally:
        assert bank.stop() == 0


def bank_without_web(tmp_path, admin=''):
    conf = tmp_path / 'conf'
    conf.mkdir()
    (conf / 'bank.ini').write_text('[host_pemda]\nport = %d\nlisten = true\n'
                                   'module = bank.pemda\n%s' % (free_port(), admin))
    return ['--conf-dir', str(conf), '--data-dir', str(tmp_path / 'data')]


def test_a_taken_configured_admin_port_is_fatal(tmp_path):
    with socket.socket() as holder:
        holder.bind(('127.0.0.1', 0))
        holder.listen()
        taken = holder.getsockname()[1]
        code, out = run_cli(bank_without_web(tmp_path, '[admin]\nport = %d\n' % taken))
    assert code == 1
    assert 'cannot listen on 127.0.0.1:%d for the status page: Address already in use' \
        % taken in out


def test_a_taken_default_admin_port_costs_only_the_status_page(tmp_path):
    """A second role on one machine finds 7002 taken: it runs, and says so."""
    holder = socket.socket()
    try:
        holder.bind(('127.0.0.1', 7002))
        holder.listen()
    except OSError:
        pass                # taken already: just as good
    try:
        daemon = Daemon(bank_without_web(tmp_path), name='bank')
        daemon.wait_for('cannot listen on 127.0.0.1:7002 for the status page: Address '
                        'already in use; /status and /metrics are not served')
        daemon.wait_for('ISO8583 server listen at')
        assert daemon.stop() == 0
    finally:
        holder.close()


def _closed_port():
    return free_port()                     # reserved for this run, and nothing binds it


@pytest.mark.parametrize('role, text, what', [
    ('bank', '[host_pemda]\nport = %(port)d\nlisten = true\nmodule = bank.pemda\n'
             'db_url = %(db)s\n', '[host_pemda] cannot open the journal database'),
    ('pemda', '[host_bjb]\nport = %(port)d\nmodule = pemda\n[module_pemda]\n'
              'db_url = %(db)s\npersen_denda = 2\nnip_pencatat = 9\nkd_kanwil = 01\n'
              'kd_kantor = 01\nkd_tp =\n    bit0:default:20\n',
     '[host_bjb] cannot open the biller database'),
])
def test_a_database_server_that_is_down_at_start_is_exit_1_with_one_line(
        tmp_path, role, text, what):
    # systemd restarts it (Restart=on-failure) until the server is up.
    db = 'postgresql://127.0.0.1:%d/sismiop' % _closed_port()
    (tmp_path / 'conf').mkdir()
    (tmp_path / 'conf' / 'x.ini').write_text(text % {'port': free_port(), 'db': db})
    code, out = run_cli(['--role', role, '--conf-dir', str(tmp_path / 'conf'),
                         '--data-dir', str(tmp_path / 'data')])
    assert code == 1, out
    assert '%s %s: ' % (what, db) in out and 'Connection refused' in out, out
    assert 'Traceback' not in out, out
