"""Two bank nodes behind HAProxy (make ha-test): the processes, their
configuration, and what the scenarios read from HAProxy and the databases.

    iso8583d-client --> HAProxy :teller --> node A :web  --\
                        (checks /status.json  node B :web  ---+-- one PostgreSQL journal
                         on each :admin)         ^    ^
                                    pemda -------/    \\-- TcpProxy (cut in scenario b)

Everything listens on 127.0.0.1, on ports reserved by tests/fixtures/ports.py.
"""
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import time

import gevent

from appliance.roles.bank.journal import QUEUED, SENDING, JournalEntry, SafEntry
from appliance.roles.bank.owed import OwedReversals
from appliance.store.db import open_database
from fault.harness import (BANK_INI, PEMDA_LINK, REQUEST_TIMEOUT, TcpProxy,
                           invoices, live_payments)
from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from fixtures.journal_figures import figures, taken_over
from fixtures.waiting import until

NODES = ('A', 'B')
HEARTBEAT = 1          # s: [node] heartbeat_interval
EXPIRE_AFTER = 4       # s: [node] expire_after; a SIGKILLed node's rows are taken after it
CHECK_INTER_MS = 500   # HAProxy's health check interval; 2 failures mark a node DOWN

# A node: the fault harness's bank (the teller route to kota_bogor, its
# journal and SAF settings) with its node id and an admin port of its own.
NODE_INI = """
[node]
id = {node}
heartbeat_interval = %d
expire_after = %d

[admin]
port = {admin}
""" % (HEARTBEAT, EXPIRE_AFTER)

# The HAProxy example the package ships, run here with loopback addresses,
# reserved ports and checks twice as often.
HAPROXY_EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'packaging', 'examples', 'haproxy.cfg')


def haproxy_config(stats_socket, teller, servers):
    """The shipped example for this run (`servers`: name -> (web, admin) ports);
    an AssertionError when the example no longer has a line this needs."""
    with open(HAPROXY_EXAMPLE) as f:
        text = f.read()
    lines = ''.join('    server %s 127.0.0.1:%d check port %d\n' % (name, web, admin)
                    for name, (web, admin) in servers.items())
    for old, new in (
            ('    log /dev/log local0\n', '    log stdout format raw local0 info\n'),
            ('/run/haproxy/admin.sock mode 660', '%s mode 600' % stats_socket),
            ('    user haproxy\n    group haproxy\n    daemon\n', ''),
            ('bind :7000', 'bind 127.0.0.1:%d' % teller),
            ('inter 1s', 'inter %dms' % CHECK_INTER_MS),
            ('    server node-a 10.0.0.11:7000 check port 7002\n'
             '    server node-b 10.0.0.12:7000 check port 7002\n', lines)):
        assert old in text, '%r is not in %s' % (old, HAPROXY_EXAMPLE)
        text = text.replace(old, new)
    return text


class Node:
    """One bank process: its ports, conf dir and data dir; start() runs it."""

    def __init__(self, tmp, name, journal_url):
        self.name = name
        self.iso, self.web, self.admin = free_port(), free_port(), free_port()
        self.conf = tmp / ('bank-%s.d' % name)
        self.conf.mkdir()
        (self.conf / 'bank.ini').write_text(BANK_INI.format(
            iso=self.iso, web=self.web, bank_db=journal_url, request_timeout=REQUEST_TIMEOUT))
        (self.conf / 'node.ini').write_text(NODE_INI.format(node=name, admin=self.admin))
        self.data = str(tmp / ('bank-%s-data' % name))
        self.daemon = None
        self.runs = []              # every Daemon it ran, for their logs
        self.stop_seconds = []      # how long each SIGTERM took

    def start(self):
        self.daemon = Daemon(['--role', 'bank', '--conf-dir', str(self.conf),
                              '--data-dir', self.data],
                             name='bank-%s-%d' % (self.name, len(self.runs) + 1))
        self.runs.append(self.daemon)
        self.daemon.wait_for('Web server listen at .*:%d' % self.web)

    def owed(self):
        """Reversals this node owes but has not queued yet (journal away)."""
        return len(OwedReversals(os.path.join(self.data, 'reversals-owed-kota_bogor.jsonl')))


