"""The seed's LinkAja chain as real processes on free ports: two pemdas (Kota
Bogor and Kota Bekasi, each from test-pemda.ini with its own demo database),
the bank from test-bank.ini + bank-agratek.ini + a host_kota_bekasi, and the
aggregator from test-agratek.ini, with iso8583d-client linkaja as LinkAja."""
import http.client
import json
import re
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from appliance.runtime.config import resolve_db_url
from appliance.store.db import open_database
from appliance.roles.pemda.tables import PembayaranSppt, Sppt, key_matches
from appliance.roles.pemda.invoice import InvoiceId
from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from fixtures.ports import fixed_ports

SEED_INVOICE = '3271010001007002701995'

KOTA_BEKASI = """\
[host_kota_bekasi]
ip = 127.0.0.1
port = {port}
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test
"""


def signed_on(host):
    """The bank's answer to a sign-on on `host`'s link."""
    return r' %s \d+ -> \d+ Encode MTI 0810 Data \{.*70: .001.\}' % host


class LinkAjaChain:
    """Four daemons: pemda Bogor, pemda Bekasi, bank, aggregator."""

    def __init__(self, tmp, db_urls=None, bank_replace=()):
        urls = dict(bogor='sqlite:///demo.db', bekasi='sqlite:///demo.db',
                    forwarder='sqlite:///forwarder.db', aggregator='sqlite:///aggregator.db')
        urls.update(db_urls or {})
        self.tmp = tmp
        self.ports = {name: free_port() for name in
                      ('bogor', 'bekasi', 'agratek', 'teller', 'linkaja')}
        self.url = 'http://127.0.0.1:%d/linkaja' % self.ports['linkaja']
        self.pemda_args, self.pemda_db = {}, {}
        for city in ('bogor', 'bekasi'):
            conf = tmp / ('pemda-%s.d' % city)
            (tmp / city).mkdir()
            seed_config('test-pemda.ini', conf, tmp / city, [
                ('port = 10002', 'port = %d' % self.ports[city]),
                ('postgresql://user:pass@localhost/db', urls[city])])
            data = tmp / ('pemda-%s-data' % city)
            self.pemda_args[city] = ['--role', 'pemda', '--conf-dir', str(conf),
                                     '--data-dir', str(data)]
            self.pemda_db[city] = resolve_db_url(urls[city], str(data))
            code, out = run_cli(self.pemda_args[city] + ['--initdb', '--demo'])
            assert code == 0, out
        bank_conf = tmp / 'bank.d'
        seed_config('test-bank.ini', bank_conf, tmp, [
            ('port = 10002', 'port = %d' % self.ports['bogor']),
            ('port = 7000', 'port = %d' % self.ports['teller'])] + list(bank_replace))
        seed_config('bank-agratek.ini', bank_conf, tmp, [
            ('port = 10001', 'port = %d' % self.ports['agratek']),
            ('postgresql://user:pass@localhost/db', urls['forwarder'])])
        (bank_conf / 'host-kota-bekasi.ini').write_text(
            KOTA_BEKASI.format(port=self.ports['bekasi']))
        self.bank_args = ['--role', 'bank', '--conf-dir', str(bank_conf),
                          '--data-dir', str(tmp / 'bank-data')]
        self.forwarder_db = resolve_db_url(urls['forwarder'], str(tmp / 'bank-data'))
        agg_conf = tmp / 'aggregator.d'
        seed_config('test-agratek.ini', agg_conf, tmp, [
            ('port = 10001', 'port = %d' % self.ports['agratek']),
            ('port = 7001', 'port = %d' % self.ports['linkaja']),
            ('postgresql://user:pass@localhost/db', urls['aggregator'])])
        self.aggregator_args = ['--role', 'aggregator', '--conf-dir', str(agg_conf),
                                '--data-dir', str(tmp / 'aggregator-data')]
        self.aggregator_db = resolve_db_url(urls['aggregator'], str(tmp / 'aggregator-data'))
        code, self.aggregator_initdb = run_cli(self.aggregator_args + ['--initdb'])
        assert code == 0, self.aggregator_initdb
        self.pemdas = {}
        self.bank = self.aggregator = None
        self.start_bank()
        for city in ('bogor', 'bekasi'):
            self.start_pemda(city)
        self.aggregator = Daemon(self.aggregator_args, name='aggregator')
        self.bank.wait_for(signed_on('agratek'))
        self.aggregator.wait_for('Web server listen at')

    def start_bank(self):
        self.bank = Daemon(self.bank_args, name='bank')
        self.bank.wait_for('Web server listen at 0.0.0.0:%d' % self.ports['teller'])

    def relink_bank(self):
        """Restart the bank and wait until both pemdas and the aggregator are back."""
        assert self.bank.stop() == 0, self.bank.output()[-3000:]
        self.start_bank()
        for host in ('kota_bogor', 'kota_bekasi', 'agratek'):
            self.bank.wait_for(signed_on(host), timeout=30)

    def start_pemda(self, city):
        host = 'kota_' + city
        mark = len(self.bank.lines)
        self.pemdas[city] = Daemon(self.pemda_args[city], name='pemda-' + city)
        self.bank.wait_for(signed_on(host), start=mark, timeout=30)

    def stop(self):
        daemons = [self.aggregator, self.bank] + list(self.pemdas.values())
        codes = [d.stop() for d in daemons if d is not None]
        assert codes == [0] * len(codes), '\n'.join(d.output()[-2000:] for d in daemons)

    def invoices(self, city, prefix, limit):
        code, out = run_cli(['invoices'] + self.pemda_args[city] + ['--prefix', prefix,
                                                                   '--limit', str(limit)])
        assert code == 0, out
        return out.split()


