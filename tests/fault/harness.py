"""The fault harness: a pemda and a bank daemon on loopback, a payment stress
through the teller JSON-RPC, and the checker that compares what the teller was
told with the pemda's SISMIOP tables."""
import http.client
import itertools
import json
import os
import signal
import sys
import time

import gevent
from gevent.pool import Pool

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from appliance.roles.bank import journal as J  # noqa: E402
from fixtures.journal_figures import figures  # noqa: E402
from appliance.runtime.config import resolve_db_url  # noqa: E402
from appliance.store.db import open_database  # noqa: E402
from appliance.roles.pemda.tables import PembayaranSppt, key_matches  # noqa: E402
from appliance.roles.bank.owed import OwedReversals  # noqa: E402
from appliance.roles.pemda.invoice import InvoiceId  # noqa: E402
from fixtures.daemon import Daemon, free_port, run_cli, seed_config  # noqa: E402

REPORT = []          # one dict of figures per scenario run

# Scale of the stress: make reliability sets it higher than make test does.
SCALE = float(os.environ.get('ISO8583D_RELIABILITY_SCALE', '1'))

REQUEST_TIMEOUT = 2.0

BANK_INI = """
[host_kota_bogor]
ip = 127.0.0.1
port = {iso}
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test
timeout = 60
request_timeout = {request_timeout}
db_url = {bank_db}
saf_retry_interval = 0.5
saf_retry_max = 2
saf_orphan_after = 6

[web]
port = {web}
threads = 50

[web_teller]
route_path = /rpc
host = kota_bogor
module = iso8583_web.scripts.views.jsonrpc
"""


# The pemda's link to another bank node (Chain.another_node).
PEMDA_LINK = """
[host_{name}]
ip = 127.0.0.1
port = {port}
listen = false
streamer = bjb_with_suffix
timeout = 60
reconnect_max = 0.5
module = opensipkd.iso8583.bjb.pbb.bogor_kota
"""


# An aggregator's link to the bank (the forwarder), when a Chain has one: it
# sorts before bank.ini, as the seed's bank-agratek.ini before test-bank.ini.
FORWARDER_INI = """
[host_agratek]
ip = 127.0.0.1
port = {port}
listen = true
streamer = bjb
module = opensipkd.iso8583.bjb.pbb.test_aggregator
db_url = {db}
host = {prefix}:kota_bogor
"""


