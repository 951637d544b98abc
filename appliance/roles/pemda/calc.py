"""What a PBB bill costs today: principal still owed, penalty, waiver.

All amounts are whole rupiah ints; percentages are Decimals, never floats.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

MAX_PENALTY_MONTHS = 24


@dataclass(frozen=True)
class Amounts:
    """Bit 62's money fields; `due` is what the bank must pay (bit 4)."""
    principal: int
    penalty: int
    discount: int

    @property
    def total(self):
        return self.principal + self.penalty

    @property
    def due(self):
        return self.total - self.discount


def principal_owed(bill_amount, payments):
    """Bill amount minus the principal part (paid - penalty) of each
    (jml_sppt_yg_dibayar, denda_sppt) payment: partial payments exist.
    Never negative: an overpaid bill owes nothing."""
    return max(0, bill_amount - sum(paid - penalty for paid, penalty in payments))


def months_late(due_date, today):
    """Started months past the due date, capped at MAX_PENALTY_MONTHS.
    A month is complete only once today's day of month passes the due day."""
    if due_date is None or due_date >= today:
        return 0
    months = ((today.year - due_date.year) * 12
              + (today.month - due_date.month) + 1)
    if today.day <= due_date.day:
        months -= 1
    return min(months, MAX_PENALTY_MONTHS)


def penalty(principal, months, persen_denda):
    """ceil(months x persen_denda % x principal), in whole rupiah."""
    if principal <= 0 or months <= 0:
        return 0
    exact = Decimal(months) * Decimal(persen_denda) * principal / 100
    return int(exact.to_integral_value(rounding=ROUND_CEILING))


def waived(tax_year, waiver_before_year):
    """True when the pemda forgives penalties of this tax year."""
    return waiver_before_year is not None and tax_year < waiver_before_year


def amounts(principal, due_date, tax_year, today, persen_denda,
            waiver_before_year=None):
    """The Amounts of a bill whose unpaid principal is `principal`."""
    fine = penalty(principal, months_late(due_date, today), persen_denda)
    discount = fine if waived(tax_year, waiver_before_year) else 0
    return Amounts(principal, fine, discount)
