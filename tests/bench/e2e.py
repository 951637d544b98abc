"""End to end: teller JSON-RPC through a bank daemon to a pemda daemon.

Real processes (`python -m appliance`) from the seed's test-bank.ini and
test-pemda.ini on free loopback ports, logging at WARNING, the pemda on a
fresh SQLite file or a fresh PostgreSQL schema with `bills` demo bills
(appliance.roles.pemda.demo.load_demo). Each load is driven by wrk (rpc.lua) and by
iso8583d-client at several concurrencies; the HTTP ceiling (ceiling.py) is
driven the same way in the same run.

Payments: every request pays a distinct unpaid bill with its amount due, so
none is refused as already paid. The amounts are computed here from the bill
rows with the biller's own calc functions; a teller inquires before paying
(the pemda refuses a payment without an earlier inquiry), and the bench
records those inquiries directly in the database instead of sending them.
After the runs the database is checked: one live pembayaran_sppt row per
bill paid, none doubled, every paid bill with its row and its payment record.
"""
import os
import re
import resource
import subprocess
import time
import uuid
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode, urlsplit

import gevent

from common import (HERE, PYTHON, TESTS, Process, Usage, free_port, rss_mb, say,
                    started_in, wait_port)

SEED_DIR = os.path.join(TESTS, 'seed')
SEED_INVOICE = '3271010001007002701995'
PG_URL = os.environ.get('ISO8583D_TEST_PG_URL', 'postgresql://127.0.0.1/test')
MODULE = 'opensipkd.iso8583.bjb.pbb.bogor_kota'


# -- the chain ------------------------------------------------------------------

def _seed(name, path, replace, seed_logging=False):
    with open(os.path.join(SEED_DIR, name)) as f:
        text = f.read()
    for old, new in replace:
        assert old in text, '%r is not in %s' % (old, name)
        text = text.replace(old, new)
    if not seed_logging:
        # The seed logs every frame at INFO/DEBUG, to a file and the console;
        # most loads here measure the daemons without those lines.
        text = re.sub(r'(?m)^level = (INFO|DEBUG)$', 'level = WARNING', text)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def pg_admin(statement):
    import psycopg2
    conn = psycopg2.connect(PG_URL, connect_timeout=5)
    try:
        conn.autocommit = True
        conn.cursor().execute(statement)
    finally:
        conn.close()


def pg_schema_url(schema):
    parts = urlsplit(PG_URL)
    query = parse_qsl(parts.query) + [('options', '-csearch_path=%s' % schema)]
    return parts._replace(query=urlencode(query)).geturl()


