"""Two bank nodes on one PostgreSQL journal behind HAProxy, paid through by
iso8583d-client while a node dies, loses its pemda link, or is restarted
(issue 18; make ha-test). After each scenario: every payment answered 00 is
booked once at the pemda, every other one is not booked once the reversal
queues drained, and a dead node's unfinished payments were taken over by the
one that survived."""
import contextlib
import os
import signal
import time

import pytest

from cluster import EXPIRE_AFTER, Cluster
from fault.harness import check
from fixtures.databases import pg_schema
from fixtures.waiting import until
from load import Load

pytestmark = [pytest.mark.slow, pytest.mark.pg]

BATCH = 40               # payments per iso8583d-client run
PER_SCENARIO = 2000      # invoices a scenario may pay (it stops when done)


def _interrupt(signum, frame):
    raise KeyboardInterrupt('SIGTERM')


@pytest.fixture(scope='module')
def cluster(pg_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ha')
    # `timeout` (the Makefile's bound) sends SIGTERM: end as on Ctrl-C, so
    # that this teardown still stops every daemon and HAProxy.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with pg_schema(pg_url, 'ha_pemda') as pemda_url, \
                pg_schema(pg_url, 'ha_journal') as journal_url:
            found = Cluster(tmp, pemda_url, journal_url)
            try:
                found.start()
                yield found
                codes = found.stop()
                assert set(codes.values()) <= {0}, 'exit codes: %s' % codes
            finally:
                found.kill()
                print('daemon logs: %s' % found.save_logs(tmp / 'logs'))
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope='module')
def invoices(cluster):
    found = cluster.invoices(3 * PER_SCENARIO)
    assert len(found) == 3 * PER_SCENARIO, 'the demo has %d bills to pay' % len(found)
    return iter(found)


def paying(cluster, invoices, count=PER_SCENARIO):
    """A Load started on the next `count` unpaid invoices, and the pemda's
    bookings of them before."""
    chosen = [next(invoices) for _ in range(count)]
    before = cluster.live_payments(chosen)
    assert not any(before.values())
    return Load(cluster.url, chosen, cluster.tmp, batch=BATCH).start(), before


@contextlib.contextmanager
def pemda_holding_a_payment_of(cluster, node, tries=100):
    """The pemda stopped (SIGSTOP) while `node` has a payment on its way, so
    that a fault in the block meets it; the pemda then goes on (SIGCONT) and
    reads what was sent to it meanwhile."""
    pid = cluster.pemda.proc.pid
    for _ in range(tries):
        until(lambda: cluster.unfinished(node), 'a payment in flight on node %s' % node,
              30, 0.001)
        os.kill(pid, signal.SIGSTOP)
        if cluster.unfinished(node):     # still unanswered: now it cannot be
            break
        os.kill(pid, signal.SIGCONT)
    else:
        raise AssertionError('node %s had no payment in flight when the pemda stopped, '
                             '%d times' % (node, tries))
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def finish(cluster, load, before, scenario, down_seconds, taken_over, faults=1, notes=''):
    """Stop the load, wait for the queues to drain, compare with the pemda."""
    load.stop()
    drain = cluster.wait_drained()
    return check(cluster, load, before, scenario, faults, drain,
                 taken_over=taken_over, down_seconds=down_seconds, notes=notes)


def test_sigkill_of_node_a_mid_run_b_serves_and_takes_over_its_payments(cluster, invoices):
    load, before = paying(cluster, invoices)
    load.wait_done(BATCH)
    taken_before = cluster.taken_over()
    a = cluster.nodes['A']
    with pemda_holding_a_payment_of(cluster, 'A'):
        killed_at = time.monotonic()
        a.daemon.stop(signal.SIGKILL)
    unfinished = cluster.unfinished('A')          # A's payments whose outcome died with it
    assert unfinished
    down = cluster.seconds_until_down('A', killed_at)
    load.wait_done(BATCH)                          # B alone serves the tellers
    b = cluster.nodes['B'].daemon
    until(lambda: cluster.unfinished('A') == 0, "node B took over node A's unfinished "
          'payments', timeout=EXPIRE_AFTER + 20, step=0.2)
    if unfinished:
        b.wait_for(r'node B takes over \d+ unfinished entries of node A')
    a.start()                                      # A back, later
    cluster.wait_signed_on(a)
    until(lambda: cluster.server_status('A') == 'UP', 'HAProxy sees node A UP again', 20)
    load.wait_done(BATCH)
    taken = cluster.taken_over() - taken_before
    finish(cluster, load, before, 'SIGKILL node A, restart later', '%.1f' % down, taken)
    assert taken == unfinished


def test_node_b_losing_its_pemda_link_leaves_haproxy_and_comes_back(cluster, invoices):
    load, before = paying(cluster, invoices)
    load.wait_done(BATCH)
    taken_before = cluster.taken_over()
    b = cluster.nodes['B']
    cut_at = time.monotonic()
    cluster.link_b.down()                          # the network between pemda and B fails
    mark = len(b.daemon.lines)
    try:
        down = cluster.seconds_until_down('B', cut_at)
        load.wait_done(BATCH)                      # A alone serves the tellers
    finally:
        cluster.link_b.up()                        # (the next scenario needs it)
    cluster.wait_signed_on(b, start=mark)
    until(lambda: cluster.server_status('B') == 'UP', 'HAProxy sees node B UP again', 20)
    load.wait_done(BATCH)
    taken = cluster.taken_over() - taken_before
    finish(cluster, load, before, "cut the pemda's link to node B", '%.1f' % down, taken)
    assert taken == 0                              # no node died


def test_restarting_both_nodes_in_turn_under_load_loses_nothing(cluster, invoices):
    load, before = paying(cluster, invoices)
    load.wait_done(BATCH)
    taken_before = cluster.taken_over()
    downs = []
    for name in ('A', 'B'):
        downs.append(cluster.restart(name, signal.SIGTERM))
        load.wait_done(BATCH)
    taken = cluster.taken_over() - taken_before
    exits = [cluster.nodes[n].stop_seconds[-1] for n in ('A', 'B')]
    finish(cluster, load, before, 'SIGTERM + start A, then B', '/'.join(
        '%.1f' % d for d in downs), taken, faults=2,
        notes='SIGTERM to exit: %s s' % '/'.join('%.1f' % e for e in exits))
    # HAProxy keeps idle connections to the nodes (http-keep-alive): a node
    # that waited for them would exit only at the end of its grace (10 s).
    assert max(exits) < 5, 'SIGTERM to exit took %s s' % exits
