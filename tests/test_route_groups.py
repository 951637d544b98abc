"""Route groups (docs/operations.md, "Route groups"): a teller route, a
forwarder prefix and a LinkAja route naming several links to the same peer
keep working while one link is down, and a reversal of a payment carried by
the link that went down still reaches the peer through another one. Real
daemons over real sockets; a link is cut by closing the TCP path it runs on."""
import http.client
import socket
from urllib.parse import urlencode

import gevent
import pytest
from gevent.server import StreamServer

from appliance.pbb.request import RequestBuilder
from appliance.roles.aggregator.preset import SEED_REQUEST_BITS
from appliance.roles.bank.journal import DONE
from fixtures.daemon import Daemon, free_port, run_cli
from fixtures.peers import FakePeer
from fixtures.teller import journal_entries, saf_entries, status_json as status, teller_call
from fixtures.waiting import until
from test_bank_links_daemon import FakeAggregator
from test_linkaja import PROFILE

INVOICE = '3271010001007002701995'      # a demo bill of Kota Bogor

PEMDA_INI = """
[module_opensipkd.iso8583.bjb.pbb.bogor_kota]
db_url = sqlite:///demo.db
persen_denda = 2
nip_pencatat = 999999999
kd_kanwil = 01
kd_kantor = 01
kd_tp = bit0:default:20

[host_bank_1]
ip = 127.0.0.1
port = {cable_1}
listen = false
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.bogor_kota
reconnect_max = 0.5

[host_bank_2]
ip = 127.0.0.1
port = {cable_2}
listen = false
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.bogor_kota
reconnect_max = 0.5

[admin]
enabled = false
"""

BANK_INI = """
[host_kota_bogor_1]
ip = 127.0.0.1
port = {bank_1}
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test
request_timeout = {request_timeout}
saf_retry_interval = 1

[host_kota_bogor_2]
ip = 127.0.0.1
port = {bank_2}
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test
request_timeout = {request_timeout}
saf_retry_interval = 1

[host_agratek]
ip = 127.0.0.1
port = {agratek}
listen = true
streamer = bjb
module = opensipkd.iso8583.bjb.pbb.test_aggregator
host = 3271:kota_bogor_1,kota_bogor_2
forward_timeout = 8

[web]
port = {web}

[web_teller]
route_path = /rpc
host = kota_bogor_1 kota_bogor_2
module = iso8583_web.scripts.views.jsonrpc
"""


class Cable:
    """The TCP path of one link: carries bytes both ways until cut(), after
    which nothing can connect through it. While muted, what the pemda sends
    is dropped: its answers are lost on the way."""

    def __init__(self, target_port):
        self.target = target_port
        self.sockets = []
        self.muted = False
        self.server = StreamServer(('127.0.0.1', free_port()), self._carry)
        self.server.start()
        self.port = self.server.server_port

    def _carry(self, near, _):
        far = socket.create_connection(('127.0.0.1', self.target))
        for sock in (near, far):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets.append(sock)
        gevent.joinall([gevent.spawn(_pipe, near, far, lambda: self.muted),
                        gevent.spawn(_pipe, far, near)],
                       count=1)
        self._close(near, far)

    def cut(self):
        self.server.close()
        self._close(*self.sockets)

    @staticmethod
    def _close(*sockets):
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _pipe(source, sink, muted=lambda: False):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                return
            if not muted():
                sink.sendall(data)
    except OSError:
        return


def links_up(port, section):
    """The names of the hosts of route `section` that are up (None while the
    daemon does not answer yet)."""
    try:
        rows = status(port)['routes']
    except ConnectionRefusedError:
        return None
    for row in rows:
        if row['section'] == section:
            return {m['name'] for m in row['hosts'] if m['state'] == 'up'}
    raise AssertionError('no route %s on the status page' % section)


def link_down(port, section, name):
    up = links_up(port, section)
    return up is not None and name not in up


