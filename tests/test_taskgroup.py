"""appliance.net.taskgroup: at most `limit` handlers at once, a join for
shutdown, a failing handler that frees its place, and greenlets that park
between tasks (at most KEEP_IDLE) until close()."""
import gevent
from gevent.event import Event

from appliance.net.taskgroup import TaskGroup


def test_a_task_group_runs_at_most_its_limit_and_joins_when_all_are_done():
    group = TaskGroup(3)
    running, peak, release = [0], [0], Event()

    def task():
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        release.wait()
        running[0] -= 1

    spawner = gevent.spawn(lambda: [group.spawn(task) for _ in range(10)])
    gevent.sleep(0.05)
    assert (len(group), running[0], spawner.ready()) == (3, 3, False)   # the spawner waits
    assert not group.join(timeout=0.05)
    release.set()
    spawner.join(timeout=5)
    assert group.join(timeout=5) and len(group) == 0 and peak[0] == 3


def test_a_failing_task_is_logged_and_frees_its_place(caplog):
    group = TaskGroup(1)
    group.spawn(lambda: 1 / 0)
    done = []
    group.spawn(done.append, 'next')
    assert group.join(timeout=5) and done == ['next']
    assert 'Task' in caplog.text and 'ZeroDivisionError' in caplog.text


def test_a_finished_task_s_greenlet_takes_the_next_task():
    group = TaskGroup(10)
    runners = []
    for _ in range(3):
        group.spawn(lambda: runners.append(gevent.getcurrent()))
        assert group.join(timeout=5)
    assert len(runners) == 3 and len(set(runners)) == 1


def test_at_most_keep_idle_greenlets_wait_and_close_ends_them(monkeypatch):
    from appliance.net import taskgroup
    monkeypatch.setattr(taskgroup, 'KEEP_IDLE', 2)
    group = TaskGroup(10)
    release, runners = Event(), set()

    def task():
        runners.add(gevent.getcurrent())
        release.wait()
    for _ in range(5):
        group.spawn(task)
    gevent.sleep(0.01)
    assert len(group) == 5
    release.set()
    assert group.join(timeout=5)
    gevent.sleep(0)
    assert sum(1 for g in runners if not g.dead) == 2      # parked; the other 3 ended
    group.close()
    gevent.sleep(0)
    assert all(g.dead for g in runners)
    done = []
    group.spawn(done.append, 'after close')                 # still served, by a new greenlet
    assert group.join(timeout=5) and done == ['after close']


def test_a_task_ended_by_a_timeout_frees_its_place_and_the_group_goes_on():
    group = TaskGroup(1)

    def times_out():
        with gevent.Timeout(0.01):
            gevent.sleep(1)
    group.spawn(times_out)
    assert group.join(timeout=5) and len(group) == 0
    done = []
    group.spawn(done.append, 'next')
    assert group.join(timeout=5) and done == ['next']
