"""Settings of the PBB biller: the keys of the seed's
[module_opensipkd.iso8583.bjb.pbb.bogor_kota] section, checked and frozen."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Optional

from appliance.settings import types as datatypes
from appliance.settings.schema import REQUIRED, Schema, Setting
from appliance.settings.types import SettingError  # noqa: F401  (raised for a bad key)

# What a seed module name implies beyond its section: Kota Bogor forgives the
# penalties of tax years before 2013.
MODULE_DEFAULTS = {
    'opensipkd.iso8583.bjb.pbb.bogor_kota': {'denda_waiver_before_year': '2013'},
}

NIP_WIDTH = 18  # pembayaran_sppt.nip_rekam_byr_sppt


@dataclass(frozen=True)
class KdTpRule:
    """Payments whose bit `bit` reads `value` were made at place `kd_tp`."""
    bit: int
    value: str
    kd_tp: str


@dataclass(frozen=True)
class PaymentPlaces:
    """The kd_tp rules, tried in order, and the bit0:default fallback."""
    rules: tuple
    default: str

    def match(self, message):
        """kd_tp of the first rule the message's fields satisfy, else None."""
        for rule in self.rules:
            value = message.get(rule.bit)
            if value is not None and value.strip() == rule.value:
                return rule.kd_tp
        return None

    def place(self, message):
        """kd_tp for a payment: the matching rule's, or the default."""
        return self.match(message) or self.default


@dataclass(frozen=True)
class BillerSettings:
    db_url: str
    persen_denda: Decimal
    nip_pencatat: str
    kd_kanwil: str
    kd_kantor: str
    kd_tp: PaymentPlaces
    denda_waiver_before_year: Optional[int] = None
    require_inquiry: bool = True

    @classmethod
    def from_section(cls, section, defaults=None):
        """Settings from str -> str `section`; `defaults` (e.g. MODULE_DEFAULTS
        of the module) fill keys the section leaves out."""
        merged = dict(defaults or {})
        merged.update(section)
        return cls(**BILLER_KEYS.parse(merged))


@datatypes.kind('percent, 0 to 100')
def percent(text):
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError('%r is not a number' % text) from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise ValueError('%r is not a percentage from 0 to 100' % text)
    return value


@datatypes.kind('up to %d characters' % NIP_WIDTH)
def nip(text):
    text = text.strip()
    if len(text) > NIP_WIDTH:
        raise ValueError('%r is longer than %d characters' % (text, NIP_WIDTH))
    return text


@datatypes.kind('2 digits')
def two_digits(text):
    text = text.strip()
    if len(text) != 2 or not (text.isascii() and text.isdigit()):
        raise ValueError('%r is not 2 digits' % text)
    return text


@datatypes.kind('year or none')
def year_or_none(text):
    text = text.strip()
    if text.lower() in ('', 'none'):
        return None
    if len(text) != 4 or not (text.isascii() and text.isdigit()):
        raise ValueError('%r is not a 4-digit year (or none)' % text)
    return int(text)


@datatypes.kind('bitN:value:kd_tp lines')
def places(text):
    rules, default = [], None
    for line in filter(None, (line.strip() for line in text.splitlines())):
        rule = _rule(line)
        if rule.bit != 0:
            rules.append(rule)
        elif default is not None:
            raise ValueError('second fallback line %r' % line)
        else:
            default = rule.kd_tp
    if default is None:
        raise ValueError('needs a fallback line bit0:default:NN')
    return PaymentPlaces(tuple(rules), default)


def _rule(line):
    """One `bitN:value:kd_tp` line; the value itself may contain colons."""
    head, _, rest = line.partition(':')
    value, colon, kd_tp = rest.rpartition(':')
    number = head[3:]
    if not (head.startswith('bit') and number.isascii() and number.isdigit()
            and colon and value.strip()):
        raise ValueError('line %r is not bitN:value:kd_tp' % line)
    bit = int(number)
    if bit == 1 or bit > 128:
        raise ValueError('line %r names bit %d; use 2 to 128, or bit0 '
                         'for the fallback' % (line, bit))
    if bit == 0 and value.strip() != 'default':
        raise ValueError('line %r: the fallback reads bit0:default:NN' % line)
    if not (1 <= len(kd_tp) <= 2 and kd_tp.isascii() and kd_tp.isdigit()):
        raise ValueError('line %r: kd_tp %r is not 1 or 2 digits' % (line, kd_tp))
    return KdTpRule(bit, value.strip(), kd_tp.zfill(2))


# The biller's keys in a [module_<name>] section (BillerSettings' fields).
BILLER_KEYS = Schema(
    Setting('db_url', datatypes.db_url, REQUIRED, 'the SISMIOP database with the bills '
            'and payments'),
    Setting('persen_denda', percent, REQUIRED, 'penalty per month late, in percent of the '
            'bill'),
    Setting('nip_pencatat', nip, REQUIRED, 'the NIP recorded with each payment'),
    Setting('kd_kanwil', two_digits, REQUIRED, 'the regional office code recorded with each '
            'payment'),
    Setting('kd_kantor', two_digits, REQUIRED, 'the office code recorded with each payment'),
    Setting('kd_tp', places, REQUIRED, 'the payment place per request field: one '
            'bitN:value:kd_tp a line, and the fallback bit0:default:NN'),
    Setting('denda_waiver_before_year', year_or_none, None, 'tax years before this one '
            'owe no penalty (none: every year does)', shown='none'),
    Setting('require_inquiry', datatypes.boolean, True, 'a payment must follow an '
            'inquiry of the same bill'),
)
