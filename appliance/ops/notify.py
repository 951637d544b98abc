"""systemd's readiness protocol (sd_notify), without libsystemd.

Under `Type=notify` systemd sets NOTIFY_SOCKET to an AF_UNIX datagram socket
(a path, or '@name' in the abstract namespace) and waits for `READY=1`
there. Each call sends one datagram of `KEY=value` lines. Outside systemd
(no NOTIFY_SOCKET) it does nothing. The frozen binary's Python process is a
child of PyInstaller's bootloader, so the unit needs `NotifyAccess=all`.
"""
import logging
import os
import socket

log = logging.getLogger('iso8583d.notify')

_warned = set()


def notify(*assignments):
    """Send 'KEY=value' lines (e.g. 'READY=1', 'STATUS=...') in one datagram;
    True when sent, False outside systemd or when it failed (logged once per
    kind of failure: readiness must never stop the daemon)."""
    address = os.environ.get('NOTIFY_SOCKET')
    if not address:
        return False
    if address[0] == '@':
        address = '\0' + address[1:]
    elif address[0] != '/':
        _warn_once('unsupported', 'NOTIFY_SOCKET=%r is neither a path nor @name; '
                                  'systemd is not notified' % address)
        return False
    # A newline inside a value would start a new assignment: keep one line each.
    data = '\n'.join(' '.join(a.split('\n')) for a in assignments).encode('utf-8')
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(data, address)
    except OSError as e:
        _warn_once(type(e).__name__, 'cannot notify systemd at %s: %s'
                   % (os.environ.get('NOTIFY_SOCKET'), e))
        return False
    return True


def _warn_once(kind, message):
    if kind not in _warned:
        _warned.add(kind)
        log.warning('%s', message)