class Chain:
    """A pemda on `kind` ('sqlite' or 'postgresql') and a bank, linked."""

    def __init__(self, workdir, kind, bills, tree=None, seed_logging=False,
                 journal_on_pg=False):
        """`tree`: run the daemons from that checkout (ab.py), not this one.
        `journal_on_pg`: the bank's journal in the pemda's PostgreSQL schema
        (production's choice) instead of the seed's SQLite file.
        `seed_logging`: keep the seed files' log levels (six lines per message
        on each side, to a file and the console) instead of WARNING."""
        self.workdir, self.kind = workdir, kind
        started_from = started_in(tree)
        self.iso, self.web = free_port(), free_port()
        self.url = 'http://127.0.0.1:%d/rpc' % self.web
        self.schema = None
        if kind == 'sqlite':
            db_url = 'sqlite:///bench.db'
        else:
            self.schema = 'bench_%s' % uuid.uuid4().hex[:12]
            pg_admin('CREATE SCHEMA %s' % self.schema)
            db_url = pg_schema_url(self.schema)
        logs = workdir.rstrip('/') + '/'
        self.pemda_conf = os.path.join(workdir, 'pemda.d')
        self.data_dir = os.path.join(workdir, 'pemda-data')
        _seed('test-pemda.ini', os.path.join(self.pemda_conf, 'test-pemda.ini'), [
            ('/home/sugiana/log/', logs), ('port = 10002', 'port = %d' % self.iso),
            ('postgresql://user:pass@localhost/db', db_url)], seed_logging)
        _seed('test-bank.ini', os.path.join(workdir, 'bank.d', 'test-bank.ini'), [
            ('/home/sugiana/log/', logs), ('port = 10002', 'port = %d' % self.iso),
            ('port = 7000', 'port = %d' % self.web)] + (
                [('module = opensipkd.iso8583.bjb.pbb.test',
                  'module = opensipkd.iso8583.bjb.pbb.test\ndb_url = %s' % db_url)]
                if journal_on_pg else []), seed_logging)
        self.settings = self._settings()
        self.db_url = self._resolved_url()
        self.loaded = self._load(bills)
        self.bank = Process('bank-' + kind, [
            PYTHON, '-m', 'appliance', '--role', 'bank', '--conf-dir',
            os.path.join(workdir, 'bank.d'), '--data-dir', os.path.join(workdir, 'bank-data')],
            workdir, **started_from)
        wait_port(self.web, proc=self.bank)
        self.pemda = Process('pemda-' + kind, [
            PYTHON, '-m', 'appliance', '--role', 'pemda', '--conf-dir', self.pemda_conf,
            '--data-dir', self.data_dir], workdir, **started_from)
        self._wait_ready()
        gevent.sleep(1.0)        # let start-up settle before reading idle memory
        self.idle_rss = {'bank': round(rss_mb(self.bank.pid), 1),
                         'pemda': round(rss_mb(self.pemda.pid), 1)}

    def _settings(self):
        from appliance.cli.settings import load_settings
        return load_settings(SimpleNamespace(files=[], conf_dir=self.pemda_conf,
                                             data_dir=self.data_dir, role='pemda'))

    def _resolved_url(self):
        from appliance.runtime.config import resolve_db_url
        (section,) = self.settings.module_sections.values()
        return resolve_db_url(section.biller.db_url, self.data_dir)

    def biller_settings(self):
        (section,) = self.settings.module_sections.values()
        return section.biller

    def database(self):
        from appliance.store.db import open_database
        return open_database(self.db_url)

    def _load(self, bills):
        from appliance.roles.pemda import demo
        started = time.perf_counter()
        db = self.database()
        try:
            demo.create_tables(db)
            demo.load_demo(db, bills=bills)
        finally:
            db.close()
        seconds = time.perf_counter() - started
        say('%s: %d demo bills loaded in %.1f s' % (self.kind, bills, seconds))
        return {'bills': bills, 'seconds': round(seconds, 1)}

    def _wait_ready(self, timeout=30):
        from appliance.client.http import Connection
        deadline = time.monotonic() + timeout
        body = (b'{"jsonrpc":"2.0","id":1,"method":"inquiry","params":'
                b'[{"invoice_id":"%s"}]}' % SEED_INVOICE.encode())
        while time.monotonic() < deadline:
            for proc in (self.bank, self.pemda):
                if not proc.alive():
                    raise RuntimeError('%s exited: %s' % (proc.name, proc.tail()))
            try:
                answer = Connection(self.url, 'application/json', 5).post(body)
                if b'"code": 0' in answer.body:
                    return
            except Exception:
                pass
            gevent.sleep(0.1)
        raise RuntimeError('the chain did not answer an inquiry within %d s:\n%s\n%s'
                           % (timeout, self.bank.tail(), self.pemda.tail()))

    def pids(self):
        pids = {'bank': self.bank.pid, 'pemda': self.pemda.pid}
        if self.kind == 'postgresql':
            pids['postgres'] = True       # count the server's processes too
        return pids

    def stop(self):
        codes = {'pemda': self.pemda.stop(), 'bank': self.bank.stop()}
        if self.schema:
            pg_admin('DROP SCHEMA %s CASCADE' % self.schema)
        return codes

    # -- bills to pay ---------------------------------------------------------

    def payables(self):
        """[(invoice id, amount due today)] of every bill with something to
        pay, in key order, from the bill rows and the biller's calc."""
        from datetime import date
        from appliance.roles.pemda.tables import BILL_KEY, PAID, PembayaranSppt, Sppt
        from appliance.roles.pemda import calc
        settings = self.biller_settings()
        today = date.today()
        db = self.database()
        try:
            with db.connection_context():
                assert PembayaranSppt.select().where(
                    PembayaranSppt.pembayaran_sppt_ke > 1).count(db) == 0
                columns = [getattr(Sppt, c) for c in BILL_KEY]
                rows = (Sppt.select(*columns, Sppt.pbb_yg_harus_dibayar_sppt,
                                    Sppt.tgl_jatuh_tempo_sppt)
                        .where((Sppt.status_pembayaran_sppt != PAID)
                               & (Sppt.pbb_yg_harus_dibayar_sppt > 0))
                        .order_by(*columns).tuples().execute(db))
                found = []
                for row in rows:
                    invoice = ''.join(row[:len(BILL_KEY)])
                    principal, due_date = row[-2], row[-1]
                    if isinstance(due_date, str):
                        due_date = date.fromisoformat(due_date)
                    amounts = calc.amounts(principal, due_date, int(invoice[18:]), today,
                                           settings.persen_denda,
                                           settings.denda_waiver_before_year)
                    found.append((invoice, amounts.due))
            return found
        finally:
            db.close()

    def record_inquiries(self, invoices):
        """The inquiries a teller makes before paying, written directly."""
        from datetime import datetime
        from peewee import chunked
        from appliance.roles.pemda.tables import Inquiry
        now = datetime.now()
        db = self.database()
        try:
            with db.connection_context(), db.write_transaction():
                for batch in chunked(invoices, 500):
                    Inquiry.insert_many([
                        dict(invoice_id=i, stan='000000', channel='6010', amount=a,
                             created_at=now) for i, a in batch]).execute(db)
        finally:
            db.close()

    def check_payments(self, invoices, reported_ok):
        """Is the database consistent after paying `invoices` (ids)?"""
        from appliance.roles.pemda.tables import (
            BILL_KEY, LIVE, PAID, Payment, PembayaranSppt, Sppt)
        wanted = set(invoices)
        db = self.database()
        try:
            with db.connection_context():
                columns = [getattr(PembayaranSppt, c) for c in BILL_KEY]
                rows = {}
                for row in (PembayaranSppt.select(*columns).where(
                        PembayaranSppt.jml_sppt_yg_dibayar > 0).tuples().execute(db)):
                    key = ''.join(row)
                    rows[key] = rows.get(key, 0) + 1
                paid = set()
                for row in (Sppt.select(*[getattr(Sppt, c) for c in BILL_KEY]).where(
                        Sppt.status_pembayaran_sppt == PAID).tuples().execute(db)):
                    paid.add(''.join(row))
                records = {}
                for invoice_id, in (Payment.select(Payment.invoice_id).where(
                        Payment.status == LIVE).tuples().execute(db)):
                    records[invoice_id] = records.get(invoice_id, 0) + 1
        finally:
            db.close()
        paid_now = paid & wanted
        result = {
            'payments_ok_reported': reported_ok,
            'bills_paid': len(paid_now),
            'doubled_rows': sum(1 for k, n in rows.items() if n > 1),
            'paid_without_row': sum(1 for k in paid_now if rows.get(k, 0) != 1),
            'row_without_paid_bill': sum(1 for k in wanted if rows.get(k) and k not in paid),
            'payment_records': sum(records.get(k, 0) for k in wanted),
            'doubled_records': sum(1 for k in wanted if records.get(k, 0) > 1),
        }
        result['consistent'] = (
            result['doubled_rows'] == 0 and result['paid_without_row'] == 0
            and result['row_without_paid_bill'] == 0 and result['doubled_records'] == 0
            and result['payment_records'] == result['bills_paid'] >= reported_ok)
        return result


