"""Monkey-patching, imported before anything else: gevent first, then a gevent
wait callback for psycopg2 so PostgreSQL queries yield to other greenlets."""
from gevent import monkey

monkey.patch_all()

import psycopg2  # noqa: E402  (must follow patch_all)
from gevent.socket import wait_read, wait_write  # noqa: E402
from psycopg2 import extensions  # noqa: E402


def gevent_wait_callback(conn, timeout=None):
    """psycopg2 wait callback: wait for the server by yielding to the gevent hub.

    When the wait is cut short (gevent.Timeout, a killed greenlet) psycopg2
    marks the connection broken itself and the pool discards it; closing it
    here would deadlock on the lock the running query holds."""
    waits = {extensions.POLL_READ: wait_read, extensions.POLL_WRITE: wait_write}
    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        if state not in waits:
            raise psycopg2.OperationalError('psycopg2 poll() returned unknown state %r' % state)
        waits[state](conn.fileno(), timeout=timeout)


def patch_psycopg():
    """Make psycopg2 cooperative under gevent; call right after monkey-patching."""
    extensions.set_wait_callback(gevent_wait_callback)


patch_psycopg()
