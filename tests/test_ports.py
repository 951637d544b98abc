"""The test port reservation (tests/fixtures/ports.py): no two daemons of a run,
nor of two runs side by side, are handed the same port."""
import os
import socket
import subprocess
import sys

from fixtures import ports
from fixtures.daemon import free_port

PORTS_PY = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'ports.py')


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
        squatter.bind(('127.0.0.1', first + 1))
        squatter.listen()
        assert allocator.take() == first + 2
