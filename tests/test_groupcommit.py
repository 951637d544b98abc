"""appliance.store.groupcommit, and the database writes built on it: concurrent
writes share commits, each caller learns its own outcome, and nobody is told
"written" of a write that a failed group did not keep."""
import gevent
import pytest
from peewee import IntegrityError, OperationalError

from appliance.store.db import SqliteStore, open_database
from appliance.store.groupcommit import GroupCommit
from appliance.iso.message import Message
from appliance.roles.bank.journal import Duplicate, Journal, JournalEntry, create_tables


def _together(calls):
    """Run the calls in greenlets started in one turn; their results or errors."""
    greenlets = [gevent.spawn(call) for call in calls]
    gevent.joinall(greenlets, timeout=10)
    return [g.value if g.successful() else g.exception for g in greenlets]


def test_items_submitted_in_one_turn_are_written_as_one_group_each_with_its_outcome():
    groups = []

    def write(items):
        groups.append(list(items))
        return [ValueError('odd') if item % 2 else item * 10 for item in items]
    commit = GroupCommit(write)
    outcomes = _together([lambda i=i: commit.submit(i) for i in range(6)])
    assert groups == [[0, 1, 2, 3, 4, 5]]
    assert [o if isinstance(o, int) else str(o) for o in outcomes] == [
        0, 'odd', 20, 'odd', 40, 'odd']


def test_items_queued_while_a_group_is_written_form_the_next_group():
    groups = []

    def write(items):
        groups.append(list(items))
        gevent.sleep(0.01)              # a write that yields, as PostgreSQL's do
        return list(items)
    commit = GroupCommit(write)
    first = gevent.spawn(commit.submit, 'a')
    gevent.sleep(0.001)                 # 'a' is being written
    later = _together([lambda i=i: commit.submit(i) for i in 'bcd'])
    first.join()
    assert groups == [['a'], ['b', 'c', 'd']] and later == ['b', 'c', 'd']
    assert (commit.busy, commit.queue) == (False, [])


def test_an_error_of_the_write_is_every_item_s_and_the_next_group_is_written():
    def write(items):
        if 'bad' in items:
            raise OSError('disk full')
        return list(items)
    commit = GroupCommit(write)
    outcomes = _together([lambda: commit.submit('ok'), lambda: commit.submit('bad')])
    assert [str(o) for o in outcomes] == ['disk full', 'disk full']
    assert commit.submit('next') == 'next'


# -- SqliteStore.write_one and PostgresStore.write_one, through the journal ------

def _payment(stan):
    return Message('0200', {3: '541019', 4: '000000019536', 11: stan, 48: 'NTB' + stan,
                            61: '3271010001007002701995'})


@pytest.fixture
def journal(db_url):
    database = open_database(db_url)
    create_tables(database)
    yield Journal(database, 'bjb')
    database.close_all()


def _entries(journal):
    with journal.db.connection_context():
        return {e.idem_key: e.state for e in JournalEntry.select().execute(journal.db)}


def test_concurrent_journal_writes_each_get_their_entry_and_a_duplicate_only_its_refusal(
        journal, monkeypatch):
    transactions = []
    real = journal.db.write_transaction

    def counted():
        transactions.append(1)
        return real()
    monkeypatch.setattr(journal.db, 'write_transaction', counted)
    journal.begin('payment', _payment('000001'), idem_key='k1')
    transactions.clear()
    keys = ['k%d' % n for n in range(2, 12)] + ['k1']          # k1 is already there
    outcomes = _together([lambda k=k: journal.begin('payment', _payment(k[1:].zfill(6)),
                                                    idem_key=k) for k in keys])
    ids, refused = outcomes[:-1], outcomes[-1]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == 10
    assert isinstance(refused, Duplicate)
    assert set(_entries(journal)) == {'k%d' % n for n in range(1, 12)}
    if isinstance(journal.db, SqliteStore):
        assert len(transactions) < 5          # shared commits (10 writes)
    answers = _together([lambda i=i: journal.answered(i, '00', {'code': 0}) for i in ids])
    assert answers == [True] * 10 and set(_entries(journal).values()) == {'answered', 'sending'}


def _sqlite_journal(tmp_path):
    database = open_database('sqlite:///%s' % (tmp_path / 'journal.db'))
    create_tables(database)
    return Journal(database, 'bjb')


def test_a_group_whose_transaction_was_lost_tells_every_writer_so_and_keeps_nothing(
        tmp_path):
    journal = _sqlite_journal(tmp_path)
    db = journal.db

    def lost_transaction():
        db.execute_sql('ROLLBACK')       # as SQLite does itself on some errors
        raise IntegrityError('constraint failed after the transaction ended')
    outcomes = _together([
        lambda: journal.begin('payment', _payment('000001'), idem_key='a'),
        lambda: db.write_one(lost_transaction),
        lambda: journal.begin('payment', _payment('000002'), idem_key='b')])
    assert all(isinstance(o, Exception) for o in outcomes), outcomes
    assert _entries(journal) == {}
    assert isinstance(journal.begin('payment', _payment('000003'), idem_key='c'), int)
    db.close_all()


def test_an_error_other_than_a_constraint_fails_the_whole_group(tmp_path):
    journal = _sqlite_journal(tmp_path)
    db = journal.db
    outcomes = _together([
        lambda: journal.begin('payment', _payment('000001'), idem_key='a'),
        lambda: db.write_one(lambda: db.execute_sql('INSERT INTO no_such_table VALUES (1)'))])
    assert all(isinstance(o, OperationalError) for o in outcomes), outcomes
    assert _entries(journal) == {}
    db.close_all()


def test_a_failed_commit_fails_every_writer_of_its_group(tmp_path, monkeypatch):
    journal = _sqlite_journal(tmp_path)
    db = journal.db
    real = db.commit
    monkeypatch.setattr(db, 'commit', lambda: (_ for _ in ()).throw(
        OperationalError('disk I/O error')))
    outcomes = _together([lambda k=k: journal.begin('payment', _payment(k), idem_key=k)
                          for k in ('000001', '000002', '000003')])
    monkeypatch.setattr(db, 'commit', real)
    assert all(isinstance(o, OperationalError) for o in outcomes), outcomes
    assert _entries(journal) == {}
    db.close_all()


def test_a_leader_killed_before_it_writes_hands_the_group_to_the_next_writer(monkeypatch):
    from appliance.store import groupcommit
    groups, real_sleep, calls = [], gevent.sleep, []

    def killed_in_its_first_yield(seconds=0):
        real_sleep(0)                      # 'b' queues behind the leader meanwhile
        calls.append(1)
        if len(calls) == 1:
            raise gevent.GreenletExit      # as a kill or an outer Timeout would
    monkeypatch.setattr(groupcommit.gevent, 'sleep', killed_in_its_first_yield)

    def write(items):
        groups.append(list(items))
        return list(items)
    commit = GroupCommit(write)
    leader = gevent.spawn(commit.submit, 'a')
    follower = gevent.spawn(commit.submit, 'b')
    assert follower.get(timeout=5) == 'b' and leader.dead
    assert groups == [['b']] and (commit.busy, commit.queue) == (False, [])
