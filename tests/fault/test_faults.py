"""Faults during a payment stress; afterwards every `00` the teller saw is
exactly one live payment at the pemda, every failure none, once the SAF queue
has drained. Figures: see conftest.py (printed by make reliability)."""
import signal
import time

import gevent
import pytest

from harness import SCALE, Chain, Stress, check, freeze, REQUEST_TIMEOUT


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def chain(request, tmp_path):
    if request.param == 'sqlite':
        c = Chain(tmp_path, 'sqlite')
    else:
        url = request.getfixturevalue('pg_schema_url')
        c = Chain(tmp_path, 'postgresql', pemda_url=url, bank_url=url)
    yield c
    codes = c.stop()
    assert codes == [0, 0], c.bank.output()[-3000:]


def payments(count):
    return max(10, int(count * SCALE))


def test_pemda_killed_with_sigkill_during_a_payment_stress(chain):
    invoices = chain.invoices(payments(40))
    before = chain.live_payments(invoices)
    stress = Stress(chain, invoices).start()
    stress.wait_done(0.3)
    stress.assert_running()
    chain.pemda.kill()                          # SIGKILL: no goodbye
    gevent.sleep(1)
    chain.start_pemda()
    stress.join()
    drain = chain.wait_drained()
    check(chain, stress, before, 'pemda SIGKILL', 1, drain)


def test_pemda_frozen_with_sigstop_past_the_timeouts_then_sigcont(chain):
    invoices = chain.invoices(payments(40))
    before = chain.live_payments(invoices)
    stress = Stress(chain, invoices).start()
    stress.wait_paying()                   # a payment meets the frozen pemda
    stress.assert_running()
    freeze(chain.pemda, 2.5 * REQUEST_TIMEOUT)
    stress.join()
    drain = chain.wait_drained()
    row = check(chain, stress, before, 'pemda SIGSTOP/SIGCONT', 1, drain)
    assert row['failure_codes'].get('68'), row     # timeouts did happen
    assert row['reversals_sent'] > 0
    chain.bank.wait_for('Late or unmatched response MTI 0210', timeout=1)


@pytest.mark.slow
def test_bank_killed_and_restarted_during_a_payment_stress(chain):
    invoices = chain.invoices(payments(40))
    before = chain.live_payments(invoices)
    stress = Stress(chain, invoices).start()
    stress.wait_done(0.3)
    stress.assert_running()
    chain.bank.kill()                           # SIGKILL: in-flight payments orphaned
    gevent.sleep(0.5)
    mark_time = time.monotonic()
    chain.start_bank()
    chain.wait_signed_on()
    stress.join()
    drain = chain.wait_drained()
    assert time.monotonic() - mark_time < 120
    check(chain, stress, before, 'bank SIGKILL + restart', 1, drain)


@pytest.mark.slow
def test_bank_stopped_with_sigterm_during_a_stress_exits_0_and_keeps_its_promises(chain):
    invoices = chain.invoices(payments(40))
    before = chain.live_payments(invoices)
    stress = Stress(chain, invoices).start()
    stress.wait_done(0.3)
    stress.assert_running()
    assert chain.bank.stop(signal.SIGTERM, timeout=30) == 0
    chain.start_bank()
    chain.wait_signed_on()
    stress.join()
    drain = chain.wait_drained()
    check(chain, stress, before, 'bank SIGTERM + restart', 1, drain)


@pytest.mark.pg
def test_the_journals_postgresql_unreachable_for_a_while_during_a_stress(
        pg_schema_url, tmp_path):
    from urllib.parse import urlsplit
    from harness import TcpProxy
    parts = urlsplit(pg_schema_url)
    proxy = TcpProxy((parts.hostname or '127.0.0.1', parts.port or 5432))
    chain = Chain(tmp_path, 'postgresql', pemda_url=pg_schema_url,
                  bank_url=proxy.url(pg_schema_url))
    try:
        invoices = chain.invoices(payments(40))
        before = chain.live_payments(invoices)
        stress = Stress(chain, invoices).start()
        stress.wait_done(0.3)
        stress.assert_running()
        proxy.down()                        # the journal's database goes away...
        gevent.sleep(3)
        proxy.up()                          # ... and comes back
        stress.join()
        drain = chain.wait_drained()
        row = check(chain, stress, before, 'journal PostgreSQL cut', 1, drain)
    finally:
        codes = chain.stop()
        proxy.close()
    assert codes == [0, 0], chain.bank.output()[-3000:]
    assert row['transactions'] > 0
