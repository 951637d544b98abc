"""The store-and-forward reversal queue, on SQLite and PostgreSQL."""
import time

import gevent
import pytest

from appliance.roles.bank import journal as J
from appliance.store.db import open_database
from appliance.net.link import LinkDown, RequestTimeout
from appliance.pbb.request import RequestBuilder
from appliance.roles.bank.saf import SafQueue, SafSettings

INVOICE = '3271010001007002701995'


def settings(**kw):
    values = dict(max_attempts=10, max_age=3600, retry_interval=0.05, retry_max=0.2,
                  orphan_after=60, request_timeout=1.0, concurrency=10)
    values.update(kw)
    return SafSettings(**values)


@pytest.fixture
def db(db_url):
    database = open_database(db_url)
    J.create_tables(database)
    yield database
    database.close()


class Pemda:
    """Answers reversals by a script of bit 39 codes (or 'timeout', 'down') per
    STAN; the last item repeats. Records every send with its time span."""

    def __init__(self, script=('00',), delay=0.0):
        self.script = list(script)
        self.delay = delay
        self.sends = []               # (stan, mti, started, ended)
        self.count = {}
        self.is_up = True

    def send(self, msg, timeout):
        stan = msg[11]
        n = self.count[stan] = self.count.get(stan, 0) + 1
        outcome = self.script[min(n, len(self.script)) - 1]
        started = time.monotonic()
        if outcome == 'down':
            raise LinkDown('link fake is down')
        gevent.sleep(self.delay)
        self.sends.append((stan, msg.mti, started, time.monotonic()))
        if outcome == 'timeout':
            raise RequestTimeout('no answer from fake within %g s' % timeout)
        answer = msg.reply(copy=sorted(msg.bits))
        answer[39] = outcome
        return answer


def queue_reversals(db, count, host='kota_bogor'):
    journal = J.Journal(db, host)
    builder = RequestBuilder()
    for i in range(count):
        journal.enqueue(builder.payment(INVOICE, 19536, 'NTB%d' % i, '%06d' % (i + 1)),
                        'timeout')
    return journal