class Chain:
    """pemda + bank daemons on free ports; `kind` 'sqlite' or 'postgresql'
    (then pemda_url and bank_url are schema URLs on the test server). With
    `forwarder_prefix`, the bank also forwards an aggregator's requests of
    that invoice prefix (its port: .agratek) into the journal's database."""

    def __init__(self, tmp_path, kind, pemda_url=None, bank_url=None, pemda_admin=False,
                 forwarder_prefix=None, bank_dropin=None):
        self.kind = kind
        self.tmp = tmp_path
        self.iso, self.web = free_port(), free_port()
        self.url_path = '/rpc'
        pemda_conf = tmp_path / 'pemda.d'
        pemda_db = pemda_url or 'sqlite:///demo.db'
        self.bank_db = bank_url or 'sqlite:///bank.db'
        seed_config('test-pemda.ini', pemda_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso),
            ('timeout = 60', 'timeout = 60\nreconnect_max = 0.5'),
            ('postgresql://user:pass@localhost/db', pemda_db)])
        # The pemda's status page (/status), when a test reads it.
        self.admin = free_port() if pemda_admin else None
        if pemda_admin:
            (pemda_conf / '50-admin.ini').write_text('[admin]\nport = %d\n' % self.admin)
        bank_conf = tmp_path / 'bank.d'
        bank_conf.mkdir()
        (bank_conf / 'bank.ini').write_text(BANK_INI.format(
            iso=self.iso, web=self.web, bank_db=self.bank_db,
            request_timeout=REQUEST_TIMEOUT))
        # More of the bank's settings ([node], ...): a drop-in read after bank.ini.
        self.bank_dropin = bank_dropin
        if bank_dropin:
            (bank_conf / 'node.ini').write_text(bank_dropin)
        self.agratek = None
        self.forwarder_prefix = forwarder_prefix
        if forwarder_prefix:
            self.agratek = free_port()
            (bank_conf / 'agratek.ini').write_text(FORWARDER_INI.format(
                port=self.agratek, db=self.bank_db, prefix=forwarder_prefix))
        self.pemda_data = str(tmp_path / 'pemda-data')
        self.bank_data = str(tmp_path / 'bank-data')
        self.pemda_args = ['--role', 'pemda', '--conf-dir', str(pemda_conf),
                           '--data-dir', self.pemda_data]
        self.bank_args = ['--role', 'bank', '--conf-dir', str(bank_conf),
                          '--data-dir', self.bank_data]
        code, out = run_cli(self.pemda_args + ['--initdb', '--demo'], timeout=300)
        assert code == 0, out
        self.pemda_db = open_database(resolve_db_url(pemda_db, self.pemda_data))
        self.journal_db = open_database(resolve_db_url(self.bank_db, self.bank_data))
        self.bank = self.pemda = None
        self.start_bank()
        self.start_pemda()

    # -- daemons -------------------------------------------------------------------

    def start_bank(self):
        self.bank = Daemon(self.bank_args, name='bank')
        self.bank.wait_for('Web server listen at .*:%d' % self.web)

    def start_pemda(self):
        mark = len(self.bank.lines)
        self.pemda = Daemon(self.pemda_args, name='pemda')
        try:
            self.wait_signed_on(mark)
        except AssertionError as e:
            raise AssertionError('%s\npemda output:\n%s' % (
                e, self.pemda.output()[-4000:])) from None

    def second_bank(self, data='bank2-data'):
        """Another bank process (another node: its own data directory) on the
        same journal and forwarder databases, with its own ports; its pemda
        link is never connected. Started; the Daemon."""
        conf = self.tmp / (data + '.d')
        conf.mkdir(exist_ok=True)
        shared = resolve_db_url(self.bank_db, self.bank_data)
        (conf / 'bank.ini').write_text(BANK_INI.format(
            iso=free_port(), web=free_port(), bank_db=shared,
            request_timeout=REQUEST_TIMEOUT))
        (conf / 'agratek.ini').write_text(FORWARDER_INI.format(
            port=free_port(), db=shared, prefix=self.forwarder_prefix))
        daemon = Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                         str(self.tmp / data)], name='bank2')
        daemon.wait_for('Web server listen at')
        return daemon

    def another_node(self, name):
        """Another bank process on the same journal database with ports and a
        data directory of its own, and a link of the pemda to it (the pemda
        is restarted with it): (its Daemon, its teller's port)."""
        conf = self.tmp / (name + '.d')
        conf.mkdir()
        iso, web = free_port(), free_port()
        (conf / 'bank.ini').write_text(BANK_INI.format(
            iso=iso, web=web, bank_db=resolve_db_url(self.bank_db, self.bank_data),
            request_timeout=REQUEST_TIMEOUT))
        if self.bank_dropin:
            (conf / 'node.ini').write_text(self.bank_dropin)
        daemon = Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                         str(self.tmp / (name + '-data'))], name=name)
        daemon.wait_for('Web server listen at .*:%d' % web)
        (self.tmp / 'pemda.d' / ('link-%s.ini' % name)).write_text(PEMDA_LINK.format(
            name=name, port=iso))
        assert self.pemda.stop(timeout=30) == 0
        self.start_pemda()
        daemon.wait_for(r'Encode MTI 0810 Data \{.*70: .001.\}')
        return daemon, web

    def wait_signed_on(self, mark=0, timeout=30):
        self.bank.wait_for(r'Encode MTI 0810 Data \{.*70: .001.\}', start=mark,
                           timeout=timeout)

    def stop(self):
        codes = []
        for daemon in (self.pemda, self.bank):
            if daemon is not None:
                codes.append(daemon.stop(timeout=30))
        self.pemda_db.close()
        self.journal_db.close()
        return codes

    # -- the teller ---------------------------------------------------------------

    def rpc(self, method, params, timeout=30):
        """The JSON-RPC result, or {'code': 'http', 'message': ...} when the
        bank could not be reached or dropped the call."""
        return rpc(self.web, self.url_path, method, params, timeout)

    def invoices(self, count):
        return invoices(self.pemda_args, count)

    # -- the pemda's side --------------------------------------------------------

    def live_payments(self, invoice_ids):
        return live_payments(self.pemda_db, invoice_ids)

    def saf_pending(self):
        with self.journal_db.connection_context():
            queued = J.SafEntry.select().where(J.SafEntry.state == J.QUEUED).count(
                self.journal_db)
            sending = J.JournalEntry.select().where(
                J.JournalEntry.state == J.SENDING).count(self.journal_db)
        # Reversals the bank owes but has not queued yet (its journal was away).
        owed = len(OwedReversals(os.path.join(self.bank_data,
                                              'reversals-owed-kota_bogor.jsonl')))
        return queued + sending + owed

    def wait_drained(self, timeout=90):
        started = time.monotonic()
        while self.saf_pending():
            assert time.monotonic() - started < timeout, (
                'SAF queue not drained in %g s: %s' % (timeout, figures(self.journal_db)))
            gevent.sleep(0.2)
        return time.monotonic() - started


