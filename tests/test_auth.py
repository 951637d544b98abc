"""Who may call the money faces: API keys on the teller route, loopback only
unless a route is opened, allowed_ip with CIDR and IPv6 (real daemons, real
sockets)."""
import hashlib
import http.client
import json
import os
import subprocess
import sys

import pytest

from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from fixtures.ports import fixed_ports

SEED_INVOICE = '3271010001007002701995'
KEY_OLD, KEY_NEW = 'old-teller-key-4f1c9a', 'new-teller-key-77b0e2'


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def bank_conf(iso, web, route_extra=''):
    return ('[host_kota_bogor]\nip = 127.0.0.1\nport = %d\nlisten = true\n'
            'streamer = bjb_with_suffix\nmodule = opensipkd.iso8583.bjb.pbb.test\n\n'
            '[web]\nport = %d\n\n'
            '[web_teller]\nroute_path = /rpc\nhost = kota_bogor\n'
            'module = iso8583_web.scripts.views.jsonrpc\n%s' % (iso, web, route_extra))


class Chain:
    """A pemda and a bank linked; the bank's [web_teller] gets `route_extra`."""

    def __init__(self, tmp_path, route_extra, bind='0.0.0.0'):
        self.iso, self.web = free_port(), free_port()
        pemda_conf, self.conf = tmp_path / 'pemda.d', tmp_path / 'bank.d'
        seed_config('test-pemda.ini', pemda_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso),
            ('postgresql://user:pass@localhost/db', 'sqlite:///demo.db')])
        self.conf.mkdir()
        (self.conf / '20-bank.ini').write_text(
            bank_conf(self.iso, self.web, route_extra).replace(
                '[web]\n', '[web]\nbind = %s\n' % bind))
        self.pemda_args = pemda_args = ['--role', 'pemda', '--conf-dir', str(pemda_conf),
                                        '--data-dir', str(tmp_path / 'pemda-data')]
        code, out = run_cli(pemda_args + ['--initdb', '--demo'])
        assert code == 0, out
        self.bank = Daemon(['--role', 'bank', '--conf-dir', str(self.conf), '--data-dir',
                            str(tmp_path / 'bank-data')], name='bank')
        self.bank.wait_for('Web server listen at')
        self.pemda = Daemon(pemda_args, name='pemda')
        self.bank.wait_for(r'Encode MTI 0810 Data \{.*70: .001.\}')

    def stop(self):
        codes = (self.pemda.stop(), self.bank.stop())
        assert codes == (0, 0), self.bank.output()[-3000:]


@pytest.fixture(scope='module')
def keyed(tmp_path_factory):
    c = Chain(tmp_path_factory.mktemp('keyed'),
              'api_keys =\n    old:%s\n    new:%s\n' % (sha256(KEY_OLD), sha256(KEY_NEW)))
    yield c
    c.stop()


def rpc(port, headers=(), source='127.0.0.1', method='inquiry', params=None, host='127.0.0.1'):
    body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': method,
                       'params': [params or {'invoice_id': SEED_INVOICE}]})
    conn = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    try:
        conn.request('POST', '/rpc', body, dict({'Content-Type': 'application/json'},
                                                **dict(headers)))
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def client(*args, env=None):
    proc = subprocess.run([sys.executable, '-m', 'appliance.client'] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120, env=dict(os.environ, **(env or {})))
    return proc.returncode, proc.stdout


# -- API keys --------------------------------------------------------------------

def test_a_teller_application_pays_by_adding_the_key_header(keyed):
    code, out = run_cli(['invoices'] + keyed.pemda_args
                        + ['--prefix', '3271', '--limit', '2'])
    assert code == 0, out
    invoice = [i for i in out.split() if i != SEED_INVOICE][0]
    key = [('X-Api-Key', KEY_NEW)]
    status, answer = rpc(keyed.web, key, params={'invoice_id': invoice})
    amount = int(answer['result']['data']['4'])
    status, answer = rpc(keyed.web, key, method='payment', params={
        'invoice_id': invoice, 'amount': amount, 'ntb': 'AUTH0001', 'stan': '000001'})
    assert status == 200 and answer['result']['data']['39'] == '00', answer


def test_the_older_of_two_keys_still_works_while_keys_rotate(keyed):
    status, answer = rpc(keyed.web, [('X-Api-Key', KEY_OLD)])
    assert status == 200 and answer['result']['data']['39'] == '00', answer


def test_a_request_without_a_key_gets_a_jsonrpc_401_and_a_warning(keyed):
    mark = len(keyed.bank.lines)
    status, answer = rpc(keyed.web)
    assert status == 401
    assert answer['error'] == {'code': -32001, 'message': 'unauthorized: no X-Api-Key header'}
    keyed.bank.wait_for(r'WARNING .*127\.0\.0\.1 \[web_teller\] /rpc refused: no X-Api-Key '
                        r'header', start=mark)


def test_a_wrong_key_gets_401_and_a_log_line_without_the_key_or_its_hash(keyed):
    wrong = 'guessed-key-%s' % KEY_NEW
    mark = len(keyed.bank.lines)
    status, answer = rpc(keyed.web, [('X-Api-Key', wrong)])
    assert (status, answer['error']['code']) == (401, -32001), answer
    keyed.bank.wait_for(r'127\.0\.0\.1 \[web_teller\] /rpc refused: wrong API key', start=mark)
    logged = '\n'.join(keyed.bank.lines)
    for secret in (wrong, KEY_NEW, KEY_OLD, sha256(wrong), sha256(KEY_NEW), sha256(KEY_OLD)):
        assert secret not in logged


def test_a_key_in_another_header_is_no_key(keyed):
    status, answer = rpc(keyed.web, [('Authorization', 'Bearer ' + KEY_NEW)])
    assert (status, answer['error']['code']) == (401, -32001), answer


