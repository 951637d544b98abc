"""appliance.taskgroup: at most `limit` handlers at once, a join for
shutdown, and a failing handler that frees its place."""
import gevent
from gevent.event import Event

from appliance.taskgroup import TaskGroup


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
