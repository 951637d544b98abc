"""The aggregator SIGKILLed mid-payment (issue 15, item 6): LinkAja payments
through aggregator -> bank (forwarder) -> pemda, the aggregator killed and
restarted. Every payment the wallet heard 00 is booked once, every other
one is not booked once the queues (the aggregator's and the bank's) drain.
A wallet that heard nothing of its payment asks again with the same
trx_id, as LinkAja does: only the answer it finally hears says whether it
paid (no ordering of "record the 00" and "write the HTTP answer" lets the
aggregator know that a killed run's answer arrived). A payment the killed
run left `sent` is reversed at the restart, and the wallet's repeat meets
that reversal at the pemda, before or after it.
Figures: conftest.py (make reliability)."""
import http.client
import itertools
import os
import time
from urllib.parse import urlencode

import gevent
import pytest
from gevent.pool import Pool

from appliance.roles.bank import journal as J
from appliance.roles.bank.owed import OwedReversals
from appliance.runtime.config import resolve_db_url
from appliance.store.db import open_database
from fixtures.daemon import Daemon, free_port
from harness import SCALE, Chain, check
from test_forged import PREFIX

AGGREGATOR_INI = """
[host_bjb]
ip = 127.0.0.1
port = {bank}
listen = false
streamer = bjb
module = opensipkd.iso8583.bjb.pbb.agratek
request_timeout = 5

[web]
port = {web}
threads = 50

[web_linkaja]
route_path = /linkaja
module = iso8583_web.scripts.views.linkaja
host = bjb
timeout = 5
db_url = {db}
"""


class Aggregator:
    def __init__(self, chain, db_url):
        self.chain = chain
        self.web = free_port()
        self.data = str(chain.tmp / 'aggregator-data')
        conf = chain.tmp / 'aggregator.d'
        conf.mkdir()
        (conf / 'aggregator.ini').write_text(AGGREGATOR_INI.format(
            bank=chain.agratek, web=self.web, db=db_url))
        self.args = ['--role', 'aggregator', '--conf-dir', str(conf), '--data-dir', self.data]
        self.db = open_database(resolve_db_url(db_url, self.data))
        self.runs = []                 # every run's Daemon, the killed ones too
        self.start()

    def start(self):
        self.daemon = Daemon(self.args, name='aggregator')
        self.runs.append(self.daemon)
        self.daemon.wait_for('Web server listen at')

    def linkaja(self, **fields):
        """The answer line; '' when the aggregator could not be reached."""
        conn = http.client.HTTPConnection('127.0.0.1', self.web, timeout=30)
        try:
            conn.request('POST', '/linkaja', urlencode(fields),
                         {'Content-Type': 'application/x-www-form-urlencoded'})
            return conn.getresponse().read().decode()
        except (OSError, http.client.HTTPException):
            return ''
        finally:
            conn.close()

    def pending(self):
        """Reversals the aggregator still has to deliver, or owes."""
        with self.db.connection_context():
            queued = J.SafEntry.select().where(J.SafEntry.state == J.QUEUED).count(self.db)
        owed = len(OwedReversals(os.path.join(self.data, 'reversals-owed-bjb.jsonl')))
        return queued + owed


class Wallet:
    """Inquiry, then payment of each invoice, 6 at a time, as check() reads a
    stress: .invoices, .outcomes, .repeats."""

    def __init__(self, aggregator, invoices):
        self.aggregator = aggregator
        self.invoices = invoices
        self.outcomes = {}
        self.repeats = 0
        self.trx = itertools.count(int(time.time()) % 100000 * 10000 + 7000)

    def run(self):
        pool = Pool(6)
        for invoice in self.invoices:
            pool.spawn(self._one, invoice)
            gevent.sleep(0.01)
        pool.join()

    def _ask(self, **fields):
        for _ in range(200):           # the aggregator may be away for a while
            line = self.aggregator.linkaja(**fields)
            if line:
                return line
            self.repeats += 1
            gevent.sleep(0.1)
        return line

    def _one(self, invoice):
        inquiry = self._ask(trx_type='021', acc_no=invoice).split(':')
        if inquiry[0] != '00':
            self.outcomes[invoice] = ('no-inquiry', inquiry)
            return
        # A wallet that heard nothing does not know its payment's outcome:
        # the aggregator may have been killed after it recorded the bank's 00
        # and before its HTTP answer left. As LinkAja's contract says, it asks
        # again with the same trx_id: a payment that stands answers 00 and its
        # NTP again, one left `sent` was reversed (or is being reversed) and
        # is paid afresh or refused.
        line = self._ask(trx_type='022', acc_no=invoice, amount=inquiry[2],
                         bill_ref=inquiry[3], trx_id=str(next(self.trx)))
        self.outcomes[invoice] = ('ok' if line.startswith('00:') else 'failed',
                                  {'line': line})


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def chain(request, tmp_path):
    if request.param == 'sqlite':
        c = Chain(tmp_path, 'sqlite', forwarder_prefix=PREFIX)
        c.aggregator_url = 'sqlite:///aggregator.db'
    else:
        url = request.getfixturevalue('pg_schema_url')
        c = Chain(tmp_path, 'postgresql', pemda_url=url, bank_url=url,
                  forwarder_prefix=PREFIX)
        c.aggregator_url = url
    yield c
    codes = c.stop()
    assert codes == [0, 0], c.bank.output()[-3000:]


def test_the_aggregator_killed_with_sigkill_mid_payment_keeps_every_wallets_answer(chain):
    invoices = chain.invoices(max(12, int(20 * SCALE)))
    before = chain.live_payments(invoices)
    aggregator = Aggregator(chain, chain.aggregator_url)
    wallet = Wallet(aggregator, invoices)
    paying = gevent.spawn(wallet.run)
    try:
        while len(wallet.outcomes) < 3:
            gevent.sleep(0.005)
        aggregator.daemon.kill()                       # SIGKILL mid-payment
        gevent.sleep(0.5)
        aggregator.start()
        paying.get(timeout=300)
        started = time.monotonic()
        while aggregator.pending() or chain.saf_pending():
            assert time.monotonic() - started < 120, 'queues not drained'
            gevent.sleep(0.2)
        drain = time.monotonic() - started
    finally:
        code = aggregator.daemon.stop()
        aggregator.db.close()
    assert code == 0, aggregator.daemon.output()[-3000:]
    try:
        check(chain, wallet, before, 'aggregator SIGKILL', 1, drain)
    except AssertionError:
        keep_logs(chain, aggregator)
        raise
    if os.environ.get('ISO8583D_KEEP_LOGS'):
        keep_logs(chain, aggregator)


def keep_logs(chain, aggregator):
    """Every daemon's output in the test's directory (pytest --basetemp keeps
    it), the killed aggregator's too: what a failure needs to be explained.
    Also after a pass with ISO8583D_KEEP_LOGS=1."""
    daemons = [chain.bank, chain.pemda] + aggregator.runs
    names = ['bank', 'pemda'] + ['aggregator-%d' % n for n in range(len(aggregator.runs))]
    for name, daemon in zip(names, daemons):
        (chain.tmp / (name + '.out')).write_text(daemon.output())
