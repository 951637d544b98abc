"""The node: which process owns a row.

Every row the bank and the aggregator write while a request is in flight
(journal, SAF, forwarder, LinkAja) carries the node id of the process that
wrote it (`owner`). At start a process settles only its own node's
unfinished rows, never those of another process sharing the database.

The id must be stable across restarts (a restarted process settles what
its previous run left) and differ between two processes on one database.
So it is `ISO8583D_NODE` when set, else `<hostname>:<8 hex digits of the
data directory's real path>`: two processes need two data directories
anyway (the owed-reversal files live there). At most 32 characters
(the journal's owner column).

Rows written before owners were node ids (a random hex id per run, or
empty) belong to nobody: every node may settle them, as before.
"""
import hashlib
import os
import socket

from peewee import fn

from appliance.errors import Fatal

MAX_LENGTH = 32
ENVIRONMENT = 'ISO8583D_NODE'


def node_id(data_dir='.', environ=os.environ):
    """This process's node id (see the module's doc)."""
    configured = environ.get(ENVIRONMENT, '').strip()
    if configured:
        if (len(configured) > MAX_LENGTH - (':' not in configured)
                or not all('!' <= c <= '~' for c in configured)):
            # 32 characters without a colon would read as an older run's id.
            raise ValueError('%s=%r: a node id is 1 to %d printable characters without '
                             'spaces (31 without a colon)'
                             % (ENVIRONMENT, configured[:40], MAX_LENGTH))
        return configured
    where = os.path.realpath(data_dir).encode('utf-8', 'surrogateescape')
    digest = hashlib.sha1(where).hexdigest()[:8]
    host = socket.gethostname().split('.')[0] or 'localhost'
    return '%s:%s' % (host[:MAX_LENGTH - 9], digest)


def owned_by(column, node):
    """A peewee condition: rows of `node`, or of no node (older rows: empty,
    or a 32-hex-digit id of one run)."""
    legacy = ~column.contains(':') & (fn.LENGTH(column) == MAX_LENGTH)
    return (column == node) | (column == '') | column.is_null() | legacy


def this_node(context):
    """This process's node id for a host module's `context`; Fatal when
    ISO8583D_NODE is not one."""
    try:
        return node_id(context.data_dir)
    except ValueError as e:
        raise Fatal(str(e)) from None
