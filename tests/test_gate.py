"""FairGate: released slots go to the longest waiter, never to a newcomer."""
import gevent
import gevent.event

from appliance.http.gate import FairGate


def test_a_released_slot_goes_to_the_waiter_not_back_to_its_holder():
    """A keep-alive client that asks again at once must queue behind a waiter
    (gevent's Semaphore gives the slot back to the holder: 0, 1, waiter)."""
    gate, order = FairGate(1), []

    def holder():
        for n in range(2):
            with gate.slot():
                order.append('holder%d' % n)
                gevent.sleep(0.01)

    def waiter():
        with gate.slot():
            order.append('waiter')

    first = gevent.spawn(holder)
    gevent.sleep(0)
    second = gevent.spawn(waiter)
    gevent.joinall([first, second], raise_error=True)
    assert order == ['holder0', 'waiter', 'holder1']


def test_at_most_slots_holders_at_once():
    gate, inside, peak = FairGate(3), [0], [0]

    def worker():
        with gate.slot():
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
            gevent.sleep(0.01)
            inside[0] -= 1

    gevent.joinall([gevent.spawn(worker) for _ in range(20)], raise_error=True)
    assert peak[0] == 3 and gate.free == 3


def test_a_waiter_killed_in_the_queue_gives_up_its_place():
    gate, released = FairGate(1), gevent.event.Event()

    def hold():
        with gate.slot():
            released.wait()

    holder = gevent.spawn(hold)
    gevent.sleep(0)
    victim = gevent.spawn(hold)
    gevent.sleep(0)
    assert len(gate.waiters) == 1
    victim.kill()
    assert not gate.waiters
    released.set()
    holder.join()
    assert gate.free == 1
