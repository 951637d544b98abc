"""make ha-test: two bank nodes behind HAProxy (tests/ha/cluster.py). Prints
one line of figures per scenario at the end, failed or not."""
from fault.harness import REPORT

# (title, width, key of the report row, format); the scenario is left-aligned.
COLUMNS = (('scenario', 34, 'scenario', 's'), ('payments', 8, 'transactions', 'd'),
           ('ok', 5, 'ok', 'd'), ('failed', 6, 'failed', 'd'), ('lost', 4, 'lost', 'd'),
           ('doubled', 7, 'doubled', 'd'), ('taken over', 10, 'taken_over', 'd'),
           ('s until DOWN', 12, 'down_seconds', 's'), ('drain s', 7, 'drain_seconds', '.1f'),
           ('asked again', 11, 'teller_repeats', 'd'))


def _line(values):
    return ' '.join(format(v, ('<' if i == 0 else '>') + str(width) + kind)
                    for i, (v, (_, width, _, kind)) in enumerate(zip(values, COLUMNS)))


def pytest_terminal_summary(terminalreporter):
    rows = [r for r in REPORT if 'down_seconds' in r]
    if not rows:
        return
    write = terminalreporter.write_line
    terminalreporter.section('two nodes behind HAProxy')
    write(' '.join(format(c[0], ('<' if i == 0 else '>') + str(c[1]))
                   for i, c in enumerate(COLUMNS)))
    for r in rows:
        write(_line([r[c[2]] for c in COLUMNS]))
    for r in rows:
        if r['failure_codes']:
            write('%s: failed payments by teller code: %s' % (r['scenario'], ', '.join(
                '%s x %d' % item for item in sorted(r['failure_codes'].items()))))
        if r['notes']:
            write('%s: %s' % (r['scenario'], r['notes']))
