"""The node: which process owns a row.

Every row the bank and the aggregator write while a request is in flight
(journal, SAF, forwarder, LinkAja) carries the node id of the process that
wrote it (`owner`). At start a process settles only its own node's
unfinished rows, never those of another live process sharing the database.

The id must be stable across restarts (a restarted process settles what
its previous run left) and differ between two processes on one database.
So it is `[node] id` when configured, else `ISO8583D_NODE` when set, else
`<hostname>:<8 hex digits of the data directory's real path>`: two
processes need two data directories anyway (the owed-reversal files live
there). At most 32 characters (the journal's owner column).

Rows written before owners were node ids (a random hex id per run, or
empty) belong to nobody: every node may settle them, as before. Another
node's rows are taken over once its heartbeat expired
(appliance.roles.bank.heartbeat).
"""
import hashlib
import os
import socket

from peewee import fn

from appliance.errors import Fatal
from appliance.settings import types as t

MAX_LENGTH = 32
ENVIRONMENT = 'ISO8583D_NODE'


def checked(text):
    """`text` as a node id; ValueError saying why it is none."""
    text = text.strip()
    if (not text or len(text) > MAX_LENGTH - (':' not in text)
            or not all('!' <= c <= '~' for c in text)):
        # 32 characters without a colon would read as an older run's id.
        raise ValueError('%r: a node id is 1 to %d printable characters without '
                         'spaces (31 without a colon)' % (text[:40], MAX_LENGTH))
    return text


@t.kind('node id')
def id_setting(text):
    """[node] id: a node id (checked)."""
    return checked(text)


def node_id(data_dir='.', environ=os.environ, configured=None):
    """This process's node id (see the module's doc); `configured`: [node] id."""
    if configured:
        return checked(configured)
    if environ.get(ENVIRONMENT, '').strip():
        try:
            return checked(environ[ENVIRONMENT])
        except ValueError as e:
            raise ValueError('%s=%s' % (ENVIRONMENT, e)) from None
    where = os.path.realpath(data_dir).encode('utf-8', 'surrogateescape')
    digest = hashlib.sha1(where).hexdigest()[:8]
    host = socket.gethostname().split('.')[0] or 'localhost'
    return '%s:%s' % (host[:MAX_LENGTH - 9], digest)


def owned_by(column, node):
    """A peewee condition: rows of `node`, or of no node (older rows: empty,
    or a 32-hex-digit id of one run)."""
    legacy = ~column.contains(':') & (fn.LENGTH(column) == MAX_LENGTH)
    return (column == node) | (column == '') | column.is_null() | legacy


def this_node(context, db=None):
    """This process's node id for a host module's `context`; Fatal when
    ISO8583D_NODE is not one. With `db`, a database holding this node's rows:
    the node's heartbeat (appliance.roles.bank.heartbeat) beats there from now
    on, and Fatal when it is an SQLite file another live node uses."""
    nodes = context.nodes
    if nodes is None:
        try:
            return node_id(context.data_dir)
        except ValueError as e:
            raise Fatal(str(e)) from None
    if db is not None:
        nodes.join(db)
    return nodes.node
