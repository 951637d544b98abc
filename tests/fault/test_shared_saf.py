"""Two bank daemons on one PostgreSQL share the store-and-forward queue: every
queued reversal is delivered, none is sent by both daemons at once."""
import time

import gevent
import pytest

from appliance.roles.bank import journal as J
from appliance.store.db import open_database
from appliance.pbb.request import RequestBuilder
from fixtures.daemon import Daemon
from fixtures.journal_figures import figures, pending_reversals
from fixtures.peers import FakePeer
from fixtures.waiting import until

INVOICE = '3271010001007002701995'
ENTRIES = 30
ANSWER_DELAY = 0.3
REQUEST_TIMEOUT = 1.0

BANK_INI = """
[host_kota_bogor]
ip = 127.0.0.1
port = {port}
listen = false
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test
request_timeout = {timeout}
db_url = {db_url}
saf_retry_interval = 0.2
saf_retry_max = 0.5
"""


class Responder:
    """Answers the reversals reaching one fake pemda link; a reversal's first
    0400 of every third STAN goes unanswered (the bank's attempt times out)."""

    def __init__(self, peer, shared):
        self.peer, self.shared = peer, shared
        self.greenlet = gevent.spawn(self.run)

    def run(self):
        while True:
            msg = self.peer.next_request(timeout=120)
            if msg.mti not in ('0400', '0401'):
                continue
            stan = msg[11]
            now = time.monotonic()
            silent = msg.mti == '0400' and int(stan) % 3 == 0
            self.shared.append((stan, msg.mti, now, now + (REQUEST_TIMEOUT if silent
                                                           else ANSWER_DELAY), self.peer))
            if not silent:
                gevent.spawn_later(ANSWER_DELAY, self.answer, msg)

    def answer(self, msg):
        reply = msg.reply(copy=sorted(msg.bits))
        reply[39] = '00'
        self.peer.send(reply)


def two_banks(tmp_path, db_url, done, what, more_ini=str):
    """Two bank daemons on `db_url` (bank.ini: BANK_INI + more_ini()), each
    linked to a fake pemda whose Responder answers reversals, until done();
    they are stopped (exit 0) then. (the sends [(stan, mti, started, ended,
    peer)], the daemons, the peers)."""
    sends, peers, banks, responders = [], [], [], []
    try:
        for n in range(2):
            peer = FakePeer()
            conf = tmp_path / ('bank%d.d' % n)
            conf.mkdir()
            (conf / 'bank.ini').write_text(BANK_INI.format(
                port=peer.port, timeout=REQUEST_TIMEOUT, db_url=db_url) + more_ini())
            peers.append(peer)
            responders.append(Responder(peer, sends))
        banks = [Daemon(['--role', 'bank', '--conf-dir', str(tmp_path / ('bank%d.d' % n)),
                         '--data-dir', str(tmp_path / ('data%d' % n))], name='bank%d' % n)
                 for n in range(2)]      # started together: they race for the rows
        until(done, what, timeout=90, step=0.2)
    finally:
        codes = [bank.stop() for bank in banks]
        for r in responders:
            r.greenlet.kill()
        for peer in peers:
            peer.close()
    assert codes == [0, 0], banks[0].output()[-3000:]
    return sends, banks, peers


@pytest.mark.pg
def test_two_bank_daemons_on_one_postgresql_never_send_a_reversal_twice_at_once(
        pg_schema_url, tmp_path):
    db = open_database(pg_schema_url)
    J.create_tables(db)
    journal = J.Journal(db, 'kota_bogor')
    builder = RequestBuilder()
    for i in range(ENTRIES):
        journal.enqueue(builder.payment(INVOICE, 19536, 'NTB%d' % i, '%06d' % (i + 1)),
                        'timeout')
    sends, banks, peers = two_banks(tmp_path, pg_schema_url,
                                    lambda: not pending_reversals(db, journal.host),
                                    'the queued reversals delivered')
    by_stan = {}
    for stan, mti, started, ended, peer in sends:
        by_stan.setdefault(stan, []).append((started, ended, mti, peer))
    assert len(by_stan) == ENTRIES
    for stan, spans in by_stan.items():
        spans.sort(key=lambda s: s[0])
        assert [s[2] for s in spans].count('0400') == 1, (stan, spans)
        for earlier, later in zip(spans, spans[1:]):
            assert later[0] >= earlier[1] - 0.05, 'reversal %s sent twice at once' % stan
        assert len(spans) == (2 if int(stan) % 3 == 0 else 1), (stan, spans)
    assert {id(s[4]) for s in sends} == {id(p) for p in peers}, 'both daemons sent'
    counted = figures(db)
    assert counted['saf'] == {'done': ENTRIES}
    assert counted['reversals_repeated'] == ENTRIES // 3
    db.close()
