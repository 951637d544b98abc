"""appliance.net.outbox: frames of one loop turn leave in one write, in order,
also when the socket cannot take them all at once; a failed write is
reported once."""
import socket

import gevent
import pytest

from appliance.net.outbox import Outbox


class CountingSocket:
    """A socket whose sends are counted (gevent's send signature)."""

    def __init__(self, sock):
        self.sock = sock
        self.sends = 0

    def send(self, data, flags=0, timeout=None):
        self.sends += 1
        return self.sock.send(data, flags, timeout)

    def sendall(self, data):
        self.sends += 1
        return self.sock.sendall(data)


def read_exactly(sock, size, timeout=10):
    data = b''
    with gevent.Timeout(timeout):
        while len(data) < size:
            chunk = sock.recv(65536)
            assert chunk, 'the peer closed after %d of %d bytes' % (len(data), size)
            data += chunk
    return data


def test_frames_queued_in_one_turn_leave_in_one_send():
    left, right = socket.socketpair()
    counted = CountingSocket(left)
    outbox = Outbox(counted, on_error=lambda reason: pytest.fail(reason))
    outbox.put(b'one')
    outbox.put(b'two')
    outbox.put(b'three')
    assert counted.sends == 0                  # nothing before the turn ends
    assert read_exactly(right, 11) == b'onetwothree'
    assert counted.sends == 1


def test_without_combining_each_frame_of_a_turn_is_a_send_of_its_own():
    left, right = socket.socketpair()
    counted = CountingSocket(left)
    outbox = Outbox(counted, on_error=lambda reason: pytest.fail(reason), combine=False)
    for frame in (b'one', b'two', b'three', b'four', b'five'):
        outbox.put(frame)
    assert read_exactly(right, 19) == b'onetwothreefourfive'
    assert counted.sends == 5


def test_a_fourth_queued_frame_is_written_at_once():
    left, right = socket.socketpair()
    counted = CountingSocket(left)
    outbox = Outbox(counted, on_error=lambda reason: pytest.fail(reason))
    for frame in (b'a', b'b', b'c', b'd'):
        outbox.put(frame)
    assert counted.sends == 1                  # FLUSH_AT frames: no waiting for the turn
    outbox.put(b'e')
    assert read_exactly(right, 5) == b'abcde' and counted.sends == 2


def test_what_the_socket_cannot_take_is_drained_in_order_while_more_is_queued():
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    outbox = Outbox(left, on_error=lambda reason: pytest.fail(reason))
    frames = [b'%06d' % n + b'x' * 994 for n in range(2000)]     # 2 MB: far over the buffers
    for frame in frames[:1000]:
        outbox.put(frame)
    gevent.sleep(0)                            # the flush ran; the rest waits for the reader
    for frame in frames[1000:]:
        outbox.put(frame)
    assert read_exactly(right, 2000 * 1000) == b''.join(frames)


def test_a_failed_write_is_reported_and_nothing_is_written_after_close():
    left, right = socket.socketpair()
    right.close()
    reasons = []
    outbox = Outbox(left, on_error=reasons.append)
    with gevent.Timeout(5):
        while not reasons:
            outbox.put(b'x' * 1000)
            gevent.sleep(0.01)
    assert reasons[0].startswith('write failed: ')
    outbox.close()
    outbox.put(b'more')
    gevent.sleep(0.05)
    assert len(reasons) == 1
