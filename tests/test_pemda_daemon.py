"""The pemda daemon end to end: the seed's test-pemda.ini, a demo database,
and a fake bank on a real socket that the daemon connects to."""
import re

import gevent
import pytest

from appliance.runtime.config import resolve_db_url
from appliance.store.db import open_database
from appliance.iso.message import Message
from appliance.roles.pemda.tables import BILL_KEY, PembayaranSppt
from appliance.pbb.request import RequestBuilder
from fixtures.daemon import Daemon, run_cli, seed_config
from fixtures.peers import FakePeer

SEED_INVOICE = '3271010001007002701995'
SEED_PROFILE = (SEED_INVOICE + 'UW** *****SNA'.ljust(35) + 'JL LINCAR I'.ljust(35)
                + 'TEGAL GUNDIL'.ljust(35) + 'BOGOR UTARA'.ljust(35)
                + 'JAWA BARAT'.ljust(35) + '000000000123' + '000000000072' + '19951130'
                + '000000019536' + '000000009378' + '000000028914' + '000000009378')


class Bank:
    """The fake bank: builds requests as the bank does and asks the pemda."""

    def __init__(self, peer):
        self.peer = peer
        self.builder = RequestBuilder()
        self.stan = 100000

    def next_stan(self):
        self.stan += 1
        return '%06d' % self.stan

    def inquiry(self, invoice=SEED_INVOICE):
        return self.peer.ask(self.builder.inquiry(invoice, self.next_stan()))

    def payment(self, amount, ntb, invoice=SEED_INVOICE, channel=None):
        msg = self.builder.payment(invoice, amount, ntb, self.next_stan())
        if channel:
            msg[18] = channel
        return self.peer.ask(msg)

    def reversal(self, payment, channel=None):
        msg = self.builder.reversal(payment[61], int(payment[4]), payment[48], payment[11])
        if channel:
            msg[18] = channel
        return self.peer.ask(msg)


def start_pemda(tmp_path, db_url, demo=True):
    peer = FakePeer()
    conf = tmp_path / 'conf.d'
    seed_config('test-pemda.ini', conf, tmp_path, [
        ('port = 10002', 'port = %d' % peer.port),
        ('postgresql://user:pass@localhost/db', db_url)])
    args = ['--role', 'pemda', '--conf-dir', str(conf), '--data-dir', str(tmp_path / 'data')]
    if demo:
        code, out = run_cli(args + ['--initdb', '--demo'])
        assert code == 0, out
        assert 'tables and demo bills ready in' in out
    pemda = Daemon(args, name='pemda')
    assert peer.accepted.wait(15), pemda.output()
    return pemda, peer, Bank(peer)


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def pemda(request, tmp_path):
    if request.param == 'sqlite':
        url = 'sqlite:///demo.db'
    else:
        url = request.getfixturevalue('pg_schema_url')
    daemon, peer, bank = start_pemda(tmp_path, url)
    bank.db_url = resolve_db_url(url, str(tmp_path / 'data'))
    yield bank
    code = daemon.stop()
    peer.close()
    assert code == 0, daemon.output()[-3000:]


def test_the_seeds_walkthrough_inquiry_payment_again_reversal_inquiry(pemda):
    inquiry = pemda.inquiry()
    assert (inquiry.mti, inquiry[39], inquiry[4]) == ('0210', '00', '000000019536')
    assert inquiry[62] == SEED_PROFILE
    payment = pemda.payment(19536, ntb='0719054951')
    assert (payment[39], payment[4]) == ('00', '000000019536')
    assert re.fullmatch(r'0101\d{8}', payment[47])
    assert pemda.payment(19536, ntb='0719054952')[39] == '54'
    reversal = pemda.reversal(payment)
    assert (reversal.mti, reversal[39]) == ('0410', '00')
    again = pemda.inquiry()
    assert (again[39], again[4]) == ('00', '000000019536')


def test_each_refusal_has_the_specs_response_code(pemda):
    assert pemda.payment(19535, ntb='1')[39] == '51'                  # wrong amount
    assert pemda.inquiry('3271010001999999990001')[39] == '55'       # unknown bill
    assert pemda.inquiry('32710100010070027O1995')[39] == '33'       # not a number
    pemda.inquiry()
    unpaid = Message('0210', {4: '000000019536', 11: '000001', 48: 'NTB0',
                              61: SEED_INVOICE})
    assert pemda.reversal(unpaid)[39] == '54'                        # nothing to reverse
    payment = pemda.payment(19536, ntb='0719054953')
    assert payment[39] == '00'
    assert pemda.reversal(payment, channel='6011')[39] == '55'       # another channel
    assert pemda.reversal(payment)[39] == '00'


