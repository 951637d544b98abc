"""The PBB biller on SQLite and PostgreSQL: the seed's flow, every response
code of spec §4, never twice / never lost under concurrency and failures; and
its database URLs, settings and demo data."""

import json
import re
import time
from datetime import date, datetime

import gevent
import pytest

from appliance.settings import types as datatypes
from appliance.store.db import PostgresStore, SqliteStore, mask_url, open_database, parse_url
from appliance.iso.message import Message
from appliance.roles.pemda.tables import (
    Inquiry, Payment, PembayaranSppt, Resend, Reversal, Sppt, key_matches)
from appliance.roles.pemda import biller as biller_module
from appliance.roles.pemda import demo
from appliance.roles.pemda.biller import Biller
from appliance.roles.pemda.invoice import InvoiceId
from appliance.roles.pemda.settings import (
    BILLER_KEYS, MODULE_DEFAULTS, BillerSettings, SettingError)

SEED_INVOICE = '3271010001007002701995'
NOW = datetime(2020, 7, 18, 23, 53, 3)
DEMO_BILLS = 60
BOGOR = MODULE_DEFAULTS['opensipkd.iso8583.bjb.pbb.bogor_kota']
SEED_SECTION = {
    'db_url': 'postgresql://user:pass@localhost/db',
    'persen_denda': '2',
    'nip_pencatat': '999999999',
    'kd_kanwil': '01',
    'kd_kantor': '01',
    'kd_tp': '\n'.join(['', 'bit42:TOKOPEDIA:46', 'bit42:BUKALAPAK:47', 'bit43:INDOMARET:48',
                        'bit43:ALFAMART:49', 'bit18:6010:69', 'bit18:6011:71',
                        'bit18:6012:72', 'bit18:6013:73', 'bit18:6014:74',
                        'bit18:6015:75', 'bit18:6016:76', 'bit18:6017:77',
                        'bit0:default:20']),
}
SEED_PROFILE = ('3271010001007002701995' + 'UW** *****SNA'.ljust(35)
                + 'JL LINCAR I'.ljust(35) + 'TEGAL GUNDIL'.ljust(35)
                + 'BOGOR UTARA'.ljust(35) + 'JAWA BARAT'.ljust(35)
                + '000000000123' + '000000000072' + '19951130' + '000000019536'
                + '000000009378' + '000000028914' + '000000009378')
# Bits of the seed README's Response lines.
SEED_INQUIRY_BITS = {3, 4, 7, 11, 12, 13, 18, 33, 39, 61, 62}
SEED_PAYMENT_BITS = {3, 4, 7, 11, 12, 13, 18, 33, 39, 41, 42, 43, 47, 48, 61, 62}
SEED_REVERSAL_BITS = {3, 4, 7, 11, 39, 48, 61}
# Bills the tests add; block 050 is clear of the seed (007) and the demo (100+).
RECENT_INVOICE = '3271010001050000102015'
NOT_DUE_INVOICE = '3271010001050000202040'
ZERO_INVOICE = '3271010001050000302016'
UNKNOWN_INVOICE = '3271010001050999902015'


# Fixtures and helpers ----------------------------------------------------

def make_settings(**changes):
    return BillerSettings.from_section(dict(SEED_SECTION, **changes), defaults=BOGOR)


@pytest.fixture
def db(db_url):
    database = open_database(db_url)
    demo.create_tables(database)
    demo.load_demo(database, bills=DEMO_BILLS)
    add_bill(database, RECENT_INVOICE, 100000, date(2015, 8, 31))
    add_bill(database, NOT_DUE_INVOICE, 50000, date(2040, 8, 31))
    add_bill(database, ZERO_INVOICE, 0, date(2016, 8, 31))
    yield database
    database.close_all()


@pytest.fixture
def biller(db):
    return Biller(make_settings(), db, clock=lambda: NOW)


def add_bill(db, invoice, amount, due, status='0'):
    row = dict(InvoiceId.parse(invoice).key(), nm_wp_sppt='WAJIB PAJAK', jln_wp_sppt='JL UJI',
               luas_bumi_sppt=100, luas_bng_sppt=50, tgl_jatuh_tempo_sppt=due,
               pbb_yg_harus_dibayar_sppt=amount, status_pembayaran_sppt=status)
    with db.connection_context():
        Sppt.insert(row).execute(db)


def inquiry(invoice=SEED_INVOICE, extra=None):
    return Message('0200', {3: '341019', 7: '0718235304', 11: '235069', 12: '235303',
                            13: '0718', 18: '6010', 33: '00110', 61: invoice, **(extra or {})})


def payment(invoice=SEED_INVOICE, amount=19536, ntb='0719054951', stan='054237', extra=None):
    return Message('0200', {3: '541019', 4: '%012d' % amount, 7: '0719054952', 11: stan,
                            12: '054951', 13: '0719', 18: '6010', 33: '00110', 41: '',
                            42: '', 43: '', 48: ntb, 61: invoice, **(extra or {})})


