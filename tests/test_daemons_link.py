"""The foundation end to end: real daemons as processes, real sockets.

Bank from the seed's test-bank.ini, pemda from the seed's test-pemda.ini (log
paths changed, ports made free, the pemda's database a SQLite file).
"""
import re
import socket
import time

import gevent
import pytest

from fixtures.daemon import Daemon, free_port, seed_config

SEED_ECHO = b'00560800822000000000000004000000000000000718222751222236301\x03'
SEED_ECHO_REPLY = b'0058081082200000020000000400000000000000071822275122223600301\x03'

# The seed's six lines of an echo, on the side that answers and on the side that asks.
ANSWERING = ('Receive', 'Raw to ISO8583', 'Decode MTI 0800', 'Encode MTI 0810',
             'ISO8583 to raw', 'Send')
ASKING = ('Encode MTI 0800', 'ISO8583 to raw', 'Send', 'Receive', 'Raw to ISO8583',
          'Decode MTI 0810')


@pytest.fixture
def ports():
    return {'iso': free_port(), 'web': free_port()}


def bank_conf(tmp_path, ports, timeout=None):
    conf = tmp_path / 'bank.d'
    extra = [('port = 10002', 'port = %d' % ports['iso']),
             ('port = 7000', 'port = %d' % ports['web'])]
    seed_config('test-bank.ini', conf, tmp_path, extra)
    if timeout:
        (conf / '50-timeout.ini').write_text('[host_kota_bogor]\ntimeout = %d\n' % timeout)
    return conf


def pemda_conf(tmp_path, ports, timeout=None):
    conf = tmp_path / 'pemda.d'
    extra = [('port = 10002', 'port = %d' % ports['iso']),
             ('postgresql://user:pass@localhost/db', 'sqlite:///pemda.db')]
    if timeout:
        extra.append(('timeout = 60', 'timeout = %d' % timeout))
    seed_config('test-pemda.ini', conf, tmp_path, extra)
    return conf


def start_bank(tmp_path, ports, **kw):
    conf = bank_conf(tmp_path, ports, **kw)
    bank = Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                   str(tmp_path / 'bank-data')], name='bank')
    bank.wait_for('ISO8583 server listen at 0.0.0.0:%d' % ports['iso'])
    return bank


def start_pemda(tmp_path, ports, **kw):
    conf = pemda_conf(tmp_path, ports, **kw)
    return Daemon(['--role', 'pemda', '--conf-dir', str(conf), '--data-dir',
                   str(tmp_path / 'pemda-data')], name='pemda')


def exchange(port, frame, read_until=b'\x03', timeout=5):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(frame)
        return read_frame(s, read_until)


def read_frame(sock, end=b'\x03'):
    data = b''
    while not data.endswith(end):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def assert_echo_established(daemon, lines=ANSWERING, start=0):
    """The seed's six lines of an echo, in order."""
    mti = '0800' if lines is ANSWERING else '0810'
    line = daemon.wait_for(r'Decode MTI %s Data \{7: .*70: .301.\}' % mti, start=start)
    conn = re.search(r'INFO (\S+ \S+ \d+) ', line).group(1)    # ip, host, connection id
    index = daemon.lines.index(line, start)
    window = [l for l in daemon.lines[max(index - 6, 0):index + 12] if conn in l]
    position = -1
    for word in lines:
        later = [i for i, l in enumerate(window) if word in l and i > position]
        assert later, '%s missing, or out of order, in:\n%s' % (word, '\n'.join(window))
        position = later[0]
    assert position - window.index(line) <= 5 and window.index(line) <= 5


def test_the_bank_answers_the_seeds_echo_frame_byte_for_byte(tmp_path, ports):
    bank = start_bank(tmp_path, ports)
    try:
        assert exchange(ports['iso'], SEED_ECHO) == SEED_ECHO_REPLY
        bank.wait_for(re.escape("Receive [b'%s']" % SEED_ECHO.decode('ascii')
                                .replace('\x03', '\\x03')))
        bank.wait_for(r"Decode MTI 0800 Data \{7: '0718222751', 11: '222236', 70: '301'\}")
        bank.wait_for(r"Encode MTI 0810 Data \{7: '0718222751', 11: '222236', 39: '00', "
                      r"70: '301'\}")
        bank.wait_for(re.escape("Send [b'%s']" % SEED_ECHO_REPLY.decode('ascii')
                                .replace('\x03', '\\x03')))
    finally:
        assert bank.stop() == 0


def test_pemda_retries_until_the_bank_is_up_then_echoes_and_signs_on(tmp_path, ports):
    pemda = start_pemda(tmp_path, ports)
    bank = None
    try:
        pemda.wait_for('INFO Connect to 127.0.0.1 port %d' % ports['iso'])
        pemda.wait_for(r'ERROR \[Errno 111\] Connection refused')
        deadline = time.monotonic() + 10
        while pemda.count('Connection refused') < 2 and time.monotonic() < deadline:
            gevent.sleep(0.1)
        assert pemda.count('Connection refused') >= 2
        started = time.monotonic()
        bank = start_bank(tmp_path, ports)
        assert_echo_established(bank)
        assert_echo_established(pemda, ASKING)
        pemda.wait_for(r'Encode MTI 0800 Data \{.*70: .001.\}')      # sign-on sent
        bank.wait_for(r'Encode MTI 0810 Data \{.*39: .00., 70: .001.\}')  # and answered
        assert time.monotonic() - started < 10
    finally:
        if bank:
            assert bank.stop() == 0
        assert pemda.stop() == 0


