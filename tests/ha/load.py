"""Tellers paying through HAProxy with iso8583d-client, batch after batch
until told to stop; each payment's outcome as its teller finally knows it.

A teller who heard nothing (HAProxy answered 502: the node died with the
request) or heard "still in progress" (94) asks again with the same invoice,
amount and NTB, as tellers are told to (docs/operations.md): the journal the
nodes share answers without sending the payment twice.
"""
import json
import subprocess
import sys
import time
from urllib.parse import urlsplit

import gevent
from gevent.event import Event

from appliance.client.jsonrpc import data_of
from fault.harness import rpc

ASK_AGAIN_FOR = 60            # s a teller keeps asking about one payment
IN_PROGRESS = 94


class Load:
    """`workers` clients at a time, each paying `batch` invoices `count` at a
    time; `outcomes`: invoice -> (kind, result) as fault.harness.check reads
    it: kind 'ok', 'failed', or 'no-inquiry' (nothing was sent to pay)."""

    def __init__(self, url, invoices, tmp, workers=2, batch=40, count=5):
        self.url = url
        self.todo = list(invoices)
        self.tmp = tmp
        self.workers, self.batch, self.count = workers, batch, count
        self.invoices = []            # handed to a client so far
        self.outcomes = {}
        self.repeats = 0              # payments asked again with the same NTB
        self.stopping = Event()
        self.greenlets = []

    def start(self):
        self.greenlets = [gevent.spawn(self._loop, i) for i in range(self.workers)]
        return self

    def _loop(self, worker):
        runs = 0
        while not self.stopping.is_set() and self.todo:
            batch, self.todo = self.todo[:self.batch], self.todo[self.batch:]
            self.invoices += batch
            runs += 1
            self._pay(batch, self.tmp / ('batch-%d-%d.txt' % (worker, runs)))

    def _pay(self, batch, path):
        path.write_text('\n'.join(batch) + '\n')
        proc = subprocess.run(
            [sys.executable, '-m', 'appliance.client', '--url', self.url, '--invoice-file',
             str(path), '--payment', '--count', str(self.count), '--requests', str(len(batch)),
             '--timeout', '20', '--json'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        assert proc.returncode in (0, 1), proc.stderr     # 1: some payment failed
        for result in json.loads(proc.stdout)['results']:
            self._judge(result)

    def _judge(self, result):
        request = result['request']
        params = request['params'][0]
        invoice = params['invoice_id']
        if request['method'] != 'payment':
            self.outcomes[invoice] = ('no-inquiry', result)     # no payment was sent
            return
        answer = result.get('response') or {}
        if 'error' in result or answer.get('result', {}).get('code') == IN_PROGRESS:
            answer = self.ask_again(params)
        code = answer.get('result', {}).get('code')
        ok = code == 0 and data_of(answer).get('39') == '00'
        self.outcomes[invoice] = ('ok' if ok else 'failed', answer.get('result') or answer)

    def ask_again(self, params):
        """The payment's JSON-RPC answer once it is known (not 94, not a
        dropped connection)."""
        url = urlsplit(self.url)
        deadline = time.monotonic() + ASK_AGAIN_FOR
        while True:
            self.repeats += 1
            result = rpc(url.port, url.path, 'payment', params)
            if result.get('code') not in ('http', IN_PROGRESS):
                return {'result': result}
            assert time.monotonic() < deadline, 'payment %r still unknown after %d s: %r' % (
                params, ASK_AGAIN_FOR, result)
            gevent.sleep(0.25)

    def wait_done(self, count, timeout=120):
        """Until `count` more payments than now have an outcome."""
        target = len(self.outcomes) + count
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target:
            assert time.monotonic() < deadline, 'the load is stuck at %d payments' % len(
                self.outcomes)
            assert self.todo or not all(g.dead for g in self.greenlets), (
                'the load ran out of invoices')
            gevent.sleep(0.05)

    def stop(self, timeout=300):
        """Let the clients running finish their batch; raise what failed."""
        self.stopping.set()
        for greenlet in self.greenlets:
            greenlet.get(timeout=timeout)
        assert set(self.outcomes) == set(self.invoices), 'payments without an outcome'
