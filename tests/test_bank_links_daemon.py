"""The bank daemon between fake peers on real sockets: an aggregator's
reversal must match the forwarded payment, and an answer that comes after
the orphan sweep gave its payment up is never reported as paid. The
forwarder's and the journal's databases on SQLite and PostgreSQL."""
import socket

import gevent
import gevent.queue
import pytest

from appliance.iso import netmgmt
from appliance.iso.codec import Codec
from appliance.iso.framing import get_streamer
from appliance.iso.message import Message
from appliance.iso.spec import get_spec
from fixtures.daemon import Daemon, free_port
from fixtures.peers import FakePeer
from fixtures.teller import teller_call

INVOICE = '3271010001007002701995'
NTB = '0719062100'

# The forwarder's host comes first, as the seed's bank-agratek.ini sorts
# before test-bank.ini: its pemda host's SAF queue exists only once every
# module has started.
BANK_INI = """
[host_agratek]
ip = 127.0.0.1
port = {agratek}
listen = true
streamer = bjb
module = opensipkd.iso8583.bjb.pbb.test_aggregator
db_url = {forwarder}
host = 3271:kota_bogor

[host_kota_bogor]
ip = 127.0.0.1
port = {pemda}
listen = false
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test
request_timeout = 10
db_url = {journal}
saf_retry_interval = 0.2

[web]
port = {web}

[web_teller]
route_path = /rpc
host = kota_bogor
module = iso8583_web.scripts.views.jsonrpc
"""


# A second bank process on the same journal whose orphan sweep is quick. On
# the first one's data directory it is the same node (a restart of it while
# the old process still hangs on): it gives up that node's entries while
# their answers may still come (a configuration refuses that within one
# process, see runtime/promises.py). On a data directory of its own it is
# another node and leaves them alone (appliance/roles/bank/node.py).
SWEEPER_INI = """
[host_kota_bogor]
ip = 127.0.0.1
port = {pemda}
listen = false
module = opensipkd.iso8583.bjb.pbb.test
request_timeout = 1
db_url = {journal}
saf_orphan_after = 2

[admin]
enabled = false
"""


