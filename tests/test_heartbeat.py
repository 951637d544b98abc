"""Nodes and heartbeats (appliance/roles/bank/heartbeat.py): the [node]
settings, a heartbeat row per node that a running bank renews and a clean
stop marks, and two nodes refused on one SQLite file."""
import pytest

from appliance.roles.bank.heartbeat import ALIVE, EXPIRED, STOPPED, Heartbeat, NodeRow
from appliance.runtime.config import ConfigError
from appliance.store.db import open_database
from fixtures.daemon import Daemon, free_port
from fixtures.waiting import until
from test_config import HOST, load, write

BANK_INI = """
[host_kota_bogor]
ip = 127.0.0.1
port = {port}
listen = false
module = opensipkd.iso8583.bjb.pbb.test
db_url = sqlite:///{db}

[node]
heartbeat_interval = 0.2
expire_after = 2
"""


def test_node_settings_default_and_expire_after_must_exceed_two_heartbeats(tmp_path):
    write(tmp_path, '10-host.ini', HOST)
    node = load(tmp_path).node
    assert (node.id, node.heartbeat_interval, node.expire_after) == (None, 5.0, 30.0)
    write(tmp_path, '20-node.ini', '[node]\nid = bank-a\nheartbeat_interval = 5\n'
                                   'expire_after = 10\n')
    with pytest.raises(ConfigError, match=r'20-node\.ini \[node\] expire_after: expire_after '
                                          r'\(10 s\) must be more than 2 x heartbeat_interval'):
        load(tmp_path)


def test_a_bad_node_id_is_refused_by_file_section_and_key(tmp_path):
    write(tmp_path, '10-host.ini', HOST + '\n[node]\nid = two words\n')
    with pytest.raises(ConfigError, match=r"10-host\.ini \[node\] id: 'two words': a node "
                                          r'id is 1 to 32 printable characters'):
        load(tmp_path)


@pytest.mark.pg
def test_other_nodes_are_alive_expired_or_stopped_and_gone_once_not_alive(pg_schema_url):
    db = open_database(pg_schema_url)         # SQLite refuses a second live node
    now = [1000.0]
    me = Heartbeat('me', 'bank', 1, 5, clock=lambda: now[0])
    for name, beat in (('alive', 998.0), ('expired', 990.0), ('stopped', 999.0)):
        other = Heartbeat(name, 'bank', 1, 5, clock=lambda beat=beat: beat)
        other.join(db)
    with db.connection_context():
        NodeRow.update(stopped_at=999.0).where(NodeRow.node == 'stopped').execute(db)
    me.join(db)
    assert {o['node']: (o['state'], o['age']) for o in me.others(db)} == {
        'alive': (ALIVE, 2.0), 'expired': (EXPIRED, 10.0), 'stopped': (STOPPED, 1.0)}
    assert me.gone(db, {'alive', 'expired', 'stopped', 'never', 'me'}) == {
        'expired': 10.0, 'stopped': 1.0, 'never': None}
    db.close()


def node_row(path, node=None):
    db = open_database('sqlite:///%s' % path)
    try:
        with db.connection_context():
            if not db.table_exists('iso8583d_node'):
                return None
            rows = list(NodeRow.select().execute(db))
    finally:
        db.close()
    return [r for r in rows if node is None or r.node == node] or None


def bank(tmp_path, data, db, name):
    conf = tmp_path / (data + '.d')
    conf.mkdir(exist_ok=True)
    (conf / 'bank.ini').write_text(BANK_INI.format(port=free_port(), db=db))
    return Daemon(['--role', 'bank', '--conf-dir', str(conf), '--data-dir',
                   str(tmp_path / data)], name=name)


def test_two_nodes_on_one_sqlite_file_are_refused_and_a_crashed_node_restarts(tmp_path):
    db = tmp_path / 'journal.db'
    first = bank(tmp_path, 'a', db, 'first')
    rows = until(lambda: node_row(db), 'the first node beat', timeout=30)
    beat = rows[0].beat_at
    until(lambda: node_row(db)[0].beat_at > beat, 'the first node beat again')
    second = bank(tmp_path, 'b', db, 'second')
    try:
        assert second.proc.wait(timeout=30) == 1
    finally:
        second.stop()
    line = second.wait_for('SQLite cannot be shared', timeout=1)
    assert ('the SQLite database %s is in use by node %s (pid %d on ' % (
        db, rows[0].node, first.proc.pid)) in line
    assert 'last heartbeat' in line and 'give each node its own db_url, or use PostgreSQL' \
        in line
    first.kill()                                     # a crash: its heartbeat is fresh
    again = bank(tmp_path, 'a', db, 'again')         # the same node (data directory)
    try:
        until(lambda: node_row(db)[0].pid == again.proc.pid, 'the same node started again',
              timeout=30)
    finally:
        assert again.stop() == 0, again.output()[-3000:]
    (row,) = node_row(db)
    assert row.stopped_at is not None                # a clean stop says so


def get(port, path):
    import urllib.request
    with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=10) as r:
        return r.read().decode()


def test_the_status_page_and_metrics_show_this_node_and_the_others_with_their_heartbeats(
        tmp_path):
    import json
    db = tmp_path / 'journal.db'
    gone = open_database('sqlite:///%s' % db)
    Heartbeat('bank-b', 'bank', 1, 5, clock=lambda: 1000.0).join(gone)   # long expired
    gone.close()
    admin = free_port()
    (tmp_path / 'a.d').mkdir()
    (tmp_path / 'a.d' / 'admin.ini').write_text('[admin]\nport = %d\n\n[node]\nid = bank-a\n'
                                                % admin)
    daemon = bank(tmp_path, 'a', db, 'bank-a')
    try:
        daemon.wait_for('status page .*%d|listen at .*:%d' % (admin, admin))
        snap = json.loads(get(admin, '/status.json'))
        metrics = get(admin, '/metrics')
        page = get(admin, '/status')
    finally:
        assert daemon.stop() == 0, daemon.output()[-3000:]
    assert snap['node']['id'] == 'bank-a'
    (other,) = snap['node']['others']
    assert (other['node'], other['state'], other['role']) == ('bank-b', 'expired', 'bank')
    assert other['age'] > 1e9
    assert 'iso8583d_node_info{node="bank-a"} 1' in metrics
    assert 'iso8583d_node_heartbeat_age_seconds{node="bank-b",state="expired"}' in metrics
    assert '<span>node bank-a</span>' in page and 'data-node="bank-b"' in page