class Chain:
    """A pemda linked twice to a bank (kota_bogor_1 and kota_bogor_2), each
    link through a Cable; a teller route and a forwarder prefix on the pair."""

    def __init__(self, tmp_path, request_timeout=10):
        bank_ports = {'bank_1': free_port(), 'bank_2': free_port()}
        self.web, self.agratek = free_port(), free_port()
        self.cables = {'kota_bogor_1': Cable(bank_ports['bank_1']),
                       'kota_bogor_2': Cable(bank_ports['bank_2'])}
        bank_conf, pemda_conf = tmp_path / 'bank.d', tmp_path / 'pemda.d'
        bank_conf.mkdir()
        pemda_conf.mkdir()
        (bank_conf / 'bank.ini').write_text(BANK_INI.format(
            web=self.web, agratek=self.agratek, request_timeout=request_timeout,
            **bank_ports))
        (pemda_conf / 'pemda.ini').write_text(PEMDA_INI.format(
            cable_1=self.cables['kota_bogor_1'].port, cable_2=self.cables['kota_bogor_2'].port))
        pemda_args = ['--role', 'pemda', '--conf-dir', str(pemda_conf),
                      '--data-dir', str(tmp_path / 'pemda-data')]
        code, out = run_cli(pemda_args + ['--initdb', '--demo'])
        assert code == 0, out
        self.journal_url = 'sqlite:///%s' % (tmp_path / 'bank-data' / 'bank.db')
        self.bank = Daemon(['--role', 'bank', '--conf-dir', str(bank_conf), '--data-dir',
                            str(tmp_path / 'bank-data')], name='bank')
        self.bank.wait_for('Web server listen at')
        self.pemda = Daemon(pemda_args, name='pemda')
        until(lambda: links_up(self.web, 'web_teller') == {'kota_bogor_1', 'kota_bogor_2'},
              'both links up', timeout=30)

    def call(self, method, **params):
        return teller_call(self.web, method, **params)

    def cut(self, name):
        self.cables[name].cut()
        until(lambda: link_down(self.web, 'web_teller', name), 'link %s down' % name)

    def journal(self):
        return journal_entries(self.journal_url)

    def stop(self):
        codes = (self.pemda.stop(), self.bank.stop())
        for cable in self.cables.values():
            cable.cut()
        assert codes == (0, 0), self.bank.output()[-3000:] + self.pemda.output()[-3000:]


@pytest.fixture
def chain(tmp_path):
    c = Chain(tmp_path)
    yield c
    c.stop()


def other(name):
    return {'kota_bogor_1': 'kota_bogor_2', 'kota_bogor_2': 'kota_bogor_1'}[name]


def requests_sent(port):
    """{host: 0200s sent on its link}, from the status page."""
    return {link['name']: sum(m['count'] for m in link['messages']
                              if m['direction'] == 'out' and m['mti'] == '0200')
            for link in status(port)['links']}


def test_a_teller_group_pays_on_the_live_link_and_reverses_a_payment_of_the_dead_one(chain):
    for _ in range(2):                           # the links take turns
        assert chain.call('inquiry', invoice_id=INVOICE)['data']['39'] == '00'
    assert requests_sent(chain.web) == {'kota_bogor_1': 1, 'kota_bogor_2': 1, 'agratek': 0}
    amount = int(chain.call('inquiry', invoice_id=INVOICE)['data']['4'])
    paid = chain.call('payment', invoice_id=INVOICE, amount=amount, ntb='NTB1')
    assert paid['data']['39'] == '00', paid
    (payment,) = [e for e in chain.journal() if e.kind == 'payment']
    chain.cut(payment.host)                      # the link that carried the payment

    for _ in range(3):                           # every request takes the live link
        assert chain.call('inquiry', invoice_id=INVOICE)['data']['39'] == '54'   # paid
    reversed_ = chain.call('reversal', invoice_id=INVOICE, amount=amount, ntb='NTB1',
                           stan=paid['data']['11'])
    assert (reversed_['code'], reversed_['data']['39']) == (0, '00'), reversed_
    reversal = chain.journal()[-1]
    assert (reversal.kind, reversal.host, reversal.payment_id, reversal.stan) == (
        'reversal', other(payment.host), payment.id, payment.stan)
    assert chain.call('inquiry', invoice_id=INVOICE)['data']['39'] == '00'   # unpaid again

    again = chain.call('payment', invoice_id=INVOICE, amount=amount, ntb='NTB2')
    assert again['data']['39'] == '00', again
    assert chain.journal()[-1].host == other(payment.host)

    chain.cut(other(payment.host))
    down = chain.call('inquiry', invoice_id=INVOICE)
    assert down == {'code': 91, 'data': {}, 'message': 'every link of group kota_bogor_1, '
                    'kota_bogor_2 is down'}


