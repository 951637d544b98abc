"""The aggregator's crash safety (issue 15, item 6), with the aggregator
daemon on real sockets, a fake bank, and its LinkAja database on SQLite and
PostgreSQL: a payment left `sent` by a SIGKILL is reversed at the next
start, and an unknown outcome whose database write fails is kept in the
owed file and queued once the database is back."""
import http.client
from urllib.parse import urlencode

import gevent
import psycopg2
import pytest

from appliance.store.db import open_database
from fixtures.daemon import Daemon, free_port
from fixtures.peers import FakePeer

INVOICE = '3271010001007002701995'
TRX_ID = '0719062100'

AGGREGATOR_INI = """
[host_bjb]
ip = 127.0.0.1
port = {bank}
listen = false
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.agratek

[web]
port = {web}

[web_linkaja]
route_path = /linkaja
module = iso8583_web.scripts.views.linkaja
host = bjb
timeout = {timeout}
db_url = {db}
"""


class Aggregator:
    """The aggregator daemon on data directory `data` (its node), its bank
    a FakePeer."""

    def __init__(self, tmp_path, db_url, timeout=30, data='data'):
        self.tmp, self.db_url, self.timeout, self.data = tmp_path, db_url, timeout, data
        self.web = free_port()
        self.start()

    def start(self):
        self.bank = FakePeer()
        conf = self.tmp / 'aggregator.d'
        conf.mkdir(parents=True, exist_ok=True)
        (conf / 'aggregator.ini').write_text(AGGREGATOR_INI.format(
            bank=self.bank.port, web=self.web, timeout=self.timeout, db=self.db_url))
        self.daemon = Daemon(['--role', 'aggregator', '--conf-dir', str(conf),
                              '--data-dir', str(self.tmp / self.data)], name='aggregator')
        self.daemon.wait_for('Web server listen at')
        assert self.bank.accepted.wait(15)

    def linkaja(self, **fields):
        conn = http.client.HTTPConnection('127.0.0.1', self.web, timeout=60)
        try:
            conn.request('POST', '/linkaja', urlencode(fields),
                         {'Content-Type': 'application/x-www-form-urlencoded'})
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def inquired(self):
        """An answered inquiry of INVOICE (19,536): its bill_ref."""
        asking = gevent.spawn(self.linkaja, trx_type='021', acc_no=INVOICE)
        request = self.bank.next_request('0200')
        answer = request.reply(copy=sorted(request.bits))
        answer[39], answer[4] = '00', '000000019536'
        self.bank.send(answer)
        return int(asking.get(timeout=15).split(':')[3])

    def paying(self, bill_ref):
        """A payment sent to the bank and not answered: (greenlet, its 0200)."""
        paying = gevent.spawn(self.linkaja, trx_type='022', acc_no=INVOICE, amount=19536,
                              bill_ref=bill_ref, trx_id=TRX_ID)
        return paying, self.bank.next_request('0200')

    def stop(self):
        code = self.daemon.stop()
        self.bank.close()
        assert code == 0, self.daemon.output()[-3000:]


def rename_table(url, old, new):
    """Take a table away from the daemon (or give it back): its writes fail."""
    if url.startswith('sqlite:///'):
        db = open_database(url)
        db.execute_sql('ALTER TABLE %s RENAME TO %s' % (old, new))
        db.close()
        return
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        conn.cursor().execute('ALTER TABLE %s RENAME TO %s' % (old, new))
    finally:
        conn.close()


def test_a_linkaja_payment_in_flight_when_the_aggregator_is_killed_is_reversed_at_restart(
        tmp_path, db_url):
    aggregator = Aggregator(tmp_path, db_url)
    paying, payment = aggregator.paying(aggregator.inquired())
    aggregator.daemon.kill()                               # SIGKILL mid-payment
    paying.join(timeout=15)
    aggregator.bank.close()
    aggregator.start()                                     # the same node again
    try:
        aggregator.daemon.wait_for(r'payment of %s trx_id %s STAN %s was left without an '
                                   r'outcome by an earlier run: reversing it'
                                   % (INVOICE, TRX_ID, payment[11]))
        reversal = aggregator.bank.next_request('0400')
    finally:
        aggregator.stop()
    assert (reversal[11], reversal[48], reversal[4], reversal[61]) == (
        payment[11], TRX_ID, '000000019536', INVOICE)


@pytest.mark.pg
def test_another_aggregator_node_leaves_a_linkaja_payment_in_flight_alone(
        tmp_path, pg_schema_url):
    db_url = pg_schema_url       # two nodes on one SQLite file are refused (test_heartbeat)
    first = Aggregator(tmp_path, db_url)
    paying, payment = first.paying(first.inquired())
    second = Aggregator(tmp_path / 'second', db_url, data='other-node')   # started
    second.stop()
    assert 'left without an outcome' not in second.daemon.output()
    answer = payment.reply(copy=sorted(payment.bits))
    answer[39], answer[47] = '00', '010192430486'
    first.bank.send(answer)
    try:
        assert paying.get(timeout=15).startswith('00:010192430486:')
    finally:
        first.stop()


def test_a_reversal_the_database_cannot_take_is_owed_and_queued_once_it_is_back(
        tmp_path, db_url):
    aggregator = Aggregator(tmp_path, db_url, timeout=1)
    paying, payment = aggregator.paying(aggregator.inquired())
    rename_table(db_url, 'iso8583d_saf', 'iso8583d_saf_away')      # the database fails
    try:
        line = paying.get(timeout=30)
        aggregator.daemon.wait_for('kept in the owed file until the database is back')
        assert (tmp_path / 'data' / 'reversals-owed-bjb.jsonl').read_text().strip()
    finally:
        rename_table(db_url, 'iso8583d_saf_away', 'iso8583d_saf')  # and is back
    try:
        assert line.startswith('91::') and line.endswith('the payment is being reversed'), line
        aggregator.daemon.wait_for(r'reversal of invoice %s NTB %s STAN %s queued \(SAF entry '
                                   r'1, journal None: timeout\)' % (INVOICE, TRX_ID, payment[11]))
        reversal = aggregator.bank.next_request('0400')
    finally:
        aggregator.stop()
    assert (reversal[11], reversal[48]) == (payment[11], TRX_ID)
