"""The test port reservation (tests/fixtures/ports.py): no two daemons of a run,
nor of two runs side by side, are handed the same port."""
import os
import socket
import subprocess
import sys

from fixtures import ports
from fixtures.daemon import free_port

TESTS = os.path.dirname(os.path.abspath(__file__))
PORTS_PY = os.path.join(TESTS, 'fixtures', 'ports.py')


def test_a_run_never_hands_out_a_port_twice():
    taken = [free_port() for _ in range(3 * ports.BLOCK)]
    assert len(set(taken)) == len(taken)


def test_reserved_ports_lie_outside_the_kernels_ephemeral_range():
    with open(ports.EPHEMERAL) as f:
        low, high = (int(p) for p in f.read().split())
    assert not low <= free_port() <= high


def test_another_process_is_handed_a_port_from_a_block_this_one_does_not_hold():
    mine = {free_port() // ports.BLOCK for _ in range(ports.BLOCK)}
    out = subprocess.run([sys.executable, PORTS_PY], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    theirs = int(out.split()[0])
    assert theirs // ports.BLOCK not in mine


def test_a_port_something_already_listens_on_is_skipped():
    allocator = ports.PortAllocator(*ports.port_range())
    first = allocator.take()
    with socket.socket() as squatter:      # e.g. a daemon left by a killed run
        try:
            squatter.bind(('127.0.0.1', first + 1))
            squatter.listen()
        except OSError:
            pass    # something outside the scheme listens there already: as good
        # Not first + 2 exactly: a daemon of another run may still hold that one.
        assert allocator.take() > first + 1


def take_turn(name):
    """Exit status of another process taking the fixed ports `name` (1 s wait)."""
    code = ('import sys; sys.path.insert(0, %r)\n'
            'from fixtures.ports import fixed_ports\n'
            'with fixed_ports(%r, timeout=1):\n    pass\n' % (TESTS, name))
    return subprocess.run([sys.executable, '-c', code], stderr=subprocess.PIPE,
                          text=True)


def test_fixed_ports_are_held_by_one_process_at_a_time():
    with ports.fixed_ports('test-turns'):
        waiting = take_turn('test-turns')
    assert waiting.returncode == 1 and 'still held by another process' in waiting.stderr
    assert take_turn('test-turns').returncode == 0


def test_the_script_prints_ports_of_one_block_and_that_blocks_lock_for_a_shell():
    out = subprocess.run([sys.executable, PORTS_PY, '3'], stdout=subprocess.PIPE, text=True,
                         check=True).stdout.split()
    given, lock = [int(p) for p in out[:-1]], out[-1]
    assert len(set(given)) == 3
    assert {ports.PortAllocator.lock_path(p) for p in given} == {lock}
    assert os.path.exists(lock)
