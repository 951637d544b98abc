"""A teller reversal must match a payment in the bank's own journal, a
repeated payment must repeat its amount, and a late answer is never paid:
a pemda and a bank as real processes, the bank's journal on SQLite and
PostgreSQL, the teller over HTTP."""

import pytest

from appliance.runtime.config import resolve_db_url
from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from fixtures.teller import journal_entries, teller_call

INVOICE = '3271010001007002701995'      # the seed's demo bill: 19,536
AMOUNT = 19536
NTB = '0719062100'


class Chain:
    """The seed's pemda and bank (test-pemda.ini, test-bank.ini), the bank's
    journal at `journal_url`."""

    def __init__(self, tmp_path, journal_url):
        self.iso, self.web = free_port(), free_port()
        pemda_conf, bank_conf = tmp_path / 'pemda.d', tmp_path / 'bank.d'
        seed_config('test-pemda.ini', pemda_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso),
            ('postgresql://user:pass@localhost/db', 'sqlite:///demo.db')])
        seed_config('test-bank.ini', bank_conf, tmp_path, [
            ('port = 10002', 'port = %d' % self.iso), ('port = 7000', 'port = %d' % self.web),
            ('module = opensipkd.iso8583.bjb.pbb.test\n',
             'module = opensipkd.iso8583.bjb.pbb.test\ndb_url = %s\n' % journal_url)])
        pemda_args = ['--role', 'pemda', '--conf-dir', str(pemda_conf),
                      '--data-dir', str(tmp_path / 'pemda-data')]
        code, out = run_cli(pemda_args + ['--initdb', '--demo'])
        assert code == 0, out
        self.journal_url = resolve_db_url(journal_url, str(tmp_path / 'bank-data'))
        self.bank = Daemon(['--role', 'bank', '--conf-dir', str(bank_conf), '--data-dir',
                            str(tmp_path / 'bank-data')], name='bank')
        self.bank.wait_for('Web server listen at 0.0.0.0:%d' % self.web)
        self.pemda = Daemon(pemda_args, name='pemda')
        self.bank.wait_for(r'Encode MTI 0810 Data \{.*70: .001.\}')      # signed on

    def call(self, method, **params):
        return teller_call(self.web, method, **params)

    def pay(self, ntb=NTB, amount=AMOUNT):
        """An inquiry (the seed's pemda wants one first), then the payment."""
        self.call('inquiry', invoice_id=INVOICE)
        return self.call('payment', invoice_id=INVOICE, amount=amount, ntb=ntb,
                         stan='000001')

    def reversals_sent(self):
        return self.bank.count(r'Encode MTI 0400')

    def journal(self):
        return journal_entries(self.journal_url)

    def stop(self):
        codes = (self.pemda.stop(), self.bank.stop())
        assert codes == (0, 0), self.bank.output()[-3000:] + self.pemda.output()[-3000:]


@pytest.fixture
def chain(tmp_path, db_url):
    c = Chain(tmp_path, db_url)
    yield c
    c.stop()


def test_a_reversal_of_another_amount_is_refused_and_the_bill_stays_paid(chain):
    assert chain.pay()['data']['39'] == '00'
    refused = chain.call('reversal', invoice_id=INVOICE, amount=1, ntb=NTB, stan='999999')
    assert refused == {'code': 51, 'data': {}, 'message': (
        'reversal refused: amount 1 is not the amount of the payment of invoice %s with '
        'NTB %s (%d); nothing sent' % (INVOICE, NTB, AMOUNT))}
    assert chain.reversals_sent() == 0
    assert chain.call('inquiry', invoice_id=INVOICE)['data']['39'] == '54'    # still paid
    assert [e.kind for e in chain.journal()] == ['payment']


def test_a_reversal_of_an_ntb_this_bank_never_paid_is_refused(chain):
    chain.pay()
    refused = chain.call('reversal', invoice_id=INVOICE, amount=AMOUNT, ntb='OTHER')
    assert refused['code'] == 55
    assert refused['message'] == ('reversal refused: no payment of invoice %s with NTB '
                                  'OTHER was sent to kota_bogor; nothing sent' % INVOICE)
    assert chain.reversals_sent() == 0


def test_a_reversal_naming_another_stan_than_the_payments_is_refused(chain):
    stan = chain.pay()['data']['11']
    other = '%06d' % (int(stan) % 999999 + 1)
    refused = chain.call('reversal', invoice_id=INVOICE, amount=AMOUNT, ntb=NTB, stan=other)
    assert refused['code'] == 55
    assert refused['message'] == (
        'reversal refused: STAN %s is not the STAN of the payment of invoice %s with NTB '
        '%s (%s); nothing sent' % (other, INVOICE, NTB, stan))
    assert chain.reversals_sent() == 0


def test_a_reversal_of_a_payment_the_pemda_refused_is_refused(chain):
    chain.pay()
    code = chain.pay(ntb='SECOND')['data']['39']                  # already paid
    refused = chain.call('reversal', invoice_id=INVOICE, amount=AMOUNT, ntb='SECOND')
    assert code != '00' and refused['code'] == 54
    assert refused['message'] == (
        'reversal refused: the payment of invoice %s with NTB SECOND was answered %s, '
        'not 00: nothing to reverse; nothing sent' % (INVOICE, code))
    assert chain.reversals_sent() == 0


def test_a_reversal_with_the_payments_ntb_amount_and_stan_is_sent_and_linked(chain):
    stan = chain.pay()['data']['11']
    result = chain.call('reversal', invoice_id=INVOICE, amount=AMOUNT, ntb=NTB, stan=stan)
    assert (result['code'], result['data']['39'], result['data']['11']) == (0, '00', stan)
    payment, reversal = chain.journal()
    assert (reversal.kind, reversal.stan, reversal.payment_id) == ('reversal', stan,
                                                                   payment.id)


def test_a_reversal_without_a_stan_goes_out_with_the_payments_stan(chain):
    stan = chain.pay()['data']['11']
    result = chain.call('reversal', invoice_id=INVOICE, amount=AMOUNT, ntb=NTB)
    assert (result['code'], result['data']['39'], result['data']['11']) == (0, '00', stan)
    chain.bank.wait_for(r'Encode MTI 0400 Data \{.*11: .%s.' % stan)
    payment, reversal = chain.journal()
    assert reversal.payment_id == payment.id


def test_a_repeated_payment_with_another_amount_is_refused_naming_the_conflict(chain):
    first = chain.pay()
    again = chain.pay(amount=AMOUNT + 1)
    assert again == {'code': 51, 'data': {}, 'message': (
        'payment refused: invoice %s with NTB %s was sent before with amount %d, not %d; '
        'an NTB names one payment' % (INVOICE, NTB, AMOUNT, AMOUNT + 1))}
    assert chain.pay() == first                       # the same amount: the first answer
    assert chain.bank.count(r'Encode MTI 0200 Data \{.*3: .541019.') == 1
