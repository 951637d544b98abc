"""Who may pay: missing and wrong API keys, a key in the wrong header, every
teller parameter with wrong types and ranges, foreign addresses against the
shipped configuration, LinkAja with wrong credentials, and malformed frames
on every streamer."""
import hashlib
import http.client
import json
import subprocess

import pytest

from appliance.iso import netmgmt
from appliance.iso.codec import Codec
from appliance.iso.framing import STREAMER_NAMES, get_streamer
from appliance.iso.spec import get_spec
from attacks import SEED_INVOICE, Attack, Chain, connect, teller_inquiry, teller_ok
from fixtures.daemon import Daemon, free_port, seed_config
from fixtures.ports import fixed_ports

KEY = 'teller-key-5b8e1d07c2'
KEY_HASH = hashlib.sha256(KEY.encode()).hexdigest()
KEYED = ('[web_keyed]\nroute_path = /keyed\nhost = kota_bogor\n'
         'module = iso8583_web.scripts.views.jsonrpc\napi_keys = teller:%s\n' % KEY_HASH)


@pytest.fixture(scope='module')
def chain(tmp_path_factory):
    c = Chain(tmp_path_factory.mktemp('security-keys'), extra={'60-keyed.ini': KEYED})
    yield c
    c.stop()


def post(port, path, body, headers=(), source='127.0.0.1', host='127.0.0.1'):
    """(status, body bytes); (None, b'') when the server closed unanswered."""
    conn = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    try:
        conn.request('POST', path, body, dict({'Content-Type': 'application/json'},
                                              **dict(headers)))
        reply = conn.getresponse()
        return reply.status, reply.read()
    except (ConnectionError, http.client.RemoteDisconnected):
        return None, b''
    finally:
        conn.close()


def inquiry_body(**params):
    return json.dumps({'jsonrpc': '2.0', 'id': 7, 'method': 'inquiry',
                       'params': [params or {'invoice_id': SEED_INVOICE}]})


@pytest.mark.parametrize('name, headers', [
    ('no key', ()),
    ('an empty key', [('X-Api-Key', '')]),
    ('a wrong key', [('X-Api-Key', KEY[:-1] + 'x')]),
    ('the key\'s SHA-256 as the key', [('X-Api-Key', KEY_HASH)]),
    ('the key in Authorization', [('Authorization', 'Bearer ' + KEY)]),
    ('the key in X-API-Token', [('X-API-Token', KEY)]),
])
def test_a_missing_or_wrong_key_gets_401_and_a_log_line_without_it(chain, name, headers):
    with Attack('key: ' + name, chain.bank) as attack:
        mark = len(chain.bank.lines)
        for _ in range(3):
            status, body = post(chain.web, '/keyed', inquiry_body(), headers)
            answer = json.loads(body)
            attack.tried(status == 401 and answer['error']['code'] == -32001)
        latency, normal = teller_inquiry(chain.web)
        attack.latency = latency
        attack.tried(teller_ok(normal))
        chain.bank.wait_for(r'WARNING .*127\.0\.0\.1 \[web_keyed\] /keyed refused', start=mark)
        logged = '\n'.join(chain.bank.lines)
        attack.tried(KEY not in logged and KEY_HASH not in logged)


def test_the_right_key_is_served(chain):
    status, body = post(chain.web, '/keyed', inquiry_body(), [('X-Api-Key', KEY)])
    assert status == 200 and json.loads(body)['result']['data']['39'] == '00', body


PAY = {'invoice_id': SEED_INVOICE, 'amount': 19536, 'ntb': 'SEC0001', 'stan': '000001'}


def _with(params, **changes):
    result = dict(params, **changes)
    return {k: v for k, v in result.items() if v is not _GONE}


_GONE = object()