def drain(queue, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue.step()
        queue.pool.join(timeout=2)
        if not queue.depth():
            return
        gevent.sleep(0.02)
    raise AssertionError('SAF queue not drained in %g s' % timeout)


def saf_rows(db):
    with db.connection_context():
        return list(J.SafEntry.select().order_by(J.SafEntry.id).execute(db))


def test_a_reversal_answered_00_is_sent_once_as_0400_and_done(db):
    journal = queue_reversals(db, 1)
    pemda = Pemda(['00'])
    drain(SafQueue(journal, pemda, settings()))
    assert [(s[0], s[1]) for s in pemda.sends] == [('000001', '0400')]
    (row,) = saf_rows(db)
    assert (row.state, row.attempts, row.last_code) == ('done', 1, '00')


def test_a_reversal_is_repeated_as_0401_until_an_answer_comes(db):
    journal = queue_reversals(db, 1)
    pemda = Pemda(['timeout', '76', 'timeout', '00'])
    drain(SafQueue(journal, pemda, settings()))
    assert [s[1] for s in pemda.sends] == ['0400', '0401', '0401', '0401']
    assert saf_rows(db)[0].state == 'done'


def test_nothing_to_reverse_is_final_only_when_a_second_look_says_so_too(db):
    journal = queue_reversals(db, 2)
    pemda = Pemda(['55', '55'])
    drain(SafQueue(journal, pemda, settings()))
    assert [r.attempts for r in saf_rows(db)] == [2, 2]
    assert {r.state for r in saf_rows(db)} == {'done'}


def test_a_payment_booked_after_a_first_55_is_reversed_by_the_second_look(db):
    journal = queue_reversals(db, 1)
    pemda = Pemda(['55', '00'])
    drain(SafQueue(journal, pemda, settings()))
    (row,) = saf_rows(db)
    assert (row.state, row.attempts, row.last_code) == ('done', 2, '00')


class ScheduleRecorder(SafQueue):
    """Keeps the wait each attempt scheduled before the next (next_at - now)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.waits = []

    def record(self, entry, mti, code, error, *carrier):
        state = super().record(entry, mti, code, error, *carrier)
        with self.db.connection_context():
            (row,) = J.SafEntry.select().where(J.SafEntry.id == entry.id).execute(self.db)
        self.waits.append(round(row.next_at - row.updated_at, 6))
        return state


def test_the_repeats_back_off_up_to_retry_max(db):
    journal = queue_reversals(db, 1)
    pemda = Pemda(['timeout'] * 5 + ['00'])
    queue = ScheduleRecorder(journal, pemda, settings(retry_interval=0.05, retry_max=0.15))
    drain(queue)
    # The schedule doubles from retry_interval and stops at retry_max; read
    # from the rows, not from the wall clock, which a loaded machine stretches.
    assert queue.waits[:5] == [0.05, 0.1, 0.15, 0.15, 0.15]
    # The worker keeps to it: no attempt comes before its time.
    gaps = [b[2] - a[3] for a, b in zip(pemda.sends, pemda.sends[1:])]
    assert all(gap >= wait - 0.01 for gap, wait in zip(gaps, queue.waits))


def test_an_entry_is_given_up_after_max_attempts(db):
    journal = queue_reversals(db, 1)
    pemda = Pemda(['timeout'])
    drain(SafQueue(journal, pemda, settings(max_attempts=3)))
    (row,) = saf_rows(db)
    assert (row.state, row.attempts) == ('expired', 3)


def test_a_link_down_is_not_an_attempt(db):
    journal = queue_reversals(db, 1)
    pemda = Pemda(['down', '00'])
    drain(SafQueue(journal, pemda, settings()))
    (row,) = saf_rows(db)
    assert (row.state, row.attempts) == ('done', 1)
    assert [s[1] for s in pemda.sends] == ['0400']


def test_nothing_is_claimed_while_the_link_is_down(db):
    journal = queue_reversals(db, 1)
    pemda = Pemda(['00'])
    pemda.is_up = False
    queue = SafQueue(journal, pemda, settings())
    assert queue.step() == 0 and pemda.sends == []


def test_the_queue_resumes_where_a_stopped_process_left_it(db):
    journal = queue_reversals(db, 3)
    first = SafQueue(journal, Pemda(['timeout']), settings(retry_interval=0.01))
    first.step()
    first.pool.join(timeout=5)
    assert [r.attempts for r in saf_rows(db)] == [1, 1, 1]
    pemda = Pemda(['00'])
    drain(SafQueue(J.Journal(db, 'kota_bogor'), pemda, settings()))   # "restarted"
    assert {s[1] for s in pemda.sends} == {'0401'}
    assert {r.state for r in saf_rows(db)} == {'done'}


def test_an_entry_leased_by_a_process_that_died_is_taken_after_the_lease(db):
    journal = queue_reversals(db, 1)
    clock = [time.time()]
    dead = SafQueue(journal, Pemda(), settings(), clock=lambda: clock[0])
    assert len(dead.claim(clock[0], 10)) == 1          # ... and it never sends
    other = SafQueue(J.Journal(db, 'kota_bogor'), Pemda(), settings(),
                     clock=lambda: clock[0])
    assert other.claim(clock[0], 10) == []
    clock[0] += dead.lease + 1
    assert len(other.claim(clock[0], 10)) == 1


def test_another_hosts_entries_are_left_alone(db):
    queue_reversals(db, 1, host='kota_bekasi')
    pemda = Pemda()
    queue = SafQueue(J.Journal(db, 'kota_bogor'), pemda, settings())
    assert queue.step() == 0


def test_two_processes_sharing_the_queue_never_send_one_entry_twice_at_once(db):
    """Two workers (two bank daemons) on one database, each with its own link:
    every entry is sent exactly as often as the script needs, never by both
    at the same time."""
    queue_reversals(db, 40)
    pemdas = [Pemda(['timeout', '00'], delay=0.02), Pemda(['timeout', '00'], delay=0.02)]
    pemdas[1].count = pemdas[0].count       # one pemda behind two links
    queues = [SafQueue(J.Journal(db, 'kota_bogor'), p, settings(retry_interval=0.01))
              for p in pemdas]
    deadline = time.monotonic() + 30
    while any(q.depth() for q in queues[:1]):
        assert time.monotonic() < deadline, 'not drained'
        gevent.joinall([gevent.spawn(q.step) for q in queues])
        gevent.sleep(0.01)
    for q in queues:
        q.pool.join(timeout=5)
    sends = sorted(s for p in pemdas for s in p.sends)
    by_stan = {}
    for stan, mti, started, ended in sends:
        by_stan.setdefault(stan, []).append((started, ended, mti))
    assert len(by_stan) == 40
    for stan, spans in by_stan.items():
        spans.sort()
        assert [m for _, _, m in spans][0] == '0400', stan
        for (s1, e1, _), (s2, e2, _) in zip(spans, spans[1:]):
            assert s2 >= e1, 'entry %s sent twice at once' % stan
    # A timed-out attempt counts; each entry then needs exactly one more.
    assert all(len(spans) == 2 for spans in by_stan.values())
    assert all(p.sends for p in pemdas), 'both processes took part'
    assert {r.state for r in saf_rows(db)} == {'done'}


def test_the_queue_reports_its_depth_and_repeats_to_the_hosts_metrics(db):
    from appliance.metrics import HostMetrics
    journal = queue_reversals(db, 3)
    pemda = Pemda(script=('timeout', '00'))
    pemda.metrics = HostMetrics('kota_bogor')
    queue = SafQueue(journal, pemda, settings())
    assert pemda.metrics.saf_configured
    queue.step()
    assert pemda.metrics.saf_depth == 3            # counted before the first sends
    queue.pool.join(timeout=5)
    drain(queue)
    assert pemda.metrics.saf_retries == 3          # each entry went out again as 0401
