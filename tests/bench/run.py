"""`make bench`: codec, link and end-to-end benchmarks side by side, in one go.

    .venv/bin/python tests/bench/run.py [--only codec,link,e2e,logging,teller,journal]
                                        [--quick]
                                        [--out build/bench/latest.json]

Prints a table (stdout) and writes every number as JSON. Progress lines go to
stderr. Every load is bounded in time or count and runs on loopback only.
See tests/bench/README.md for the method.
"""
from gevent import monkey

monkey.patch_all()

from appliance import patch  # noqa: E402,F401  (as the daemons do: psycopg2 yields to gevent)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import codec  # noqa: E402
import common  # noqa: E402
import e2e  # noqa: E402
import journal  # noqa: E402
import link  # noqa: E402
from common import say  # noqa: E402

LEVELS = (12, 100, 1000)


def machine():
    with open('/proc/cpuinfo') as f:
        models = [l.split(':', 1)[1].strip() for l in f if l.startswith('model name')]
    with open('/proc/loadavg') as f:
        load = f.read().split()[:3]
    return {'cores': os.cpu_count(), 'cpu': models[0] if models else platform.machine(),
            'python': platform.python_version(), 'kernel': platform.release(),
            'loadavg_before': load}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--only', default='codec,link,e2e,logging,teller,journal',
                        help='comma-separated parts to run (default: all; journal: SQLite '
                             'journal writes, NORMAL against FULL; teller: PostgreSQL '
                             'payments by iso8583d-client, inquiry then payment)')
    parser.add_argument('--quick', action='store_true',
                        help='short loads (1 s) and fewer bills: a smoke run, not numbers')
    parser.add_argument('--out', default=os.path.join(common.ROOT, 'build', 'bench',
                                                      'latest.json'))
    parser.add_argument('--keep', action='store_true', help='keep the work dir (logs)')
    args = parser.parse_args(argv)
    parts = set(args.only.split(','))
    seconds = 1.0 if args.quick else 4.0
    # Six payment runs each take a slice of the ~70 % payable bills; a slice
    # must outlast 4 s at the fastest rate seen (~3,000/s) or wrk runs dry.
    bills = 6000 if args.quick else 150000
    pay_cap = 1500 if args.quick else 17000

    if not shutil.which('wrk') and parts & {'e2e', 'logging', 'teller'}:
        raise SystemExit('wrk is missing: apt-get install wrk (make bench does)')
    workdir = tempfile.mkdtemp(prefix='iso8583d-bench-')
    started = time.time()
    report = {'started': time.strftime('%Y-%m-%d %H:%M:%S %z'), 'machine': machine(),
              'quick': args.quick, 'seconds_per_load': seconds, 'workdir': workdir}
    busy0 = common.machine_busy_seconds()
    try:
        if 'codec' in parts:
            say('codec: ours and pyiso8583, interleaved')
            report['codec'] = codec.run(rounds=3 if args.quick else 7)
        if 'link' in parts:
            report['link'] = link.run(os.path.join(workdir, 'link'),
                                      seconds=1.0 if args.quick else 3.0)
        if 'journal' in parts:
            say('journal: two writes per payment, synchronous NORMAL and FULL')
            # Under the repository, not /tmp: a tmpfs would hide the fsyncs.
            disk = os.path.join(common.ROOT, 'build', 'bench')
            os.makedirs(disk, exist_ok=True)
            where = tempfile.mkdtemp(prefix='journal-', dir=disk)
            try:
                report['journal'] = journal.run(where, seconds=1.0 if args.quick else 3.0)
            finally:
                shutil.rmtree(where, ignore_errors=True)
        if 'e2e' in parts:
            report['ceiling'] = e2e.ceiling(os.path.join(workdir, 'ceiling'), LEVELS, seconds)
            for kind in ('sqlite', 'postgresql'):
                report[kind] = e2e.chain(os.path.join(workdir, kind), kind, LEVELS, seconds,
                                         bills, pay_cap)
        if 'logging' in parts:
            say("logging: the seed's log lines on and off, beside the minimal handler")
            report['logging'] = e2e.logging_cost(os.path.join(workdir, 'logging'), seconds,
                                                 rounds=1 if args.quick else 3)
        if 'teller' in parts:
            say('teller: PostgreSQL payments (inquiry + payment each), beside the minimal '
                'handler')
            report['teller'] = e2e.teller_payments(
                os.path.join(workdir, 'teller'), seconds, rounds=1 if args.quick else 3,
                bills=6000 if args.quick else 60000)
    finally:
        report['seconds'] = round(time.time() - started, 1)
        report['machine']['busy_cores_avg'] = round(
            (common.machine_busy_seconds() - busy0) / max(report['seconds'], 1), 2)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        report['targets'] = targets(report)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(report))
    say('wrote %s' % args.out)
    return 0


