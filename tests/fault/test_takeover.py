"""Two surviving bank nodes take over the rows of a dead one on one
PostgreSQL database: its journal entries left `sending`, the forwarded
payments it left `sent` and the reversal it held leased. Each is reversed by
one node only, and the leased one only once its lease ran out."""
import time
from datetime import datetime, timedelta

import gevent
import pytest

from appliance.iso.message import to_json
from appliance.roles.bank import forwarder as F, journal as J
from appliance.roles.bank.heartbeat import Heartbeat
from appliance.store.db import open_database
from appliance.pbb.request import RequestBuilder
from fixtures.daemon import Daemon, free_port
from fixtures.journal_figures import figures, pending_reversals, taken_over
from fixtures.peers import FakePeer
from fixtures.waiting import until
from test_shared_saf import BANK_INI, INVOICE, REQUEST_TIMEOUT, Responder

DEAD = 'dead-node'
SENDING, FORWARDED = 60, 90      # the dead node's journal entries and forwarded payments
LEASE = 6.0                     # what is left of the dead node's lease on its reversal
AGE = 120                       # seconds since the dead node wrote its rows

MORE_INI = """
[host_agratek]
ip = 127.0.0.1
port = {port}
listen = true
streamer = bjb
module = opensipkd.iso8583.bjb.pbb.test_aggregator
db_url = {db_url}
host = 3271:kota_bogor

[node]
heartbeat_interval = 0.5
expire_after = 2
"""


def dead_nodes_rows(db):
    """What a node that died AGE seconds ago left in `db`: the STANs of the
    payments to reverse, and the lease's end (epoch)."""
    then = time.time() - AGE
    Heartbeat(DEAD, 'bank', clock=lambda: then).join(db)
    journal = J.Journal(db, 'kota_bogor', owner=DEAD, clock=lambda: then)
    builder = RequestBuilder()
    stans = []
    for i in range(SENDING):
        stan = '%06d' % (i + 1)
        journal.begin(J.PAYMENT, builder.payment(INVOICE, 19536, 'NTB%d' % i, stan),
                      idem_key='kota_bogor|%s|NTB%d' % (INVOICE, i))
        stans.append(stan)
    leased = journal.enqueue(builder.payment(INVOICE, 19536, 'NTBL', '000100'), J.TIMEOUT)
    lease_until = time.time() + LEASE
    with db.connection_context():
        J.SafEntry.update(lease_owner=DEAD, lease_until=lease_until).where(
            J.SafEntry.id == leased).execute(db)
        for i in range(FORWARDED):
            stan = '%06d' % (200 + i)
            payment = builder.payment(INVOICE, 19536, 'FWD%d' % i, stan)
            F.Forward.insert(source='agratek', source_stan=stan, target='kota_bogor',
                             target_stan=stan, mti='0200', processing_code=F.PAYMENT,
                             invoice_id=INVOICE, ntb='FWD%d' % i, amount='000000019536',
                             outcome=F.SENT, request=to_json(payment), owner=DEAD,
                             created_at=datetime.now() - timedelta(seconds=AGE),
                             updated_at=datetime.now()).execute(db)
            stans.append(stan)
    return stans + ['000100'], lease_until


def unfinished(db):
    with db.connection_context():
        return (J.JournalEntry.select().where(J.JournalEntry.state == J.SENDING).count(db)
                + F.Forward.select().where(F.Forward.outcome == F.SENT).count(db))


@pytest.mark.pg
def test_two_surviving_nodes_take_over_a_dead_nodes_rows_and_send_each_reversal_once(
        pg_schema_url, tmp_path):
    db = open_database(pg_schema_url)
    J.create_tables(db)
    F.create_tables(db)
    stans, lease_until = dead_nodes_rows(db)
    lease_ends = time.monotonic() + lease_until - time.time()
    sends, peers, banks, responders = [], [], [], []
    try:
        for n in range(2):
            peer = FakePeer()
            conf = tmp_path / ('bank%d.d' % n)
            conf.mkdir()
            (conf / 'bank.ini').write_text(BANK_INI.format(
                port=peer.port, timeout=REQUEST_TIMEOUT, db_url=pg_schema_url)
                + MORE_INI.format(port=free_port(), db_url=pg_schema_url))
            peers.append(peer)
            responders.append(Responder(peer, sends))
        banks = [Daemon(['--role', 'bank', '--conf-dir', str(tmp_path / ('bank%d.d' % n)),
                         '--data-dir', str(tmp_path / ('data%d' % n))], name='bank%d' % n)
                 for n in range(2)]
        until(lambda: not unfinished(db) and not pending_reversals(db, 'kota_bogor'),
              "the dead node's rows taken over and reversed", timeout=90, step=0.2)
    finally:
        codes = [bank.stop() for bank in banks]
        for r in responders:
            r.greenlet.kill()
        for peer in peers:
            peer.close()
    assert codes == [0, 0], banks[0].output()[-3000:]
    first = {}
    for stan, mti, started, ended, peer in sends:
        if mti == '0400':
            assert stan not in first, 'reversal of STAN %s sent twice' % stan
            first[stan] = started
    assert sorted(first) == sorted(stans)
    assert first['000100'] >= lease_ends - 0.1, 'a leased reversal was sent before its lease ran out'
    counted = figures(db)
    assert counted['saf'] == {J.DONE: len(stans)}, counted
    assert taken_over(db) == SENDING + FORWARDED
    lines = [line for bank in banks for line in bank.lines if ' takes over ' in line]
    taken = sum(int(line.split(' takes over ')[1].split()[0]) for line in lines)
    assert taken == SENDING + FORWARDED, lines
    assert all('unfinished entries of node %s (last heartbeat' % DEAD in line
               for line in lines), lines
    db.close()
