"""Hosts: the configured ISO8583 peers, each with at most one live link.

A listen-host is served by a StreamServer shared by every host on the same
bind address and port; an accepted connection is given to the host whose `ip`
is the peer's address, and refused otherwise. While that host's link is
alive (it answers an echo within `timeout`), a second connection from the
peer is refused: replacing a live link would turn every request in flight on
it into a reversal. A connect-host runs a greenlet
that connects, serves the link until it ends, and reconnects with capped
back-off, logging each attempt as the seed did.
"""
import logging
import random
import socket
import time

import gevent
from gevent.server import StreamServer

from appliance.iso.codec import Codec
from appliance.iso.framing import get_streamer
from appliance.iso.spec import get_spec
from appliance.net.link import Link, LinkDown
from appliance.metrics import HostMetrics

log = logging.getLogger('iso8583d.hosts')


class Host:
    """One host_<name>: its codec, streamer, module and current link."""

    def __init__(self, config, module=None):
        self.config = config
        self.name = config.name
        self.codec = Codec(get_spec(config.spec))
        self.streamer = get_streamer(config.streamer, max_length=self.codec.spec.max_size)
        self.module = module
        self.link = None
        self._stan = random.randrange(1, 1000000)
        self.listeners = []          # called with (host, up: bool) on change
        self.metrics = HostMetrics(self.name)

    # -- the gateway other parts use -------------------------------------------

    def send(self, msg, timeout=None):
        """Send a request on the live link and return the answer."""
        link = self.link
        if link is None or not link.is_open:
            raise LinkDown('link %s is down' % self.name)
        return link.request(msg, timeout or self.config.request_timeout)

    def next_stan(self):
        """A 6-digit STAN not in flight on the current link."""
        link = self.link
        for _ in range(1000000):
            self._stan = self._stan % 999999 + 1
            stan = '%06d' % self._stan
            if link is None or not link.in_flight(stan):
                return stan
        raise LinkDown('every STAN is in flight on %s' % self.name)

    @property
    def is_up(self):
        return self.link is not None and self.link.is_open

    # -- links ---------------------------------------------------------------

    def replaceable(self, peer_ip):
        """True when a new link may take this host's place: there is no live
        link, or the current one did not answer an echo within `timeout`
        (then it is closed here)."""
        while True:
            old = self.link
            if old is None or not old.is_open:
                return True
            if old.answers_echo():
                return False
            if self.link is old:        # else another connection took over: look again
                old.close('no answer to an echo within %g s; replaced by a new '
                          'connection from %s' % (self.config.timeout, peer_ip))
                return True

    def attach(self, link):
        old, self.link = self.link, link
        self.metrics.connects += 1
        if old is not None and old.is_open:
            old.close('replaced by a new connection from %s' % link.peer_ip)
        self._notify(True)

    def detach(self, link):
        if self.link is link:
            self.link = None
            self._notify(False)

    def _notify(self, up):
        self.metrics.changed = time.time()
        for listener in self.listeners:
            listener(self, up)


class Listener:
    """One listening port shared by the listen-hosts configured on it."""

    def __init__(self, bind, port, hosts):
        self.bind, self.port = bind, port
        self.by_ip = {}
        for host in hosts:
            for ip in _resolve(host.config.ip):
                self.by_ip[ip] = host
        self.server = StreamServer((bind, port), self._accept)

    def start(self):
        self.server.start()
        self.port = self.server.server_port
        log.info('ISO8583 server listen at %s:%d', self.bind, self.port)

    def stop(self):
        self.server.close()

    def _accept(self, sock, address):
        host = self.by_ip.get(address[0])
        if host is None:
            log.warning('%s not allowed on port %d, connection closed', address[0],
                        self.port)
            sock.close()
            return
        log.info('%s %s connected', address[0], host.name)
        if not host.replaceable(address[0]):
            log.warning('%s %s second connection refused: the link %d is alive (it '
                        'answered an echo)', address[0], host.name, host.link.id)
            sock.close()
            return
        link = Link(sock, host, address, connecting=False)
        host.attach(link)
        link.serve()


class Connector:
    """The greenlet that keeps a connect-host's link up."""

    def __init__(self, host):
        self.host = host
        self.greenlet = None
        self.stopping = False

    def start(self):
        self.greenlet = gevent.spawn(self.run)

    def stop(self):
        self.stopping = True
        if self.greenlet is not None:
            self.greenlet.kill(block=False)

    def run(self):
        cfg = self.host.config
        delay = 0.5
        while not self.stopping:
            log.info('Connect to %s port %d', cfg.ip, cfg.port)
            try:
                sock = socket.create_connection(
                    (cfg.ip, cfg.port), timeout=cfg.timeout,
                    source_address=(cfg.source_ip, 0) if cfg.source_ip else None)
            except OSError as e:
                log.error('%s', e)
                gevent.sleep(delay)
                delay = min(delay * 2, cfg.reconnect_max)
                continue
            sock.settimeout(None)
            delay = 0.5
            link = Link(sock, self.host, (cfg.ip, cfg.port), connecting=True)
            self.host.attach(link)
            link.serve()
            if not self.stopping:
                gevent.sleep(delay)


def _resolve(name):
    try:
        return {info[4][0] for info in socket.getaddrinfo(name, None)}
    except socket.gaierror as e:
        raise ValueError('cannot resolve %s: %s' % (name, e)) from None


def listeners_for(hosts):
    """Group listen-hosts by (bind, port) into Listeners."""
    groups = {}
    for host in hosts:
        if host.config.listen:
            groups.setdefault((host.config.bind, host.config.port), []).append(host)
    return [Listener(bind, port, group) for (bind, port), group in groups.items()]