# -- load generators -----------------------------------------------------------

def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _more_files():
    from appliance.net.rlimit import raise_file_limit
    raise_file_limit(4096)


def _pids(pids):
    return {name: pid for name, pid in pids.items() if name != 'postgres'}


def _groups(pids):
    """The PostgreSQL server's processes, when the chain uses it."""
    if pids.get('pemda') and pids.get('postgres'):
        return {'postgres': 'postgres'}
    return {}


def wrk(url, method, invoice_file, concurrency, seconds, pids):
    """One wrk run; its JSON line plus rates and resource use."""
    import json
    args = ['wrk', '-t1', '-c%d' % concurrency, '-d%gs' % seconds, '--timeout', '10s',
            '-s', os.path.join(HERE, 'rpc.lua'), url, '--', method, invoice_file]
    before = _children_cpu()
    with Usage(_pids(pids), groups=_groups(pids)) as use:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, preexec_fn=_more_files)
        out, err = proc.communicate(timeout=seconds + 60)
    line = [l for l in out.splitlines() if l.startswith('JSON ')]
    if proc.returncode != 0 or not line:
        raise RuntimeError('wrk failed (%s): %s %s' % (proc.returncode, out[-2000:], err[-2000:]))
    raw = json.loads(line[-1][5:])
    seconds_run = raw['duration_us'] / 1e6
    e = raw['errors']
    socket_errors = e['connect'] + e['read'] + e['write'] + e['timeout']
    done = raw['ok'] + raw['failed']
    result = {
        'driver': 'wrk', 'concurrency': concurrency, 'requests': done,
        'ok': raw['ok'], 'failures': raw['failed'] + socket_errors,
        'seconds': round(seconds_run, 3), 'tps': round(raw['ok'] / seconds_run, 1),
        'latency_ms': {k: round(raw['latency_us'][k] / 1000, 3)
                       for k in ('p50', 'p95', 'p99', 'max')},
        'wrk_errors': e,
    }
    if raw['spare'] or raw['exhausted']:
        result['exhausted'] = True
        result['spare_inquiries'] = raw['spare']
    result.update(use.report(max(done, 1)))
    result['cpu_s_per_1000']['generator'] = round(
        1000 * (_children_cpu() - before) / max(done, 1), 3)
    return result