def reversal(invoice=SEED_INVOICE, ntb='0719054951', stan='054237', mti='0400', extra=None):
    # The seed's reversal carries no bit 18: its response lacks it.
    return Message(mti, {3: '541019', 4: '000000019536', 7: '0719061058', 11: stan,
                         48: ntb, 61: invoice, **(extra or {})})


def pay(biller, invoice=SEED_INVOICE, ntb='0719054951', stan='054237', extra=None):
    """Inquiry then payment of the amount it names; the payment response."""
    answer = biller.handle(inquiry(invoice))
    assert answer[39] == '00', answer
    return biller.handle(payment(invoice, int(answer[4]), ntb, stan, extra))


def rows(db, model, invoice=SEED_INVOICE):
    with db.connection_context():
        if model in (Sppt, PembayaranSppt):
            where = key_matches(model, InvoiceId.parse(invoice).key())
        else:
            where = model.invoice_id == invoice
        return list(model.select().where(where).dicts().execute(db))


def status(db, invoice=SEED_INVOICE):
    return rows(db, Sppt, invoice)[0]['status_pembayaran_sppt']


def count(db, model):
    with db.connection_context():
        return model.select().count(db)


def run_concurrently(calls):
    greenlets = [gevent.spawn(call) for call in calls]
    gevent.joinall(greenlets, raise_error=True)
    return [g.value for g in greenlets]


def codes(responses):
    return sorted(r[39] for r in responses)


# The seed's flow ---------------------------------------------------------

def test_seed_inquiry_answers_the_seed_amount_and_profile(biller):
    answer = biller.handle(inquiry())
    assert answer.mti == '0210'
    assert set(answer.bits) == SEED_INQUIRY_BITS
    assert (answer[39], answer[4], answer[62]) == ('00', '000000019536', SEED_PROFILE)


def test_seed_payment_books_the_bill_and_answers_an_ntp(biller, db):
    answer = pay(biller)
    assert (answer.mti, answer[39]) == ('0210', '00')
    assert set(answer.bits) == SEED_PAYMENT_BITS
    assert re.fullmatch(r'0101\d{8}', answer[47])
    assert answer[62] == SEED_PROFILE
    [booked] = rows(db, PembayaranSppt)
    assert (booked['pembayaran_sppt_ke'], booked['jml_sppt_yg_dibayar'], booked['denda_sppt'],
            booked['kd_kanwil'], booked['kd_kantor'], booked['kd_tp'],
            booked['nip_rekam_byr_sppt'], booked['tgl_pembayaran_sppt']) == (
        1, 19536, 0, '01', '01', '69', '999999999', NOW.date())
    assert status(db) == '1'
    [record] = rows(db, Payment)
    assert (record['ntp'], record['ntb'], record['stan'], record['channel'], record['kd_tp'],
            record['amount'], record['status']) == (
        answer[47], '0719054951', '054237', '6010', '69', 19536, 'live')
    assert json.loads(record['request'])['bits']['61'] == SEED_INVOICE


def test_seed_reversal_zeroes_the_payment_and_reopens_the_bill(biller, db):
    pay(biller)
    answer = biller.handle(reversal())
    assert (answer.mti, answer[39]) == ('0410', '00')
    assert set(answer.bits) == SEED_REVERSAL_BITS
    [booked] = rows(db, PembayaranSppt)
    assert (booked['jml_sppt_yg_dibayar'], booked['denda_sppt']) == (0, 0)
    assert status(db) == '0'
    [record] = rows(db, Payment)
    assert record['status'] == 'reversed' and record['reversed_at'] is not None
    assert count(db, Reversal) == 1


def test_a_reversed_bill_can_be_inquired_and_paid_again(biller, db):
    pay(biller)
    biller.handle(reversal())
    assert biller.handle(inquiry())[4] == '000000019536'
    answer = pay(biller, ntb='0720000001', stan='000002')
    assert answer[39] == '00'
    assert [r['pembayaran_sppt_ke'] for r in rows(db, PembayaranSppt)] == [1, 2]


@pytest.mark.parametrize('mti', ['0401', '0400'])
def test_a_repeated_reversal_answers_00_again_and_is_recorded_once(biller, db, mti):
    pay(biller)
    biller.handle(reversal())
    answer = biller.handle(reversal(mti=mti))
    assert (answer.mti, answer[39]) == ('0411' if mti == '0401' else '0410', '00')
    assert count(db, Reversal) == 1
    assert status(db) == '0'


# Inquiry -------------------------------------------------------------------

@pytest.mark.parametrize('invoice', ['32710100010070027019X5', '327101000100700270199', ''])
def test_inquiry_of_a_malformed_invoice_id_answers_33(biller, invoice):
    answer = biller.handle(inquiry(invoice))
    assert answer[39] == '33'
    assert 62 not in answer and 4 not in answer


def test_inquiry_without_bit_61_answers_33(biller):
    request = inquiry()
    del request.bits[61]
    assert biller.handle(request)[39] == '33'


