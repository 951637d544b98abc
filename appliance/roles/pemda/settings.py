"""Settings of the PBB biller: the keys of the seed's
[module_opensipkd.iso8583.bjb.pbb.bogor_kota] section, checked and frozen."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Optional

from appliance.settings import types as datatypes

KNOWN_KEYS = frozenset({
    'db_url', 'persen_denda', 'nip_pencatat', 'kd_kanwil', 'kd_kantor', 'kd_tp',
    'denda_waiver_before_year', 'require_inquiry',
})
REQUIRED_KEYS = ('db_url', 'persen_denda', 'nip_pencatat', 'kd_kanwil',
                 'kd_kantor', 'kd_tp')

# What a seed module name implies beyond its section: Kota Bogor forgives the
# penalties of tax years before 2013.
MODULE_DEFAULTS = {
    'opensipkd.iso8583.bjb.pbb.bogor_kota': {'denda_waiver_before_year': '2013'},
}

NIP_WIDTH = 18  # pembayaran_sppt.nip_rekam_byr_sppt
_TRUE = ('true', 'yes', 'on', '1')
_FALSE = ('false', 'no', 'off', '0')


class SettingError(datatypes.SettingError):
    """A bad or missing biller setting; `key` names it, the message shows the
    value. A datatypes.SettingError, so the config loader adds file and section."""


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
        unknown = sorted(set(merged) - KNOWN_KEYS)
        if unknown:
            raise SettingError(unknown[0], 'unknown key; known keys are %s'
                               % ', '.join(sorted(KNOWN_KEYS)))
        for key in REQUIRED_KEYS:
            if not str(merged.get(key, '')).strip():
                raise SettingError(key, 'is required')
        values = {key: _CONVERTERS[key](key, str(value).strip())
                  for key, value in merged.items()}
        return cls(**values)


def _db_url(key, text):
    try:
        return datatypes.db_url(text)
    except ValueError as error:
        raise SettingError(key, str(error)) from None


def _percent(key, text):
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise SettingError(key, '%r is not a number' % text) from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise SettingError(key, '%r is not a percentage from 0 to 100' % text)
    return value


def _nip(key, text):
    if len(text) > NIP_WIDTH:
        raise SettingError(key, '%r is longer than %d characters' % (text, NIP_WIDTH))
    return text


def _two_digits(key, text):
    if len(text) != 2 or not (text.isascii() and text.isdigit()):
        raise SettingError(key, '%r is not 2 digits' % text)
    return text


def _year_or_none(key, text):
    if text.lower() in ('', 'none'):
        return None
    if len(text) != 4 or not (text.isascii() and text.isdigit()):
        raise SettingError(key, '%r is not a 4-digit year (or none)' % text)
    return int(text)


def _bool(key, text):
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise SettingError(key, '%r is not a boolean (true/false, yes/no, on/off, 1/0)' % text)


def _places(key, text):
    rules, default = [], None
    for line in filter(None, (line.strip() for line in text.splitlines())):
        rule = _rule(key, line)
        if rule.bit != 0:
            rules.append(rule)
        elif default is not None:
            raise SettingError(key, 'second fallback line %r' % line)
        else:
            default = rule.kd_tp
    if default is None:
        raise SettingError(key, 'needs a fallback line bit0:default:NN')
    return PaymentPlaces(tuple(rules), default)


def _rule(key, line):
    """One `bitN:value:kd_tp` line; the value itself may contain colons."""
    head, _, rest = line.partition(':')
    value, colon, kd_tp = rest.rpartition(':')
    number = head[3:]
    if not (head.startswith('bit') and number.isascii() and number.isdigit()
            and colon and value.strip()):
        raise SettingError(key, 'line %r is not bitN:value:kd_tp' % line)
    bit = int(number)
    if bit == 1 or bit > 128:
        raise SettingError(key, 'line %r names bit %d; use 2 to 128, or bit0 '
                           'for the fallback' % (line, bit))
    if bit == 0 and value.strip() != 'default':
        raise SettingError(key, 'line %r: the fallback reads bit0:default:NN' % line)
    if not (1 <= len(kd_tp) <= 2 and kd_tp.isascii() and kd_tp.isdigit()):
        raise SettingError(key, 'line %r: kd_tp %r is not 1 or 2 digits' % (line, kd_tp))
    return KdTpRule(bit, value.strip(), kd_tp.zfill(2))


_CONVERTERS = {
    'db_url': _db_url,
    'persen_denda': _percent,
    'nip_pencatat': _nip,
    'kd_kanwil': _two_digits,
    'kd_kantor': _two_digits,
    'kd_tp': _places,
    'denda_waiver_before_year': _year_or_none,
    'require_inquiry': _bool,
}
