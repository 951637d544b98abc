"""Fake ISO8583 peers on real loopback sockets, for tests."""
import socket

import gevent
import gevent.event
import gevent.queue

from appliance.iso import netmgmt
from appliance.iso.codec import Codec
from appliance.iso.framing import get_streamer
from appliance.iso.spec import get_spec


class FakePeer:
    """A listening peer: answers echoes itself unless told otherwise, and lets
    the test see and answer every other request."""

    def __init__(self, answer_echo=True):
        self.server = socket.socket()
        self.server.bind(('127.0.0.1', 0))
        self.server.listen(5)
        self.port = self.server.getsockname()[1]
        self.codec = Codec(get_spec('bjb_pbb'))
        self.streamer = get_streamer('bjb_with_suffix')
        self.answer_echo = answer_echo
        self.received = gevent.queue.Queue()
        self.waiters = {}
        self.conn = None
        self.accepted = gevent.event.Event()
        self.greenlet = gevent.spawn(self._serve)

    def _serve(self):
        self.conn, _ = self.server.accept()
        self.accepted.set()
        splitter = self.streamer.splitter()
        while True:
            data = self.conn.recv(65536)
            if not data:
                return
            for raw in splitter.feed(data):
                msg = self.codec.decode(raw)
                if msg.mti == '0800' and self.answer_echo:
                    self.send(netmgmt.answer(msg))
                waiter = self.waiters.pop((msg.mti[:2], msg.get(11)), None)
                if waiter is not None and msg.mti[2] in '13':
                    waiter.set(msg)
                else:
                    self.received.put(msg)

    def send(self, msg):
        self.conn.sendall(self.streamer.frame(self.codec.encode(msg)))

    def ask(self, msg, timeout=10):
        """Send a request and wait for the answer with its MTI class and STAN."""
        waiter = self.waiters[(msg.mti[:2], msg[11])] = gevent.event.AsyncResult()
        self.send(msg)
        return waiter.get(timeout=timeout)

    def next_request(self, mti=None, timeout=5):
        while True:
            msg = self.received.get(timeout=timeout)
            if mti is None or msg.mti == mti:
                return msg

    def close(self):
        self.greenlet.kill()
        if self.conn:
            self.conn.close()
        self.server.close()