def test_a_forwarder_prefix_group_reverses_a_payment_through_the_other_link(chain):
    builder = RequestBuilder(dict(SEED_REQUEST_BITS))
    aggregator = FakeAggregator(chain.agratek)
    try:
        start = len(chain.bank.lines)
        for stan in ('000099', '000100'):           # the links take turns
            assert aggregator.ask(builder.inquiry(INVOICE, stan))[39] == '00'
        turns = [chain.bank.wait_for(r'0200 341019 invoice %s STAN %s -> \[host_'
                                     % (INVOICE, stan), start=start).split('[host_')[-1]
                 for stan in ('000099', '000100')]
        assert sorted(t.split(']')[0] for t in turns) == ['kota_bogor_1', 'kota_bogor_2']
        inquiry = aggregator.ask(builder.inquiry(INVOICE, '000101'))
        assert inquiry[39] == '00'
        amount = int(inquiry[4])
        start = len(chain.bank.lines)
        assert aggregator.ask(builder.payment(INVOICE, amount, 'AGG1', '000102'))[39] == '00'
        line = chain.bank.wait_for(r'0200 541019 invoice %s STAN 000102 -> '
                                   r'\[host_kota_bogor_\d\]' % INVOICE, start=start)
        carrier = line.split('[host_')[-1].split(']')[0]
        chain.cut(carrier)

        start = len(chain.bank.lines)
        answer = aggregator.ask(builder.reversal(INVOICE, amount, 'AGG1', '000102'))
        assert answer[39] == '00'
        chain.bank.wait_for(r'0400 541019 invoice %s STAN 000102 -> \[host_%s\]'
                            % (INVOICE, other(carrier)), start=start)
        assert aggregator.ask(builder.inquiry(INVOICE, '000103'))[39] == '00'   # unpaid
    finally:
        aggregator.close()


def test_a_queued_reversal_leaves_through_another_link_while_its_own_is_down(tmp_path):
    chain = Chain(tmp_path, request_timeout=2)
    try:
        amount = int(chain.call('inquiry', invoice_id=INVOICE)['data']['4'])
        (took_inquiry,) = [n for n, sent in requests_sent(chain.web).items() if sent]
        silent = other(took_inquiry)             # the payment's turn: its answer is lost
        chain.cables[silent].muted = True
        paid = chain.call('payment', invoice_id=INVOICE, amount=amount, ntb='NTB1')
        assert paid['code'] == 68 and 'reversal queued' in paid['message'], paid
        (payment,) = [e for e in chain.journal() if e.kind == 'payment']
        assert payment.host == silent
        (entry,) = saf_entries(chain.journal_url)
        assert entry.host == silent

        chain.cut(silent)                        # and it never comes back
        start = len(chain.bank.lines)
        done = until(lambda: [e for e in saf_entries(chain.journal_url) if e.state == DONE],
                     'the reversal delivered', timeout=30)
        assert [e.id for e in done] == [entry.id]
        chain.bank.wait_for(r'\[host_%s\] SAF entry %d sent as 040[01] through \[host_%s\] '
                            r'\(attempt \d+\): answered 00, done'
                            % (silent, entry.id, other(silent)), start=start)
        # The pemda booked the payment and has undone it: the bill is unpaid.
        assert chain.call('inquiry', invoice_id=INVOICE)['data']['39'] == '00'
    finally:
        chain.stop()


# -- LinkAja: an aggregator with two links to the bank (fake banks) ------------------

