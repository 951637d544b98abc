"""The cost of durable commits: the bank's two journal writes per payment
(begin, answered) on SQLite with synchronous=NORMAL and with FULL, one
teller at a time and 50 at once (their writes share commits, see
appliance.store.groupcommit). A real disk, not tmpfs: FULL costs an fsync
per commit.

Alone: `.venv/bin/python -m gevent.monkey tests/bench/journal.py [DIR]`
(prints the JSON).
"""
import json
import os
import sys
import tempfile
import time

import gevent

from appliance.iso.message import Message
from appliance.roles.bank.journal import Journal, create_tables
from appliance.store.db import SQLITE_PRAGMAS, SqliteStore

SECONDS = 3.0
_NUMBERS = iter(range(10 ** 9))    # payment numbers, unique across runs (idem keys)


def _payment(n):
    return Message('0200', {3: '541019', 4: '000000019536', 11: '%06d' % (n % 1000000),
                            48: 'B%d' % n, 61: '3271010001007002701995'})


def _journal(path, durable):
    db = SqliteStore(path, max_connections=20, stale_timeout=300, timeout=30)
    create_tables(db)
    journal = Journal(db, 'bench')      # asks for FULL
    if not durable:                     # the seed's NORMAL, for comparison
        db._pragmas = SQLITE_PRAGMAS
        db.close_idle()
    return db, journal


def _run(journal, tellers, seconds):
    """Payments journalled per second with `tellers` greenlets, and the
    p50/p99 latency (ms) of one payment's two writes."""
    latencies = []
    stop = time.monotonic() + seconds

    def teller():
        while time.monotonic() < stop:
            n = next(_NUMBERS)
            started = time.monotonic()
            entry = journal.begin('payment', _payment(n), 'bench|%d' % n)
            journal.answered(entry, '00', {'code': 0, 'message': 'OK', 'data': {}})
            latencies.append(time.monotonic() - started)
    started = time.monotonic()
    gevent.joinall([gevent.spawn(teller) for _ in range(tellers)], raise_error=True)
    elapsed = time.monotonic() - started
    latencies.sort()
    return {'payments_per_s': round(len(latencies) / elapsed),
            'p50_ms': round(latencies[len(latencies) // 2] * 1000, 2),
            'p99_ms': round(latencies[int(len(latencies) * 0.99)] * 1000, 2)}


def run(workdir, seconds=SECONDS):
    os.makedirs(workdir, exist_ok=True)
    report = []
    for durable in (False, True):
        db, journal = _journal(os.path.join(workdir, 'journal-%s.db' % durable), durable)
        with db.connection_context():
            mode = db.execute_sql('PRAGMA synchronous').fetchone()[0]
        for tellers in (1, 50):
            row = {'synchronous': {1: 'NORMAL', 2: 'FULL'}[mode], 'tellers': tellers}
            row.update(_run(journal, tellers, seconds))
            print('journal: %(synchronous)-6s %(tellers)2d tellers: %(payments_per_s)5d '
                  'payments/s, p50 %(p50_ms)s ms, p99 %(p99_ms)s ms' % row, file=sys.stderr)
            report.append(row)
        db.close_all()
    return report


if __name__ == '__main__':
    where = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(
        prefix='iso8583d-journal-', dir=os.path.join(os.path.dirname(__file__), '..', '..',
                                                    'build'))
    print(json.dumps(run(where), indent=1))
