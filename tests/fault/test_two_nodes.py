"""The "Why" of issue 18: two bank nodes share one PostgreSQL journal, the
pemda has a link to each, tellers pay through both; node A is SIGKILLed
mid-run (a third of its payments done) and left dead. Node B takes over
A's unknown outcomes once A's heartbeat expired, so once the queues drain:
lost 0 (answered 00, not booked), paid-but-failed 0 (booked, the teller
never heard 00, no reversal undid it), doubled 0. Figures: conftest.py
(make reliability)."""
import pytest

from harness import Chain, Stress, check, rpc
from fixtures.journal_figures import taken_over

PER_NODE = 60           # invoices paid through each node's teller
CONCURRENCY = 30        # at a time, per node
KILL_AT = 1 / 3         # of node A's payments done: the rest are in flight or to come

NODES = """
[host_kota_bogor]
saf_orphan_after = 20

[node]
heartbeat_interval = 1
expire_after = 5
"""


class Teller:
    """A teller's calls, to the first of `ports` that answers (as a load
    balancer would send them on when a node is down)."""

    def __init__(self, *ports):
        self.ports = ports

    def rpc(self, method, params, timeout=30):
        for port in self.ports:
            result = rpc(port, '/rpc', method, params, timeout)
            if result.get('code') != 'http':
                break
        return result


class Both:
    """The outcomes of two stresses, as check() reads one."""

    def __init__(self, *stresses):
        self.invoices = [i for s in stresses for i in s.invoices]
        self.outcomes = {i: o for s in stresses for i, o in s.outcomes.items()}
        self.repeats = sum(s.repeats for s in stresses)


@pytest.mark.pg
def test_a_node_killed_and_left_dead_has_its_unknown_outcomes_reversed_by_the_other(
        pg_schema_url, tmp_path):
    chain = Chain(tmp_path, 'postgresql', pemda_url=pg_schema_url, bank_url=pg_schema_url,
                  bank_dropin=NODES)
    node_b = None
    try:
        node_b, web_b = chain.another_node('nodeb')
        invoices = chain.invoices(2 * PER_NODE)
        before = chain.live_payments(invoices)
        via_a = Stress(Teller(chain.web, web_b), invoices[:PER_NODE], CONCURRENCY).start()
        via_b = Stress(Teller(web_b), invoices[PER_NODE:], CONCURRENCY).start()
        # By progress, not by the clock: a faster pemda once finished the
        # stress before a kill timed at 0.7 s.
        via_a.wait_done(KILL_AT)
        via_a.wait_paying()
        via_a.assert_running()
        chain.bank.kill()                       # SIGKILL, never restarted
        via_a.join()
        via_b.join()
        drain = chain.wait_drained(timeout=120)
        both = Both(via_a, via_b)
        after = chain.live_payments(invoices)
        booked = {i: after[i] - before[i] for i in invoices}
        said_ok = {i for i in invoices if both.outcomes[i][0] == 'ok'}
        lost = sum(1 for i in said_ok if booked[i] == 0)
        paid_but_failed = sum(1 for i in invoices if i not in said_ok and booked[i] > 0)
        doubled = sum(1 for i in invoices if booked[i] > 1)
        taken = taken_over(chain.journal_db)
        print('two nodes, A SIGKILLed: payments %d, ok %d, lost %d, paid-but-failed %d, '
              'doubled %d, reversals taken over %d, drain %.1f s' % (
                  len(invoices), len(said_ok), lost, paid_but_failed, doubled, taken, drain))
        assert (lost, paid_but_failed, doubled) == (0, 0, 0), (
            [(i, both.outcomes[i], booked[i]) for i in invoices
             if booked[i] != (i in said_ok)][:10])
        check(chain, both, before, 'node A SIGKILLed, B takes over', 1, drain)
        assert taken > 0, 'node A left nothing in flight to take over'
        node_b.wait_for(r'node \S+ takes over \d+ unfinished entries of node \S+ '
                        r'\(last heartbeat \d+ s ago\)', timeout=1)
    finally:
        if node_b is not None:
            node_b.stop(timeout=30)
        chain.bank.kill()
        chain.stop()
