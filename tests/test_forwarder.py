"""The bank's forwarder (bank.forwarder) in-process, against fake pemda links."""
import datetime
import logging
from types import SimpleNamespace

import gevent
import gevent.event
import pytest

from appliance.runtime import config
from appliance.roles.bank import forwarder
from appliance.runtime.config import ConfigError
from appliance.store.db import open_database
from appliance.roles.bank.forwarder import Forward, ForwarderModule
from appliance.roles.bank.gateway import Gateway
from appliance.roles.bank.journal import Journal, create_tables as create_journal_tables
from appliance.net.module import ModuleContext
from appliance.iso.message import Message
from appliance.net.link import AnswerLost, Busy, LinkDown, RequestTimeout

INVOICE = '3271010001007002701995'
BEKASI = '3275010001010000012020'
NOW = datetime.datetime(2020, 7, 19, 6, 21, 1)

SECTIONS = """
[host_agratek]
ip = 127.0.0.1
port = 10001
listen = true
streamer = bjb
module = opensipkd.iso8583.bjb.pbb.test_aggregator
db_url = sqlite:///forwarder.db
forward_timeout = 7
host =
    3271:kota_bogor
    3275:kota_bekasi
{extra}
[host_kota_bogor]
ip = 127.0.0.1
port = 10002
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test
"""


class FakePemda:
    """A pemda link whose behaviour `mode` switches: 'answer', 'down', 'timeout',
    'lost', 'busy', 'mute' (an answer without bit 39)."""

    def __init__(self, name, journal=None):
        self.name = name
        self.mode = 'answer'
        self.sent = []
        self.stan = 500000
        self.journal = journal

    def next_stan(self):
        self.stan += 1
        return '%06d' % self.stan

    def send(self, msg, timeout):
        self.sent.append((msg, timeout))
        if self.mode == 'down':
            raise LinkDown('link %s is down' % self.name)
        if self.mode == 'busy':
            raise Busy('1000 requests in flight on %s' % self.name)
        if self.mode == 'timeout':
            raise RequestTimeout('no answer from %s within %g s' % (self.name, timeout))
        if self.mode == 'lost':
            raise AnswerLost('link %s closed before the answer came' % self.name)
        answer = msg.reply(copy=sorted(msg.bits))
        if self.mode != 'mute':
            answer[39] = '00'
        if msg.get(3) == '341019':
            answer[4] = '000000019536'
            answer[62] = msg[61] + 'PROFILE'
        elif msg.mti == '0200':
            answer[47] = '010192430486'
        return answer


class FakeJournal(Journal):
    """The real journal in its own SQLite file; .queued lists (payment,
    reason) of each reversal it queued."""

    def __init__(self, tmp_path):
        db = open_database('sqlite:///%s' % (tmp_path / 'journal.db'))
        create_journal_tables(db)
        super().__init__(db, 'kota_bogor', owner='test:node')
        self.queued = []

    def _enqueue(self, journal_id, msg, reason, now, note=''):
        self.queued.append((msg, reason))
        return super()._enqueue(journal_id, msg, reason, now, note)


class Bank:
    """A forwarder module with fake pemda hosts and a real SQLite database."""

    def __init__(self, tmp_path, extra='', journal=None, start=True):
        conf = tmp_path / 'conf.d'
        conf.mkdir(exist_ok=True)
        (conf / '20-bank.ini').write_text(SECTIONS.format(extra=extra))
        self.settings = config.load('bank', config.config_files(str(conf)), str(tmp_path))
        self.journal = journal if journal is not None else FakeJournal(tmp_path)
        self.bogor = FakePemda('kota_bogor', self.journal)
        self.gateways = {'kota_bogor': Gateway(self.bogor, journal=self.journal)}
        self.databases = {}
        self.module = self.new_module()
        if start:
            self.module.start()
            self.module.connect(self.gateways)

    def db_url(self, url):
        return config.resolve_db_url(url, self.settings.data_dir)

    def database(self, url, init=None):
        url = self.db_url(url)
        if url not in self.databases:
            self.databases[url] = open_database(url)
        return self.databases[url]

    def new_module(self):
        module = ForwarderModule(self.settings.host('agratek'), ModuleContext(
            data_dir=self.settings.data_dir, open_database=self.database))
        module.clock = lambda: NOW
        return module

    def rows(self):
        with self.module.db.connection_context():
            return list(Forward.select().order_by(Forward.id).execute(self.module.db))


