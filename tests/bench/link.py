"""ISO8583 round trips between two processes over loopback: our link layer
next to bare gevent sockets bouncing the same frames.

Four roles, each a process of its own (`python tests/bench/link.py ROLE ...`):

  pemda PORT              connects to PORT through appliance.net.hosts.Connector;
                          a trivial HostModule answers every 0200 with the
                          seed's 0210 inquiry response (bit 62 included)
  bank PORT LEVELS SECS PEER
                          listens through appliance.net.hosts.Listener (a Host with
                          a do-nothing module), waits for the pemda's link,
                          then for each in-flight level keeps that many
                          requests going through Host.send for SECS seconds;
                          prints one JSON document
  raw-server PORT         bare gevent socket: for every request frame read,
                          one sendall of the response frame
  raw-client PORT LEVELS SECS PEER
                          keeps LEVEL frames in flight on one socket, one
                          sendall per frame, latency matched in order

The raw pair writes one frame per sendall; our link writes the frames of
one event-loop turn in one send (appliance.net.outbox). The ratio is the cost of
our codec, framing, STAN matching and greenlets, less what that saves.
run() drives both pairs level by level, interleaved, in one run. The sender
reads its own and its peer's (PEER = pid) CPU time from /proc at the start
and the end of the measured window, after a warm-up.
"""
if __name__ == '__main__':
    from gevent import monkey
    monkey.patch_all()

import json
import os
import socket
import sys
import time
from collections import deque
from types import MappingProxyType

import gevent

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (PYTHON, Process, cpu_seconds, free_port, latency_ms,  # noqa: E402
                    machine_busy_seconds, rss_mb, say, started_in, wait_port)

LEVELS = (1, 10, 100)
WARMUP = 0.5
INVOICE = '3271010001007002701995'


def _host_config(name, port, listen):
    from appliance.runtime.config import HostConfig
    return HostConfig(
        name=name, ip='127.0.0.1', port=port, listen=listen, streamer='bjb_with_suffix',
        timeout=60.0, module='bench', bind='127.0.0.1', source_ip='', spec='bjb_pbb',
        max_in_flight=1000, request_timeout=10.0, reconnect_max=1.0,
        options=MappingProxyType({}))


def _request():
    from appliance.pbb.request import RequestBuilder
    return RequestBuilder().inquiry(INVOICE, '000001')


def _response(request):
    from appliance.iso.message import COPY_BITS
    from codec import INQUIRY_RESPONSE
    reply = request.reply(copy=COPY_BITS)
    reply.bits.update({4: INQUIRY_RESPONSE[4], 39: '00', 62: INQUIRY_RESPONSE[62]})
    return reply


def frames():
    """(request frame, response frame) as the link writes them."""
    from appliance.iso.codec import Codec
    from appliance.iso.framing import get_streamer
    from appliance.iso.spec import BJB_PBB
    codec, streamer = Codec(BJB_PBB), get_streamer('bjb_with_suffix')
    request = _request()
    return (streamer.frame(codec.encode(request)),
            streamer.frame(codec.encode(_response(request))))


# -- our link ------------------------------------------------------------------

def pemda(port):
    from appliance.net.hosts import Connector, Host
    from appliance.net.module import HostModule

    class Answer(HostModule):
        def handle(self, request):
            return _response(request)

    config = _host_config('bank', port, listen=False)
    host = Host(config, Answer(config))
    connector = Connector(host)
    connector.start()
    connector.greenlet.join()


class Meter:
    """CPU seconds of this process and its peer, and of the whole machine,
    over the measured window."""

    def __init__(self, peer):
        self.pids = {'sender': os.getpid(), 'answerer': peer}

    def start(self):
        self.cpu = {n: cpu_seconds(p) for n, p in self.pids.items()}
        self.machine = machine_busy_seconds()
        self.began = time.perf_counter()

    def stop(self, round_trips):
        seconds = time.perf_counter() - self.began
        used = {n: cpu_seconds(p) - self.cpu[n] for n, p in self.pids.items()}
        other = machine_busy_seconds() - self.machine - sum(used.values())
        return {'cpu_s_per_1000': {n: round(1000 * c / max(round_trips, 1), 3)
                                   for n, c in used.items()},
                'rss_mb': {n: round(rss_mb(p), 1) for n, p in self.pids.items()},
                'other_cores': round(max(other, 0.0) / seconds, 2)}


def bank(port, levels, seconds, peer):
    from appliance.net.hosts import Host, Listener
    from appliance.iso.message import Message
    from appliance.net.module import HostModule

    config = _host_config('pemda', port, listen=True)
    host = Host(config, HostModule(config))
    listener = Listener('127.0.0.1', port, [host])
    listener.start()
    print('listening', flush=True)
    deadline = time.monotonic() + 20
    while not host.is_up:
        if time.monotonic() > deadline:
            raise SystemExit('the pemda did not connect')
        gevent.sleep(0.05)
    base = _request().bits

    def exchange():
        bits = dict(base)
        bits[11] = host.next_stan()
        return host.send(Message('0200', bits), 10.0)

    results = [_drive(level, seconds, exchange, Meter(peer)) for level in levels]
    print(json.dumps(results), flush=True)