@pytest.fixture(scope='module')
def chain(tmp_path_factory):
    c = LinkAjaChain(tmp_path_factory.mktemp('linkaja'))
    yield c
    c.stop()


# -- helpers ----------------------------------------------------------------------

def linkaja(chain, *args, timeout=300):
    """One `iso8583d-client linkaja --json` run; (exit status, report)."""
    proc = subprocess.run(
        [sys.executable, '-m', 'appliance.client', 'linkaja', '--json', '--url=' + chain.url]
        + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        timeout=timeout)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def answer_line(chain, *args):
    """The one answer line of a single linkaja request."""
    code, report = linkaja(chain, *args)
    (result,) = report['results']
    assert 'response' in result, result
    (line,) = result['response']['lines']
    return line


def ask(chain, method='POST', query='', body=None, content_type=None):
    """(status, content type, body text) of one raw request to the LinkAja route."""
    conn = http.client.HTTPConnection('127.0.0.1', chain.ports['linkaja'], timeout=30)
    try:
        headers = {'Content-Type': content_type} if content_type else {}
        conn.request(method, '/linkaja' + ('?' + query if query else ''), body, headers)
        reply = conn.getresponse()
        return reply.status, reply.getheader('Content-Type'), reply.read().decode('utf-8')
    finally:
        conn.close()


def bill(url, invoice):
    """(status_pembayaran_sppt, [jml_sppt_yg_dibayar of each payment]) from SISMIOP."""
    key = InvoiceId.parse(invoice).key()
    db = open_database(url)
    try:
        with db.connection_context():
            status = Sppt.select(Sppt.status_pembayaran_sppt).where(
                key_matches(Sppt, key)).scalar(db)
            paid = [row.jml_sppt_yg_dibayar for row in PembayaranSppt.select().where(
                key_matches(PembayaranSppt, key)).order_by(
                PembayaranSppt.pembayaran_sppt_ke).execute(db)]
        return status, paid
    finally:
        db.close()


def decoded(daemon, mti, invoice):
    """The bits of the lines where `daemon` decoded MTI `mti` for `invoice`."""
    found = []
    for line in daemon.lines:
        if 'Decode MTI %s Data' % mti in line and "61: '%s'" % invoice in line:
            found.append(dict(re.findall(r"(\d+): '([^']*)'", line.split(' Data ', 1)[1])))
    return found


INQUIRY_LINE = r'00:(?P<name>[^:]+):(?P<amount>\d+):(?P<ref>\d+):%s'


def inquire(chain, invoice, notification):
    line = answer_line(chain, '--invoice-id=' + invoice)
    match = re.fullmatch(INQUIRY_LINE % notification, line)
    assert match, line
    return match


def pay(chain, invoice, ref, amount, trx_id, notification):
    line = answer_line(chain, '--invoice-id=' + invoice, '--payment', '--bill-ref=' + ref,
                       '--amount=%s' % amount, '--trx-id=' + trx_id)
    match = re.fullmatch(r'00:(?P<ntp>0101\d{8}):%s:%s' % (ref, notification), line)
    assert match, line
    return match['ntp']