@pytest.fixture
def bank(tmp_path):
    return Bank(tmp_path)


def aggregator_request(mti='0200', code='341019', invoice=INVOICE, stan='061717', bits=None):
    msg = Message(mti, {2: '622011888888888888', 3: code, 7: '0719061717', 11: stan,
                        12: '061717', 13: '0719', 18: '6025', 32: '015', 41: 'AGRATEK',
                        61: invoice})
    msg.bits.update(bits or {})
    return msg


def payment_request(stan='062100', ntb='0719062100', invoice=INVOICE):
    return aggregator_request(code='541019', stan=stan, invoice=invoice,
                              bits={4: '000000019536', 48: ntb})


def reversal_request(stan='062100', ntb='0719062100', mti='0400', invoice=INVOICE):
    return aggregator_request(mti=mti, code='541019', stan=stan, invoice=invoice,
                              bits={4: '000000019536', 48: ntb})


# -- routing ----------------------------------------------------------------------

def test_an_inquiry_goes_to_the_host_of_its_prefix_with_that_hosts_stan_and_fresh_times(bank):
    bank.module.handle(aggregator_request())
    ((sent, timeout),) = bank.bogor.sent
    assert (sent.mti, sent[11], sent[7], sent[12], sent[13]) == (
        '0200', '500001', '0719062101', '062101', '0719')
    assert timeout == 7.0                        # forward_timeout
    untouched = {b: v for b, v in aggregator_request().bits.items()
                 if b not in (7, 11, 12, 13)}
    assert {b: sent[b] for b in untouched} == untouched


def test_the_answer_has_the_aggregators_stan_and_times_and_the_pemdas_answer(bank):
    answer = bank.module.handle(aggregator_request())
    assert answer.mti == '0210'
    assert (answer[7], answer[11], answer[12], answer[13]) == (
        '0719061717', '061717', '061717', '0719')
    assert (answer[39], answer[4], answer[62]) == ('00', '000000019536', INVOICE + 'PROFILE')
    assert (answer[2], answer[18], answer[41], answer[61]) == (
        '622011888888888888', '6025', 'AGRATEK', INVOICE)


def test_every_forwarded_request_is_recorded_with_both_stans_and_its_outcome(bank):
    bank.module.handle(payment_request())
    (row,) = bank.rows()
    assert (row.source, row.source_stan, row.target, row.target_stan, row.mti,
            row.processing_code, row.invoice_id, row.ntb, row.amount) == (
        'agratek', '062100', 'kota_bogor', '500001', '0200', '541019', INVOICE,
        '0719062100', '000000019536')
    assert (row.outcome, row.target_code, row.reply_code) == ('answered', '00', '00')


def test_an_unknown_invoice_prefix_is_answered_55_recorded_and_logged(bank, caplog):
    with caplog.at_level(logging.WARNING):
        answer = bank.module.handle(aggregator_request(invoice='3676010001007002701995'))
    assert (answer.mti, answer[39], answer[11]) == ('0210', '55', '061717')
    assert bank.bogor.sent == []
    assert '[host_agratek] no route for invoice prefix 3676' in caplog.text
    (row,) = bank.rows()
    assert (row.outcome, row.reply_code) == ('no route', '55')


@pytest.mark.parametrize('invoice', ['', '32', 'ABCD010001007002701995'])
def test_bit_61_without_four_leading_digits_is_answered_33(bank, invoice):
    assert bank.module.handle(aggregator_request(invoice=invoice))[39] == '33'
    assert bank.bogor.sent == []


def test_a_request_of_another_processing_code_is_answered_76(bank):
    assert bank.module.handle(aggregator_request(code='301099'))[39] == '76'
    assert bank.bogor.sent == []


# -- reversals ----------------------------------------------------------------------

def test_a_reversal_goes_to_the_payments_host_with_the_payments_stan_there(bank):
    bank.module.handle(payment_request())
    bank.bogor.stan = 700000                      # STANs moved on since
    answer = bank.module.handle(reversal_request(mti='0401'))
    sent, _ = bank.bogor.sent[-1]
    assert (sent.mti, sent[11], sent[48], sent[61], sent[7]) == (
        '0401', '500001', '0719062100', INVOICE, '0719062101')
    assert (answer.mti, answer[39], answer[11]) == ('0411', '00', '062100')
    rows = bank.rows()
    assert (rows[1].mti, rows[1].target_stan, rows[1].payment_id) == ('0401', '500001',
                                                                     rows[0].id)