def invoices(pemda_args, count):
    """`count` invoice ids the pemda started with `pemda_args` can bill
    (`iso8583d invoices`)."""
    code, out = run_cli(['invoices'] + pemda_args + ['--limit', str(count)])
    assert code == 0, out
    return out.split()


def live_payments(pemda_db, invoice_ids):
    """invoice id -> number of pembayaran_sppt rows with an amount > 0."""
    counts = {}
    with pemda_db.connection_context():
        for invoice_id in invoice_ids:
            key = InvoiceId.parse(invoice_id).key()
            counts[invoice_id] = PembayaranSppt.select().where(
                key_matches(PembayaranSppt, key)
                & (PembayaranSppt.jml_sppt_yg_dibayar > 0)).count(pemda_db)
    return counts


def rpc(port, path, method, params, timeout=30):
    """A teller's JSON-RPC call to the bank on `port`: its result, or
    {'code': 'http', 'message': ...} when the bank could not be reached or
    dropped the call."""
    body = json.dumps({'jsonrpc': '2.0', 'id': 1, 'method': method, 'params': [params]})
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('POST', path, body, {'Content-Type': 'application/json'})
        reply = conn.getresponse()
        return json.loads(reply.read())['result']
    except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
        return {'code': 'http', 'message': repr(e)}
    finally:
        conn.close()


class Stress:
    """Inquiry then payment of each invoice, `concurrency` at a time; the
    outcome of each payment as the teller saw it."""

    def __init__(self, chain, invoices, concurrency=8):
        self.chain = chain
        self.invoices = invoices
        self.pool = Pool(concurrency)
        self.outcomes = {}           # invoice -> (kind, result)
        self.done = 0
        self.paying = 0              # payments on their way right now
        self.repeats = 0             # payments asked again with the same NTB
        self.ntb = itertools.count(int(time.time()) % 100000 * 10000)

    def start(self):
        self.greenlet = gevent.spawn(self._run)
        return self

    def _run(self):
        for invoice in self.invoices:
            self.pool.spawn(self._one, invoice)
            gevent.sleep(0.005)
        self.pool.join()

    def _one(self, invoice):
        for _ in range(40):       # the bank or the pemda may be away for a while
            inquiry = self.chain.rpc('inquiry', {'invoice_id': invoice})
            if inquiry.get('code') not in ('http', 91):
                break
            gevent.sleep(0.25)
        if inquiry.get('code') != 0 or inquiry['data'].get('39') != '00':
            self.outcomes[invoice] = ('no-inquiry', inquiry)   # nothing sent to pay
            self.done += 1
            return
        amount = int(inquiry['data']['4'])
        params = {'invoice_id': invoice, 'amount': amount, 'ntb': str(next(self.ntb))}
        # As a teller does: when the bank's answer did not arrive (connection
        # dropped) or the payment is still in progress, ask again with the
        # same invoice and NTB; the journal answers without a second 0200.
        self.paying += 1
        try:
            for attempt in range(120):
                result = self.chain.rpc('payment', params)
                if result.get('code') not in ('http', 94):
                    break
                self.repeats += 1
                gevent.sleep(0.25)
        finally:
            self.paying -= 1
        ok = result.get('code') == 0 and result.get('data', {}).get('39') == '00'
        self.outcomes[invoice] = ('ok' if ok else 'failed', result)
        self.done += 1

    def wait_done(self, fraction, timeout=120):
        deadline = time.monotonic() + timeout
        while self.done < fraction * len(self.invoices):
            assert time.monotonic() < deadline, 'stress stuck at %d' % self.done
            gevent.sleep(0.005)      # a fast pemda does dozens of payments in 50 ms

    def wait_paying(self, timeout=60):
        """Until a payment is on its way (a fault then meets a payment)."""
        deadline = time.monotonic() + timeout
        while not self.paying:
            assert time.monotonic() < deadline, 'no payment started'
            gevent.sleep(0.001)

    def assert_running(self):
        """The fault about to be injected strikes while payments are still to
        come (a fast pemda can finish a small stress before it)."""
        assert self.done < len(self.invoices), 'the stress ended before the fault'

    def join(self, timeout=300):
        self.greenlet.get(timeout=timeout)


