"""The bank's request journal and idempotent teller payments, on SQLite and
PostgreSQL (the db_url fixture runs each test once per kind)."""
import json
from types import SimpleNamespace

import gevent
import gevent.event
import pytest

from appliance.roles.bank import journal as J
from fixtures.journal_figures import figures
from appliance.roles.bank import teller
from appliance.roles.bank.gateway import Gateway
from appliance.store.db import open_database
from appliance.net.link import AnswerLost, LinkDown, RequestTimeout
from appliance.roles.bank.owed import OwedReversals
from appliance.roles.bank.saf import SafQueue, SafSettings
from appliance.pbb.request import RequestBuilder
from fixtures.waiting import until

INVOICE = '3271010001007002701995'
PAYMENT = {'invoice_id': INVOICE, 'amount': 19536, 'ntb': '0719054951'}


@pytest.fixture
def db(db_url):
    database = open_database(db_url)
    J.create_tables(database)
    yield database
    database.close()


@pytest.fixture
def journal(db):
    return J.Journal(db, 'kota_bogor')


def payment(stan='000123', ntb='0719054951'):
    return RequestBuilder().payment(INVOICE, 19536, ntb, stan)


def rows(db, model):
    with db.connection_context():
        return list(model.select().order_by(model.id).execute(db))


def test_a_request_is_journalled_as_sending_before_it_goes_out(db, journal):
    entry = journal.begin('payment', payment(), 'k|1')
    (row,) = rows(db, J.JournalEntry)
    assert (row.id, row.state, row.stan, row.invoice_id, row.ntb, row.amount) == (
        entry, 'sending', '000123', INVOICE, '0719054951', 19536)
    assert json.loads(row.request)['mti'] == '0200'


@pytest.mark.parametrize('returning', [True, False])
def test_entry_ids_and_answers_are_recorded_with_or_without_insert_returning(
        db, db_url, monkeypatch, returning):
    if not returning and not db_url.startswith('sqlite'):
        pytest.skip('PostgreSQL always has INSERT ... RETURNING')
    monkeypatch.setattr(J, 'has_returning', lambda database: returning)
    journal = J.Journal(db, 'kota_bogor')
    first = journal.begin('payment', payment(), 'k|1')
    second = journal.begin('payment', payment('000124', '0719054952'), 'k|2')
    journal.answered(second, '00', {'code': 0})
    journal.answered(second, '05', {'code': 5})      # an entry is answered once
    assert [(r.id, r.state, r.code, r.result) for r in rows(db, J.JournalEntry)] == [
        (first, 'sending', '', ''), (second, 'answered', '00', '{"code": 0}')]


def test_a_second_payment_with_the_same_key_raises_duplicate_with_the_first(journal):
    first = journal.begin('payment', payment(), 'k|1')
    with pytest.raises(J.Duplicate, match='already journalled as entry %d' % first):
        journal.begin('payment', payment('000124'), 'k|1')


def test_an_unsent_payment_releases_its_key(db, journal):
    first = journal.begin('payment', payment(), 'k|1')
    journal.unsent(first, 'link down')
    second = journal.begin('payment', payment('000124'), 'k|1')
    assert [r.state for r in rows(db, J.JournalEntry)] == ['unsent', 'sending']
    assert second != first


def test_an_unknown_outcome_queues_a_0400_of_the_payment_in_the_same_step(db, journal):
    entry = journal.begin('payment', payment(), 'k|1')
    saf_id = journal.unknown(entry, J.TIMEOUT, 'no answer', payment())
    (row,) = rows(db, J.JournalEntry)
    (saf,) = rows(db, J.SafEntry)
    assert row.state == 'timeout' and saf.id == saf_id and saf.journal_id == entry
    assert (saf.state, saf.attempts, saf.stan, saf.ntb, saf.reason) == (
        'queued', 0, '000123', '0719054951', 'timeout')
    reversal = J.loaded(saf.request)
    assert (reversal.mti, reversal[3], reversal[4], reversal[61]) == (
        '0400', '541019', '000000019536', INVOICE)