def _drive(level, seconds, exchange, meter):
    """Keep `level` exchanges going; round trips/s and latency after a warm-up."""
    latencies = []
    state = {'measuring': False, 'stop': False, 'errors': 0}

    def worker():
        while not state['stop']:
            began = time.perf_counter()
            try:
                answer = exchange()
            except Exception as e:
                state['errors'] += 1
                state.setdefault('error', repr(e))
                gevent.sleep(0.01)
                continue
            if state['measuring'] and not state['stop']:
                if answer.get(39) == '00':
                    latencies.append(time.perf_counter() - began)
                else:
                    state['errors'] += 1

    workers = [gevent.spawn(worker) for _ in range(level)]
    gevent.sleep(WARMUP)
    meter.start()
    state['measuring'] = True
    started = time.perf_counter()
    gevent.sleep(seconds)
    state['stop'] = True
    elapsed = time.perf_counter() - started
    usage = meter.stop(len(latencies))
    gevent.joinall(workers, timeout=15)
    return dict(in_flight=level, round_trips=len(latencies), seconds=round(elapsed, 3),
                per_s=round(len(latencies) / elapsed), errors=state['errors'],
                first_error=state.get('error'), latency_ms=latency_ms(latencies), **usage)


# -- bare gevent sockets -----------------------------------------------------

def raw_server(port):
    request, response = frames()
    size = len(request)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('127.0.0.1', port))
    server.listen(16)
    while True:
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        gevent.spawn(_bounce, conn, size, response)


def _bounce(conn, size, response):
    pending = 0
    while True:
        data = conn.recv(65536)
        if not data:
            conn.close()
            return
        pending += len(data)
        while pending >= size:
            pending -= size
            conn.sendall(response)


def raw_client(port, levels, seconds, peer):
    request, response = frames()
    size = len(response)
    results = []
    for level in levels:
        sock = socket.create_connection(('127.0.0.1', port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        results.append(_window(sock, level, seconds, request, size, Meter(peer)))
        sock.close()
    print(json.dumps(results), flush=True)


def _window(sock, level, seconds, request, size, meter):
    sent = deque()
    latencies = []
    for _ in range(level):
        sent.append(time.perf_counter())
        sock.sendall(request)
    pending = 0
    started = time.perf_counter()
    measure_from = started + WARMUP
    stop_at = measure_from + seconds
    usage = None
    while True:
        data = sock.recv(65536)
        pending += len(data)
        now = time.perf_counter()
        if now >= measure_from and not hasattr(meter, 'cpu'):
            meter.start()
        while pending >= size:
            pending -= size
            began = sent.popleft()
            if measure_from <= now < stop_at:
                latencies.append(now - began)
            if now < stop_at:
                sent.append(time.perf_counter())
                sock.sendall(request)
        if now >= stop_at and usage is None:
            usage = meter.stop(len(latencies))
        if now >= stop_at and not sent:
            break
    elapsed = stop_at - measure_from
    return dict(in_flight=level, round_trips=len(latencies), seconds=round(elapsed, 3),
                per_s=round(len(latencies) / elapsed), errors=0,
                latency_ms=latency_ms(latencies), **usage)


# -- the driver ----------------------------------------------------------------

def run(workdir, levels=LEVELS, seconds=3.0, tree=None):
    """Both pairs, level by level, interleaved; one dict per level. `tree`:
    our side runs that checkout's own copy of this script, which imports
    `appliance` from there (ab.py): the module paths differ between commits."""
    here = os.path.abspath(__file__)
    ours = here if tree is None else os.path.join(tree, 'tests', 'bench', 'link.py')
    ours_from = started_in(tree)
    rows = []
    for level in levels:
        row = {'in_flight': level}
        for kind in ('ours', 'raw'):
            port = free_port()
            if kind == 'ours':
                # The pemda side starts first and retries until the bank listens.
                answerer = Process('link-pemda-%d' % level, [PYTHON, ours, 'pemda', str(port)],
                                   workdir, **ours_from)
                sender = Process('link-bank-%d' % level, [
                    PYTHON, ours, 'bank', str(port), str(level), str(seconds),
                    str(answerer.pid)], workdir, **ours_from)
            else:
                answerer = Process('raw-server-%d' % level, [PYTHON, here, 'raw-server',
                                                            str(port)], workdir)
                wait_port(port, proc=answerer)
                sender = Process('raw-client-%d' % level, [
                    PYTHON, here, 'raw-client', str(port), str(level), str(seconds),
                    str(answerer.pid)], workdir)
            try:
                code = sender.proc.wait(timeout=seconds * 3 + 60)
                if code != 0:
                    raise RuntimeError('%s exited %s: %s' % (sender.name, code, sender.tail()))
                with open(sender.log_path) as f:
                    result = json.loads(f.read().strip().splitlines()[-1])[0]
            finally:
                for proc in (sender, answerer):
                    proc.stop(timeout=5)
            row[kind] = result
            say('link %-4s %3d in flight: %6d round trips/s, p99 %s ms' % (
                kind, level, result['per_s'], result['latency_ms']['p99']))
        row['ratio'] = round(row['ours']['per_s'] / row['raw']['per_s'], 2)
        rows.append(row)
    return rows


def main(argv):
    role = argv[0]
    if role == 'pemda':
        pemda(int(argv[1]))
    elif role == 'bank':
        bank(int(argv[1]), [int(n) for n in argv[2].split(',')], float(argv[3]),
             int(argv[4]))
    elif role == 'raw-server':
        raw_server(int(argv[1]))
    elif role == 'raw-client':
        raw_client(int(argv[1]), [int(n) for n in argv[2].split(',')], float(argv[3]),
                   int(argv[4]))
    else:
        raise SystemExit('unknown role %r' % role)


if __name__ == '__main__':
    main(sys.argv[1:])
