"""sd_notify: one datagram to $NOTIFY_SOCKET; and a real daemon telling a real
AF_UNIX datagram socket (as systemd's would be) that it is ready, how its
links are, and that it is stopping."""
import logging
import socket
import uuid

import pytest

from appliance.ops import notify
from fixtures.daemon import Daemon, free_port


@pytest.fixture
def listener(tmp_path):
    """(NOTIFY_SOCKET value, receiving socket) for a path or an abstract name."""
    made = []

    def make(kind):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if kind == 'path':
            path = str(tmp_path / 'notify.sock')
            sock.bind(path)
            address = path
        else:
            name = 'iso8583d-test-%s' % uuid.uuid4().hex
            sock.bind('\0' + name)
            address = '@' + name
        sock.settimeout(15)
        made.append(sock)
        return address, sock

    yield make
    for sock in made:
        sock.close()


def test_outside_systemd_nothing_is_sent(monkeypatch):
    monkeypatch.delenv('NOTIFY_SOCKET', raising=False)
    assert notify.notify('READY=1') is False


@pytest.mark.parametrize('kind', ['path', 'abstract'])
def test_the_assignments_go_in_one_datagram(listener, monkeypatch, kind):
    address, sock = listener(kind)
    monkeypatch.setenv('NOTIFY_SOCKET', address)
    assert notify.notify('READY=1', 'STATUS=1/1 links up\n(kota_bogor up)') is True
    assert sock.recv(4096) == b'READY=1\nSTATUS=1/1 links up (kota_bogor up)'


def test_a_missing_socket_is_logged_once_and_never_raises(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(notify, '_warned', set())
    monkeypatch.setenv('NOTIFY_SOCKET', str(tmp_path / 'gone.sock'))
    caplog.set_level(logging.WARNING, logger='iso8583d.notify')
    assert notify.notify('STATUS=a') is False and notify.notify('STATUS=b') is False
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith('cannot notify systemd at %s: '
                                                     % (tmp_path / 'gone.sock'))


def test_an_unsupported_socket_address_is_not_used(monkeypatch, caplog):
    monkeypatch.setattr(notify, '_warned', set())
    monkeypatch.setenv('NOTIFY_SOCKET', 'vsock:2:1234')
    assert notify.notify('READY=1') is False
    assert "NOTIFY_SOCKET='vsock:2:1234' is neither a path nor @name" in caplog.text


def messages(sock):
    return sock.recv(4096).decode().split('\n')


@pytest.mark.parametrize('kind', ['path', 'abstract'])
def test_the_daemon_is_ready_once_its_ports_are_bound_and_reports_its_links(
        listener, tmp_path, kind):
    address, sock = listener(kind)
    iso, status_port = free_port(), free_port()
    bank_conf = tmp_path / 'bank'
    bank_conf.mkdir()
    (bank_conf / 'bank.ini').write_text(
        '[host_kota_bogor]\nport = %d\nlisten = true\nstreamer = bjb_with_suffix\n'
        'module = bank.pemda\n[admin]\nport = %d\n' % (iso, status_port))
    bank = Daemon(['--conf-dir', str(bank_conf), '--data-dir', str(tmp_path / 'bank-data')],
                  env={'NOTIFY_SOCKET': address}, name='bank')
    pemda = None
    try:
        assert messages(sock) == ['READY=1', 'STATUS=0/1 links up (kota_bogor down)']
        # Ready means bound: both ports take connections at once.
        for port in (iso, status_port):
            socket.create_connection(('127.0.0.1', port), timeout=2).close()
        assert messages(sock) == ['STATUS=1/1 links up (kota_bogor up)']  # that connection
        assert messages(sock) == ['STATUS=0/1 links up (kota_bogor down)']

        pemda_conf = tmp_path / 'pemda'
        pemda_conf.mkdir()
        (pemda_conf / 'pemda.ini').write_text(
            '[host_bjb]\nport = %d\nstreamer = bjb_with_suffix\nmodule = bank.pemda\n'
            '[admin]\nenabled = false\n' % iso)
        pemda = Daemon(['--conf-dir', str(pemda_conf), '--data-dir',
                        str(tmp_path / 'pemda-data')], name='pemda')
        assert messages(sock) == ['STATUS=1/1 links up (kota_bogor up)']
        assert pemda.stop() == 0
        assert messages(sock) == ['STATUS=0/1 links up (kota_bogor down)']
        assert bank.stop() == 0
        assert messages(sock) == ['STOPPING=1', 'STATUS=stopping']
    finally:
        bank.kill()
        if pemda is not None:
            pemda.kill()

