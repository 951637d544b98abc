"""Rows owned by a node (appliance/roles/bank/node.py): the node id, and the
`owner` column added at start to tables made before it (SQLite and
PostgreSQL)."""
import pytest

from appliance.roles.aggregator import linkaja
from appliance.roles.bank import forwarder, journal
from appliance.roles.bank.node import node_id
from appliance.store.db import open_database

TABLES = (('iso8583d_saf', journal.create_tables),
          ('iso8583d_forward', forwarder.create_tables),
          ('iso8583d_linkaja', linkaja.create_tables))


@pytest.mark.parametrize('table, create', TABLES)
def test_a_table_made_before_owners_gets_its_owner_column_at_start(db_url, table, create):
    db = open_database(db_url)
    create(db)
    with db.connection_context():
        db.execute_sql('ALTER TABLE %s DROP COLUMN owner' % table)
    create(db)                      # the next start
    with db.connection_context():
        assert 'owner' in {c.name for c in db.get_columns(table)}
    db.close()


def test_the_node_id_is_the_same_for_one_data_directory_and_differs_for_two(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    first = node_id(str(tmp_path / 'a'), environ={})
    assert first == node_id(str(tmp_path / 'a' / '.'), environ={})
    assert first != node_id(str(tmp_path / 'b'), environ={})
    assert ':' in first and len(first) <= 32


def test_a_configured_node_id_wins_and_a_bad_one_is_refused_by_name(tmp_path):
    assert node_id(str(tmp_path), environ={'ISO8583D_NODE': 'bank-a'}) == 'bank-a'
    with pytest.raises(ValueError, match='ISO8583D_NODE'):
        node_id(str(tmp_path), environ={'ISO8583D_NODE': 'two words'})