# -- targets (issue #8) ----------------------------------------------------------

def _find(rows, key, value):
    for row in rows or ():
        if row.get(key) == value:
            return row
    return None


def targets(r):
    """[(target, measured, met)] for the parts that ran."""
    out = []

    def add(name, measured, met):
        out.append({'target': name, 'measured': measured, 'met': bool(met)})

    if 'codec' in r:
        for op in ('encode', 'decode'):
            ratio = r['codec'][op]['ratio']
            add('codec %s >= 2x pyiso8583' % op, '%.2fx' % ratio, ratio >= 2)
    ten = _find(r.get('link'), 'in_flight', 10)
    if ten:
        ours = ten['ours']
        add('link >= 15,000 round trips/s at 10 in flight', '%d/s' % ours['per_s'],
            ours['per_s'] >= 15000)
        add('link p99 < 2 ms at 10 in flight', '%.2f ms' % ours['latency_ms']['p99'],
            ours['latency_ms']['p99'] < 2)
        add('link >= 0.5x raw gevent at 10 in flight', '%.2fx' % ten['ratio'],
            ten['ratio'] >= 0.5)
    sqlite = r.get('sqlite')
    if sqlite and sqlite.get('inquiry'):
        hundred = _find(sqlite['inquiry'], 'concurrency', 100)
        if hundred:
            w = hundred['wrk']
            add('SQLite inquiry >= 2,000 tx/s at 100 concurrent (wrk)', '%.0f tx/s' % w['tps'],
                w['tps'] >= 2000)
            add('SQLite inquiry p99 < 50 ms at 100 concurrent (wrk)',
                '%.1f ms' % w['latency_ms']['p99'], w['latency_ms']['p99'] < 50)
            add('SQLite inquiry 0 failures at 100 concurrent',
                '%d + %d' % (w['failures'], hundred['client']['failures']),
                w['failures'] == 0 and hundred['client']['failures'] == 0)
        thousand = _find(sqlite['inquiry'], 'concurrency', 1000)
        if thousand:
            f = thousand['wrk']['failures'] + thousand['client']['failures']
            add('SQLite inquiry, 1,000 concurrent clients: 0 failures',
                '%d (wrk %d, client %d)' % (f, thousand['wrk']['failures'],
                                            thousand['client']['failures']), f == 0)
    pg = r.get('postgresql')
    if pg and pg.get('payment'):
        best = max(run['wrk']['tps'] for run in pg['payment'])
        failures = sum(run['wrk']['failures'] + ((run['client'] or {}).get('failures') or 0)
                       for run in pg['payment'])
        add('PostgreSQL payment >= 1,000 tx/s (best concurrency, wrk)', '%.0f tx/s' % best,
            best >= 1000)
        add('PostgreSQL payment 0 failures', str(failures), failures == 0)
        add('PostgreSQL database consistent after payments',
            'yes' if pg['consistency']['consistent'] else 'NO: %s' % pg['consistency'],
            pg['consistency']['consistent'])
    if r.get('ceiling'):
        ratios = [row['client_vs_wrk'] for row in r['ceiling']]
        add('iso8583d-client >= 0.5x wrk on the minimal handler (each concurrency)',
            ', '.join('%.2fx' % x for x in ratios), min(ratios) >= 0.5)
    logged = r.get('logging')
    if logged:
        best = logged['best']
        on = best['seed logging']
        ratio = on['tps'] / best['minimal handler']['tps']
        add("seed logging on: JSON-RPC inquiry >= 0.40x the minimal handler (issue #17)",
            '%.2fx' % ratio, ratio >= 0.40)
        add('seed logging on: p99 < 50 ms at 100 connections', '%.1f ms'
            % on['latency_ms']['p99'], on['latency_ms']['p99'] < 50)
        ratio = on['tps'] / best['log lines off']['tps']
        add('seed logging on >= 0.85x the same daemons with the lines off', '%.2fx' % ratio,
            ratio >= 0.85)
    teller = r.get('teller')
    if teller:
        runs = teller['runs']['teller payments']
        failures = sum(run['failures'] for run in runs)
        add('PostgreSQL teller payments (inquiry + payment, 100 concurrent) >= 0.10x the '
            "minimal handler's requests/s (issue #17)", '%.2fx (%.0f/s against %.0f/s)' % (
                teller['ratio'], teller['best']['teller payments']['tps'],
                teller['best']['minimal handler']['tps']), teller['ratio'] >= 0.10)
        add('PostgreSQL teller payments 0 failures', str(failures), failures == 0)
        add('PostgreSQL database consistent after the teller payments',
            'yes' if teller['consistency']['consistent'] else 'NO: %s'
            % teller['consistency'], teller['consistency']['consistent'])
    idle = {}
    for kind in ('sqlite', 'postgresql'):
        for role, mb in ((r.get(kind) or {}).get('idle_rss_mb') or {}).items():
            idle['%s (%s)' % (role, kind)] = mb
    if idle:
        add('idle RSS per role < 60 MB', ', '.join('%s %.0f MB' % i for i in idle.items()),
            max(idle.values()) < 60)
    return out


