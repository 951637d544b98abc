"""Two bank processes share one forwarder (and journal) database: the
second one is SIGKILLed mid-run and restarted while the first has forwarded
payments in flight. Its start must not reverse them: every payment the
aggregator heard 00 is booked once, every other not booked once the queues
drain. Figures: conftest.py (make reliability)."""
import os
import signal

import gevent
import pytest

from harness import SCALE, check
from test_forged import Forwarded, chain  # noqa: F401  (chain: the forwarding chain fixture)


# PostgreSQL only: two nodes on one SQLite file are refused (test_heartbeat).
@pytest.mark.parametrize('chain', [pytest.param('postgresql', marks=pytest.mark.pg)],
                         indirect=True)
def test_a_bank_process_restarted_on_a_shared_forwarder_database_leaves_the_others_payments_alone(
        chain):
    invoices = chain.invoices(max(8, int(12 * SCALE)))
    before = chain.live_payments(invoices)
    second = chain.second_bank()
    forwarded = Forwarded(chain, invoices)
    paying = gevent.spawn(forwarded.pay_all)
    try:
        while len(forwarded.outcomes) < 2:
            gevent.sleep(0.01)
        second.kill()                                   # SIGKILL mid-run
        os.kill(chain.pemda.proc.pid, signal.SIGSTOP)   # the next payment stays in flight
        try:
            second = chain.second_bank()                # its start meets it
        finally:
            os.kill(chain.pemda.proc.pid, signal.SIGCONT)
        paying.get(timeout=120)
    finally:
        forwarded.aggregator.close()
        assert second.stop() == 0, second.output()[-3000:]
    assert 'left without an outcome' not in second.output()
    drain = chain.wait_drained()
    check(chain, forwarded, before, 'two banks, one forwarder db', 1, drain)
