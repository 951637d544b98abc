"""Old against new, interleaved: `make bench-ab OLD=<commit>`.

    .venv/bin/python tests/bench/ab.py OLD [--rounds 3] [--seconds 5]
        [--only link,sqlite-inquiry,sqlite-logged,sqlite-payment,postgresql-payment,
                postgresql-teller]
        [--out build/bench/ab.json]

The speed of a shared VM drifts by a third within minutes, so a change is
measured against the commit before it in one session, alternately: OLD is
checked out into a throwaway `git worktree`, and each round runs every load
once from OLD's tree and once from this one. The loads: the link bench at 10
in flight (with its raw ceiling), and a bank and pemda chain on 20,000 demo
bills driven by wrk at 100 connections (sqlite-logged: inquiries with the seed's
logging on, as `make bench`'s logging part; postgresql-teller: by iso8583d-client,
an inquiry then a payment for each of TELLER_BILLS bills). The daemons and the link's processes
import `appliance` from their own tree (common.started_in). Prints one line
per run and writes them all as JSON; the worktree is removed at the end.
"""
from gevent import monkey

monkey.patch_all()

from appliance import patch  # noqa: E402,F401  (as the daemons do: psycopg2 yields to gevent)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import e2e  # noqa: E402
import link  # noqa: E402
from common import say  # noqa: E402

LOADS = ('link', 'sqlite-inquiry', 'sqlite-logged', 'sqlite-payment', 'postgresql-payment',
         'postgresql-teller')
BILLS = 20000
TELLER_BILLS = 2000
CONNECTIONS = 100


def link_run(workdir, tree, seconds):
    (row,) = link.run(workdir, levels=(10,), seconds=min(seconds, 3.0), tree=tree)
    ours, raw = row['ours'], row['raw']
    return {'per_s': ours['per_s'], 'p99_ms': ours['latency_ms']['p99'],
            'cpu_ms': ours['cpu_s_per_1000'], 'raw_per_s': raw['per_s']}


def chain_run(workdir, tree, seconds, kind, method):
    logged = method == 'logged'          # inquiries, the seed's log lines on
    chain = e2e.Chain(workdir, kind, BILLS, tree=tree, seed_logging=logged)
    method = 'inquiry' if logged else method
    try:
        payables = chain.payables()
        if method == 'teller':
            invoices = e2e._file(workdir, 'teller.txt', [(i,) for i, _ in payables[:TELLER_BILLS]])
            result = e2e.client(chain.url, ['--invoice-file', invoices, '--payment'],
                                CONNECTIONS, TELLER_BILLS, chain.pids())
            return _brief(result)
        if method == 'payment':
            chain.record_inquiries(payables)
            invoices = e2e._file(workdir, 'pay.txt', payables)
        else:
            invoices = e2e._file(workdir, 'inquire.txt', [(i,) for i, _ in payables[:5000]])
        result = e2e.wrk(chain.url, method, invoices, CONNECTIONS, seconds, chain.pids())
    finally:
        chain.stop()
    return _brief(result)


def _brief(result):
    return {'tps': result['tps'], 'failures': result['failures'],
            'p99_ms': result['latency_ms']['p99'], 'cpu_ms': result['cpu_s_per_1000']}


def run_load(load, workdir, tree, seconds):
    if load == 'link':
        return link_run(workdir, tree, seconds)
    kind, method = load.split('-')
    return chain_run(workdir, tree, seconds, kind, method)


def show(round_no, load, side, result):
    cpu = ' '.join('%s %.3f' % item for item in sorted(result['cpu_ms'].items()))
    if load == 'link':
        say('round %d %-18s %s %7d round trips/s  p99 %s ms  cpu ms %s  (raw %d/s)' % (
            round_no, load, side, result['per_s'], result['p99_ms'], cpu, result['raw_per_s']))
    else:
        say('round %d %-18s %s %7.1f tx/s  p99 %s ms  failures %d  cpu ms %s' % (
            round_no, load, side, result['tps'], result['p99_ms'], result['failures'], cpu))


def worktree(commit, parent):
    """OLD checked out under `parent`; its path."""
    path = os.path.join(parent, 'old')
    subprocess.run(['git', '-C', common.ROOT, 'worktree', 'add', '--detach', path, commit],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def imported_from(tree):
    """Where a child started as the loads start theirs finds `appliance`."""
    started = common.started_in(tree)
    env = dict(os.environ, **started.get('env', {}))
    return subprocess.run([common.PYTHON, '-c', 'import appliance; print(appliance.__file__)'],
                          cwd=started.get('cwd', common.ROOT), env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('old', help='the commit to compare this checkout with')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=5.0, help='per wrk load')
    parser.add_argument('--only', default=','.join(LOADS))
    parser.add_argument('--out', default=os.path.join(common.ROOT, 'build', 'bench', 'ab.json'))
    args = parser.parse_args(argv)
    loads = args.only.split(',')
    unknown = sorted(set(loads) - set(LOADS))
    if unknown:
        parser.error('unknown load %s; choose from %s' % (', '.join(unknown), ', '.join(LOADS)))
    if not shutil.which('wrk') and any(load != 'link' for load in loads):
        raise SystemExit('wrk is missing: apt-get install wrk (make bench-ab does)')
    scratch = tempfile.mkdtemp(prefix='iso8583d-ab-')
    try:
        old = worktree(args.old, scratch)
    except subprocess.CalledProcessError:
        shutil.rmtree(scratch, ignore_errors=True)
        raise SystemExit('cannot check out %r: is it a commit of this repository?' % args.old)
    trees = (('old', old), ('new', None))
    runs = []
    try:
        for side, tree in trees:
            where = imported_from(tree)
            if not where.startswith((tree or common.ROOT) + os.sep):
                raise SystemExit('the %s side would import appliance from %s' % (side, where))
        for round_no in range(1, args.rounds + 1):
            for load in loads:
                for side, tree in trees:
                    workdir = os.path.join(scratch, '%d-%s-%s' % (round_no, load, side))
                    result = run_load(load, workdir, tree, args.seconds)
                    show(round_no, load, side, result)
                    runs.append(dict(result, round=round_no, load=load, side=side))
    finally:
        subprocess.run(['git', '-C', common.ROOT, 'worktree', 'remove', '--force', old],
                       check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump({'old': args.old, 'new': _head(), 'runs': runs}, f, indent=1)
    say('wrote %s' % args.out)


def _head():
    return subprocess.run(['git', '-C', common.ROOT, 'rev-parse', '--short', 'HEAD'],
                          capture_output=True, text=True).stdout.strip()


if __name__ == '__main__':
    main()
