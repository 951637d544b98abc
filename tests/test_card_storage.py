"""No table keeps card data: after payments that carry a PAN (bit 2) and a
track 2 (bit 35) through real daemons, through the aggregator (LinkAja ->
bank forwarder -> pemda) and through the bank's teller (journal -> pemda),
no row of the journal, SAF, forwarder or LinkAja tables holds them, and no
daemon logs them in clear; the pemda still echoes them in its answers, as
the spec asks."""

import pytest

from appliance.runtime.config import resolve_db_url
from appliance.store.db import open_database
from fixtures.teller import teller_call
from test_linkaja_chain import SEED_INVOICE, LinkAjaChain, inquire, pay, reverse

PAN = '622011888888888888'
TRACK2 = PAN + '=9912?'
TABLES = ('iso8583d_journal', 'iso8583d_saf', 'iso8583d_forward', 'iso8583d_linkaja')


def teller_sends_card_data(journal_url):
    """Replacements of test-bank.ini: the teller route sends bits 2 and 35,
    the kota_bogor link keeps its journal in `journal_url`."""
    return [('module = iso8583_web.scripts.views.jsonrpc',
             'module = iso8583_web.scripts.views.jsonrpc\n'
             'request_bits =\n    2:%s\n    35:%s' % (PAN, TRACK2)),
            ('module = opensipkd.iso8583.bjb.pbb.test',
             'module = opensipkd.iso8583.bjb.pbb.test\ndb_url = %s' % journal_url)]


def teller(chain, method, **params):
    return teller_call(chain.ports['teller'], method, timeout=30, **params)


def rows(url):
    """{table: [row as text]} of the card-data-free tables present in `url`."""
    db = open_database(url)
    found = {}
    try:
        with db.connection_context():
            present = set(db.get_tables())
            for table in TABLES:
                if table in present:
                    cursor = db.execute_sql('SELECT * FROM %s' % table)
                    found[table] = [repr(row) for row in cursor.fetchall()]
    finally:
        db.close()
    return found


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def urls(request, tmp_path):
    if request.param == 'sqlite':
        return dict(journal='sqlite:///bank.db'), {}
    pg = request.getfixturevalue('pg_schema_url')
    return dict(journal=pg), dict.fromkeys(('bogor', 'bekasi', 'forwarder', 'aggregator'), pg)


def test_no_journal_forwarder_or_linkaja_row_nor_log_line_holds_a_pan_or_track_2(tmp_path, urls):
    own, chain_urls = urls
    chain = LinkAjaChain(tmp_path, db_urls=chain_urls,
                         bank_replace=teller_sends_card_data(own['journal']))
    try:
        match = inquire(chain, SEED_INVOICE, 'PBB Kota Bogor')
        pay(chain, SEED_INVOICE, match['ref'], 19536, 'CARD-1', 'PBB Kota Bogor')
        assert reverse(chain, SEED_INVOICE, match['ref'], 19536, 'CARD-1').startswith('00:')
        paid = teller(chain, 'payment', invoice_id=SEED_INVOICE, amount=19536, ntb='CARD-2')
        assert paid['code'] == 0 and paid['data']['2'] == PAN, paid   # echoed, as the spec asks
        journal = resolve_db_url(own['journal'], str(tmp_path / 'bank-data'))
        everything = {}
        for url in {journal, chain.forwarder_db, chain.aggregator_db}:
            for table, texts in rows(url).items():
                everything.setdefault(table, []).extend(texts)
    finally:
        chain.stop()
    lines = [line for daemon in [chain.bank, chain.aggregator] + list(chain.pemdas.values())
             for line in daemon.lines]
    assert any(' Receive [' in line and '622011********8888' in line for line in lines)
    assert [line for line in lines if PAN in line or '=9912' in line] == []
    assert {t for t, texts in everything.items() if texts} >= {
        'iso8583d_journal', 'iso8583d_forward', 'iso8583d_linkaja'}, everything
    leaks = [text for texts in everything.values() for text in texts
             if PAN in text or '=9912' in text]
    assert leaks == []
