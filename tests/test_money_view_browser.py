"""The money view (issue 21) in a real browser: after a payment stress with a
pemda SIGKILL, the bank's and the pemda's /status show the same day totals,
which are those of `iso8583d rekon`."""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fault'))

from harness import Chain, Stress, check  # noqa: E402
from test_status_page_browser import browser  # noqa: E402,F401  (the fixture)
from test_rekon import bank_file, pemda_rekon  # noqa: E402


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def chain(request, tmp_path):
    if request.param == 'sqlite':
        c = Chain(tmp_path, 'sqlite', pemda_admin=True)
    else:
        url = request.getfixturevalue('pg_schema_url')
        c = Chain(tmp_path, 'postgresql', pemda_url=url, bank_url=url, pemda_admin=True)
    yield c
    assert c.stop() == [0, 0], c.bank.output()[-3000:]


def day_totals(dom):
    """{kind: (count, amount text)} of the page's money section."""
    found = {}
    for kind, count, amount in re.findall(
            r'<tr data-total="(\w+)"><th>Total</th><th></th><th>\w+</th>'
            r'<th class="num">(\d+)</th><th class="num">([\d.]+)</th>', dom):
        found[kind] = (int(count), amount)
    return found


def test_after_a_stress_with_a_pemda_sigkill_both_status_pages_show_the_same_day_totals(
        chain, browser):  # noqa: F811
    invoices = chain.invoices(30)
    before = chain.live_payments(invoices)
    stress = Stress(chain, invoices).start()
    stress.wait_done(0.3)
    stress.assert_running()
    chain.pemda.kill()
    chain.start_pemda()
    stress.join()
    check(chain, stress, before, 'money view after pemda SIGKILL', 1, chain.wait_drained())
    code, report = pemda_rekon(chain, bank_file(chain))
    assert code == 0, report

    bank = day_totals(browser('http://127.0.0.1:%d/status' % chain.web, 2))
    pemda = day_totals(browser('http://127.0.0.1:%d/status' % chain.admin, 2))
    ok = sum(1 for kind, _ in stress.outcomes.values() if kind == 'ok')
    assert bank == pemda
    assert bank['payment'][0] == ok == report['rows'] > 0
