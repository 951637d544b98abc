"""The nodes the status page and /metrics show: this process's node id and
the other nodes seen in the databases it beats in (appliance.roles.bank.heartbeat),
read at most every CACHE_SECONDS: a page refresh or a scrape never waits long
on a database that is away."""
import time

import gevent

CACHE_SECONDS = 2.0
READ_TIMEOUT = 2.0


class NodesView:
    def __init__(self, heartbeat, clock=time.monotonic):
        self.heartbeat = heartbeat      # a Heartbeat, or None
        self.clock = clock
        self._at = None
        self._others = []

    def read(self):
        """{'id', 'heartbeat_interval', 'expire_after', 'others': [{node, role,
        hostname, pid, age, state}]}; a node seen in several databases once,
        at its freshest. All None and empty in a process that keeps no rows
        with owners."""
        beat = self.heartbeat
        if beat is None or not beat.databases:      # a pemda: no rows of its own
            return {'id': None, 'heartbeat_interval': None, 'expire_after': None,
                    'others': []}
        if self._at is None or self.clock() - self._at >= CACHE_SECONDS:
            self._at = self.clock()
            self._others = self._read_others(beat)
        return {'id': beat.node, 'heartbeat_interval': beat.interval,
                'expire_after': beat.expire_after, 'others': self._others}

    @staticmethod
    def _read_others(beat):
        seen = {}
        for db in list(beat.databases):
            try:
                with gevent.Timeout(READ_TIMEOUT):
                    others = beat.others(db)
            except (Exception, gevent.Timeout):    # its probe on the page says why
                continue
            for other in others:
                if other['node'] not in seen or other['age'] < seen[other['node']]['age']:
                    seen[other['node']] = other
        return sorted(seen.values(), key=lambda o: (o['age'], o['node']))