def reverse(chain, invoice, ref, amount, trx_id):
    return answer_line(chain, '--invoice-id=' + invoice, '--reversal', '--bill-ref=' + ref,
                       '--amount=%s' % amount, '--trx-id=' + trx_id)


# -- the walkthrough --------------------------------------------------------------

def tables(url):
    db = open_database(url)
    try:
        with db.connection_context():
            return set(db.get_tables())
    finally:
        db.close()


def test_aggregator_initdb_creates_the_linkaja_tables(chain):
    assert '[web_linkaja] LinkAja tables ready in sqlite:///' in chain.aggregator_initdb
    assert 'iso8583d_linkaja' in tables(chain.aggregator_db)


def test_bank_initdb_creates_the_forwarder_table(chain, tmp_path):
    data = tmp_path / 'bank-initdb'
    code, out = run_cli(chain.bank_args[:-1] + [str(data), '--initdb'])
    assert code == 0 and '[host_agratek] forwarder tables ready in sqlite:///' in out, out
    assert 'iso8583d_forward' in tables('sqlite:///%s' % (data / 'forwarder.db'))


def test_a_bogor_bill_is_inquired_paid_and_reversed_through_the_bank_to_the_bogor_pemda(
        chain):
    match = inquire(chain, SEED_INVOICE, 'PBB Kota Bogor')
    assert (match['name'], match['amount']) == ('UW** *****SNA', '19536')
    ref = match['ref']
    assert bill(chain.pemda_db['bogor'], SEED_INVOICE) == ('0', [])

    pay(chain, SEED_INVOICE, ref, 19536, '0719062100', 'PBB Kota Bogor')
    assert bill(chain.pemda_db['bogor'], SEED_INVOICE) == ('1', [19536])

    line = reverse(chain, SEED_INVOICE, ref, 19536, '0719062100')
    assert line == '00::%s:PBB Kota Bogor' % ref
    assert bill(chain.pemda_db['bogor'], SEED_INVOICE) == ('0', [0])
    # The pemda saw the reversal with the STAN of the payment it booked.
    (payment,) = [m for m in decoded(chain.pemdas['bogor'], '0200', SEED_INVOICE)
                  if m['3'] == '541019']
    (reversal,) = decoded(chain.pemdas['bogor'], '0400', SEED_INVOICE)
    assert (reversal['11'], reversal['48']) == (payment['11'], '0719062100')
    assert decoded(chain.pemdas['bekasi'], '0200', SEED_INVOICE) == []


def test_a_bekasi_bill_goes_over_the_bekasi_link_to_the_bekasi_pemda(chain):
    invoice = chain.invoices('bekasi', '3275', 1)[0]
    match = inquire(chain, invoice, 'PBB Kota Bekasi')
    ref, amount = match['ref'], match['amount']
    pay(chain, invoice, ref, amount, 'BEKASI-1', 'PBB Kota Bekasi')
    assert bill(chain.pemda_db['bekasi'], invoice) == ('1', [int(amount)])
    assert bill(chain.pemda_db['bogor'], invoice) == ('0', [])      # not the Bogor pemda

    assert reverse(chain, invoice, ref, amount, 'BEKASI-1') == '00::%s:PBB Kota Bekasi' % ref
    assert bill(chain.pemda_db['bekasi'], invoice) == ('0', [0])
    assert [m['3'] for m in decoded(chain.pemdas['bekasi'], '0200', invoice)] == [
        '341019', '541019']
    assert len(decoded(chain.pemdas['bekasi'], '0400', invoice)) == 1
    assert decoded(chain.pemdas['bogor'], '0200', invoice) == []
    assert chain.bank.count(r' kota_bekasi \d+ Encode MTI 0400 .*%s' % invoice) == 1
    assert chain.bank.count(r'\[host_agratek\] 0200 541019 invoice %s STAN \d{6} -> '
                            r'\[host_kota_bekasi\]' % invoice) == 1


def test_a_payment_can_be_answered_again_without_being_paid_twice(chain):
    invoice = chain.invoices('bogor', '3271', 3)[2]
    match = inquire(chain, invoice, 'PBB Kota Bogor')
    first = pay(chain, invoice, match['ref'], match['amount'], 'TWICE-1', 'PBB Kota Bogor')
    again = pay(chain, invoice, match['ref'], match['amount'], 'TWICE-1', 'PBB Kota Bogor')
    assert again == first
    assert bill(chain.pemda_db['bogor'], invoice) == ('1', [int(match['amount'])])
    assert len([m for m in decoded(chain.pemdas['bogor'], '0200', invoice)
                if m['3'] == '541019']) == 1