_LATENCY = re.compile(r'Latency ms: min (\S+) p50 (\S+) p95 (\S+) p99 (\S+) max (\S+)')
_THROUGHPUT = re.compile(r'Throughput ([\d.]+) tx/s: (\d+) requests in ([\d.]+) s')
_FAILED = re.compile(r'Failed (\d+) of (\d+): (.*)')


def client(url, args, concurrency, requests, pids, timeout=600):
    """One iso8583d-client run (text output, parsed); rates and resource use."""
    command = [PYTHON, '-m', 'appliance.client'] + list(args) + [
        '--count', str(concurrency), '--requests', str(requests)]
    if url:
        command[3:3] = ['--url', url]
    before = _children_cpu()
    with Usage(_pids(pids), groups=_groups(pids)) as use:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        out, err = proc.communicate(timeout=timeout)
    latency, throughput = _LATENCY.search(out), _THROUGHPUT.search(out)
    if proc.returncode not in (0, 1) or not throughput:
        raise RuntimeError('iso8583d-client failed (%s): %s %s'
                           % (proc.returncode, out[-2000:], err[-2000:]))
    count, seconds = int(throughput.group(2)), float(throughput.group(3))
    failed = _FAILED.search(out)
    failures = int(failed.group(1)) if failed else 0
    result = {
        'driver': 'iso8583d-client', 'concurrency': concurrency, 'requests': count,
        'ok': count - failures, 'failures': failures, 'seconds': seconds,
        'tps': round((count - failures) / seconds, 1),
        'latency_ms': dict(zip(('p50', 'p95', 'p99', 'max'),
                               (float(v) for v in latency.groups()[1:]))) if latency else {},
    }
    if failed:
        result['failure_reasons'] = failed.group(3)[:300]
    result.update(use.report(max(count, 1)))
    result['cpu_s_per_1000']['generator'] = round(
        1000 * (_children_cpu() - before) / max(count, 1), 3)
    return result


def _file(workdir, name, rows):
    path = os.path.join(workdir, name)
    with open(path, 'w') as f:
        for row in rows:
            f.write(' '.join(str(v) for v in row) + '\n')
    return path


def _show(what, result):
    say('%-34s %5d conc: %7.1f tx/s  p50 %s p99 %s ms  failures %d' % (
        what, result['concurrency'], result['tps'], result['latency_ms'].get('p50'),
        result['latency_ms'].get('p99'), result['failures']))


# -- the runs -----------------------------------------------------------------

def _ceiling_server(workdir):
    """The minimal pywsgi handler, started: (url, process)."""
    port = free_port()
    server = Process('ceiling', [PYTHON, os.path.join(HERE, 'ceiling.py'), str(port)],
                     workdir)
    wait_port(port, proc=server)
    return 'http://127.0.0.1:%d/rpc' % port, server