def test_the_sweep_orphans_entries_left_sending_and_queues_their_reversal(db):
    clock = [1000.0]
    journal = J.Journal(db, 'kota_bogor', clock=lambda: clock[0])
    old = journal.begin('payment', payment(), 'k|1')
    clock[0] += 50
    journal.begin('payment', payment('000124', ntb='2'), 'k|2')
    assert journal.sweep(older_than=30) == 1
    assert [(r.id, r.state) for r in rows(db, J.JournalEntry)][0] == (old, 'orphaned')
    assert [s.journal_id for s in rows(db, J.SafEntry)] == [old]
    assert journal.sweep(older_than=30) == 0


def test_an_outcome_recorded_after_the_sweep_does_not_queue_twice(db):
    clock = [1000.0]
    journal = J.Journal(db, 'kota_bogor', clock=lambda: clock[0])
    entry = journal.begin('payment', payment(), 'k|1')
    clock[0] += 100
    journal.sweep(older_than=30)
    assert journal.unknown(entry, J.TIMEOUT, 'late', payment()) == rows(db, J.SafEntry)[0].id
    assert len(rows(db, J.SafEntry)) == 1


def test_an_answer_after_the_sweep_is_not_recorded(db):
    clock = [1000.0]
    journal = J.Journal(db, 'kota_bogor', clock=lambda: clock[0])
    entry = journal.begin('payment', payment(), 'k|1')
    clock[0] += 100
    journal.sweep(older_than=30)
    assert journal.answered(entry, '00', {'code': 0}) is False
    assert [r.state for r in rows(db, J.JournalEntry)] == ['orphaned']


def test_a_journal_table_from_before_the_reversal_link_gets_its_column(db, journal):
    with db.connection_context():
        db.execute_sql('ALTER TABLE iso8583d_journal DROP COLUMN payment_id')
    J.create_tables(db)
    paid = journal.begin('payment', payment(), 'k|1')
    reversal = journal.begin('reversal', payment(), payment_id=paid)
    assert [r.payment_id for r in rows(db, J.JournalEntry)] == [None, paid]
    assert reversal == paid + 1


def test_figures_count_states_and_reversals(db, journal):
    entry = journal.begin('payment', payment(), 'k|1')
    journal.unknown(entry, J.LOST, 'lost', payment())
    counted = figures(db)
    assert counted['journal'] == {'lost': 1} and counted['saf'] == {'queued': 1}
    assert (counted['reversals_sent'], counted['reversals_repeated']) == (0, 0)


# -- the teller with the journal ---------------------------------------------


class ScriptedGateway:
    """send() answers per `script`: 'ok', 'timeout', 'lost', 'down', 'nobit39',
    'slow' (answers when the test sets `release`)."""

    def __init__(self, journal, script='ok'):
        self.journal = journal
        self.script = script
        self.sent = []
        self.release = gevent.event.Event()
        self._stan = 0

    def next_stan(self):
        self._stan += 1
        return '%06d' % self._stan

    def send(self, msg, timeout):
        self.sent.append(msg)
        if self.script == 'down':
            raise LinkDown('link fake is down')
        if self.script == 'timeout':
            raise RequestTimeout('no answer from fake within 1 s')
        if self.script == 'lost':
            raise AnswerLost('link fake closed before the answer came')
        if self.script == 'slow':
            self.release.wait(10)
        answer = msg.reply(copy=sorted(msg.bits))
        if self.script != 'nobit39':
            answer[39] = '00'
            answer[47] = '010192430486'
        return answer


def make_teller(gateway):
    route = SimpleNamespace(name='teller', hosts=('kota_bogor',), timeout=5.0, options={})
    return teller.Teller(route, {'kota_bogor': Gateway(gateway, journal=gateway.journal,
                                                       name='kota_bogor')})


def test_a_repeated_payment_gets_the_first_answer_without_a_second_0200(journal):
    gateway = ScriptedGateway(journal)
    t = make_teller(gateway)
    first = t.payment(PAYMENT)
    again = t.payment(dict(PAYMENT, stan='999999'))
    assert first['code'] == 0 and first['data']['39'] == '00'
    assert again == first and len(gateway.sent) == 1


def test_a_payment_repeated_while_the_first_is_in_flight_is_told_in_progress(journal):
    gateway = ScriptedGateway(journal, 'slow')
    t = make_teller(gateway)
    first = gevent.spawn(t.payment, PAYMENT)
    until(lambda: gateway.sent, 'the first payment sent')
    again = t.payment(PAYMENT)
    gateway.release.set()
    assert again['code'] == teller.IN_PROGRESS == 94
    assert 'still in progress' in again['message']
    assert first.get(timeout=5)['code'] == 0 and len(gateway.sent) == 1