class Cluster:
    """PostgreSQL schemas, the pemda, nodes A and B, HAProxy; `kind` is what
    fault.harness.check reports as the database."""

    kind = 'postgresql'

    def __init__(self, tmp, pemda_url, journal_url):
        self.tmp = tmp
        self.nodes = {name: Node(tmp, name, journal_url) for name in NODES}
        a, b = self.nodes['A'], self.nodes['B']
        self.link_b = TcpProxy(('127.0.0.1', b.iso))     # the pemda's link to node B
        pemda_conf = tmp / 'pemda.d'
        seed_config('test-pemda.ini', pemda_conf, tmp, [
            ('port = 10002', 'port = %d' % a.iso),
            ('timeout = 60', 'timeout = 60\nreconnect_max = 0.5'),
            ('postgresql://user:pass@localhost/db', pemda_url)])
        (pemda_conf / 'node-b.ini').write_text(PEMDA_LINK.format(name='bjb_node_b',
                                                                 port=self.link_b.port))
        (pemda_conf / 'admin.ini').write_text('[admin]\nport = %d\n' % free_port())
        self.pemda_args = ['--role', 'pemda', '--conf-dir', str(pemda_conf),
                           '--data-dir', str(tmp / 'pemda-data')]
        code, out = run_cli(self.pemda_args + ['--initdb', '--demo'], timeout=300)
        assert code == 0, out
        self.pemda_db = open_database(pemda_url)
        self.journal_db = open_database(journal_url)
        self.teller = free_port()
        self.url = 'http://127.0.0.1:%d/rpc' % self.teller
        self.pemda = self.haproxy = None

    # -- processes -----------------------------------------------------------

    def start(self):
        for node in self.nodes.values():
            node.start()
        self.pemda = Daemon(self.pemda_args, name='pemda')
        for node in self.nodes.values():
            self.wait_signed_on(node)
        self.start_haproxy()
        for name in NODES:
            until(lambda: self.server_status(name) == 'UP', 'HAProxy sees node %s UP' % name,
                  timeout=20, step=0.1)

    def wait_signed_on(self, node, start=0, timeout=30):
        node.daemon.wait_for(r'Encode MTI 0810 Data \{.*70: .001.\}', start=start,
                             timeout=timeout)

    def start_haproxy(self):
        self.stats_socket = str(self.tmp / 'haproxy.sock')
        cfg = self.tmp / 'haproxy.cfg'
        cfg.write_text(haproxy_config(self.stats_socket, self.teller, {
            name: (node.web, node.admin) for name, node in self.nodes.items()}))
        check = subprocess.run([haproxy_binary(), '-c', '-f', str(cfg)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert check.returncode == 0, check.stdout
        # -db: in the foreground, its log on stdout.
        self.haproxy = Daemon(['-db', '-f', str(cfg)], name='haproxy',
                              command=[haproxy_binary()])
        until(lambda: os.path.exists(self.stats_socket), 'the HAProxy stats socket', 10)

    def restart(self, name, sig=signal.SIGTERM):
        """Stop node `name` with `sig` (SIGTERM drains it) and start it again;
        the seconds until HAProxy had it DOWN."""
        node = self.nodes[name]
        mark = time.monotonic()
        node.daemon.proc.send_signal(sig)
        exited = gevent.spawn(lambda: (node.daemon.proc.wait(30), time.monotonic())[1])
        down = self.seconds_until_down(name, mark)      # while it drains
        node.stop_seconds.append(exited.get() - mark)
        code = node.daemon.stop()
        assert code == (0 if sig == signal.SIGTERM else -sig), node.daemon.output()[-3000:]
        node.start()
        self.wait_signed_on(node)
        until(lambda: self.server_status(name) == 'UP', 'HAProxy sees node %s UP again'
              % name, timeout=20, step=0.1)
        return down

    def stop(self):
        """Everything down, whatever state it is in; exit codes of the daemons."""
        codes = {}
        for daemon in self.daemons():
            if daemon.proc.poll() is None:
                # HAProxy's soft stop is SIGUSR1 (SIGTERM: exit 143).
                sig = signal.SIGUSR1 if daemon is self.haproxy else signal.SIGTERM
                codes[daemon.name] = daemon.stop(sig, timeout=30)
        self.link_b.close()
        self.pemda_db.close()
        self.journal_db.close()
        return codes

    def kill(self):
        """Last resort on the way out: no process left behind."""
        for daemon in self.daemons():
            daemon.kill()

    def save_logs(self, where):
        """Each daemon's output in a file of directory `where`; `where`."""
        where.mkdir(exist_ok=True)
        for daemon in self.daemons():
            (where / (daemon.name + '.log')).write_text(daemon.output() + '\n')
        return where

    def daemons(self):
        found = [self.haproxy, self.pemda] + [d for n in self.nodes.values() for d in n.runs]
        return [d for d in found if d is not None]

    # -- HAProxy -------------------------------------------------------------

    def stats(self):
        """svname -> status ('UP', 'DOWN', 'UP 1/2', ...) of the nodes' backend."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.stats_socket)
            s.sendall(b'show stat\n')
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        text = b''.join(chunks).decode().lstrip('# ')
        return {row['svname']: row['status'] for row in csv.DictReader(io.StringIO(text))
                if row['pxname'] == 'iso8583d_banks'}

    def server_status(self, name):
        return self.stats().get(name)

    def seconds_until_down(self, name, since, timeout=20):
        """Seconds from `since` (time.monotonic()) until HAProxy marks `name`
        DOWN, i.e. stops sending it requests."""
        until(lambda: self.server_status(name) == 'DOWN', 'HAProxy marks node %s DOWN'
              % name, timeout=timeout, step=0.05)
        return time.monotonic() - since

    # -- the databases -------------------------------------------------------

    def invoices(self, count):
        return invoices(self.pemda_args, count)

    def live_payments(self, invoice_ids):
        return live_payments(self.pemda_db, invoice_ids)

    def unfinished(self, owner=None):
        """Journal entries still `sending` (of node `owner`)."""
        query = JournalEntry.select().where(JournalEntry.state == SENDING)
        if owner is not None:
            query = query.where(JournalEntry.owner == owner)
        with self.journal_db.connection_context():
            return query.count(self.journal_db)

    def taken_over(self):
        return taken_over(self.journal_db)

    def pending(self):
        with self.journal_db.connection_context():
            queued = SafEntry.select().where(SafEntry.state == QUEUED).count(self.journal_db)
        return queued + self.unfinished() + sum(n.owed() for n in self.nodes.values())

    def wait_drained(self, timeout=90):
        """Seconds until no reversal is left to deliver, on either node."""
        started = time.monotonic()
        while self.pending():
            assert time.monotonic() - started < timeout, 'SAF queues not drained in %g s: %s' % (
                timeout, figures(self.journal_db))
            gevent.sleep(0.2)
        return time.monotonic() - started


def haproxy_binary():
    found = shutil.which('haproxy') or ('/usr/sbin/haproxy'
                                        if os.path.exists('/usr/sbin/haproxy') else None)
    assert found, 'haproxy is missing: apt-get install haproxy (make ha-test installs it)'
    return found