def test_an_invoice_prefix_without_a_route_is_answered_55_with_a_bank_log_line(chain):
    line = answer_line(chain, '--invoice-id=3676010001007002701995')
    assert re.fullmatch(r'55:::\d+:bill or payment not found', line), line
    chain.bank.wait_for(r'\[host_agratek\] no route for invoice prefix 3676 '
                        r'\(invoice 3676010001007002701995')


def test_two_hundred_linkaja_clients_pay_two_hundred_bills_without_failure(chain, tmp_path):
    invoices = (chain.invoices('bogor', '3271', 150)[50:]
                + chain.invoices('bekasi', '3275', 150)[50:])
    assert len(set(invoices)) == 200
    path = tmp_path / 'invoices.txt'
    path.write_text('\n'.join(invoices) + '\n')
    started = time.monotonic()
    code, report = linkaja(chain, '--invoice-file=' + str(path), '--count=200', '--payment')
    seconds = time.monotonic() - started
    reasons = {r.get('reason') or r.get('error') for r in report['results'] if not r['ok']}
    assert (report['count'], report['ok'], report['failed']) == (200, 200, 0), reasons
    assert code == 0
    for invoice in invoices:
        city = 'bogor' if invoice.startswith('3271') else 'bekasi'
        status, paid = bill(chain.pemda_db[city], invoice)
        assert status == '1' and len(paid) == 1, invoice
    print('200 LinkAja inquiries + payments in %.1f s' % seconds)


# -- malformed input ----------------------------------------------------------------

GOOD = 'acc_no=%s&trx_type=021' % SEED_INVOICE
PAYMENT = 'acc_no=%s&trx_type=022&amount=19536&bill_ref=1&trx_id=X1' % SEED_INVOICE


@pytest.mark.parametrize('method, query, body, content_type, code', [
    ('POST', '', 'acc_no=%s' % SEED_INVOICE, 'application/x-www-form-urlencoded', '76'),
    ('POST', '', GOOD.replace('021', '099'), 'application/x-www-form-urlencoded', '76'),
    ('POST', '', PAYMENT.replace('19536', 'lots'), 'application/x-www-form-urlencoded', '76'),
    ('POST', '', PAYMENT.replace('&bill_ref=1', ''), 'application/x-www-form-urlencoded',
     '76'),
    ('POST', '', PAYMENT.replace('&trx_id=X1', ''), 'application/x-www-form-urlencoded',
     '76'),
    ('POST', '', PAYMENT.replace('bill_ref=1', 'bill_ref=one'),
     'application/x-www-form-urlencoded', '76'),
    ('POST', '', GOOD.replace(SEED_INVOICE, '32710100'), 'application/x-www-form-urlencoded',
     '33'),
    ('POST', '', GOOD.replace(SEED_INVOICE, 'x' * 22), 'application/x-www-form-urlencoded',
     '33'),
    ('POST', '', '{"acc_no": "%s", "trx_type": ' % SEED_INVOICE, 'application/json', '76'),
    ('POST', '', '["021"]', 'application/json', '76'),
    ('POST', '', '{"acc_no": ["1"], "trx_type": "021"}', 'application/json', '76'),
    ('POST', '', b'acc_no=\xff\xfe&trx_type=021', 'application/x-www-form-urlencoded', '76'),
    ('POST', '', '', None, '76'),
    ('GET', '', None, None, '76'),
    ('GET', 'trx_type=021', None, None, '76'),
    ('POST', '', PAYMENT.replace('bill_ref=1', 'bill_ref=999999'),
     'application/x-www-form-urlencoded', '55'),
    ('POST', '', PAYMENT.replace('022', '023').replace('X1', 'NO-SUCH-PAYMENT'),
     'application/x-www-form-urlencoded', '55'),
], ids=['no trx_type', 'unknown trx_type', 'amount not a number', 'no bill_ref', 'no trx_id',
        'bill_ref not a number', 'short acc_no', 'acc_no not digits', 'broken JSON',
        'JSON not an object', 'JSON value a list', 'body not UTF-8', 'empty body',
        'GET without fields', 'GET without acc_no', 'unknown bill_ref', 'unknown trx_id'])