def test_a_new_forwarder_on_the_same_database_finds_the_payment_of_a_reversal(tmp_path):
    first = Bank(tmp_path)
    first.module.handle(payment_request())
    second = Bank(tmp_path)                       # a restarted bank
    second.bogor.stan = 123000
    assert second.module.handle(reversal_request())[39] == '00'
    ((sent, _),) = second.bogor.sent
    assert (sent.mti, sent[11]) == ('0400', '500001')


def test_a_reversal_needs_the_payments_stan_invoice_and_ntb(bank):
    bank.module.handle(payment_request())
    for other in (reversal_request(stan='062101'), reversal_request(ntb='0719062101'),
                  reversal_request(invoice=BEKASI)):
        assert bank.module.handle(other)[39] == '55'
    assert len(bank.bogor.sent) == 1


def test_a_reversal_of_a_payment_that_never_went_out_is_answered_55(bank):
    bank.bogor.mode = 'down'
    assert bank.module.handle(payment_request())[39] == '91'
    bank.bogor.mode = 'answer'
    assert bank.module.handle(reversal_request())[39] == '55'
    assert len(bank.bogor.sent) == 1


# -- the pemda's link -------------------------------------------------------------------

def test_a_target_link_down_is_answered_91_at_once(bank):
    bank.bogor.mode = 'down'
    answer = bank.module.handle(payment_request())
    assert (answer[39], answer[11]) == ('91', '062100')
    assert bank.journal.queued == []              # nothing went out: nothing to reverse
    assert bank.rows()[0].outcome == 'link down'


@pytest.mark.parametrize('mode, outcome', [('timeout', 'timeout'), ('lost', 'lost')])
def test_a_payment_with_an_unknown_outcome_is_answered_91_and_queued_for_reversal(
        bank, mode, outcome):
    bank.bogor.mode = mode
    assert bank.module.handle(payment_request())[39] == '91'
    ((msg, reason),) = bank.journal.queued
    assert reason == outcome
    assert (msg.mti, msg[11], msg[48], msg[61]) == ('0200', '500001', '0719062100', INVOICE)
    assert bank.rows()[0].outcome == outcome


def test_an_inquiry_not_answered_in_time_is_answered_91_and_not_reversed(bank):
    bank.bogor.mode = 'timeout'
    assert bank.module.handle(aggregator_request())[39] == '91'
    assert bank.journal.queued == []


def test_a_busy_link_is_answered_91(bank):
    bank.bogor.mode = 'busy'
    assert bank.module.handle(payment_request())[39] == '91'
    assert bank.journal.queued == []


def test_an_inquiry_answered_without_bit_39_is_answered_76(bank):
    bank.bogor.mode = 'mute'
    assert bank.module.handle(aggregator_request())[39] == '76'
    assert bank.journal.queued == []


def test_a_payment_answered_without_bit_39_is_answered_91_and_reversed(bank):
    bank.bogor.mode = 'mute'
    assert bank.module.handle(payment_request())[39] == '91'
    ((msg, reason),) = bank.journal.queued
    assert (reason, msg[11]) == ('malformed', '500001')


def test_a_payment_whose_answer_cannot_be_recorded_is_answered_91_and_reversed(bank):
    def failing(row, code):
        raise OSError('disk full')
    bank.module._answered = failing
    assert bank.module.handle(payment_request())[39] == '91'
    ((msg, reason),) = bank.journal.queued
    assert (reason, msg[11], msg[48]) == ('malformed', '500001', '0719062100')


def test_an_answer_to_a_payment_another_node_took_over_meanwhile_is_answered_91(bank):
    send = bank.bogor.send

    def taken_over_meanwhile(msg, timeout):     # this node looked dead to another
        (row,) = bank.rows()
        assert bank.journal.take_over_row(bank.module.kind, row.id, 'cut', msg,
                                          same_db=False)
        return send(msg, timeout)
    bank.bogor.send = taken_over_meanwhile
    assert bank.module.handle(payment_request())[39] == '91'
    ((msg, reason),) = bank.journal.queued          # the other node's reversal only
    assert (reason, msg[11]) == ('cut', '500001')
    assert bank.rows()[0].outcome == 'cut'


def test_without_a_reversal_queue_an_unknown_outcome_is_an_error_line(tmp_path, caplog):
    bank = Bank(tmp_path)
    bank.gateways['kota_bogor'].journal = None    # a host module with no journal
    bank.bogor.mode = 'timeout'
    with caplog.at_level(logging.ERROR):
        assert bank.module.handle(payment_request())[39] == '91'
    assert 'unknown outcome (timeout)' in caplog.text and 'reverse it by hand' in caplog.text