def test_inquiry_of_an_unknown_bill_answers_55(biller):
    assert biller.handle(inquiry(UNKNOWN_INVOICE))[39] == '55'


def test_inquiry_of_a_paid_bill_answers_54_with_its_profile(biller):
    pay(biller)
    answer = biller.handle(inquiry())
    assert answer[39] == '54'
    assert answer[62] == SEED_PROFILE.replace('000000019536000000009378000000028914000000009378',
                                              '0' * 48)


def test_inquiry_of_a_zero_bill_answers_54(biller):
    assert biller.handle(inquiry(ZERO_INVOICE))[39] == '54'


def test_inquiry_is_recorded(biller, db):
    biller.handle(inquiry())
    [record] = rows(db, Inquiry)
    assert (record['stan'], record['channel'], record['amount']) == ('235069', '6010', 19536)


def test_inquiry_of_a_bill_from_2013_on_adds_the_penalty(biller):
    # 24 months x 2 % of 100000, no waiver for tax year 2015.
    answer = biller.handle(inquiry(RECENT_INVOICE))
    assert answer[4] == '000000148000'
    assert answer[62][-48:] == '000000100000000000048000000000148000000000000000'


def test_inquiry_of_a_bill_not_yet_due_has_no_penalty(biller):
    answer = biller.handle(inquiry(NOT_DUE_INVOICE))
    assert (answer[39], answer[4]) == ('00', '000000050000')


def test_the_penalty_follows_the_injected_clock(db):
    biller = Biller(make_settings(), db, clock=lambda: datetime(2015, 9, 30))
    assert biller.handle(inquiry(RECENT_INVOICE))[4] == '000000102000'  # 1 month


# Payment -------------------------------------------------------------------

def test_payment_with_a_malformed_invoice_id_answers_33(biller):
    assert biller.handle(payment('not an invoice'))[39] == '33'


def test_payment_of_an_unknown_bill_answers_55(biller):
    assert biller.handle(payment(UNKNOWN_INVOICE))[39] == '55'


def test_payment_of_a_paid_bill_answers_54(biller, db):
    pay(biller)
    answer = biller.handle(payment(ntb='0719999999', stan='099999'))
    assert answer[39] == '54' and 47 not in answer
    assert len(rows(db, PembayaranSppt)) == 1


def test_payment_of_a_zero_bill_answers_54_and_books_nothing(db):
    biller = Biller(make_settings(require_inquiry='false'), db, clock=lambda: NOW)
    assert biller.handle(payment(ZERO_INVOICE, amount=0))[39] == '54'
    assert_nothing_booked(db, ZERO_INVOICE)


@pytest.mark.parametrize('amount', [19535, 19537, 28914])
def test_payment_of_another_amount_answers_51_and_books_nothing(biller, db, amount):
    biller.handle(inquiry())
    assert biller.handle(payment(amount=amount))[39] == '51'
    assert status(db) == '0' and rows(db, PembayaranSppt) == [] and rows(db, Payment) == []


def test_payment_without_an_inquiry_answers_76(biller, db):
    answer = biller.handle(payment())
    assert answer[39] == '76' and 47 not in answer
    assert status(db) == '0' and rows(db, PembayaranSppt) == []


def test_payment_without_an_inquiry_is_booked_when_not_required(db):
    biller = Biller(make_settings(require_inquiry='false'), db, clock=lambda: NOW)
    assert biller.handle(payment())[39] == '00'


def test_payment_of_a_bill_from_2013_on_books_the_penalty(biller, db):
    assert pay(biller, RECENT_INVOICE)[39] == '00'
    [booked] = rows(db, PembayaranSppt, RECENT_INVOICE)
    assert (booked['jml_sppt_yg_dibayar'], booked['denda_sppt']) == (148000, 48000)


def test_a_retransmitted_payment_answers_the_first_ntp_and_books_once(biller, db):
    first = pay(biller)
    again = biller.handle(payment())
    assert (again[39], again[47], again[62]) == ('00', first[47], first[62])
    assert len(rows(db, PembayaranSppt)) == 1 and len(rows(db, Payment)) == 1


def test_a_payment_resent_with_a_new_stan_answers_the_first_ntp_and_books_once(biller, db):
    # A forwarder resends a payment under a STAN of its own each time.
    first = pay(biller)
    again = biller.handle(payment(stan='054238'))
    assert (again[39], again[47], again[62]) == ('00', first[47], first[62])
    assert len(rows(db, PembayaranSppt)) == 1 and len(rows(db, Payment)) == 1


@pytest.mark.parametrize('extra', [{18: '6011'}, {42: 'TOKOPEDIA'}, {32: '999'}])
def test_a_payment_with_the_same_ntb_from_another_source_answers_54(biller, db, extra):
    pay(biller, extra={32: '110'})
    answer = biller.handle(payment(stan='054238', extra=extra))
    assert answer[39] == '54' and 47 not in answer
    assert len(rows(db, PembayaranSppt)) == 1 and len(rows(db, Payment)) == 1


