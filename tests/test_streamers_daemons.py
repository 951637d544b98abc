"""The other banks' streamers over real sockets: for each, a pemda and a bank
daemon with that `streamer` in their host_ sections exchange echo and sign-on,
then an inquiry and a payment asked on the bank's teller JSON-RPC.

One demo database serves every streamer; each pays an invoice of its own.
"""
import re
import socket

import gevent
import pytest

from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from fixtures.teller import teller_call

STREAMERS = ['bjt', 'bsb', 'bsm', 'btn', 'depok', 'bri_way4', 'bri', 'local', 'bank_kaltim']
SEED_STREAMER = ('streamer = bjb_with_suffix', 'streamer = %s')
# The first bytes of the bank's Receive line for the pemda's echo (the echo
# is 55 bytes: 0x37), and for the 12-byte header streamers their header.
ECHO_FRAME_START = {
    'bjt': "b'0055", 'bsb': "b'0055", 'bsm': "b'0055", 'btn': "b'0055", 'depok': "b'0055",
    'bri_way4': "b'\\x007", 'bri': "b'ISO000000000", 'local': "b'ISO000000000",
    'bank_kaltim': "b'ISO041000067",
}
# The seed's echo and its answer, without framing.
SEED_ECHO = b'0800822000000000000004000000000000000718222751222236301'
SEED_ECHO_ANSWER = b'081082200000020000000400000000000000071822275122223600301'


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """A demo database (absolute SQLite path) and one unpaid invoice per streamer."""
    base = tmp_path_factory.mktemp('demo')
    db_url = 'sqlite:///%s' % (base / 'demo.db')
    conf = base / 'pemda.d'
    seed_config('test-pemda.ini', conf, base,
                [('postgresql://user:pass@localhost/db', db_url)])
    args = ['--role', 'pemda', '--conf-dir', str(conf), '--data-dir', str(base / 'data')]
    code, out = run_cli(args + ['--initdb', '--demo'])
    assert code == 0, out
    code, out = run_cli(['invoices'] + args + ['--limit', str(len(STREAMERS))])
    assert code == 0, out
    invoices = re.findall(r'^\d{22}$', out, re.M)
    assert len(invoices) == len(STREAMERS), out
    return db_url, dict(zip(STREAMERS, invoices))


class Pair:
    """A bank and a pemda on free ports, both with `streamer`; without a
    db_url the bank alone, for a fake peer to connect to."""

    def __init__(self, tmp_path, streamer, db_url=None):
        self.streamer = streamer
        self.iso, self.web = free_port(), free_port()
        framing = (SEED_STREAMER[0], SEED_STREAMER[1] % streamer)
        seed_config('test-bank.ini', tmp_path / 'bank.d', tmp_path, [
            ('port = 10002', 'port = %d' % self.iso), ('port = 7000', 'port = %d' % self.web),
            framing])
        self.bank = Daemon(['--role', 'bank', '--conf-dir', str(tmp_path / 'bank.d'),
                            '--data-dir', str(tmp_path / 'bank-data')], name='bank')
        self.pemda = None
        self.bank.wait_for('Web server listen at 0.0.0.0:%d' % self.web)
        if db_url is None:
            return
        seed_config('test-pemda.ini', tmp_path / 'pemda.d', tmp_path, [
            ('port = 10002', 'port = %d' % self.iso),
            ('postgresql://user:pass@localhost/db', db_url), framing])
        self.pemda = Daemon(['--role', 'pemda', '--conf-dir', str(tmp_path / 'pemda.d'),
                             '--data-dir', str(tmp_path / 'pemda-data')], name='pemda')

    def rpc(self, method, **params):
        return teller_call(self.web, method, timeout=15, **params)

    def stop(self):
        codes = (self.pemda.stop() if self.pemda else 0, self.bank.stop())
        assert codes == (0, 0), self.bank.output()[-3000:] + (
            self.pemda.output()[-3000:] if self.pemda else '')


@pytest.fixture
def pair(request, tmp_path, demo):
    p = Pair(tmp_path, request.param, demo[0])
    yield p
    p.stop()


@pytest.mark.parametrize('pair', STREAMERS, indirect=True)
def test_a_pemda_and_a_bank_with_the_same_streamer_echo_inquire_and_pay(pair, demo):
    streamer = pair.streamer
    invoice = demo[1][streamer]
    # Echo, then sign-on: the pemda connects and asks, the bank answers.
    echo = pair.bank.wait_for(r"Receive \[b'.{0,16}0800822")
    assert ECHO_FRAME_START[streamer] in echo, echo
    pair.pemda.wait_for(r"Decode MTI 0810 Data \{.*39: '00', 70: '301'\}")
    pair.bank.wait_for(r"Encode MTI 0810 Data \{.*70: '001'\}")

    inquiry = pair.rpc('inquiry', invoice_id=invoice)
    assert (inquiry['code'], inquiry['data']['39']) == (0, '00'), inquiry
    assert inquiry['data']['62'].startswith(invoice)

    payment = pair.rpc('payment', invoice_id=invoice, amount=int(inquiry['data']['4']),
                       ntb='%012d' % STREAMERS.index(streamer), stan='000001')
    assert (payment['code'], payment['data']['39']) == (0, '00'), payment
    assert payment['data']['3'] == '541019'


def test_a_message_the_kaltim_interchange_sends_back_with_9_fails_at_once_naming_the_status(
        tmp_path):
    bank = Pair(tmp_path, 'bank_kaltim')
    try:
        with socket.create_connection(('127.0.0.1', bank.iso), timeout=10) as interchange:
            bank.bank.wait_for('kota_bogor .*[Cc]onnect')
            asking = gevent.spawn(bank.rpc, 'inquiry', invoice_id='3271010001007002701995')
            frame = interchange.recv(65536)
            assert frame.startswith(b'ISO041000017' + b'0200'), frame
            # Refused: bit 62's code in the header's status, the MTI's 9.
            interchange.sendall(b'ISO041006217' + b'9' + frame[13:])
            answer = asking.get(timeout=5)
        assert answer['data'] == {} and answer['code'] != 0, answer
        assert re.search(r'kota_bogor rejected MTI 0200 STAN \d{6} \(header status 062\)',
                         answer['message']), answer
        bank.bank.wait_for(r'WARNING .*Peer rejected MTI 0200 STAN \d{6} '
                           r'\(header status 062\)')
    finally:
        bank.stop()


@pytest.mark.parametrize('streamer', ['bri', 'local'])
def test_bri_and_local_answer_with_the_header_the_peer_sent(tmp_path, streamer):
    bank = Pair(tmp_path, streamer)
    try:
        with socket.create_connection(('127.0.0.1', bank.iso), timeout=10) as peer:
            peer.sendall(b'ISO011000017' + SEED_ECHO)
            assert peer.recv(65536) == b'ISO011000017' + SEED_ECHO_ANSWER
    finally:
        bank.stop()
