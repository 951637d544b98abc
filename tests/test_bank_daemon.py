"""The seed's walkthrough with our names: pemda from test-pemda.ini, bank from
test-bank.ini, and iso8583d-client as the teller, all real processes."""
import json
import subprocess
import sys
import time

import pytest

from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from fixtures.ports import fixed_ports

SEED_INVOICE = '3271010001007002701995'


class Chain:
    """A pemda and a bank on free ports, linked."""

    def __init__(self, tmp_path):
        self.iso, self.web = free_port(), free_port()
        self.url = 'http://127.0.0.1:%d/rpc' % self.web
        pemda_conf, bank_conf = tmp_path / 'pemda.d', tmp_path / 'bank.d'
        seed_config('test-pemda.ini', pemda_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso),
            ('postgresql://user:pass@localhost/db', 'sqlite:///demo.db')])
        seed_config('test-bank.ini', bank_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso), ('port = 7000', 'port = %d' % self.web)])
        self.pemda_args = ['--role', 'pemda', '--conf-dir', str(pemda_conf),
                           '--data-dir', str(tmp_path / 'pemda-data')]
        code, out = run_cli(self.pemda_args + ['--initdb', '--demo'])
        assert code == 0, out
        self.bank = Daemon(['--role', 'bank', '--conf-dir', str(bank_conf), '--data-dir',
                            str(tmp_path / 'bank-data')], name='bank')
        self.bank.wait_for('Web server listen at 0.0.0.0:%d with 12 workers' % self.web)
        self.start_pemda()

    def start_pemda(self):
        mark = len(self.bank.lines)
        self.pemda = Daemon(self.pemda_args, name='pemda')
        self.bank.wait_for(r'Encode MTI 0810 Data \{.*70: .001.\}', start=mark)   # signed on

    def stop(self):
        codes = (self.pemda.stop(), self.bank.stop())
        assert codes == (0, 0), self.bank.output()[-3000:] + self.pemda.output()[-3000:]


@pytest.fixture
def chain(tmp_path):
    c = Chain(tmp_path)
    yield c
    c.stop()