def test_a_timed_out_payment_is_68_and_says_a_reversal_was_queued(db, journal):
    t = make_teller(ScriptedGateway(journal, 'timeout'))
    result = t.payment(PAYMENT)
    assert result['code'] == 68
    assert result['message'].endswith('reversal queued (SAF entry %d)'
                                      % rows(db, J.SafEntry)[0].id)
    assert rows(db, J.JournalEntry)[0].state == 'timeout'


@pytest.mark.parametrize('script, state', [('lost', 'lost'), ('nobit39', 'malformed')])
def test_a_lost_or_malformed_answer_queues_a_reversal(db, journal, script, state):
    result = make_teller(ScriptedGateway(journal, script)).payment(PAYMENT)
    assert result['code'] == 68 and 'reversal queued' in result['message']
    assert rows(db, J.JournalEntry)[0].state == state
    assert len(rows(db, J.SafEntry)) == 1


def test_a_repeat_of_a_timed_out_payment_names_its_reversal_and_sends_nothing(journal):
    gateway = ScriptedGateway(journal, 'timeout')
    t = make_teller(gateway)
    t.payment(PAYMENT)
    again = t.payment(PAYMENT)
    assert again['code'] == 68 and 'its reversal is queued' in again['message']
    assert len(gateway.sent) == 1


def test_a_payment_that_was_never_sent_may_be_sent_again_with_the_same_ntb(db, journal):
    gateway = ScriptedGateway(journal, 'down')
    t = make_teller(gateway)
    assert t.payment(PAYMENT)['code'] == 91
    gateway.script = 'ok'
    assert t.payment(PAYMENT)['code'] == 0
    assert [r.state for r in rows(db, J.JournalEntry)] == ['unsent', 'answered']
    assert rows(db, J.SafEntry) == []


def test_a_timed_out_teller_reversal_is_queued_for_repetition(db, journal):
    gateway = ScriptedGateway(journal)
    t = make_teller(gateway)
    stan = t.payment(PAYMENT)['data']['11']         # the payment it reverses
    gateway.script = 'timeout'
    result = t.reversal(dict(PAYMENT, stan=stan))
    assert result['code'] == 68 and 'reversal queued' in result['message']
    (saf,) = rows(db, J.SafEntry)
    assert saf.stan == stan and J.loaded(saf.request).mti == '0400'


def test_with_the_journal_unreachable_a_payment_is_not_sent(tmp_path):
    database = open_database('sqlite:///%s' % (tmp_path / 'nothing.db'))   # no tables
    gateway = ScriptedGateway(J.Journal(database, 'kota_bogor'))
    result = make_teller(gateway).payment(PAYMENT)
    assert result['code'] == 96 and 'journal is unavailable' in result['message']
    assert gateway.sent == []


@pytest.mark.parametrize('landed', [False, True])
def test_an_answer_that_cannot_be_recorded_is_68_and_its_reversal_is_queued(db, journal,
                                                                          monkeypatch, landed):
    """Recording the answer fails; the write may have landed before the error
    (the connection broke while committing). Either way the teller hears 68,
    so the payment must be reversed."""
    recorded = journal.answered

    def answered_then_fail(entry, code, result):
        if landed:
            recorded(entry, code, result)
        monkeypatch.setattr(journal, 'answered', recorded)     # only the first fails
        raise OSError('server closed the connection unexpectedly')

    monkeypatch.setattr(journal, 'answered', answered_then_fail)
    result = make_teller(ScriptedGateway(journal)).payment(PAYMENT)
    assert result['code'] == 68 and result['message'].endswith('it will be reversed')
    with gevent.Timeout(5):
        while not rows(db, J.SafEntry):
            gevent.sleep(0.05)
    assert rows(db, J.JournalEntry)[0].state == 'unrecorded'
    assert J.loaded(rows(db, J.SafEntry)[0].request).mti == '0400'


def database_away(*args):
    raise OSError('could not connect to server')


def saf_queue(journal, gateway):
    """The bank's reversal queue for `journal`, as its start() makes it."""
    return SafQueue(journal, gateway, SafSettings(
        max_attempts=10, max_age=3600, retry_interval=1, retry_max=1, orphan_after=60,
        request_timeout=1.0))


