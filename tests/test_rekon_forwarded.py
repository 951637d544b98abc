"""iso8583d rekon with an aggregator's payments forwarded by the bank (the
seed's LinkAja chain as real processes): they are in the bank's settlement
file with the aggregator as source, and the pemda's books agree."""
import json

import pytest

from test_linkaja_chain import LinkAjaChain, inquire, pay, reverse, run_cli
from appliance.pbb import settlement


@pytest.fixture
def chain(tmp_path):
    c = LinkAjaChain(tmp_path)
    yield c
    c.stop()


def test_forwarded_payments_not_reversed_are_in_the_bank_file_and_the_pemda_agrees(
        chain, tmp_path):
    kept, undone = chain.invoices('bogor', '3271', 2)
    for invoice, trx in ((kept, 'FWD-1'), (undone, 'FWD-2')):
        match = inquire(chain, invoice, 'PBB Kota Bogor')
        pay(chain, invoice, match['ref'], match['amount'], trx, 'PBB Kota Bogor')
        if invoice == undone:
            assert reverse(chain, invoice, match['ref'], match['amount'], trx).startswith('00:')
    path = str(tmp_path / 'kota_bogor.csv')
    code, out = run_cli(['rekon', '--role', 'bank', '--date', 'today', '--host', 'kota_bogor',
                         '--out', path] + chain.bank_args[2:])
    assert code == 0, out
    rows = settlement.parse(open(path).read()).rows
    assert [(r.invoice_id, r.ntb, r.host, r.source) for r in rows] == [
        (kept, 'FWD-1', 'kota_bogor', 'agratek')]

    code, out = run_cli(['rekon', '--role', 'pemda', '--file', path, '--json']
                        + chain.pemda_args['bogor'][2:])
    assert (code, json.loads(out)['differences']) == (0, []), out
