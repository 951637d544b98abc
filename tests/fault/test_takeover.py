"""Two surviving bank nodes take over the rows of a dead one on one
PostgreSQL database: its journal entries left `sending`, the forwarded
payments it left `sent` and the reversal it held leased. Each is reversed by
one node only, and the leased one only once its lease ran out."""
import time
from datetime import datetime, timedelta

import pytest

from appliance.iso.message import to_json
from appliance.roles.bank import forwarder as F, journal as J
from appliance.roles.bank.heartbeat import Heartbeat
from appliance.store.db import open_database
from appliance.pbb.request import RequestBuilder
from fixtures.daemon import free_port
from fixtures.journal_figures import figures, pending_reversals, taken_over
from harness import FORWARDER_INI
from test_shared_saf import INVOICE, two_banks

DEAD = 'dead-node'
SENDING, FORWARDED = 60, 90      # the dead node's journal entries and forwarded payments
LEASE = 6.0                     # what is left of the dead node's lease on its reversal
AGE = 120                       # seconds since the dead node wrote its rows

NODE_INI = """
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
    sends, banks, _ = two_banks(
        tmp_path, pg_schema_url,
        lambda: not unfinished(db) and not pending_reversals(db, 'kota_bogor'),
        "the dead node's rows taken over and reversed",
        lambda: FORWARDER_INI.format(port=free_port(), db=pg_schema_url, prefix='3271')
        + NODE_INI)
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
    with db.connection_context():
        entries = list(J.JournalEntry.select().execute(db))
    assert {(e.owner, e.state, e.message) for e in entries} == {
        (DEAD, J.ORPHANED, 'taken over from node %s: still sending after 32 s' % DEAD)}
    lines = [line for bank in banks for line in bank.lines if ' takes over ' in line]
    taken = sum(int(line.split(' takes over ')[1].split()[0]) for line in lines)
    assert taken == SENDING + FORWARDED, lines
    assert all('unfinished entries of node %s (last heartbeat' % DEAD in line
               for line in lines), lines
    db.close()
