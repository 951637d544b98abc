"""Fault scenarios (make reliability): real pemda and bank daemons, a payment
stress, one fault injected, then a check of the teller's outcomes against the
pemda's database. Each scenario adds a line of figures to the report printed
at the end of the run."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import REPORT  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    if not REPORT:
        return
    write = terminalreporter.write_line
    terminalreporter.section('reliability figures')
    header = ('scenario', 'db', 'faults', 'payments', 'ok', 'failed', 'lost', 'doubled',
              'reversals sent', 'repeated', 'drain s', 'mismatched reversals accepted')
    write('%-28s %-10s %6s %8s %5s %6s %4s %7s %14s %8s %7s %30s' % header)
    for r in REPORT:
        write('%-28s %-10s %6d %8d %5d %6d %4d %7d %14d %8d %7.1f %30d' % (
            r['scenario'], r['db'], r['faults'], r['transactions'], r['ok'], r['failed'],
            r['lost'], r['doubled'], r['reversals_sent'], r['reversals_repeated'],
            r['drain_seconds'], r.get('mismatched_accepted', 0)))
    path = os.environ.get('ISO8583D_RELIABILITY_REPORT')
    if path:
        import json
        with open(path, 'a') as f:
            for r in REPORT:
                f.write(json.dumps(r) + '\n')