# (method, params, the field the error must name)
BAD_PARAMS = [('inquiry', _with({}, invoice_id=value), 'invoice_id') for value in (
    _GONE, 3271010001007002701995, '', '3271-0100', '1' * 1000, None, [SEED_INVOICE],
    '٣٢٧١')] + [
    ('payment', _with(PAY, amount=value), 'amount') for value in (
        _GONE, '19536', -1, 10 ** 13, 19536.5, True, None, float('inf'))] + [
    ('payment', _with(PAY, ntb=value), 'ntb') for value in (
        _GONE, '', 123, 'x' * 1000, 'a\nb', None)] + [
    ('payment', _with(PAY, stan=value), 'stan') for value in ('12345', 123456, 'abcdef')] + [
    ('payment', _with(PAY, invoice_id=value), 'invoice_id') for value in (_GONE, 1)] + [
    ('reversal', _with(PAY, stan=value), 'stan') for value in ('1234567', 1, None)] + [
    ('reversal', _with(PAY, amount=_GONE), 'amount'),
    ('reversal', _with(PAY, ntb=_GONE), 'ntb'),
]


def test_every_parameter_with_a_wrong_type_or_range_gets_minus_32602_naming_it(chain):
    with Attack('JSON-RPC: %d bad parameters' % len(BAD_PARAMS), chain.bank) as attack:
        wrong = []
        for method, params, field in BAD_PARAMS:
            body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': method,
                               'params': [params]}).replace('Infinity', '1e999')
            status, raw = post(chain.web, '/rpc', body)
            error = json.loads(raw).get('error') or {}
            ok = status == 200 and error.get('code') == -32602 and field in error['message']
            attack.tried(ok)
            if not ok:
                wrong.append((method, params, raw))
        latency, normal = teller_inquiry(chain.web)
        attack.latency = latency
        attack.tried(teller_ok(normal))
    assert not wrong, wrong


def _own_addresses():
    """This machine's addresses other than loopback (hostname -I)."""
    try:
        out = subprocess.run(['hostname', '-I'], stdout=subprocess.PIPE, text=True,
                             timeout=5).stdout
    except OSError:
        return []
    return [a for a in out.split() if ':' not in a]


def test_with_the_shipped_configuration_no_address_but_loopback_pays_or_reverses(tmp_path):
    """The shipped conf.d (comments only) runs the bank's preset."""
    root = __file__.rsplit('/tests/', 1)[0]
    sources = [('127.0.0.2', '127.0.0.1')] + [(a, a) for a in _own_addresses()]
    with fixed_ports('presets'):
        bank = Daemon(['--role', 'bank', '--conf-dir', root + '/conf.d', '--data-dir',
                       str(tmp_path / 'bank')], name='bank')
        try:
            bank.wait_for('Web server listen at 0.0.0.0:7000')
            with Attack('foreign addresses, shipped config', bank) as attack:
                for source, target in sources:
                    for method in ('payment', 'reversal'):
                        body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': method,
                                           'params': [PAY]})
                        status, _ = post(7000, '/rpc', body, source=source, host=target)
                        attack.tried(status == 403)
                    bank.wait_for('%s not allowed' % source)
                status, body = post(7000, '/rpc', inquiry_body())
                attack.tried(status == 200)         # loopback: served (91: no pemda)
        finally:
            assert bank.stop() == 0


# -- LinkAja ------------------------------------------------------------------------

PWD = 'linkaja-pwd-93ac'
CREDENTIALS = '[web_linkaja]\ncredentials = LINKAJA:T001:%s\n' % hashlib.sha256(
    PWD.encode()).hexdigest()