def test_a_reversal_owed_is_kept_on_disk_and_queued_after_a_restart(db, tmp_path,
                                                                    monkeypatch):
    """The answer's write landed but reported a failure, so the teller hears
    68; queuing the reversal fails too (the database went away), and the
    process stops. The entry reads `answered`, which no sweep reverses: only
    the owed file remembers the promise, and the next process keeps it."""
    path = str(tmp_path / 'reversals-owed-kota_bogor.jsonl')
    journal = J.Journal(db, 'kota_bogor', owed=OwedReversals(path))
    recorded = journal.answered

    def answered_then_fail(entry, code, result):
        recorded(entry, code, result)
        raise OSError('server closed the connection unexpectedly')

    monkeypatch.setattr(journal, 'answered', answered_then_fail)
    monkeypatch.setattr(journal, 'unrecorded', database_away)
    result = make_teller(ScriptedGateway(journal)).payment(PAYMENT)
    assert result['code'] == 68 and result['message'].endswith('it will be reversed')
    gevent.sleep(0.1)                  # the teller's own try to queue it fails
    assert [r.state for r in rows(db, J.JournalEntry)] == ['answered']
    assert rows(db, J.SafEntry) == []

    # The next process: its SAF queue's first pass queues what is owed.
    restarted = J.Journal(db, 'kota_bogor', owed=OwedReversals(path))
    gateway = SimpleNamespace(is_up=False)
    saf_queue(restarted, gateway).step()
    (entry,) = rows(db, J.JournalEntry)
    (saf,) = rows(db, J.SafEntry)
    assert (entry.state, saf.journal_id, saf.reason) == ('unrecorded', entry.id, 'unrecorded')
    assert J.loaded(saf.request).mti == '0400' and J.loaded(saf.request)[61] == INVOICE
    assert len(restarted.owed) == 0 and open(path).read() == ''


def test_an_owed_file_with_a_torn_last_line_keeps_the_promises_before_it(tmp_path):
    path = str(tmp_path / 'owed.jsonl')
    owed = OwedReversals(path)
    owed.add(7, 'answered but not journalled', payment())
    owed.add(8, 'answered but not journalled', payment('000124'))
    owed.settled(7)
    with open(path, 'a') as f:
        f.write('{"owe": 9, "mess')         # the crash came mid-write
    (entry_id, message, msg), = OwedReversals(path).pending()
    assert (entry_id, message, msg.mti, msg[11]) == (8, 'answered but not journalled',
                                                      '0200', '000124')


def test_a_reversal_owed_for_an_entry_the_database_lacks_is_reported_not_queued(
        db, tmp_path, caplog):
    owed = OwedReversals(str(tmp_path / 'owed.jsonl'))
    owed.add(999, 'answered but not journalled', payment())
    J.Journal(db, 'kota_bogor', owed=owed).settle_owed()
    assert rows(db, J.SafEntry) == [] and len(owed) == 0
    assert 'journal entry 999: the reversal owed for it was not queued' in caplog.text


def test_reversals_owed_while_the_journal_is_away_show_in_metrics_and_status(
        db, tmp_path, monkeypatch, caplog):
    from appliance.metrics import HostMetrics, HttpMetrics, exposition
    from appliance.ops.status import _links_section, link_state
    journal = J.Journal(db, 'kota_bogor', owed=OwedReversals(str(tmp_path / 'owed.jsonl')))
    journal.owed.add(7, 'answered but not journalled', payment())

    monkeypatch.setattr(journal, 'unrecorded', database_away)
    host = SimpleNamespace(name='kota_bogor', metrics=HostMetrics('kota_bogor'), link=None,
                           is_up=False, config=SimpleNamespace(
                               listen=True, bind='0.0.0.0', port=10002, ip='10.0.0.1'))
    saf_queue(journal, host).step()      # logged; the sweep goes on and retries later
    assert 'owed reversal(s) not queued yet: could not connect' in caplog.text
    text = exposition('bank', 0.0, [host], HttpMetrics(), [])
    assert 'iso8583d_reversals_owed{host="kota_bogor"} 1' in text
    row = link_state(host)
    assert '+1 owed' in _links_section([row], 0.0)
