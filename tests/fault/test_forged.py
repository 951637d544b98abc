"""Forged reversals (issue 15): payments through the teller and through the
forwarder, then reversals that match no payment (another amount, another
NTB, another source, a bill never paid). None may be answered 00, and every
paid bill stays booked once. Figures: conftest.py (make reliability)."""
import itertools
import time

import pytest

from appliance.iso.message import Message
from harness import SCALE, Chain, Stress, check
from test_bank_links_daemon import FakeAggregator

PREFIX = '3271'         # the pemda's demo invoices (Kota Bogor)


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def chain(request, tmp_path):
    if request.param == 'sqlite':
        c = Chain(tmp_path, 'sqlite', forwarder_prefix=PREFIX)
    else:
        url = request.getfixturevalue('pg_schema_url')
        c = Chain(tmp_path, 'postgresql', pemda_url=url, bank_url=url,
                  forwarder_prefix=PREFIX)
    yield c
    codes = c.stop()
    assert codes == [0, 0], c.bank.output()[-3000:]


def accepted(answers):
    """How many of the answers to forged reversals said 00."""
    return sum(1 for a in answers if a == '00')


def test_forged_reversals_through_the_teller_are_refused_and_the_bills_stay_paid(chain):
    invoices = chain.invoices(max(6, int(10 * SCALE)))
    paid, never = invoices[:-2], invoices[-2:]
    before = chain.live_payments(invoices)
    stress = Stress(chain, paid).start()
    stress.join()
    forged = []
    for invoice in paid:
        kind, result = stress.outcomes[invoice]
        assert kind == 'ok', result
        amount, ntb = int(result['data']['4']), result['data']['48']
        forged.append(dict(invoice_id=invoice, amount=amount - 1, ntb=ntb))     # amount
        forged.append(dict(invoice_id=invoice, amount=amount, ntb=str(int(ntb) + 1)))  # NTB
    for invoice in never:                                                        # never paid
        forged.append(dict(invoice_id=invoice, amount=19536, ntb='1234567890', stan='999999'))
    answers = []
    for params in forged:
        result = chain.rpc('reversal', params)
        answers.append('00' if result.get('code') == 0
                       and result.get('data', {}).get('39') == '00' else 'refused')
    assert chain.live_payments(never) == {i: before[i] for i in never}
    check(chain, stress, before, 'forged reversals (teller)', len(forged), 0.0,
          mismatched_accepted=accepted(answers))


class Forwarded:
    """Payments an aggregator made through the bank's forwarder, as check()
    reads a stress: .invoices, .outcomes, .repeats."""

    def __init__(self, chain, invoices):
        self.aggregator = FakeAggregator(chain.agratek)
        self.invoices = invoices
        self.outcomes = {}
        self.repeats = 0
        self.stans = itertools.count(100001)
        self.ntbs = itertools.count(int(time.time()) % 100000 * 10000 + 5000)
        self.paid = {}                  # invoice -> the payment's bits

    def request(self, mti, code, invoice, amount, ntb, stan=None, source='015'):
        stan = stan or '%06d' % next(self.stans)
        return Message(mti, {3: code, 4: '%012d' % amount, 7: '0719062100', 11: stan,
                             12: '062100', 13: '0719', 18: '6025', 32: source,
                             41: 'AGRATEK', 48: ntb, 61: invoice})

    def pay_all(self):
        for invoice in self.invoices:
            inquiry = self.aggregator.ask(self.request('0200', '341019', invoice, 0, ''))
            assert inquiry[39] == '00', inquiry
            amount = int(inquiry[4])
            msg = self.request('0200', '541019', invoice, amount, str(next(self.ntbs)))
            answer = self.aggregator.ask(msg)
            ok = answer[39] == '00'
            self.outcomes[invoice] = ('ok' if ok else 'failed', {'data': answer.bits})
            if ok:
                self.paid[invoice] = msg

    def forge(self, invoice, **changes):
        """The code a reversal of invoice's payment with `changes` got."""
        payment = self.paid[invoice]
        reversal = Message('0400', dict(payment.bits))
        for bit, value in changes.items():
            reversal[int(bit[1:])] = value
        return self.aggregator.ask(reversal)[39]


def test_forged_reversals_through_the_forwarder_are_refused_and_the_bills_stay_paid(chain):
    invoices = chain.invoices(max(6, int(10 * SCALE)))
    assert all(i.startswith(PREFIX) for i in invoices), invoices
    paid, never = invoices[:-2], invoices[-2:]
    before = chain.live_payments(invoices)
    forwarded = Forwarded(chain, paid)
    try:
        forwarded.pay_all()
        answers = []
        for invoice in paid:
            payment = forwarded.paid[invoice]
            amount = int(payment[4])
            answers.append(forwarded.forge(invoice, b4='%012d' % (amount - 1)))    # amount
            answers.append(forwarded.forge(invoice, b48=str(int(payment[48]) + 1)))  # NTB
            answers.append(forwarded.forge(invoice, b32='016'))                 # source
        for invoice in never:                                                   # never paid
            answers.append(forwarded.aggregator.ask(forwarded.request(
                '0400', '541019', invoice, 19536, '1234567890', stan='999999'))[39])
    finally:
        forwarded.aggregator.close()
    assert chain.live_payments(never) == {i: before[i] for i in never}
    check(chain, forwarded, before, 'forged reversals (forwarder)', len(answers), 0.0,
          mismatched_accepted=accepted(answers))