def test_the_link_comes_back_after_either_side_restarts(tmp_path, ports):
    bank = start_bank(tmp_path, ports)
    pemda = start_pemda(tmp_path, ports)
    try:
        assert_echo_established(bank)
        bank.kill()                                        # bank dies hard
        mark = len(pemda.lines)
        pemda.wait_for('Connection refused', start=mark)
        bank = start_bank(tmp_path, ports)
        assert_echo_established(bank)

        mark = len(bank.lines)
        pemda.kill()                                       # pemda dies hard
        bank.wait_for('Peer closed the connection|Connection reset', start=mark)
        pemda = start_pemda(tmp_path, ports)
        assert_echo_established(bank, start=mark)
        assert_echo_established(pemda, ASKING)
    finally:
        bank.stop()
        pemda.stop()


def test_a_garbage_frame_is_logged_and_the_link_keeps_working(tmp_path, ports):
    bank = start_bank(tmp_path, ports)
    try:
        with socket.create_connection(('127.0.0.1', ports['iso']), timeout=5) as s:
            s.sendall(b'0012XYZ garbage\x03')            # framed, not ISO8583
            bank.wait_for('Cannot decode, frame dropped')
            s.sendall(SEED_ECHO)
            assert read_frame(s) == SEED_ECHO_REPLY
        with socket.create_connection(('127.0.0.1', ports['iso']), timeout=5) as s:
            s.sendall(b'ABCD not a header at all')    # framing error: link closed
            assert read_frame(s) == b''
        bank.wait_for('Framing error, closing')
        assert exchange(ports['iso'], SEED_ECHO) == SEED_ECHO_REPLY
    finally:
        assert bank.stop() == 0


def test_a_connection_from_an_unconfigured_address_is_refused(tmp_path, ports):
    bank = start_bank(tmp_path, ports)
    try:
        with socket.socket() as s:
            s.bind(('127.0.0.2', 0))
            s.settimeout(5)
            s.connect(('127.0.0.1', ports['iso']))
            try:
                s.sendall(SEED_ECHO)
                assert read_frame(s) == b''        # closed without an answer
            except ConnectionResetError:
                pass                              # or reset: no answer either way
        bank.wait_for('127.0.0.2 not allowed on port %d' % ports['iso'])
    finally:
        bank.stop()


def test_sigterm_stops_the_daemons_with_exit_0(tmp_path, ports):
    bank = start_bank(tmp_path, ports)
    pemda = start_pemda(tmp_path, ports)
    assert_echo_established(pemda, ASKING)
    started = time.monotonic()
    assert pemda.stop() == 0
    assert bank.stop() == 0
    assert time.monotonic() - started < 10


def test_two_pemdas_share_one_bank_port_told_apart_by_their_addresses(tmp_path, ports):
    """Kota Bogor connects from 127.0.0.2 and Kota Bekasi from 127.0.0.3, both
    to the same bank port; each lands on its own host."""
    conf = tmp_path / 'bank.d'
    conf.mkdir()
    (conf / '10-hosts.ini').write_text(
        '[host_kota_bogor]\nip = 127.0.0.2\nport = %(p)d\nlisten = true\n'
        'streamer = bjb_with_suffix\nmodule = opensipkd.iso8583.bjb.pbb.test\n\n'
        '[host_kota_bekasi]\nip = 127.0.0.3\nport = %(p)d\nlisten = true\n'
        'streamer = bjb_with_suffix\nmodule = opensipkd.iso8583.bjb.pbb.test\n'
        % {'p': ports['iso']})
    bank = Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                   str(tmp_path / 'bank-data')], name='bank')
    pemdas = []
    try:
        bank.wait_for('ISO8583 server listen at 0.0.0.0:%d' % ports['iso'])
        for name, source in (('bogor', '127.0.0.2'), ('bekasi', '127.0.0.3')):
            pemda_dir = tmp_path / name
            conf = pemda_conf(pemda_dir, ports)
            (conf / '50-source.ini').write_text('[host_bjb]\nsource_ip = %s\n' % source)
            pemdas.append(Daemon(['--role', 'pemda', '--conf-dir', str(conf),
                                  '--data-dir', str(pemda_dir / 'data')], name=name))
        bank.wait_for(r'127\.0\.0\.2 kota_bogor connected')
        bank.wait_for(r'127\.0\.0\.3 kota_bekasi connected')
        bank.wait_for(r'127\.0\.0\.2 kota_bogor \d+ -> \d+ Encode MTI 0810 .*70: .001.')
        bank.wait_for(r'127\.0\.0\.3 kota_bekasi \d+ -> \d+ Encode MTI 0810 .*70: .001.')
    finally:
        for pemda in pemdas:
            assert pemda.stop() == 0
        assert bank.stop() == 0
