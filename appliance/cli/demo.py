"""`iso8583d demo`: the seed's walkthrough on one machine, start to finish.

Starts a pemda and a bank with their presets (SQLite demo bills in a fresh
temporary data dir, the seed's ports 10002 and 7000), then as a teller makes
the seed's inquiry, payment and reversal, prints each request and answer, and
stops both daemons. Exit status 0 only when every step was answered 00.
"""
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout

from appliance.client import main as client_main

INVOICE = '3271010001007002701995'
URL = 'http://127.0.0.1:7000/rpc'
PORTS = {10002: 'the bank ISO8583 port', 7000: 'the teller web port',
         10001: "the bank's aggregator port", 10003: "the bank's Kota Bekasi port"}
READY_SECONDS = 30


def own_command():
    """How to start this program again: the frozen binary, or python -m appliance."""
    if getattr(sys, 'frozen', False):
        return [sys.executable]
    return [sys.executable, '-m', 'appliance']


def say(text):
    print(time.strftime('%H:%M:%S ') + text, flush=True)


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(('127.0.0.1', port)) == 0


class Daemons:
    """The pemda and the bank, with their output in log files."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = {}

    def start(self, role):
        log = open(os.path.join(self.workdir, role + '.log'), 'w')
        env = dict(os.environ, ISO8583D_CONF_DIR=os.path.join(self.workdir, 'no-conf'))
        self.procs[role] = (subprocess.Popen(
            own_command() + ['--role', role, '--data-dir', os.path.join(self.workdir, role)],
            stdout=log, stderr=subprocess.STDOUT, env=env), log)
        say('started iso8583d --role %s (log: %s)' % (role, log.name))

    def alive(self):
        return all(proc.poll() is None for proc, _ in self.procs.values())

    def stop(self):
        codes = {}
        for role, (proc, log) in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                codes[role] = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[role] = proc.wait()
            log.close()
        return codes

    def tail(self, lines=15):
        for role, (_, log) in self.procs.items():
            with open(log.name) as f:
                text = f.read().splitlines()[-lines:]
            print('--- last lines of %s.log' % role)
            print('\n'.join(text))


def teller(*args):
    """One iso8583d-client run with --json; (exit status, its one result)."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = client_main(['--url=' + URL, '--invoice-id=' + INVOICE, '--json'] + list(args))
    report = json.loads(out.getvalue())
    return code, report['results'][0]


def wait_until_linked():
    """Inquire until the bank answers with the pemda's data (the link is up)."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if port_in_use(7000):
            code, result = teller('--timeout=5')
            if result.get('response', {}).get('result', {}).get('code') == 0:
                return True
        time.sleep(0.5)
    return False


def step(name, *args):
    code, result = teller(*args)
    say('%s request:  %s' % (name, json.dumps(result['request'])))
    answer = result.get('response', {}).get('result')
    if answer is None:
        say('%s failed: %s' % (name, result.get('error') or result.get('response')))
        return None
    say('%s response: %s' % (name, json.dumps(answer)))
    data = answer.get('data', {})
    verdict = 'OK' if data.get('39') == '00' else 'FAILED'
    say('%s: bit 39 = %s -> %s' % (name, data.get('39'), verdict))
    return data if verdict == 'OK' else None


def walkthrough():
    inquiry = step('inquiry')
    if inquiry is None:
        return False
    payment = step('payment', '--payment', '--amount=%d' % int(inquiry['4']))
    if payment is None:
        return False
    reversal = step('reversal', '--reversal', '--amount=%d' % int(payment['4']),
                    '--ntb=' + payment['48'], '--stan=' + payment['11'])
    return reversal is not None


def main(argv=None):
    busy = [p for p in PORTS if port_in_use(p)]
    if busy:
        for port in busy:
            print('iso8583d demo: port %d (%s) is in use; stop what listens there first'
                  % (port, PORTS[port]), file=sys.stderr)
        return 1
    workdir = tempfile.mkdtemp(prefix='iso8583d-demo-')
    daemons = Daemons(workdir)
    ok = False
    try:
        daemons.start('bank')
        daemons.start('pemda')
        say('waiting for the pemda to link to the bank ...')
        if not wait_until_linked():
            say('the link did not come up within %d s' % READY_SECONDS)
        else:
            say('linked; the seed walkthrough as a teller:')
            ok = walkthrough()
    finally:
        codes = daemons.stop()
        say('stopped: %s' % ', '.join('%s exit %s' % kv for kv in codes.items()))
        if not ok or any(codes.values()):
            daemons.tail()
            ok = False
            say('logs kept in %s' % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    say('demo %s' % ('passed: every step answered 00' if ok else 'FAILED'))
    return 0 if ok else 1
