"""Penalty, principal, waiver and invoice id arithmetic (spec §3)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.roles.pemda import calc
from appliance.roles.pemda.invoice import InvalidInvoice, InvoiceId

SEED_DUE = date(1995, 11, 30)


# months_late -------------------------------------------------------------

@pytest.mark.parametrize('due, today, months', [
    (date(2024, 3, 15), date(2024, 3, 15), 0),    # due today
    (date(2024, 3, 15), date(2024, 3, 14), 0),    # not yet due
    (date(2024, 3, 15), date(2024, 3, 16), 1),    # due yesterday
    (date(2024, 3, 15), date(2024, 4, 15), 1),    # same day of month: month 1 still running
    (date(2024, 3, 15), date(2024, 4, 16), 2),    # the day after starts month 2
    (date(2024, 1, 31), date(2024, 2, 29), 1),    # short month: day 29 <= due day 31
    (date(2024, 1, 31), date(2024, 3, 1), 2),
    (date(2023, 12, 15), date(2024, 1, 15), 1),   # across the year end
    (date(2023, 12, 15), date(2024, 1, 16), 2),
    (date(2022, 3, 15), date(2024, 2, 15), 23),
    (date(2022, 3, 15), date(2024, 2, 16), 24),
    (date(2022, 3, 15), date(2024, 3, 16), 24),   # 25 started months, capped
    (SEED_DUE, date(2020, 7, 18), 24),
])
def test_months_late_counts_started_months_after_the_due_date(due, today, months):
    assert calc.months_late(due, today) == months


def test_months_late_is_zero_without_a_due_date():
    assert calc.months_late(None, date(2024, 1, 1)) == 0


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)),
       st.integers(min_value=0, max_value=3000))
def test_months_late_never_decreases_and_stays_within_the_cap(due, days):
    today = due + timedelta(days=days)
    months = calc.months_late(due, today)
    assert 0 <= months <= calc.MAX_PENALTY_MONTHS
    assert calc.months_late(due, today + timedelta(days=1)) >= months


# penalty -----------------------------------------------------------------

def test_penalty_of_the_seed_bill_rounds_up_to_whole_rupiah():
    # 19536 x 24 x 2 % = 9377.28
    assert calc.penalty(19536, 24, Decimal('2')) == 9378


def test_penalty_without_a_fraction_is_exact():
    assert calc.penalty(10000, 3, Decimal('2')) == 600


def test_penalty_rounds_the_smallest_fraction_up():
    assert calc.penalty(1, 1, Decimal('2')) == 1


def test_penalty_accepts_a_fractional_percentage():
    # 1000 x 1 x 1.5 % = 15
    assert calc.penalty(1000, 1, Decimal('1.5')) == 15


@pytest.mark.parametrize('principal, months', [(0, 24), (19536, 0), (-5, 3)])
def test_penalty_is_zero_without_principal_or_months(principal, months):
    assert calc.penalty(principal, months, Decimal('2')) == 0


# principal owed ----------------------------------------------------------

def test_principal_owed_subtracts_the_principal_part_of_each_payment():
    # Paid 5000 of which 300 penalty, then 2000 without penalty.
    assert calc.principal_owed(19536, [(5000, 300), (2000, 0)]) == 12836


def test_principal_owed_ignores_a_reversed_payment_zeroed_in_place():
    assert calc.principal_owed(19536, [(0, 0)]) == 19536


def test_principal_owed_is_zero_after_a_full_payment_with_penalty():
    assert calc.principal_owed(19536, [(19536 + 9378, 9378)]) == 0


def test_principal_owed_is_never_negative():
    assert calc.principal_owed(1000, [(1500, 0)]) == 0


# amounts and the waiver --------------------------------------------------

def test_amounts_of_the_seed_bill_with_the_bogor_waiver():
    amounts = calc.amounts(19536, SEED_DUE, 1995, date(2020, 7, 18), Decimal('2'), 2013)
    assert (amounts.principal, amounts.penalty, amounts.total, amounts.discount,
            amounts.due) == (19536, 9378, 28914, 9378, 19536)


def test_amounts_without_a_waiver_make_the_penalty_due():
    amounts = calc.amounts(19536, SEED_DUE, 1995, date(2020, 7, 18), Decimal('2'), None)
    assert (amounts.discount, amounts.due) == (0, 28914)


def test_the_waiver_year_itself_pays_its_penalty():
    amounts = calc.amounts(10000, date(2013, 8, 31), 2013, date(2014, 1, 1),
                           Decimal('2'), 2013)
    assert (amounts.penalty, amounts.discount, amounts.due) == (1000, 0, 11000)


def test_a_bill_not_yet_due_has_no_penalty():
    amounts = calc.amounts(10000, date(2040, 8, 31), 2040, date(2024, 1, 1),
                           Decimal('2'), 2013)
    assert (amounts.penalty, amounts.total, amounts.due) == (0, 10000, 10000)


def test_a_zero_bill_owes_nothing():
    amounts = calc.amounts(0, date(2015, 8, 31), 2015, date(2024, 1, 1), Decimal('2'), 2013)
    assert (amounts.total, amounts.due) == (0, 0)


def test_waived_only_before_the_setting_year():
    assert calc.waived(2012, 2013) and not calc.waived(2013, 2013)
    assert not calc.waived(1995, None)


# invoice id --------------------------------------------------------------

def test_invoice_id_splits_into_the_sismiop_key():
    invoice = InvoiceId.parse('3271010001007002701995')
    assert invoice.key() == dict(
        kd_propinsi='32', kd_dati2='71', kd_kecamatan='010', kd_kelurahan='001',
        kd_blok='007', no_urut='0027', kd_jns_op='0', thn_pajak_sppt='1995')
    assert (invoice.nop, invoice.tax_year, invoice.prefix, str(invoice)) == (
        '327101000100700270', 1995, '3271', '3271010001007002701995')


def test_invoice_id_ignores_surrounding_spaces():
    assert InvoiceId.parse(' 3271010001007002701995 ').text == '3271010001007002701995'


@pytest.mark.parametrize('text', [
    None, '', '327101000100700270199', '32710100010070027019950',
    '32710100010070027019X5', '3271010001007002701 95', '３２71010001007002701995',
])
def test_invoice_id_other_than_22_ascii_digits_is_invalid(text):
    with pytest.raises(InvalidInvoice, match=r'invoice id .* is not 22 digits'):
        InvoiceId.parse(text)