# -- the table ---------------------------------------------------------------------

def _ms(latency, key):
    value = (latency or {}).get(key)
    return '-' if value is None else ('%.1f' % value if value >= 10 else '%.2f' % value)


def _cpu(run, names):
    cpu = run.get('cpu_s_per_1000') or {}
    return ' '.join('%s' % ('-' if cpu.get(n) is None else '%.2f' % cpu[n]) for n in names)


def table(r):
    m = r['machine']
    lines = ['iso8583d benchmark, %s: %d cores (%s), Python %s; %.0f s; machine busy %.2f '
             'cores on average (all processes)%s' % (
                 r['started'], m['cores'], m['cpu'], m['python'], r['seconds'],
                 m.get('busy_cores_avg', 0), ', QUICK RUN' if r['quick'] else '')]
    if 'codec' in r:
        c = r['codec']
        lines += ['', 'Codec: %s, %d bytes (%s)' % (c['message'], c['bytes'], c['method']),
                  '  %-8s %12s %14s %7s' % ('', 'ours/s', 'pyiso8583/s', 'ratio')]
        for op in ('encode', 'decode'):
            lines.append('  %-8s %12s %14s %6.2fx' % (
                op, '{:,}'.format(c[op]['ours_per_s']), '{:,}'.format(c[op]['pyiso8583_per_s']),
                c[op]['ratio']))
    if r.get('journal'):
        lines += ['', 'Journal on SQLite: begin + answered per payment (durability cost)',
                  '  %-11s %7s %11s %7s %7s' % ('synchronous', 'tellers', 'payments/s',
                                               'p50 ms', 'p99 ms')]
        for row in r['journal']:
            lines.append('  %-11s %7d %11s %7s %7s' % (
                row['synchronous'], row['tellers'], '{:,}'.format(row['payments_per_s']),
                row['p50_ms'], row['p99_ms']))
    if r.get('link'):
        lines += ['', 'Link: ISO8583 round trips between two processes over loopback '
                      '(CPU ms per round trip: sender/answerer)',
                  '  %-9s %9s %7s %7s %11s | %9s %7s %7s %11s | %6s' % (
                      'in flight', 'ours/s', 'p50 ms', 'p99 ms', 'cpu ms', 'raw/s', 'p50 ms',
                      'p99 ms', 'cpu ms', 'ratio')]
        for row in r['link']:
            o, w = row['ours'], row['raw']
            lines.append('  %-9d %9s %7s %7s %11s | %9s %7s %7s %11s | %5.2fx' % (
                row['in_flight'], '{:,}'.format(o['per_s']), _ms(o['latency_ms'], 'p50'),
                _ms(o['latency_ms'], 'p99'), _cpu(o, ('sender', 'answerer')).replace(' ', '/'),
                '{:,}'.format(w['per_s']), _ms(w['latency_ms'], 'p50'),
                _ms(w['latency_ms'], 'p99'), _cpu(w, ('sender', 'answerer')).replace(' ', '/'),
                row['ratio']))
    header = '  %-22s %-6s %-7s %9s %7s %7s %7s %8s  %-27s %5s' % (
        '', 'conc', 'driver', 'tx/s', 'p50 ms', 'p95 ms', 'p99 ms', 'failures',
        'CPU ms/tx bank/pemda/gen/pg', 'other')
    if r.get('ceiling'):
        lines += ['', 'End to end (JSON-RPC over HTTP keep-alive; "other" = cores used by '
                      'processes outside the run)', header]
        for row in r['ceiling']:
            for driver in ('wrk', 'client'):
                run = row[driver]
                lines.append(_e2e_line('ceiling: bare pywsgi', row['concurrency'], driver, run,
                                       ('-', 'server', 'generator')))
    for kind in ('sqlite', 'postgresql'):
        part = r.get(kind)
        if not part:
            continue
        if not r.get('ceiling'):
            lines += ['', 'End to end', header]
        for what in ('inquiry', 'payment'):
            for row in part.get(what) or ():
                for driver in ('wrk', 'client'):
                    run = row.get(driver)
                    if run:
                        names = ('bank', 'pemda', 'generator') + (
                            ('postgres',) if kind == 'postgresql' else ())
                        lines.append(_e2e_line('%s %s' % (kind, what), row['concurrency'],
                                               driver, run, names))
        if part.get('consistency'):
            c = part['consistency']
            lines.append('  %s after payments: %d bills paid (%d answered 00 before the drivers '
                         'stopped), %d payment records, %d doubled rows, %d paid without a '
                         'row -> %s' % (
                             kind, c['bills_paid'], c['payments_ok_reported'],
                             c['payment_records'], c['doubled_rows'], c['paid_without_row'],
                             'consistent' if c['consistent'] else 'INCONSISTENT'))
    if r.get('logging'):
        lines += _logging_lines(r['logging'], header)
    if r.get('teller'):
        lines += _teller_lines(r['teller'], header)
    rss = []
    for kind in ('sqlite', 'postgresql'):
        part = r.get(kind) or {}
        if part.get('idle_rss_mb'):
            rss.append('%s: idle bank %.0f MB, pemda %.0f MB; under load peak bank %.0f MB, '
                       'pemda %.0f MB' % (kind, part['idle_rss_mb']['bank'],
                                          part['idle_rss_mb']['pemda'],
                                          part.get('load_rss_peak_mb', {}).get('bank', 0),
                                          part.get('load_rss_peak_mb', {}).get('pemda', 0)))
    if rss:
        lines += ['', 'Memory (VmRSS)'] + ['  ' + line for line in rss]
    if r.get('targets'):
        lines += ['', 'Targets (issue #8)']
        for t in r['targets']:
            lines.append('  %-4s %-66s %s' % ('met' if t['met'] else 'MISS', t['target'],
                                              t['measured']))
    return '\n'.join(lines)


