"""Daemons under attack, and the table of how they answered.

`Chain` is a pemda and a bank linked, the bank's teller on loopback with
short deadlines so that slow attacks end in seconds. `Attack` counts one
attack's tries and the answers that were as specified, and the tracebacks
the daemons logged meanwhile; every Attack is a line of the table."""
import http.client
import json
import socket
import time

from fixtures.daemon import Daemon, free_port, run_cli, seed_config

SEED_INVOICE = '3271010001007002701995'
REPORT = []

# [web] of the bank under attack: deadlines short enough for a test.
WEB_LIMITS = {'head_timeout': 2, 'body_timeout': 3, 'max_connections_per_ip': 230}


class Attack:
    """with Attack(name, daemons) as a: a.tried(ok) ...; a.latency = s"""

    def __init__(self, name, *daemons):
        self.name, self.daemons = name, daemons
        self.tries = self.as_specified = self.tracebacks = 0
        self.latency = None

    def __enter__(self):
        self.marks = [len(d.lines) for d in self.daemons]
        return self

    def tried(self, as_specified=True):
        self.tries += 1
        self.as_specified += bool(as_specified)

    def __exit__(self, *exc):
        self.tracebacks = sum(sum('Traceback' in line for line in d.lines[mark:])
                              for d, mark in zip(self.daemons, self.marks))
        REPORT.append(self)
        if exc[0] is None:
            assert self.tracebacks == 0, 'tracebacks logged during %s:\n%s' % (
                self.name, '\n'.join('\n'.join(d.lines[mark:][-40:])
                                     for d, mark in zip(self.daemons, self.marks)))
            assert self.as_specified == self.tries, '%s: %d of %d answered as specified' % (
                self.name, self.as_specified, self.tries)


class Chain:
    """A pemda and a bank on free ports, linked; the bank's teller at `web`."""

    def __init__(self, tmp_path, extra=None):
        """`extra`: {file name: text} added to the bank's conf.d."""
        self.iso, self.web = free_port(), free_port()
        pemda_conf, bank_conf = tmp_path / 'pemda.d', tmp_path / 'bank.d'
        seed_config('test-pemda.ini', pemda_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso),
            ('postgresql://user:pass@localhost/db', 'sqlite:///demo.db')])
        seed_config('test-bank.ini', bank_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso), ('port = 7000', 'port = %d' % self.web)])
        (bank_conf / '50-limits.ini').write_text('[web]\n' + ''.join(
            '%s = %s\n' % item for item in WEB_LIMITS.items()))
        for name, text in (extra or {}).items():
            (bank_conf / name).write_text(text)
        pemda_args = ['--role', 'pemda', '--conf-dir', str(pemda_conf),
                      '--data-dir', str(tmp_path / 'pemda-data')]
        code, out = run_cli(pemda_args + ['--initdb', '--demo'])
        assert code == 0, out
        self.bank = Daemon(['--role', 'bank', '--conf-dir', str(bank_conf), '--data-dir',
                            str(tmp_path / 'bank-data')], name='bank')
        self.bank.wait_for('Web server listen at 0.0.0.0:%d' % self.web)
        self.pemda = Daemon(pemda_args, name='pemda')
        self.bank.wait_for(r'Encode MTI 0810 Data \{.*70: .001.\}')      # signed on

    def stop(self):
        codes = (self.pemda.stop(), self.bank.stop())
        assert codes == (0, 0), self.bank.output()[-3000:] + self.pemda.output()[-3000:]


def teller_inquiry(port, timeout=10):
    """(seconds, JSON answer) of one normal teller inquiry."""
    body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': 'inquiry',
                       'params': [{'invoice_id': SEED_INVOICE}]})
    started = time.monotonic()
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('POST', '/rpc', body, {'Content-Type': 'application/json'})
        reply = conn.getresponse()
        answer = json.loads(reply.read())
    finally:
        conn.close()
    return time.monotonic() - started, answer


def teller_ok(answer):
    return answer.get('result', {}).get('code') == 0


def connect(port, source='127.0.0.1', timeout=10):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(timeout)
    s.connect(('127.0.0.1', port))
    return s


def read_answer(sock):
    """(status, headers dict lower-cased, body bytes) of one HTTP answer read
    until the server closes; (None, {}, b'') when it closed without one."""
    data = b''
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b'\r\n\r\n')
            if sep:
                length = [line for line in head.split(b'\r\n')
                          if line.lower().startswith(b'content-length:')]
                if length and len(body) >= int(length[0].split(b':')[1]):
                    break
    except ConnectionResetError:
        pass
    if not data:
        return None, {}, b''
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = dict(line.lower().split(': ', 1) for line in lines[1:] if ': ' in line)
    return int(lines[0].split()[1]), headers, body


def json_error(status, headers, body, expected):
    """True for an answer of status `expected` with a JSON error body."""
    if status != expected or headers.get('content-type') != 'application/json':
        return False
    try:
        return json.loads(body)['error']['status'] == expected
    except (ValueError, KeyError, TypeError):
        return False