def ceiling(workdir, levels, seconds):
    """wrk and iso8583d-client against the minimal pywsgi handler."""
    url, server = _ceiling_server(workdir)
    invoices = _file(workdir, 'ceiling-invoices.txt', [(SEED_INVOICE,)])
    rows = []
    try:
        for level in levels:
            by_wrk = wrk(url, 'inquiry', invoices, level, seconds, {'server': server.pid})
            _show('ceiling (pywsgi) by wrk', by_wrk)
            count = _count(by_wrk['tps'], seconds)
            by_client = client(url, ['--invoice-id', SEED_INVOICE], level, count,
                               {'server': server.pid})
            _show('ceiling (pywsgi) by iso8583d-client', by_client)
            rows.append({'concurrency': level, 'wrk': by_wrk, 'client': by_client,
                         'client_vs_wrk': round(by_client['tps'] / by_wrk['tps'], 2)})
    finally:
        server.stop()
    return rows


def _count(rate, seconds, low=1000, high=30000):
    """Requests for a count-bounded run that should last about `seconds`."""
    return int(min(max(rate * seconds, low), high))


def chain(workdir, kind, levels, seconds, bills, pay_cap):
    """Inquiries, then payments, by wrk and by the client, on one database."""
    os.makedirs(workdir, exist_ok=True)
    started = time.perf_counter()
    chain = Chain(workdir, kind, bills)
    result = {'database': kind, 'bills': chain.loaded, 'idle_rss_mb': chain.idle_rss}
    try:
        payables = chain.payables()
        say('%s: %d bills to pay' % (kind, len(payables)))
        inquire = _file(workdir, 'inquiry-invoices.txt', [(i,) for i, _ in payables[:5000]])
        pids = chain.pids()
        inquiries = []
        for level in levels:
            by_wrk = wrk(chain.url, 'inquiry', inquire, level, seconds, pids)
            _show('%s inquiry by wrk' % kind, by_wrk)
            by_client = client(chain.url, ['--invoice-file', inquire], level,
                               _count(by_wrk['tps'], seconds), pids)
            _show('%s inquiry by iso8583d-client' % kind, by_client)
            inquiries.append({'concurrency': level, 'wrk': by_wrk, 'client': by_client})
        result['inquiry'] = inquiries

        # Payments: disjoint slices of the payable bills, one per run.
        chain.record_inquiries(payables)
        queue = list(payables)
        paid_ids, ok = [], 0
        payments = []
        for level in levels:
            part = queue[:pay_cap]
            del queue[:pay_cap]
            if not part:
                break
            paying = _file(workdir, 'pay-wrk-%d.txt' % level, part)
            by_wrk = wrk(chain.url, 'payment', paying, level, seconds, pids)
            _show('%s payment by wrk' % kind, by_wrk)
            paid_ids += [i for i, _ in part]
            count = min(_count(by_wrk['tps'], seconds), len(queue), pay_cap)
            part = queue[:count]
            del queue[:count]
            by_client = None
            if part:
                paying = _file(workdir, 'pay-client-%d.txt' % level, part)
                by_client = client(chain.url, ['--invoice-file', paying, '--payment'], level,
                                   len(part), pids)
                _show('%s payment by iso8583d-client' % kind, by_client)
                paid_ids += [i for i, _ in part]
                ok += by_client['ok']
            ok += by_wrk['ok']
            payments.append({'concurrency': level, 'wrk': by_wrk, 'client': by_client})
        result['payment'] = payments
        result['consistency'] = chain.check_payments(paid_ids, ok)
        say('%s: database after payments: %s' % (kind, result['consistency']))
        result['load_rss_peak_mb'] = _peaks(inquiries + payments)
    finally:
        result['exit_codes'] = chain.stop()
    result['seconds'] = round(time.perf_counter() - started, 1)
    return result


