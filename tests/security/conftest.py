"""The adversarial suite (make security): real daemons, real loopback
sockets, one attack per test. Each attack adds a line to the table printed
at the end of the run: attack, tries, answered as specified, tracebacks
logged, and the latency of a normal teller request during the attack."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from attacks import REPORT  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    if not REPORT:
        return
    write = terminalreporter.write_line
    terminalreporter.section('attacks')
    write('%-44s %6s %12s %10s %16s' % ('attack', 'tries', 'as specified', 'tracebacks',
                                        'teller ms during'))
    for r in REPORT:
        latency = '-' if r.latency is None else '%.0f' % (r.latency * 1000)
        write('%-44s %6d %12d %10d %16s' % (r.name[:44], r.tries, r.as_specified,
                                           r.tracebacks, latency))