def test_the_reversal_of_an_attempt_resent_and_answered_later_answers_55_and_the_payment_stands(
        biller, db):
    # A forwarder's queue reverses STAN 054237, which it took for lost,
    # after the resend under STAN 054238 was answered 00.
    pay(biller)
    biller.handle(payment(stan='054238'))
    before = records(db)
    assert biller.handle(reversal(stan='054237'))[39] == '55'
    assert records(db) == before and status(db) == '1'


def test_the_reversal_of_the_last_answered_resend_undoes_the_payment(biller, db):
    pay(biller)
    biller.handle(payment(stan='054238'))
    assert biller.handle(reversal(stan='054238'))[39] == '00'
    assert status(db) == '0' and rows(db, Payment)[0]['status'] == 'reversed'


def test_a_payment_with_the_same_ntb_and_another_amount_answers_54(biller, db):
    pay(biller)
    answer = biller.handle(payment(amount=19535, stan='054238'))
    assert answer[39] == '54' and 47 not in answer
    assert len(rows(db, Payment)) == 1


def test_a_payment_with_the_ntb_of_a_reversed_one_and_a_new_stan_is_booked_anew(biller, db):
    first = pay(biller)
    assert biller.handle(reversal())[39] == '00'
    again = pay(biller, stan='054238')
    assert again[39] == '00' and again[47] != first[47]
    assert [r['status'] for r in rows(db, Payment)] == ['reversed', 'live']
    assert status(db) == '1'


def test_a_retransmission_of_a_reversed_payment_answers_76_and_books_nothing(biller, db):
    pay(biller)
    biller.handle(reversal())
    assert biller.handle(payment())[39] == '76'
    assert status(db) == '0'
    assert [r['jml_sppt_yg_dibayar'] for r in rows(db, PembayaranSppt)] == [0]


@pytest.mark.parametrize('extra, kd_tp', [
    ({42: 'TOKOPEDIA'}, '46'),            # bit 42 rule precedes the bit 18 rule
    ({43: 'ALFAMART  '}, '49'),           # stripped before comparing
    ({18: '6025'}, '20'),                 # no rule: the fallback
])
def test_payment_place_follows_the_kd_tp_rules(biller, db, extra, kd_tp):
    assert pay(biller, extra=extra)[39] == '00'
    assert rows(db, PembayaranSppt)[0]['kd_tp'] == kd_tp


def test_an_ntp_collision_draws_another(biller, db, monkeypatch):
    draws = iter(['00000001', '00000001', '00000001', '00000002'])
    monkeypatch.setattr(biller_module, '_ntp_digits', lambda: next(draws))
    assert pay(biller)[47] == '010100000001'
    assert pay(biller, NOT_DUE_INVOICE, ntb='N2', stan='000002')[47] == '010100000002'


def test_card_data_is_masked_in_the_stored_request(biller, db):
    extra = {2: '622011888888888888', 35: '622011888888888888=9912?'}
    pay(biller, extra=extra)
    stored = rows(db, Payment)[0]['request']
    assert '622011888888888888' not in stored
    assert json.loads(stored)['bits']['2'].startswith('622011')


# Reversal -------------------------------------------------------------------

def test_reversal_with_a_malformed_invoice_id_answers_33(biller):
    assert biller.handle(reversal('32710100'))[39] == '33'


def test_reversal_of_an_unknown_bill_answers_55(biller):
    assert biller.handle(reversal(UNKNOWN_INVOICE))[39] == '55'


def test_reversal_of_an_unpaid_bill_answers_54(biller):
    assert biller.handle(reversal())[39] == '54'


def test_reversal_with_an_unknown_ntb_answers_55(biller, db):
    pay(biller)
    assert biller.handle(reversal(ntb='0000000000'))[39] == '55'
    assert status(db) == '1'


@pytest.mark.parametrize('extra', [{42: 'TOKOPEDIA'}, {18: '6011'}, {32: '999'}])
def test_reversal_from_another_place_or_channel_answers_55(biller, db, extra):
    pay(biller, extra={32: '110'})
    before = records(db)
    assert biller.handle(reversal(extra=extra))[39] == '55'
    assert records(db) == before and status(db) == '1'


def records(db, invoice=SEED_INVOICE):
    """Everything a request may change: compared before and after a refusal."""
    return [rows(db, model, invoice) for model in (Sppt, PembayaranSppt, Payment)] + [
        count(db, Reversal), count(db, Resend)]


@pytest.mark.parametrize('amount', [1, 19535, 19537, 0])
def test_reversal_of_another_amount_than_paid_answers_51_and_changes_nothing(biller, db,
                                                                             amount):
    pay(biller)
    before = records(db)
    answer = biller.handle(reversal(extra={4: '%012d' % amount}))
    assert (answer.mti, answer[39]) == ('0410', '51')
    assert records(db) == before and status(db) == '1'