AGGREGATOR_INI = """
[web]
port = {web}

[web_linkaja]
route_path = /linkaja
module = iso8583_web.scripts.views.linkaja
host = bjb_1 bjb_2
timeout = 10
db_url = sqlite:///aggregator.db

[host_bjb_1]
ip = 127.0.0.1
port = {bank_1}
listen = false
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.agratek

[host_bjb_2]
ip = 127.0.0.1
port = {bank_2}
listen = false
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.agratek
"""


class FakeBanks:
    """Two fake banks, one per link, answering every request 00; `.seen`
    lists (bank name, request) in arrival order."""

    def __init__(self):
        self.peers = {'bjb_1': FakePeer(), 'bjb_2': FakePeer()}
        self.seen = []
        self.workers = [gevent.spawn(self._answer, name, peer)
                        for name, peer in self.peers.items()]

    def _answer(self, name, peer):
        if not peer.accepted.wait(30):
            return                          # the daemon never came: its test says why
        while True:
            msg = peer.received.get()
            self.seen.append((name, msg))
            reply = msg.reply(copy=sorted(msg.bits))
            reply[39] = '00'
            if msg.get(3) == '341019':
                reply[4] = '000000019536'
                reply[62] = PROFILE
            elif msg.mti == '0200':
                reply[47] = '010123882462'
            peer.send(reply)

    def close(self, name):
        self.peers[name].close()

    def stop(self):
        gevent.killall(self.workers)
        for peer in self.peers.values():
            peer.close()


def linkaja(port, **fields):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    conn.request('POST', '/linkaja', urlencode(dict(fields, acc_no=INVOICE)),
                 {'Content-Type': 'application/x-www-form-urlencoded'})
    text = conn.getresponse().read().decode()
    conn.close()
    return text


def test_a_linkaja_group_pays_on_the_live_link_and_reverses_through_the_other(tmp_path):
    banks = FakeBanks()
    web = free_port()
    conf = tmp_path / 'aggregator.d'
    conf.mkdir()
    (conf / 'aggregator.ini').write_text(AGGREGATOR_INI.format(
        web=web, bank_1=banks.peers['bjb_1'].port, bank_2=banks.peers['bjb_2'].port))
    daemon = Daemon(['--role', 'aggregator', '--conf-dir', str(conf), '--data-dir',
                     str(tmp_path / 'data')], name='aggregator')
    try:
        until(lambda: links_up(web, 'web_linkaja') == {'bjb_1', 'bjb_2'}, 'both links up',
              timeout=30)
        bill_ref = linkaja(web, trx_type='021').split(':')[3]
        paid = linkaja(web, trx_type='022', amount='19536', bill_ref=bill_ref, trx_id='T1')
        assert paid.startswith('00:010123882462:'), paid
        assert {n for n, _ in banks.seen} == {'bjb_1', 'bjb_2'}     # they took turns
        ((carrier, payment),) = [(n, m) for n, m in banks.seen if m.get(3) == '541019']
        banks.close(carrier)
        until(lambda: link_down(web, 'web_linkaja', carrier), 'link %s down' % carrier)

        reversed_ = linkaja(web, trx_type='023', amount='19536', bill_ref=bill_ref,
                            trx_id='T1')
        assert reversed_.startswith('00::'), reversed_
        (name, reversal), = [(n, m) for n, m in banks.seen if m.mti.startswith('04')]
        assert name != carrier
        assert (reversal[11], reversal[48], reversal[61]) == (payment[11], 'T1', INVOICE)

        bill_ref = linkaja(web, trx_type='021').split(':')[3]       # still paying
        again = linkaja(web, trx_type='022', amount='19536', bill_ref=bill_ref, trx_id='T2')
        assert again.startswith('00:'), again

        banks.close(name)
        until(lambda: links_up(web, 'web_linkaja') == set(), 'both links down')
        down = linkaja(web, trx_type='021')
        assert down.startswith('91:') and down.endswith(
            'every link of group bjb_1, bjb_2 to the bank is down'), down
    finally:
        code = daemon.stop()
        banks.stop()
    assert code == 0, daemon.output()[-3000:]