def _logging_lines(part, header):
    best = part['best']
    base = best['minimal handler']['tps']
    lines = ['', "The seed's logging (test-bank.ini, test-pemda.ini: six lines per message "
                 'on each side, to a file and the console): SQLite inquiry by wrk, best of '
                 '%d alternating rounds' % part['rounds'], header]
    names = {'minimal handler': ('-', 'server', 'generator')}
    for name, run in best.items():
        lines.append(_e2e_line(name, part['concurrency'], 'wrk', run,
                               names.get(name, ('bank', 'pemda', 'generator'))))
    on, off = best['seed logging']['tps'], best['log lines off']['tps']
    lines.append('  seed logging on: %.2fx the minimal handler, %.2fx the same daemons with '
                 'the log lines off; %.0f MB of log lines written' % (
                     on / base, on / off, part['log_bytes']['seed logging'] / 1e6))
    return lines


def _teller_lines(part, header):
    best = part['best']
    lines = ['', 'PostgreSQL payments as a teller makes them (iso8583d-client --payment '
                 '--invoice-file: an inquiry then a payment per bill), best of %d rounds '
                 'alternating with wrk on the minimal handler' % part['rounds'], header]
    lines.append(_e2e_line('minimal handler', part['concurrency'], 'wrk',
                           best['minimal handler'], ('-', 'server', 'generator')))
    lines.append(_e2e_line('teller payments', part['concurrency'], 'client',
                           best['teller payments'], ('bank', 'pemda', 'generator', 'postgres')))
    c = part['consistency']
    lines.append('  payments/s: %.2fx the minimal handler\'s requests/s (rounds: %s); %d bills '
                 'paid, %d records, %d doubled -> %s' % (
                     part['ratio'], ', '.join('%.2fx' % x for x in part['round_ratios']),
                     c['bills_paid'], c['payment_records'], c['doubled_rows'],
                     'consistent' if c['consistent'] else 'INCONSISTENT'))
    return lines


def _e2e_line(what, concurrency, driver, run, cpu_names):
    lat = run.get('latency_ms') or {}
    note = ' (list used up)' if run.get('exhausted') else ''
    return '  %-22s %-6d %-7s %9.1f %7s %7s %7s %8d  %-27s %5.2f%s' % (
        what, concurrency, 'wrk' if driver == 'wrk' else 'client', run['tps'],
        _ms(lat, 'p50'), _ms(lat, 'p95'), _ms(lat, 'p99'), run['failures'],
        _cpu(run, cpu_names).replace(' ', '/'), run.get('other_cores', 0), note)


if __name__ == '__main__':
    sys.exit(main())