def check(chain, stress, before, scenario, faults, drain_seconds, mismatched_accepted=0,
          **extra):
    """Compare the teller's outcomes with the pemda's rows; the figures.
    `mismatched_accepted`: reversals that matched no payment yet were
    answered 00 (forged reversals scenario); `extra`: more figures for the
    report row."""
    after = chain.live_payments(stress.invoices)
    lost, doubled, wrong = 0, 0, []
    for invoice in stress.invoices:
        kind, result = stress.outcomes[invoice]
        booked = after[invoice] - before[invoice]
        if booked > 1:
            doubled += 1
            wrong.append((invoice, kind, booked, result))
        elif kind == 'ok' and booked != 1 or kind != 'ok' and booked != 0:
            lost += 1
            wrong.append((invoice, kind, booked, result))
    counted = figures(chain.journal_db)
    kinds = [k for k, _ in stress.outcomes.values()]
    codes = {}
    for kind, result in stress.outcomes.values():
        if kind == 'failed':
            codes[str(result.get('code'))] = codes.get(str(result.get('code')), 0) + 1
    row = dict(scenario=scenario, db=chain.kind, faults=faults,
               transactions=kinds.count('ok') + kinds.count('failed'),
               ok=kinds.count('ok'), failed=kinds.count('failed'), lost=lost,
               doubled=doubled, reversals_sent=counted['reversals_sent'],
               reversals_repeated=counted['reversals_repeated'],
               drain_seconds=drain_seconds, teller_repeats=stress.repeats,
               mismatched_accepted=mismatched_accepted,
               failure_codes=codes, saf=counted['saf'],
               journal=counted['journal'], **extra)
    REPORT.append(row)
    assert (lost, doubled, mismatched_accepted) == (0, 0, 0), wrong[:10]
    assert counted['saf'].get(J.EXPIRED, 0) == 0, counted
    return row


def freeze(daemon, seconds):
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        gevent.sleep(seconds)
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)


class TcpProxy:
    """A tiny gevent TCP proxy to `target` (e.g. the PostgreSQL server): down()
    cuts every connection through it and refuses new ones until up(). The
    real server is never touched."""

    def __init__(self, target):
        from gevent.server import StreamServer
        self.target = target
        self.is_up = True
        self.pairs = set()
        self.server = StreamServer(('127.0.0.1', 0), self._handle)
        self.server.start()
        self.port = self.server.server_port

    def url(self, url):
        """`url` with its host and port replaced by this proxy's."""
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        user = parts.netloc.rpartition('@')[0]
        netloc = (user + '@' if user else '') + '127.0.0.1:%d' % self.port
        return parts._replace(netloc=netloc).geturl()

    def _handle(self, sock, address):
        import socket
        if not self.is_up:
            sock.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            sock.close()
            return
        pair = (sock, upstream)
        self.pairs.add(pair)
        try:
            gevent.joinall([gevent.spawn(self._pipe, sock, upstream),
                            gevent.spawn(self._pipe, upstream, sock)])
        finally:
            self.pairs.discard(pair)

    def _pipe(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                _shut(s)

    def down(self):
        self.is_up = False
        for pair in list(self.pairs):
            for s in pair:
                _shut(s)

    def up(self):
        self.is_up = True

    def close(self):
        self.down()
        self.server.close()


def _shut(sock):
    import socket
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
