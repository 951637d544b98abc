"""The bank's settlement and money view when a reversal took another link
of its payment's group (docs/operations.md, "Route groups"): the payment is
reversed, and the reversal counted once, under the payment's host."""
import datetime

import pytest

from appliance.pbb.request import RequestBuilder
from appliance.pbb.settlement import day_range
from appliance.roles.bank import journal as J
from appliance.roles.bank.settlement import day_totals, reversed_today, settled
from appliance.store.db import open_database

INVOICE = '3271010001007002701995'


@pytest.fixture
def db(tmp_path):
    database = open_database('sqlite:///%s' % (tmp_path / 'bank.db'))
    J.create_tables(database)
    yield database
    database.close()


def answered(journal, kind, msg, payment_id=None):
    entry = journal.begin(kind, msg, None, payment_id)
    assert journal.answered(entry, '00', {'code': 0, 'data': {'39': '00'}})
    return entry


def test_a_payment_reversed_through_the_other_link_is_not_settled_and_counted_once(db):
    builder = RequestBuilder()
    first, second = J.Journal(db, 'kota_bogor_1'), J.Journal(db, 'kota_bogor_2')
    paid = answered(first, 'payment', builder.payment(INVOICE, 19536, 'NTB1', '000001'))
    answered(second, 'reversal', builder.reversal(INVOICE, 19536, 'NTB1', '000001'), paid)
    answered(second, 'payment', builder.payment(INVOICE, 19536, 'NTB2', '000002'))
    today = datetime.date.today()
    start, end = day_range(today, today)
    group = [(db, ['kota_bogor_1', 'kota_bogor_2'])]

    assert [p.ntb for p in settled(group, [], start, end)] == ['NTB2']
    assert [(r.host, r.ntb) for r in reversed_today(group, [], start, end)] == [
        ('kota_bogor_1', 'NTB1')]
    # The money view asks host by host: the reversal is the first host's.
    assert day_totals([(db, ['kota_bogor_1'])], [], today) == []
    assert [(t['party'], t['kind'], t['count']) for t in
            day_totals([(db, ['kota_bogor_2'])], [], today)] == [
        ('kota_bogor_1', 'reversal', 1), ('kota_bogor_2', 'payment', 1)]
