"""The ISO8583 links under hostile peers: unknown MTIs, undecodable frames,
a newline in bit 61 that would forge a log line, a second connection from a
peer whose link is alive, and one whose link is dead."""
import time

import gevent
import gevent.event
import gevent.queue
import pytest

from appliance.iso import netmgmt
from appliance.iso.codec import Codec
from appliance.iso.framing import get_streamer
from appliance.iso.message import Message
from appliance.iso.spec import get_spec
from attacks import Attack, SEED_INVOICE, connect
from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from fixtures.peers import FakePeer

TIMEOUT = 4         # [host_kota_bogor] timeout of the bank: the echo a link must answer
CODEC = Codec(get_spec('bjb_pbb'))
STREAMER = get_streamer('bjb_with_suffix')
FORGED = '2026-12-06 02:00:00,000 INFO PBB forged line'


class Pemda:
    """The test as the bank's pemda: one connection from 127.0.0.1 that
    answers the bank's echoes unless `answer_echo` is False."""

    def __init__(self, port, answer_echo=True):
        self.sock = connect(port, timeout=None)
        self.answer_echo = answer_echo
        self.answers = gevent.queue.Queue()
        self.closed = gevent.event.Event()
        self.stan = 0
        self.reader = gevent.spawn(self._read)

    def _read(self):
        splitter = STREAMER.splitter()
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                for raw in splitter.feed(data):
                    msg = CODEC.decode(raw)
                    if msg.mti == '0800':
                        if self.answer_echo:
                            self.send(netmgmt.answer(msg))
                    else:
                        self.answers.put(msg)
        except OSError:
            pass
        self.closed.set()

    def send(self, msg):
        self.send_raw(STREAMER.frame(CODEC.encode(msg)))

    def send_raw(self, frame):
        self.sock.sendall(frame)

    def echo(self, timeout=5):
        """The bank's answer to an echo of ours (None: no answer)."""
        self.stan += 1
        self.send(netmgmt.request(netmgmt.ECHO, '%06d' % self.stan))
        try:
            return self.answers.get(timeout=timeout)
        except gevent.queue.Empty:
            return None

    def close(self):
        self.reader.kill()
        self.sock.close()


@pytest.fixture
def bank(tmp_path):
    iso, web = free_port(), free_port()
    conf = tmp_path / 'bank.d'
    seed_config('test-bank.ini', conf, tmp_path, [
        ('port = 10002', 'port = %d' % iso), ('port = 7000', 'port = %d' % web)])
    (conf / '50-timeout.ini').write_text('[host_kota_bogor]\ntimeout = %d\n' % TIMEOUT)
    daemon = Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                     str(tmp_path / 'bank-data')], name='bank')
    daemon.wait_for('ISO8583 server listen at 0.0.0.0:%d' % iso)
    daemon.iso = iso
    yield daemon
    assert daemon.stop() == 0


def test_an_unknown_mti_is_dropped_with_one_warning_and_the_link_keeps_working(bank):
    peer = Pemda(bank.iso)
    with Attack('ISO: unknown MTIs 0100, 0300, 1200', bank) as attack:
        for stan, mti in enumerate(('0100', '0300', '1200'), 1):
            peer.send(Message(mti, {3: '341019', 7: '1206020000', 11: '%06d' % stan}))
            attack.tried(bank.wait_for(r'Unknown MTI %s STAN %06d, frame dropped' % (mti, stan))
                         .split()[2] == 'WARNING')
        attack.tried(peer.echo() is not None)
    peer.close()


def test_an_undecodable_frame_is_dropped_with_one_warning(bank):
    peer = Pemda(bank.iso)
    with Attack('ISO: undecodable frames', bank) as attack:
        for frame in (b'0012XYZ garbage\x03', b'0011' + b'\xff' * 10 + b'\x03',
                      b'0022020072200000000000003\x03'):
            mark = len(bank.lines)
            peer.send_raw(frame)
            line = bank.wait_for('Cannot decode, frame dropped', start=mark)
            attack.tried(line.split()[2] == 'WARNING')
        attack.tried(peer.echo() is not None)
    peer.close()


def test_a_second_connection_is_refused_while_the_link_answers_an_echo(bank):
    first = Pemda(bank.iso)
    assert first.echo() is not None
    with Attack('ISO: second connection, link alive', bank) as attack:
        second = Pemda(bank.iso)
        attack.tried(second.closed.wait(TIMEOUT) and first.echo() is not None)
        second.close()
    bank.wait_for('127.0.0.1 kota_bogor second connection refused: the link \\d+ is alive')
    assert bank.count('replaced by a new connection') == 0
    first.close()


def test_a_second_connection_replaces_a_link_that_does_not_answer_an_echo(bank):
    first = Pemda(bank.iso, answer_echo=False)
    assert first.echo() is not None
    # The old peer keeps talking (one echo a second, so the link never idles
    # out) but never answers the bank's echo: only the probe can judge it dead.
    keepalive = gevent.spawn(lambda: [(first.echo(timeout=1), gevent.sleep(1))
                                      for _ in range(3 * TIMEOUT)])
    with Attack('ISO: second connection, link dead', bank) as attack:
        started = time.monotonic()
        second = Pemda(bank.iso)
        bank.wait_for('Close: no answer to an echo within %g s; replaced by a new connection '
                      'from 127.0.0.1' % TIMEOUT, timeout=TIMEOUT + 5)
        attack.tried(first.closed.wait(2) and second.echo() is not None
                     and time.monotonic() - started >= TIMEOUT)
    keepalive.kill()
    first.close()
    second.close()


def test_a_newline_in_bit_61_cannot_forge_a_log_line(tmp_path):
    fake_bank = FakePeer()
    conf = tmp_path / 'pemda.d'
    seed_config('test-pemda.ini', conf, tmp_path, [
        ('port = 10002', 'port = %d' % fake_bank.port),
        ('postgresql://user:pass@localhost/db', 'sqlite:///demo.db')])
    args = ['--role', 'pemda', '--conf-dir', str(conf), '--data-dir', str(tmp_path / 'data')]
    code, out = run_cli(args + ['--initdb', '--demo'])
    assert code == 0, out
    pemda = Daemon(args, name='pemda')
    try:
        assert fake_bank.accepted.wait(15)
        with Attack('ISO: newline in bit 61', pemda) as attack:
            for stan, code in enumerate(('341019', '541019'), 1):
                request = Message('0200', {3: code, 4: '000000019536', 7: '1206020000',
                                           11: '%06d' % stan, 18: '6010',
                                           61: SEED_INVOICE + '\n' + FORGED})
                answer = fake_bank.ask(request)
                attack.tried(answer[39] != '00' and not any(
                    line.startswith(FORGED) for line in pemda.lines))
        assert pemda.count(r'\\n' + FORGED) >= 2, pemda.output()[-3000:]
    finally:
        assert pemda.stop() == 0
        fake_bank.close()