@pytest.fixture(scope='module')
def aggregator(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('security-linkaja')
    web, bank = free_port(), free_port()        # no bank listens there: answers 91
    conf = tmp / 'agg.d'
    seed_config('test-agratek.ini', conf, tmp, [
        ('port = 10001', 'port = %d' % bank), ('port = 7001', 'port = %d' % web),
        ('postgresql://user:pass@localhost/db', 'sqlite:///aggregator.db')])
    (conf / '50-credentials.ini').write_text(CREDENTIALS)
    daemon = Daemon(['--role', 'aggregator', '--conf-dir', str(conf), '--data-dir',
                     str(tmp / 'data')], name='aggregator')
    daemon.wait_for('Web server listen at')
    daemon.web = web
    yield daemon
    assert daemon.stop() == 0


def linkaja(port, **fields):
    form = '&'.join('%s=%s' % kv for kv in dict(
        trx_type='021', acc_no=SEED_INVOICE, **fields).items())
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        conn.request('POST', '/linkaja', form,
                     {'Content-Type': 'application/x-www-form-urlencoded'})
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize('name, fields', [
    ('no credentials', {}),
    ('a wrong pwd', dict(merchant='LINKAJA', terminal='T001', pwd=PWD + 'x')),
    ('no pwd', dict(merchant='LINKAJA', terminal='T001')),
    ('a wrong merchant', dict(merchant='OTHER', terminal='T001', pwd=PWD)),
    ('a wrong terminal', dict(merchant='LINKAJA', terminal='T002', pwd=PWD)),
])
def test_linkaja_with_wrong_credentials_gets_its_failure_answer_63(aggregator, name, fields):
    with Attack('LinkAja: ' + name, aggregator) as attack:
        for _ in range(3):
            status, line = linkaja(aggregator.web, **fields)
            attack.tried(status == 200 and line.startswith('63:')
                         and line.endswith('merchant, terminal or pwd refused'))
        aggregator.wait_for(r'WARNING .*127\.0\.0\.1 \[web_linkaja\] merchant .* refused: '
                            'wrong credentials')
        attack.tried(PWD not in '\n'.join(aggregator.lines))


def test_linkaja_with_the_configured_credentials_passes_to_the_bank(aggregator):
    status, line = linkaja(aggregator.web, merchant='LINKAJA', terminal='T001', pwd=PWD)
    assert status == 200 and line.startswith('91:'), line     # admitted; no bank there


# -- malformed frames on every streamer -------------------------------------------------

CODEC = Codec(get_spec('bjb_pbb'))


@pytest.fixture(scope='module')
def streamer_bank(tmp_path_factory):
    """A bank listening for one pemda per streamer."""
    tmp = tmp_path_factory.mktemp('security-streamers')
    ports = {name: free_port() for name in STREAMER_NAMES}
    conf = tmp / 'bank.d'
    conf.mkdir()
    (conf / '20-hosts.ini').write_text(''.join(
        '[host_p_%s]\nip = 127.0.0.1\nport = %d\nlisten = true\nstreamer = %s\n'
        'module = opensipkd.iso8583.bjb.pbb.test\n\n' % (name, port, name)
        for name, port in ports.items()))
    daemon = Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                     str(tmp / 'data')], name='bank')
    for port in ports.values():
        daemon.wait_for('ISO8583 server listen at 0.0.0.0:%d' % port)
    daemon.ports = ports
    yield daemon
    assert daemon.stop() == 0


def _answer(sock, splitter, timeout=5):
    sock.settimeout(timeout)
    while True:
        data = sock.recv(65536)
        if not data:
            return None
        frames = splitter.feed(data)
        if frames:
            return CODEC.decode(frames[0])


GARBAGE = (b'XYZ garbage', b'\xff' * 10, b'0200' + b'\x00' * 7)


@pytest.mark.parametrize('name', STREAMER_NAMES)
def test_a_malformed_frame_on_every_streamer_is_dropped_and_the_link_keeps_working(
        streamer_bank, name):
    streamer = get_streamer(name)
    with Attack('ISO: malformed frames, %s' % name, streamer_bank) as attack:
        sock = connect(streamer_bank.ports[name])
        streamer_bank.wait_for(' p_%s connected' % name)
        for payload in GARBAGE:
            mark = len(streamer_bank.lines)
            sock.sendall(streamer.frame(payload))
            line = streamer_bank.wait_for(r'p_%s .*(Cannot decode|Unknown MTI).*frame dropped'
                                          % name, start=mark)
            attack.tried(' WARNING ' in line)
        echo = netmgmt.request(netmgmt.ECHO, '000001')
        sock.sendall(streamer.frame(CODEC.encode(echo)))
        answer = _answer(sock, streamer.splitter())
        attack.tried(answer is not None and answer.mti == '0810')
        sock.close()