def teller_payments(workdir, seconds, rounds, bills, concurrency=100, tree=None,
                    journal_on_pg=True):
    """PostgreSQL payments as a teller makes them: `iso8583d-client --payment
    --invoice-file` over bills no run has touched, each bill an inquiry then a
    payment, `concurrency` at once; alternately with wrk on the minimal
    handler at the same concurrency, `rounds` times (the VM's speed drifts).
    Then the database is checked. `tree`: the daemons' checkout (ab.py).
    The bank's journal is on the same PostgreSQL server, as production runs
    it: on SQLite (the seed's test-bank.ini) its durable commits hold the
    bank's event loop (`journal_on_pg=False` measures that)."""
    os.makedirs(workdir, exist_ok=True)
    ceiling_url, ceiling_proc = _ceiling_server(workdir)
    chain = Chain(workdir, 'postgresql', bills, tree=tree, journal_on_pg=journal_on_pg)
    runs = {'minimal handler': [], 'teller payments': []}
    paid_ids, ok = [], 0
    try:
        queue = [invoice for invoice, _ in chain.payables()]
        count = 2000            # then what the previous round did in `seconds`
        pin = _file(workdir, 'ceiling-invoices.txt', [(SEED_INVOICE,)])
        for round_no in range(rounds):
            runs['minimal handler'].append(wrk(ceiling_url, 'inquiry', pin, concurrency,
                                               seconds, {'server': ceiling_proc.pid}))
            part, queue = queue[:count], queue[count:]
            if not part:
                raise RuntimeError('no unpaid bills left for round %d: load more' % round_no)
            paying = _file(workdir, 'teller-%d.txt' % round_no, [(i,) for i in part])
            run = client(chain.url, ['--invoice-file', paying, '--payment'], concurrency,
                         len(part), chain.pids())
            _show('teller payments (inquiry + payment)', run)
            runs['teller payments'].append(run)
            paid_ids += part
            ok += run['ok']
            count = _count(run['tps'], seconds, low=500, high=20000)
        best = {name: max(r, key=lambda run: run['tps']) for name, r in runs.items()}
        consistency = chain.check_payments(paid_ids, ok)
        say('teller payments: database after payments: %s' % consistency)
        # Each round's ratio from its own neighbours, and the best against the best.
        ratios = [round(t['tps'] / m['tps'], 3) for m, t in zip(runs['minimal handler'],
                                                                runs['teller payments'])]
        return {'concurrency': concurrency, 'rounds': rounds, 'bills': chain.loaded,
                'runs': runs, 'best': best, 'round_ratios': ratios,
                'ratio': round(best['teller payments']['tps'] / best['minimal handler']['tps'],
                               3),
                'consistency': consistency}
    finally:
        chain.stop()
        ceiling_proc.stop()


def logging_cost(workdir, seconds, rounds, concurrency=100, bills=6000):
    """JSON-RPC inquiries on SQLite by wrk: the minimal handler, the chain with
    the seed's logging on, and the same chain with its log lines off, run
    alternately `rounds` times (the VM's speed drifts); the best of each."""
    os.makedirs(workdir, exist_ok=True)
    ceiling_url, ceiling_proc = _ceiling_server(workdir)
    chains = {'seed logging': Chain(os.path.join(workdir, 'seed'), 'sqlite', bills,
                                    seed_logging=True),
              'log lines off': Chain(os.path.join(workdir, 'quiet'), 'sqlite', bills)}
    runs = {name: [] for name in ['minimal handler'] + list(chains)}
    try:
        invoices = _file(workdir, 'inquiry-invoices.txt',
                         [(i,) for i, _ in chains['seed logging'].payables()[:5000]])
        for _ in range(rounds):
            runs['minimal handler'].append(wrk(ceiling_url, 'inquiry', invoices, concurrency,
                                               seconds, {'server': ceiling_proc.pid}))
            for name, chain in chains.items():
                runs[name].append(wrk(chain.url, 'inquiry', invoices, concurrency, seconds,
                                      chain.pids()))
        best = {name: max(r, key=lambda run: run['tps']) for name, r in runs.items()}
        for name, run in best.items():
            _show('logging cost: %s' % name, run)
        return {'concurrency': concurrency, 'rounds': rounds, 'best': best,
                'log_bytes': {name: _log_bytes(chain.workdir) for name, chain in chains.items()}}
    finally:
        for chain in chains.values():
            chain.stop()
        ceiling_proc.stop()


def _log_bytes(workdir):
    return sum(os.path.getsize(os.path.join(workdir, name))
               for name in ('bank.log', 'pemda.log') if os.path.exists(os.path.join(workdir, name)))


def _peaks(runs):
    peak = {}
    for run in runs:
        for driver in ('wrk', 'client'):
            for name, mb in ((run.get(driver) or {}).get('rss_peak_mb') or {}).items():
                peak[name] = max(peak.get(name, 0), mb)
    return peak