class FakeAggregator:
    """The aggregator's end of its bank link: connects, answers the bank's
    echoes, and asks."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.sock.settimeout(None)          # it waits for the bank as long as it takes
        self.codec = Codec(get_spec('bjb_pbb'))
        self.streamer = get_streamer('bjb')
        self.answers = gevent.queue.Queue()
        self.greenlet = gevent.spawn(self._read)

    def _read(self):
        splitter = self.streamer.splitter()
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            for raw in splitter.feed(data):
                msg = self.codec.decode(raw)
                if msg.mti == '0800':
                    self._send(netmgmt.answer(msg))
                else:
                    self.answers.put(msg)

    def _send(self, msg):
        self.sock.sendall(self.streamer.frame(self.codec.encode(msg)))

    def ask(self, msg):
        self._send(msg)
        return self.answers.get(timeout=15)

    def close(self):
        self.greenlet.kill()
        self.sock.close()


class Bank:
    def __init__(self, tmp_path, db_url, conf_name='bank.d', data='data'):
        self.pemda = FakePeer()
        self.agratek, self.web = free_port(), free_port()
        conf = tmp_path / conf_name
        conf.mkdir()
        (conf / 'bank.ini').write_text(BANK_INI.format(
            pemda=self.pemda.port, agratek=self.agratek, web=self.web,
            journal=db_url, forwarder=db_url))
        self.daemon = Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                              str(tmp_path / data)], name='bank')
        self.daemon.wait_for('Web server listen at')
        assert self.pemda.accepted.wait(15)

    def answer(self, request, **bits):
        reply = request.reply(copy=sorted(request.bits))
        reply[39] = '00'
        for bit, value in bits.items():
            reply[int(bit[1:])] = value
        self.pemda.send(reply)

    def teller(self, method, **params):
        return teller_call(self.web, method, **params)

    def stop(self):
        code = self.daemon.stop()
        self.pemda.close()
        assert code == 0, self.daemon.output()[-3000:]


@pytest.fixture
def bank(tmp_path, db_url):
    b = Bank(tmp_path, db_url)
    yield b
    b.stop()


def aggregator_request(mti, stan, amount):
    return Message(mti, {3: '541019', 4: '%012d' % amount, 7: '0719062100', 11: stan,
                         12: '062100', 13: '0719', 18: '6025', 32: '015', 41: 'AGRATEK',
                         48: NTB, 61: INVOICE})


def test_an_aggregators_reversal_of_another_amount_is_refused_at_the_bank(bank):
    aggregator = FakeAggregator(bank.agratek)
    try:
        paying = gevent.spawn(aggregator.ask, aggregator_request('0200', '062100', 19536))
        bank.answer(bank.pemda.next_request('0200', timeout=15), b47='010192430486')
        assert paying.get(timeout=15)[39] == '00'
        refused = aggregator.ask(aggregator_request('0400', '062100', 1))
    finally:
        aggregator.close()
    assert refused[39] == '51'
    bank.daemon.wait_for('reversal refused: amount 000000000001 is not the amount of '
                         'payment 1 .000000019536.; answered 51')
    assert bank.pemda.received.empty()                  # nothing went on to the pemda


def sweeper_of(tmp_path, db_url, data_dir):
    conf = tmp_path / 'sweeper.d'
    conf.mkdir()
    (conf / 'bank.ini').write_text(SWEEPER_INI.format(pemda=free_port(),
                                                      journal=db_url))
    return Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                   str(data_dir)], name='sweeper')


def test_an_answer_after_the_orphan_sweep_is_not_reported_as_paid(bank, tmp_path, db_url):
    paying = gevent.spawn(bank.teller, 'payment', invoice_id=INVOICE, amount=19536,
                          ntb=NTB, stan='000001')
    payment = bank.pemda.next_request('0200', timeout=15)
    sweeper = sweeper_of(tmp_path, db_url, tmp_path / 'data')     # the same node
    try:
        sweeper.wait_for(r'reversal of invoice %s NTB %s STAN %s queued \(SAF entry 1, '
                         r'journal 1: orphaned\)' % (INVOICE, NTB, payment[11]))
    finally:
        assert sweeper.stop() == 0, sweeper.output()[-3000:]
    bank.answer(payment, b47='010192430486')              # the late answer
    result = paying.get(timeout=15)
    assert result == {'code': 68, 'data': {}, 'message': (
        'answered by kota_bogor after journal entry 1 was given up (orphaned); '
        'reversal queued (SAF entry 1)')}


# PostgreSQL only: two nodes on one SQLite file are refused (test_heartbeat).
@pytest.mark.parametrize('db_url', [pytest.param('postgresql', marks=pytest.mark.pg)],
                         indirect=True)
def test_another_nodes_orphan_sweep_leaves_a_payment_in_flight_alone(bank, tmp_path, db_url):
    paying = gevent.spawn(bank.teller, 'payment', invoice_id=INVOICE, amount=19536,
                          ntb=NTB, stan='000001')
    payment = bank.pemda.next_request('0200', timeout=15)
    sweeper = sweeper_of(tmp_path, db_url, tmp_path / 'other-node')
    try:
        sweeper.wait_for(r'journal entry 1 of node \S+ is still sending: left to its node')
    finally:
        assert sweeper.stop() == 0, sweeper.output()[-3000:]
    assert 'queued' not in sweeper.output()
    bank.answer(payment, b47='010192430486')
    result = paying.get(timeout=15)
    assert result['code'] == 0, result


def test_a_forwarded_payment_left_in_flight_by_a_killed_bank_is_reversed_at_the_next_start(
        tmp_path, db_url):
    first = Bank(tmp_path, db_url)
    aggregator = FakeAggregator(first.agratek)
    aggregator._send(aggregator_request('0200', '062100', 19536))
    stan = first.pemda.next_request('0200', timeout=15)[11]     # in flight, unanswered
    first.daemon.kill()
    aggregator.close()
    first.pemda.close()
    second = Bank(tmp_path, db_url, conf_name='bank2.d')
    try:
        second.daemon.wait_for(r'reversal of invoice %s NTB %s STAN %s queued \(SAF entry 1, '
                               r'journal None: cut\)' % (INVOICE, NTB, stan))
        reversal = second.pemda.next_request('0400', timeout=15)
    finally:
        second.stop()
    assert (reversal[11], reversal[48], reversal[4]) == (stan, NTB, '000000019536')


@pytest.mark.pg
def test_a_second_bank_node_on_the_forwarder_database_leaves_the_first_ones_payment_alone(
        tmp_path, pg_schema_url):
    db_url = pg_schema_url       # two nodes on one SQLite file are refused (test_heartbeat)
    first = Bank(tmp_path, db_url)
    aggregator = FakeAggregator(first.agratek)
    try:
        aggregator._send(aggregator_request('0200', '062100', 19536))
        payment = first.pemda.next_request('0200', timeout=15)      # in flight
        second = Bank(tmp_path, db_url, conf_name='bank2.d', data='data2')   # started
        second.stop()
        assert 'left without an outcome' not in second.daemon.output()
        sent = [m.mti for m in list(second.pemda.received.queue)]
        assert '0400' not in sent, sent                             # nothing reversed
        first.answer(payment, b47='010192430486')
        answer = aggregator.answers.get(timeout=15)
    finally:
        aggregator.close()
        first.stop()
    assert answer[39] == '00'