def test_malformed_linkaja_input_gets_a_one_line_answer_and_the_aggregator_keeps_serving(
        chain, method, query, body, content_type, code):
    status, kind, text = ask(chain, method, query, body, content_type)
    assert (status, kind) == (200, 'text/plain; charset=utf-8'), text
    assert '\n' not in text and '<' not in text, text
    assert text.split(':', 1)[0] == code, text
    status, _, text = ask(chain, 'POST', '', GOOD, 'application/x-www-form-urlencoded')
    assert text.startswith('00:UW** *****SNA:19536:'), text


def test_a_payment_of_another_amount_than_the_inquirys_is_answered_51(chain):
    invoice = chain.invoices('bogor', '3271', 5)[4]
    match = inquire(chain, invoice, 'PBB Kota Bogor')
    line = answer_line(chain, '--invoice-id=' + invoice, '--payment', '--bill-ref='
                       + match['ref'], '--amount=%d' % (int(match['amount']) + 1),
                       '--trx-id=WRONG-AMOUNT')
    assert line.startswith('51::%s:' % match['ref']), line
    assert bill(chain.pemda_db['bogor'], invoice) == ('0', [])


def test_the_fields_may_come_as_a_query_string_or_a_json_body(chain):
    status, _, by_get = ask(chain, 'GET', GOOD)
    status, _, by_query = ask(chain, 'POST', GOOD, '')
    status, _, by_json = ask(chain, 'POST', '', json.dumps(
        {'acc_no': SEED_INVOICE, 'trx_type': '021', 'msisdn': 628111234567}),
        'application/json')
    for text in (by_get, by_query, by_json):
        assert re.fullmatch(INQUIRY_LINE % 'PBB Kota Bogor', text), text


def test_an_address_outside_allowed_ip_is_refused(chain):
    conn = http.client.HTTPConnection('127.0.0.1', chain.ports['linkaja'], timeout=10,
                                      source_address=('127.0.0.2', 0))
    conn.request('GET', '/linkaja?' + GOOD)
    reply = conn.getresponse()
    assert reply.status == 403 and b'<' not in reply.read()
    conn.close()
    chain.aggregator.wait_for('127.0.0.2 not allowed')


# -- links down and restarts (these stop and start daemons) -----------------------------

def test_with_the_bekasi_pemda_down_a_bekasi_bill_is_answered_91_at_once(chain):
    invoice = chain.invoices('bekasi', '3275', 2)[1]
    mark = len(chain.bank.lines)
    assert chain.pemdas['bekasi'].stop() == 0
    try:
        chain.bank.wait_for(r'kota_bekasi \d+ (Peer closed the connection|Close)', start=mark)
        started = time.monotonic()
        status, _, line = ask(chain, 'POST', '', GOOD.replace(SEED_INVOICE, invoice),
                              'application/x-www-form-urlencoded')
        assert time.monotonic() - started < 2      # at once: not a link timeout (15-60 s)
        assert re.fullmatch(r'91:::\d+:biller unavailable, try again later', line), line
        chain.bank.wait_for(r'\[host_agratek\] STAN \d{6} to \[host_kota_bekasi\]: link '
                            r'kota_bekasi is down; answered 91', start=mark)
    finally:
        chain.start_pemda('bekasi')
    inquire(chain, invoice, 'PBB Kota Bekasi')


def test_a_payment_is_reversed_after_the_bank_restarts(chain):
    invoice = chain.invoices('bogor', '3271', 4)[3]
    match = inquire(chain, invoice, 'PBB Kota Bogor')
    ref, amount = match['ref'], match['amount']
    pay(chain, invoice, ref, amount, 'RESTART-1', 'PBB Kota Bogor')

    chain.relink_bank()
    assert chain.bank.count('Decode MTI 0200') == 0         # a new process
    assert reverse(chain, invoice, ref, amount, 'RESTART-1') == \
        '00::%s:PBB Kota Bogor' % ref
    assert bill(chain.pemda_db['bogor'], invoice) == ('0', [0])
    (payment,) = [m for m in decoded(chain.pemdas['bogor'], '0200', invoice)
                  if m['3'] == '541019']
    (reversal,) = decoded(chain.pemdas['bogor'], '0400', invoice)
    assert reversal['11'] == payment['11'] and reversal['48'] == 'RESTART-1'