def test_a_queued_reversal_lands_in_the_banks_store_and_forward_queue(tmp_path):
    from appliance.roles.bank.journal import Journal, SafEntry, create_tables
    db = open_database('sqlite:///%s' % (tmp_path / 'bank.db'))
    create_tables(db)
    bank = Bank(tmp_path, journal=Journal(db, 'kota_bogor'))
    bank.bogor.mode = 'timeout'
    bank.module.handle(payment_request())
    with db.connection_context():
        (entry,) = SafEntry.select().execute(db)
    assert (entry.host, entry.stan, entry.ntb, entry.invoice_id, entry.reason) == (
        'kota_bogor', '500001', '0719062100', INVOICE, 'timeout')


def test_a_payment_left_in_flight_by_an_earlier_run_is_queued_for_reversal_at_start(
        tmp_path):
    first = Bank(tmp_path)
    sending = gevent.event.Event()

    def send_forever(msg, timeout):
        sending.set()
        gevent.sleep(30)
    first.bogor.send = send_forever
    worker = gevent.spawn(first.module.handle, payment_request())
    assert sending.wait(10)                       # the payment is journaled and on its way
    worker.kill()                                 # the process died mid-request
    second = Bank(tmp_path)
    ((msg, reason),) = second.journal.queued
    assert (reason, msg[11], msg[48]) == ('cut', '500001', '0719062100')
    assert second.rows()[0].outcome == 'cut'
    assert 2 not in msg.bits                      # card data is never stored


# -- start-up and configuration ---------------------------------------------------------

def test_a_route_to_a_host_that_is_not_configured_is_a_start_up_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        bank = Bank(tmp_path)
    assert ('[host_agratek] host: invoice prefix 3275 routes to host kota_bekasi, but '
            'there is no [host_kota_bekasi]') in caplog.text
    assert bank.module.handle(aggregator_request(invoice=BEKASI))[39] == '91'


def test_initdb_creates_the_forwarder_table(tmp_path):
    bank = Bank(tmp_path, start=False)
    assert bank.module.initdb(False).startswith('forwarder tables ready in sqlite:///')
    db = bank.database('sqlite:///forwarder.db')
    with db.connection_context():
        assert db.table_exists('iso8583d_forward')


@pytest.mark.parametrize('host, message', [
    (None, r'\[host_agratek\] host: required key is missing'),
    ('327:kota_bogor', r"\[host_agratek\] host: prefix '327' is not 4 digits"),
    ('3271:kota_bogor 3271:kota_bekasi', r'host: prefix 3271 is mapped twice'),
    ('3271=kota_bogor', r"host: '3271=kota_bogor' is not PREFIX:NAME"),
])
def test_a_bad_routing_table_is_a_configuration_error(tmp_path, host, message):
    text = SECTIONS.format(extra='')
    text = text.replace('host =\n    3271:kota_bogor\n    3275:kota_bekasi\n',
                        '' if host is None else 'host = %s\n' % host)
    (tmp_path / '20-bank.ini').write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load('bank', config.config_files(str(tmp_path)), str(tmp_path))


def test_the_routing_table_takes_words_or_lines():
    assert forwarder.routes('3271:kota_bogor 3275:kota_bekasi') == forwarder.routes(
        '\n3271:kota_bogor\n3275:kota_bekasi\n') == {'3271': 'kota_bogor',
                                                     '3275': 'kota_bekasi'}


def test_a_reversal_the_journal_cannot_take_is_owed_and_queued_once_it_is_back(tmp_path):
    from appliance.roles.bank.journal import SafEntry
    bank = Bank(tmp_path)
    db = bank.journal.db
    bank.bogor.mode = 'timeout'
    with db.connection_context():
        db.execute_sql('ALTER TABLE iso8583d_saf RENAME TO saf_away')   # the journal fails
    assert bank.module.handle(payment_request())[39] == '91'
    assert len(bank.journal.owed) == 1
    with db.connection_context():
        db.execute_sql('ALTER TABLE saf_away RENAME TO iso8583d_saf')   # and is back
    bank.journal.settle_owed()
    with db.connection_context():
        (entry,) = SafEntry.select().execute(db)
    assert (entry.stan, entry.reason, len(bank.journal.owed)) == ('500001', 'timeout', 0)
    assert bank.rows()[0].outcome == 'timeout'