def test_a_route_with_keys_and_no_allowed_ip_admits_any_address(keyed):
    status, answer = rpc(keyed.web, [('X-Api-Key', KEY_NEW)], source='127.0.0.2')
    assert status == 200 and answer['result']['data']['39'] == '00', answer


def test_the_client_sends_the_key_from_the_environment(keyed):
    url = 'http://127.0.0.1:%d/rpc' % keyed.web
    code, out = client('--url', url, '--invoice-id', SEED_INVOICE,
                       env={'ISO8583D_API_KEY': KEY_OLD})
    assert code == 0, out
    code, out = client('--url', url, '--invoice-id', SEED_INVOICE, '--api-key', 'nope')
    assert code != 0 and 'JSON-RPC error -32001: unauthorized: wrong API key' in out, out


# -- who may call a route without keys --------------------------------------------

def test_with_the_shipped_configuration_only_loopback_may_pay(tmp_path):
    """The bank's preset (what the shipped conf.d, all comments, runs)."""
    with fixed_ports('presets'):
        bank = Daemon(['--role', 'bank', '--conf-dir', 'conf.d', '--data-dir',
                       str(tmp_path / 'bank')], name='bank',
                      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        try:
            bank.wait_for('Web server listen at 0.0.0.0:7000')
            status, answer = rpc(7000, source='127.0.0.2', method='payment',
                                 params={'invoice_id': SEED_INVOICE, 'amount': 1,
                                         'ntb': 'X', 'stan': '000001'})
            assert status == 403, answer
            bank.wait_for('127.0.0.2 not allowed')
            status, answer = rpc(7000)
            assert status == 200 and answer['result']['code'] == 91, answer   # no pemda
        finally:
            assert bank.stop() == 0


def test_an_empty_allowed_ip_opens_the_route_with_a_warning(tmp_path):
    iso, web = free_port(), free_port()
    conf = tmp_path / 'bank.d'
    conf.mkdir()
    (conf / '20-bank.ini').write_text(bank_conf(iso, web, 'allowed_ip =\n'))
    args = ['--role', 'bank', '--conf-dir', str(conf), '--data-dir', str(tmp_path / 'data')]
    code, out = run_cli(args + ['--check-config'])
    assert code == 0, out
    assert ('warning: %s: [web_teller] allowed_ip is empty: /rpc is open to every address'
            % (conf / '20-bank.ini')) in out
    bank = Daemon(args, name='bank')
    try:
        bank.wait_for(r'WARNING .*\[web_teller\] /rpc is open to every address')
        status, answer = rpc(web, source='127.0.0.2')
        assert status == 200 and answer['result']['code'] == 91, answer
    finally:
        assert bank.stop() == 0


def test_allowed_ip_takes_a_cidr_network(tmp_path):
    chain = Chain(tmp_path, 'allowed_ip =\n    10.8.20.0/24\n    127.0.0.0/30\n')
    try:
        assert rpc(chain.web, source='127.0.0.2')[0] == 200
        assert rpc(chain.web, source='127.0.0.5')[0] == 403
        chain.bank.wait_for('127.0.0.5 not allowed')
    finally:
        chain.stop()


def test_an_ipv4_mapped_peer_on_an_ipv6_bind_matches_as_ipv4(tmp_path):
    chain = Chain(tmp_path, 'allowed_ip = 127.0.0.2 fd00::/8\n', bind='::')
    try:
        status, answer = rpc(chain.web, source='127.0.0.2')
        assert status == 200 and answer['result']['data']['39'] == '00', answer
        assert rpc(chain.web, source='::1', host='::1')[0] == 403
        chain.bank.wait_for('::1 not allowed')
    finally:
        chain.stop()


# -- what the status page shows ------------------------------------------------------

def test_the_status_page_and_metrics_show_no_database_user_or_password(tmp_path,
                                                                       pg_schema_url):
    url = pg_schema_url.replace('postgresql://', 'postgresql://root:pw-s3cret-77@', 1)
    port, iso = free_port(), free_port()
    conf = tmp_path / 'conf'
    conf.mkdir()
    (conf / 'bank.ini').write_text(
        '[host_pemda]\nport = %d\nlisten = true\nmodule = bank.pemda\ndb_url = %s\n'
        '[admin]\nport = %d\n' % (iso, url, port))
    bank = Daemon(['--conf-dir', str(conf), '--data-dir', str(tmp_path / 'data')],
                  name='bank')
    try:
        bank.wait_for('Web server listen at 127.0.0.1:%d' % port)
        for path in ('/status.json', '/status', '/metrics'):
            conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
            conn.request('GET', path)
            text = conn.getresponse().read().decode()
            conn.close()
            for secret in ('//root', 'root@', 'pw-s3cret-77', 'search_path'):
                assert secret not in text, (path, secret)
            if path == '/status.json':
                assert 'postgresql://127.0.0.1/test' in text, text
    finally:
        assert bank.stop() == 0


@pytest.mark.parametrize('entry', ['teller:not-a-hash', 'plain-key-without-a-name',
                                   'a:%s' % ('0' * 63)])
def test_a_bad_api_keys_entry_is_exit_78_naming_the_key_not_its_value(tmp_path, entry):
    conf = tmp_path / 'bank.d'
    conf.mkdir()
    (conf / '20-bank.ini').write_text(bank_conf(free_port(), free_port(),
                                                'api_keys = %s\n' % entry))
    code, out = run_cli(['--role', 'bank', '--conf-dir', str(conf), '--check-config'])
    assert code == 78, out
    assert '20-bank.ini [web_teller] api_keys: an entry is not NAME:SHA256' in out, out
    assert entry not in out