def test_reversal_without_an_amount_answers_51_and_changes_nothing(biller, db):
    pay(biller)
    before = records(db)
    request = reversal()
    del request.bits[4]
    assert biller.handle(request)[39] == '51'
    assert records(db) == before


def test_the_forged_reversal_of_issue_15_is_refused_and_the_bill_stays_paid(biller, db):
    # Amount 1, the payment's NTB, a STAN nobody used: it undid 19,536.
    pay(biller)
    answer = biller.handle(reversal(stan='999999', extra={4: '000000000001', 18: '6010',
                                                          32: '110'}))
    assert answer[39] == '51'
    assert status(db) == '1' and rows(db, Payment)[0]['status'] == 'live'
    assert rows(db, PembayaranSppt)[0]['jml_sppt_yg_dibayar'] == 19536


def test_a_reversal_of_another_amount_is_logged_as_a_warning_naming_both_amounts(
        biller, caplog):
    pay(biller)
    with caplog.at_level('INFO', logger='appliance.roles.pemda.biller'):
        biller.handle(reversal(extra={4: '000000000001'}))
    [record] = [r for r in caplog.records if 'refused' in r.getMessage()]
    assert record.levelname == 'WARNING'
    assert ("PBB 0400 invoice %s refused: reversal bit 4 '000000000001', payment NTP "
            % SEED_INVOICE) in record.getMessage()
    assert record.getMessage().endswith('was for 19536 (51)')


def test_a_reversal_naming_another_stan_than_the_payment_still_matches_it(biller, db):
    # A teller may reverse without the payment's STAN: invoice, NTB, amount
    # and source are what must match.
    pay(biller)
    assert biller.handle(reversal(stan='999999'))[39] == '00'
    assert status(db) == '0' and count(db, Reversal) == 1


def test_reversal_with_the_ntb_of_a_payment_of_another_bill_answers_55(biller, db):
    pay(biller)
    pay(biller, RECENT_INVOICE, ntb='0720000001', stan='000002')
    before = records(db)
    assert biller.handle(reversal(ntb='0720000001'))[39] == '55'
    assert records(db) == before


def test_a_repeated_reversal_of_another_amount_answers_51(biller, db):
    pay(biller)
    biller.handle(reversal())
    before = records(db)
    assert biller.handle(reversal(mti='0401', extra={4: '000000000001'}))[39] == '51'
    assert records(db) == before


def test_a_repeated_reversal_from_another_source_answers_55(biller, db):
    pay(biller, extra={32: '110'})
    biller.handle(reversal())
    before = records(db)
    assert biller.handle(reversal(mti='0401', extra={32: '999'}))[39] == '55'
    assert records(db) == before


def test_a_repeated_reversal_after_the_bill_was_paid_again_answers_00_and_undoes_nothing(
        biller, db):
    pay(biller)
    biller.handle(reversal())
    pay(biller, ntb='0720000001', stan='000002')
    before = records(db)
    assert biller.handle(reversal(mti='0401'))[39] == '00'
    assert records(db) == before and status(db) == '1'
    assert [r['status'] for r in rows(db, Payment)] == ['reversed', 'live']


def test_a_reversal_of_the_earlier_ntb_after_the_bill_was_paid_again_cannot_undo_the_new_one(
        biller, db):
    pay(biller)
    biller.handle(reversal())
    pay(biller, ntb='0720000001', stan='000002')
    before = records(db)
    assert biller.handle(reversal(extra={4: '000000000001'}))[39] == '51'
    assert records(db) == before


def test_reversal_from_the_paying_channel_is_accepted(biller):
    pay(biller, extra={42: 'TOKOPEDIA'})
    assert biller.handle(reversal(extra={42: 'TOKOPEDIA', 18: '6010'}))[39] == '00'


# Dispatch and connections ---------------------------------------------------

@pytest.mark.parametrize('mti, code', [('0200', '999999'), ('0400', '341019'), ('0800', '341019')])
def test_requests_the_biller_does_not_serve_answer_76(biller, mti, code):
    answer = biller.handle(Message(mti, {3: code, 11: '000001', 61: SEED_INVOICE}))
    assert answer[39] == '76'
    assert answer.bits == {3: code, 11: '000001', 61: SEED_INVOICE, 39: '76'}


def test_a_message_that_is_no_request_is_an_error(biller):
    with pytest.raises(ValueError, match='MTI 0210 is not a request'):
        biller.handle(Message('0210', {3: '341019'}))


def test_no_connection_is_held_after_a_handler(biller, db):
    pay(biller)
    biller.handle(payment(UNKNOWN_INVOICE))
    biller.handle(reversal())
    assert db.is_closed() and not db._in_use


# Failures: nothing half-written --------------------------------------------