def test_a_payment_resent_under_a_new_stan_gets_its_first_ntp_again(pemda, tmp_path):
    # What a bank's forwarder does: the same payment, a STAN of its own.
    pemda.inquiry()
    first = pemda.payment(19536, ntb='0719054951')
    again = pemda.payment(19536, ntb='0719054951')
    assert first[11] != again[11]
    assert (again[39], again[47]) == ('00', first[47])
    assert payment_rows(pemda.db_url, [SEED_INVOICE]) == {SEED_INVOICE: 1}


def forged_reversal(bank, payment, bits):
    """The bank's reversal of `payment`, with `bits` changed."""
    msg = bank.builder.reversal(payment[61], int(payment[4]), payment[48], payment[11])
    msg.bits.update(bits)
    return bank.peer.ask(msg)


@pytest.mark.parametrize('bits, code', [
    ({4: '000000000001', 11: '999999'}, '51'),       # issue 15: amount 1, a made-up STAN
    ({48: '0000000000'}, '55'),                      # an NTB the bill was not paid with
    ({32: '999'}, '55'),                             # another bank
])
def test_a_reversal_that_does_not_match_the_payment_is_refused_and_the_bill_stays_paid(
        pemda, bits, code):
    pemda.inquiry()
    payment = pemda.payment(19536, ntb='0719054951')
    assert forged_reversal(pemda, payment, bits)[39] == code
    assert pemda.inquiry()[39] == '54'
    assert payment_rows(pemda.db_url, [SEED_INVOICE]) == {SEED_INVOICE: 1}


def unpaid_invoices(tmp_path, count):
    code, out = run_cli(['invoices', '--role', 'pemda', '--conf-dir', str(tmp_path / 'conf.d'),
                         '--data-dir', str(tmp_path / 'data'), '--limit', str(count)])
    assert code == 0, out
    ids = out.split()
    assert len(ids) == count and all(len(i) == 22 for i in ids)
    return ids


def test_concurrent_payments_book_each_bill_exactly_once(pemda, tmp_path):
    """200 payments over distinct bills and 50 of one bill, all at once."""
    invoices = unpaid_invoices(tmp_path, 201)
    amounts = {}
    for answer in gevent.joinall([gevent.spawn(pemda.inquiry, i) for i in invoices],
                                 raise_error=True):
        assert answer.value[39] == '00'
        amounts[answer.value[61]] = int(answer.value[4])
    one = invoices[0]
    calls = [gevent.spawn(pemda.payment, amounts[i], 'D%05d' % n, i)
             for n, i in enumerate(invoices[1:])]
    calls += [gevent.spawn(pemda.payment, amounts[one], 'S%05d' % n, one) for n in range(50)]
    gevent.joinall(calls, timeout=60, raise_error=True)
    codes = [c.value[39] for c in calls]
    assert codes[:200] == ['00'] * 200
    assert sorted(codes[200:]) == ['00'] + ['54'] * 49
    ntps = [c.value[47] for c in calls if c.value[39] == '00']
    assert len(set(ntps)) == 201
    for invoice in invoices:                          # all paid now
        assert pemda.inquiry(invoice)[39] == '54'
    assert payment_rows(pemda.db_url, invoices) == {i: 1 for i in invoices}


def payment_rows(url, invoices):
    """Live pembayaran_sppt rows per invoice, read from the pemda's database."""
    db = open_database(url)
    try:
        with db.connection_context():
            rows = PembayaranSppt.select().where(
                PembayaranSppt.jml_sppt_yg_dibayar > 0).execute(db)
            counts = {}
            for row in rows:
                invoice = ''.join(str(getattr(row, c)) for c in BILL_KEY)
                if invoice in invoices:
                    counts[invoice] = counts.get(invoice, 0) + 1
            return counts
    finally:
        db.close()


def test_initdb_of_the_preset_loads_the_shared_demo_database_once(tmp_path):
    conf = tmp_path / 'conf.d'
    conf.mkdir()
    code, out = run_cli(['--role', 'pemda', '--conf-dir', str(conf),
                         '--data-dir', str(tmp_path / 'data'), '--initdb', '--demo'])
    assert code == 0, out
    url = 'sqlite:///%s' % (tmp_path / 'data' / 'pemda.db')   # where the preset's pemda.db is
    lines = [l for l in out.splitlines() if 'ready in ' + url in l]
    assert len(lines) == 2, out
    assert lines[0].endswith('[host_bjb] tables and demo bills ready in ' + url)
    assert lines[1].endswith('ready in %s (with host_bjb)' % url)