def test_with_the_bank_down_the_aggregator_answers_91_at_once(chain):
    mark = len(chain.aggregator.lines)
    assert chain.bank.stop() == 0
    try:
        chain.aggregator.wait_for(r'bjb \d+ (Peer closed the connection|Close)', start=mark)
        started = time.monotonic()
        status, _, text = ask(chain, 'POST', '', GOOD, 'application/x-www-form-urlencoded')
        assert time.monotonic() - started < 2      # at once: not a link timeout (15-60 s)
        assert re.fullmatch(r'91:::\d+:the link to the bank is down', text), text
    finally:
        chain.start_bank()
        for host in ('kota_bogor', 'kota_bekasi', 'agratek'):
            chain.bank.wait_for(signed_on(host), timeout=30)


# -- the presets --------------------------------------------------------------------

PRESET_PORTS = (10001, 10002, 10003, 7000, 7001)


def port_taken(port):
    import socket
    with socket.socket() as s:
        return s.connect_ex(('127.0.0.1', port)) == 0


def test_the_three_presets_make_the_linkaja_chain_on_one_machine(tmp_path):
    with fixed_ports('presets'):          # another pytest's presets or demo wait their turn
        presets_make_the_linkaja_chain(tmp_path)


def presets_make_the_linkaja_chain(tmp_path):
    busy = [p for p in PRESET_PORTS if port_taken(p)]
    if busy:
        pytest.skip('the presets need ports %s; in use: %s' % (PRESET_PORTS, busy))
    env = {'ISO8583D_CONF_DIR': str(tmp_path / 'no-conf')}
    daemons = {role: Daemon(['--role', role, '--data-dir', str(tmp_path / role)], env=env,
                            name=role) for role in ('bank', 'pemda', 'aggregator')}
    try:
        for host in ('kota_bogor', 'kota_bekasi', 'agratek'):
            daemons['bank'].wait_for(signed_on(host), timeout=30)
        daemons['aggregator'].wait_for('Web server listen at 0.0.0.0:7001')
        chain = SimpleNamespace(url='http://127.0.0.1:7001/linkaja')
        assert answer_line(chain, '--invoice-id=' + SEED_INVOICE).startswith(
            '00:UW** *****SNA:19536:1:PBB Kota Bogor')
        code, out = run_cli(['invoices', '--role', 'pemda', '--data-dir',
                             str(tmp_path / 'pemda'), '--prefix', '3275', '--limit', '1'],
                            env=env)
        line = answer_line(chain, '--invoice-id=' + out.strip())
        assert re.fullmatch(INQUIRY_LINE % 'PBB Kota Bekasi', line), line
        daemons['bank'].wait_for(r' kota_bekasi \d+ Encode MTI 0200 .*%s' % out.strip())
    finally:
        codes = {role: d.stop() for role, d in daemons.items()}
    assert codes == {'bank': 0, 'pemda': 0, 'aggregator': 0}


# -- PostgreSQL -----------------------------------------------------------------------

@pytest.mark.pg
def test_on_postgresql_a_payment_is_reversed_after_the_bank_restarts(tmp_path, pg_schema_url):
    """Every database of the chain in one PostgreSQL schema: both pemdas' SISMIOP
    tables (shared), the forwarder's and the aggregator's records."""
    chain = LinkAjaChain(tmp_path, db_urls=dict.fromkeys(
        ('bogor', 'bekasi', 'forwarder', 'aggregator'), pg_schema_url))
    try:
        for invoice, city, text in ((SEED_INVOICE, 'bogor', 'PBB Kota Bogor'),
                                    (chain.invoices('bekasi', '3275', 1)[0], 'bekasi',
                                     'PBB Kota Bekasi')):
            match = inquire(chain, invoice, text)
            pay(chain, invoice, match['ref'], match['amount'], 'PG-' + city, text)
            assert bill(pg_schema_url, invoice) == ('1', [int(match['amount'])])
            assert len(decoded(chain.pemdas[city], '0200', invoice)) == 2
            chain.relink_bank()
            assert reverse(chain, invoice, match['ref'], match['amount'], 'PG-' + city) == \
                '00::%s:%s' % (match['ref'], text)
            assert bill(pg_schema_url, invoice) == ('0', [0])
            (reversal,) = decoded(chain.pemdas[city], '0400', invoice)
            assert reversal['11'] == decoded(chain.pemdas[city], '0200', invoice)[1]['11']
    finally:
        chain.stop()