def _failing_trigger(db):
    if isinstance(db, SqliteStore):
        return ["CREATE TRIGGER fail_payment BEFORE INSERT ON iso8583d_payment "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"]
    return ["CREATE FUNCTION fail_payment() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            "CREATE TRIGGER fail_payment BEFORE INSERT ON iso8583d_payment "
            "FOR EACH ROW EXECUTE FUNCTION fail_payment()"]


def assert_nothing_booked(db, invoice=SEED_INVOICE):
    assert status(db, invoice) == '0'
    assert rows(db, PembayaranSppt, invoice) == [] and rows(db, Payment, invoice) == []


def test_a_payment_whose_write_fails_in_the_database_answers_76_and_leaves_nothing(biller, db):
    biller.handle(inquiry())
    with db.connection_context():
        for statement in _failing_trigger(db):
            db.execute_sql(statement)
    answer = biller.handle(payment())
    assert answer[39] == '76' and 47 not in answer and 62 not in answer
    assert_nothing_booked(db)
    with db.connection_context():
        db.execute_sql('DROP TRIGGER fail_payment' + ('' if isinstance(db, SqliteStore)
                                                      else ' ON iso8583d_payment'))
    assert biller.handle(payment())[39] == '00'


def test_a_payment_failing_after_the_booking_answers_76_and_leaves_nothing(biller, db,
                                                                          monkeypatch):
    # The general path: on PostgreSQL, the one a payment takes where the
    # two-round-trip function (pgpay.py) is missing or declines it; the
    # function itself has no step between its writes and its commit.
    if biller.sql.pg is not None:
        monkeypatch.setattr(biller.sql.pg, 'ready', False)
    booked = Biller._book

    def broken(self, *args):
        booked(self, *args)       # both rows written (one statement on PostgreSQL)
        raise RuntimeError('injected failure after pembayaran_sppt and the record')
    monkeypatch.setattr(Biller, '_book', broken)
    biller.handle(inquiry())
    assert biller.handle(payment())[39] == '76'
    assert_nothing_booked(db)
    assert db.is_closed() and not db._in_use


def test_a_reversal_failing_midway_answers_76_and_changes_nothing(biller, db, monkeypatch):
    pay(biller)

    def broken(*args, **kwargs):
        raise RuntimeError('injected failure in reversal')
    monkeypatch.setattr(Reversal, 'insert', broken)
    assert biller.handle(reversal())[39] == '76'
    assert status(db) == '1' and rows(db, Payment)[0]['status'] == 'live'
    assert rows(db, PembayaranSppt)[0]['jml_sppt_yg_dibayar'] == 19536


# Concurrency: never twice, never lost --------------------------------------

def test_200_concurrent_payments_of_distinct_bills_book_each_once(biller, db):
    demo.load_demo(db, bills=600)  # extends the fixture's first 60 bills
    invoices = demo.invoice_ids(db, limit=200)
    assert len(invoices) == 200
    answers = run_concurrently(
        [lambda i=i, invoice=invoice: pay(biller, invoice, ntb='NTB%06d' % i, stan='%06d' % i)
         for i, invoice in enumerate(invoices)])
    assert codes(answers) == ['00'] * 200
    assert len({a[47] for a in answers}) == 200
    for invoice in invoices:
        assert len(rows(db, PembayaranSppt, invoice)) == 1
        assert status(db, invoice) == '1'
    assert count(db, Payment) == 200


def test_50_concurrent_payments_of_one_bill_book_exactly_one(biller, db):
    biller.handle(inquiry())
    answers = run_concurrently(
        [lambda i=i: biller.handle(payment(ntb='NTB%06d' % i, stan='%06d' % i))
         for i in range(50)])
    assert codes(answers) == ['00'] + ['54'] * 49
    assert len(rows(db, PembayaranSppt)) == 1 and len(rows(db, Payment)) == 1


def test_50_concurrent_retransmissions_of_one_payment_book_it_once(biller, db):
    biller.handle(inquiry())
    answers = run_concurrently([lambda: biller.handle(payment()) for _ in range(50)])
    assert codes(answers) == ['00'] * 50
    assert len({a[47] for a in answers}) == 1
    assert len(rows(db, PembayaranSppt)) == 1 and len(rows(db, Payment)) == 1


def test_50_concurrent_resends_of_one_payment_under_new_stans_book_it_once(biller, db):
    biller.handle(inquiry())
    answers = run_concurrently([lambda i=i: biller.handle(payment(stan='%06d' % i))
                                for i in range(50)])
    assert codes(answers) == ['00'] * 50
    assert len({a[47] for a in answers}) == 1
    assert len(rows(db, PembayaranSppt)) == 1 and len(rows(db, Payment)) == 1


def test_20_concurrent_reversals_of_one_payment_undo_it_once(biller, db):
    pay(biller)
    answers = run_concurrently([lambda: biller.handle(reversal(mti='0401'))
                                for _ in range(20)])
    assert codes(answers) == ['00'] * 20
    assert count(db, Reversal) == 1 and status(db) == '0'


# PostgreSQL under gevent ---------------------------------------------------

@pytest.mark.pg
def test_postgresql_queries_of_greenlets_overlap(pg_schema_url):
    database = open_database(pg_schema_url)

    def nap():
        with database.connection_context():
            database.execute_sql('SELECT pg_sleep(0.3)')
    try:
        started = time.monotonic()
        run_concurrently([nap] * 5)
        assert time.monotonic() - started < 1.0  # 1.5 s if they ran one by one
    finally:
        database.close_all()


@pytest.mark.pg
def test_a_query_cut_by_a_timeout_does_not_poison_the_pool(pg_schema_url):
    database = open_database(pg_schema_url, max_connections=1)
    try:
        with pytest.raises(gevent.Timeout):
            with database.connection_context(), gevent.Timeout(0.1):
                database.execute_sql('SELECT pg_sleep(5)')
        with database.connection_context():
            assert database.execute_sql('SELECT 1').fetchone() == (1,)
    finally:
        database.close_all()


# Database URLs -------------------------------------------------------------

@pytest.mark.parametrize('url, kind, target', [
    ('sqlite:///data/pemda.db', 'sqlite', 'data/pemda.db'),
    ('sqlite:////var/lib/iso8583d/pemda.db', 'sqlite', '/var/lib/iso8583d/pemda.db'),
    ('postgresql://u:p@db:5432/pbb', 'postgresql', 'postgresql://u:p@db:5432/pbb'),
    ('postgres://u@db/pbb', 'postgresql', 'postgresql://u@db/pbb'),
    ('postgresql+psycopg2://u@db/pbb', 'postgresql', 'postgresql://u@db/pbb'),
])
def test_database_urls_are_understood(url, kind, target):
    assert parse_url(url) == (kind, target)


@pytest.mark.parametrize('url, message', [
    ('pemda.db', r"database URL 'pemda.db' has no scheme; use sqlite:///"),
    ('mysql://u:secret@db/pbb', r"scheme 'mysql' in mysql://u:\*\*\*@db/pbb is not supported"),
    ('sqlite://pemda.db', r'SQLite URL sqlite://pemda.db must start with sqlite:///'),
    ('sqlite:///:memory:', r'names no file; an in-memory database cannot be shared'),
    ('postgresql://u:secret@db:port/pbb', r'PostgreSQL URL postgresql://u:\*\*\*@db:port/pbb '
                                          r'has a bad port'),
    ('postgresql://u:secret@db', r'PostgreSQL URL postgresql://u:\*\*\*@db names no database'),
])
def test_bad_database_urls_are_refused_with_the_password_masked(url, message):
    with pytest.raises(ValueError, match=message):
        parse_url(url)


def test_mask_url_hides_only_the_password():
    assert mask_url('postgresql://user:s3cr%40t@host:5432/db') == \
        'postgresql://user:***@host:5432/db'
    assert mask_url('postgresql://user@host/db') == 'postgresql://user@host/db'


def test_a_relative_sqlite_url_creates_its_directory_under_the_working_dir(tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    database = open_database('sqlite:///state/sub/pemda.db')
    with database.connection_context():
        database.execute_sql('CREATE TABLE t (x)')
    assert (tmp_path / 'state' / 'sub' / 'pemda.db').exists()
    database.close_all()


def test_sqlite_connections_get_wal_and_their_pragmas(tmp_path):
    database = open_database('sqlite:///%s' % (tmp_path / 'p.db'))
    with database.connection_context():
        assert [database.pragma(p) for p in ('journal_mode', 'synchronous', 'busy_timeout',
                                             'foreign_keys')] == ['wal', 1, 5000, 1]
    database.close_all()


def test_postgresql_urls_open_a_pooled_store():
    database = open_database('postgresql://u:p@127.0.0.1:1/pbb', max_connections=3)
    assert isinstance(database, PostgresStore) and database._max_connections == 3


# Settings --------------------------------------------------------------------

def test_the_seed_section_gives_the_seed_settings():
    settings = make_settings()
    assert (settings.persen_denda, settings.nip_pencatat, settings.kd_kanwil,
            settings.kd_kantor, settings.denda_waiver_before_year,
            settings.require_inquiry) == (2, '999999999', '01', '01', 2013, True)
    assert settings.kd_tp.default == '20'
    assert [(r.bit, r.value, r.kd_tp) for r in settings.kd_tp.rules[:2]] == [
        (42, 'TOKOPEDIA', '46'), (42, 'BUKALAPAK', '47')]
    assert settings.kd_tp.place({43: 'INDOMARET', 18: '6010'}) == '48'


def test_a_section_overrides_the_module_default():
    assert make_settings(denda_waiver_before_year='none').denda_waiver_before_year is None
    assert BillerSettings.from_section(SEED_SECTION).denda_waiver_before_year is None


def test_the_declared_keys_are_the_settings_fields():
    assert set(BILLER_KEYS) == set(BillerSettings.__dataclass_fields__)


@pytest.mark.parametrize('changes, key, message', [
    ({'colour': 'red'}, 'colour', r'unknown key \(known keys: db_url, '),
    ({'nip_pencatat': ' '}, 'nip_pencatat', 'required key is empty'),
    ({'persen_denda': 'two'}, 'persen_denda', "'two' is not a number"),
    ({'persen_denda': '101'}, 'persen_denda', "'101' is not a percentage from 0 to 100"),
    ({'kd_kanwil': '1'}, 'kd_kanwil', "'1' is not 2 digits"),
    ({'nip_pencatat': '1' * 19}, 'nip_pencatat', 'is longer than 18 characters'),
    ({'denda_waiver_before_year': '13'}, 'denda_waiver_before_year',
     "'13' is not a 4-digit year"),
    ({'require_inquiry': 'maybe'}, 'require_inquiry', "'maybe' is not a boolean"),
    ({'db_url': 'mysql://u:secret@h/db'}, 'db_url', r"scheme 'mysql' in mysql://u:\*\*\*@h/db"),
    ({'kd_tp': 'bit42:TOKOPEDIA'}, 'kd_tp', "line 'bit42:TOKOPEDIA' is not bitN:value:kd_tp"),
    ({'kd_tp': 'bit42:TOKOPEDIA:4x\nbit0:default:20'}, 'kd_tp', "kd_tp '4x' is not 1 or 2 digits"),
    ({'kd_tp': 'bit200:X:46\nbit0:default:20'}, 'kd_tp', 'names bit 200; use 2 to 128'),
    ({'kd_tp': 'bit0:other:20'}, 'kd_tp', 'the fallback reads bit0:default:NN'),
    ({'kd_tp': 'bit42:TOKOPEDIA:46'}, 'kd_tp', 'needs a fallback line bit0:default:NN'),
    ({'kd_tp': 'bit0:default:20\nbit0:default:21'}, 'kd_tp', "second fallback line"),
])
def test_bad_settings_name_the_key_and_show_the_value(changes, key, message):
    with pytest.raises(SettingError, match=message) as caught:
        make_settings(**changes)
    assert caught.value.key == key
    assert isinstance(caught.value, datatypes.SettingError)


def test_a_rule_value_may_contain_colons():
    settings = make_settings(kd_tp='bit43:AGRATEK:LINKAJA:50\nbit0:default:20')
    assert settings.kd_tp.place({43: 'AGRATEK:LINKAJA'}) == '50'


# Demo data -------------------------------------------------------------------

def test_load_demo_twice_adds_nothing_the_second_time(db):
    before = [count(db, model) for model in (Sppt, PembayaranSppt)]
    demo.load_demo(db, bills=DEMO_BILLS)
    assert [count(db, model) for model in (Sppt, PembayaranSppt)] == before
    assert before[0] == DEMO_BILLS + 1 + 3


def test_the_demo_holds_the_seed_bill_exactly(db):
    [bill] = rows(db, Sppt)
    assert {k: bill[k] for k in demo.SEED_BILL} == demo.SEED_BILL


def test_invoice_ids_filter_by_payment_prefix_and_limit(db):
    unpaid = demo.invoice_ids(db)
    paid = demo.invoice_ids(db, unpaid=False)
    everything = demo.invoice_ids(db, unpaid=None)
    assert SEED_INVOICE in unpaid and ZERO_INVOICE not in unpaid
    assert set(unpaid).isdisjoint(paid) and len(everything) == DEMO_BILLS + 4
    assert all(i.startswith('3275') for i in demo.invoice_ids(db, prefix='3275'))
    assert demo.invoice_ids(db, limit=3) == unpaid[:3]
    with pytest.raises(ValueError, match="invoice prefix '327' is not 2 or 4 digits"):
        demo.invoice_ids(db, prefix='327')


def test_the_full_demo_loads_quickly_on_sqlite_with_every_kind_of_bill(tmp_path):
    database = open_database('sqlite:///%s' % (tmp_path / 'demo.db'))
    demo.create_tables(database)
    # CPU seconds of this process (SQLite runs in it), not wall time: other
    # runs on a loaded machine stretched the wall time past 10 s.
    started = time.process_time()
    demo.load_demo(database)
    assert time.process_time() - started < 5
    with database.connection_context():
        bills = list(Sppt.select().dicts().execute(database))
    database.close_all()
    assert len(bills) == 10001
    unpaid = [b for b in bills if b['status_pembayaran_sppt'] == '0']
    assert any(b['status_pembayaran_sppt'] == '1' for b in bills)
    assert any(b['pbb_yg_harus_dibayar_sppt'] == 0 for b in bills)
    assert any(b['tgl_jatuh_tempo_sppt'] > date(2030, 1, 1) for b in unpaid)
    assert any(int(b['thn_pajak_sppt']) >= 2013 and b['tgl_jatuh_tempo_sppt'] < date(2025, 1, 1)
               for b in unpaid)
    assert {b['kd_propinsi'] + b['kd_dati2'] for b in bills} == {'3271', '3275'}