def client(*args, timeout=300):
    proc = subprocess.run([sys.executable, '-m', 'appliance.client'] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def client_json(*args, **kw):
    code, out, err = client('--json', *args, **kw)
    return code, json.loads(out), err


def only_response(report):
    (result,) = report['results']
    return result['response']['result']


def test_the_seed_walkthrough_inquiry_payment_reversal(chain):
    code, out, err = client('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE)
    assert code == 0, out + err
    assert "Request: {'id': 1, 'method': 'inquiry', 'params': [{'invoice_id': " \
           "'3271010001007002701995'}], 'jsonrpc': '2.0'}" in out
    assert 'detik stan' in out and 'Tidak ada yang gagal' in out

    code, report, err = client_json('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE)
    inquiry = only_response(report)
    assert (inquiry['code'], inquiry['message']) == (0, 'OK')
    assert set(inquiry['data']) >= {'3', '4', '7', '11', '12', '13', '18', '33', '39', '61',
                                    '62'}
    assert (inquiry['data']['39'], inquiry['data']['4']) == ('00', '000000019536')
    assert inquiry['data']['62'].startswith(SEED_INVOICE + 'UW** *****SNA')

    code, report, err = client_json('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE,
                                    '--payment', '--amount=19536')
    payment = only_response(report)['data']
    assert code == 0 and payment['39'] == '00', report
    assert payment['3'] == '541019' and len(payment['47']) == 12 and payment['48']

    code, out, err = client('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE,
                            '--reversal', '--amount=19536', '--ntb=' + payment['48'],
                            '--stan=' + payment['11'])
    assert code == 0, out + err
    assert "'39': '00'" in out and 'Tidak ada yang gagal' in out
    chain.bank.wait_for(r'Decode MTI 0410 Data \{3: .541019., 4: .000000019536.')


def test_count_12_reports_no_failures(chain):
    code, out, err = client('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE,
                            '--count=12')
    assert code == 0, out + err
    for word in ('Tercepat thread', 'Terlama thread', 'Rerata', 'Tidak ada yang gagal'):
        assert word in out


def test_a_thousand_clients_make_twenty_thousand_inquiries_without_failure(chain, tmp_path):
    code, out = run_cli(['invoices'] + chain.pemda_args[:-2] + chain.pemda_args[-2:]
                        + ['--limit', '500'])
    assert code == 0, out
    invoices = tmp_path / 'invoices.txt'
    invoices.write_text(out)
    code, report, err = client_json('--url=' + chain.url, '--invoice-file=' + str(invoices),
                                    '--count=1000', '--requests', '20000', timeout=600)
    reasons = {r.get('reason') for r in report['results'] if not r.get('ok')}
    assert (report['count'], report['ok'], report['failed']) == (20000, 20000, 0), reasons
    assert code == 0


def rpc(chain, body, source='127.0.0.1'):
    import http.client
    conn = http.client.HTTPConnection('127.0.0.1', chain.web, timeout=10,
                                      source_address=(source, 0))
    conn.request('POST', '/rpc', body=body, headers={'Content-Type': 'application/json'})
    reply = conn.getresponse()
    status, data = reply.status, reply.read()
    conn.close()
    return status, json.loads(data)


@pytest.mark.parametrize('body, code', [
    (b'{"jsonrpc": "2.0", "id": 1, "method": "inquiry", "params": [{"invoice_id": ',
     -32700),
    (b'{"jsonrpc": "1.0", "id": 1, "method": "inquiry", "params": []}', -32600),
    (b'[]', -32600),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "pay", "params": [{}]}', -32601),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "inquiry", "params": [{}]}', -32602),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "payment", "params": [{"invoice_id": '
     b'"3271010001007002701995", "amount": "lots", "ntb": "1", "stan": "1"}]}', -32602),
])
def test_malformed_requests_get_json_rpc_errors_and_the_bank_keeps_serving(chain, body,
                                                                           code):
    status, answer = rpc(chain, body)
    assert (status, answer['error']['code']) == (200, code), answer
    ok, answer = rpc(chain, json.dumps({'jsonrpc': '2.0', 'id': 2, 'method': 'inquiry',
                                        'params': [{'invoice_id': SEED_INVOICE}]}).encode())
    assert answer['result']['data']['39'] == '00'


def test_an_address_outside_allowed_ip_gets_403_and_a_log_line(chain):
    status, answer = rpc(chain, b'{}', source='127.0.0.2')
    assert status == 403 and 'error' in answer
    chain.bank.wait_for('127.0.0.2 not allowed')
    rpc(chain, b'{}')
    chain.bank.wait_for('127.0.0.1 allowed')


def test_with_the_pemda_down_the_teller_is_told_at_once(chain):
    assert chain.pemda.stop() == 0
    chain.bank.wait_for('Peer closed the connection|closed')
    body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'inquiry',
                       'params': [{'invoice_id': SEED_INVOICE}]}).encode()
    started = time.monotonic()
    status, answer = rpc(chain, body)
    assert time.monotonic() - started < 2      # at once: not the route's timeout (60 s)
    assert answer['result']['code'] == 91
    assert answer['result']['message'] == 'link kota_bogor is down'
    chain.start_pemda()


def test_make_demo_runs_the_walkthrough_and_stops_everything():
    with fixed_ports('presets'):          # the demo listens on the presets' ports
        code, out = run_cli(['demo'], timeout=120)
    assert code == 0, out
    for step in ('inquiry', 'payment', 'reversal'):
        assert '%s: bit 39 = 00 -> OK' % step in out
    assert 'stopped: bank exit 0, pemda exit 0' in out
    assert out.rstrip().endswith('demo passed: every step answered 00')
