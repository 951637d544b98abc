"""Bit 62, the invoice profile: 277 characters of fixed-width fields."""

import unicodedata
from dataclasses import dataclass

TEXT_WIDTH = 35
NUMBER_WIDTH = 12

# (name, width, numeric) in wire order.
LAYOUT = (
    ('invoice_id', 22, False),
    ('name', TEXT_WIDTH, False),
    ('address', TEXT_WIDTH, False),
    ('village', TEXT_WIDTH, False),
    ('district', TEXT_WIDTH, False),
    ('province', TEXT_WIDTH, False),
    ('land_area', NUMBER_WIDTH, True),
    ('building_area', NUMBER_WIDTH, True),
    ('due_date', 8, False),
    ('principal', NUMBER_WIDTH, True),
    ('penalty', NUMBER_WIDTH, True),
    ('total', NUMBER_WIDTH, True),
    ('discount', NUMBER_WIDTH, True),
)
LENGTH = sum(width for _, width, _ in LAYOUT)


@dataclass(frozen=True)
class BillFacts:
    """What SISMIOP says about a bill, apart from money."""
    name: str
    address: str
    village: str
    district: str
    province: str
    land_area: int
    building_area: int
    due_date: object  # datetime.date or None


# What NFKD leaves non-ASCII: letters that are not a base letter plus an
# accent, and typographic punctuation (curly quotes, dashes).
_LOOKALIKES = str.maketrans({
    '\u2018': "'", '\u2019': "'", '\u201a': "'", '\u201b': "'", '\u2032': "'",
    '\u201c': '"', '\u201d': '"', '\u201e': '"', '\u201f': '"', '\u2033': '"',
    '\u00ab': '"', '\u00bb': '"', '\u2039': "'", '\u203a': "'",
    '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-', '\u2014': '-',
    '\u2015': '-', '\u2212': '-', '\u2044': '/',
    '\u00df': 'ss', '\u00c6': 'AE', '\u00e6': 'ae', '\u0152': 'OE', '\u0153': 'oe',
    '\u00d8': 'O', '\u00f8': 'o', '\u0110': 'D', '\u0111': 'd', '\u0141': 'L',
    '\u0142': 'l', '\u00de': 'TH', '\u00fe': 'th', '\u00d0': 'D', '\u00f0': 'd',
    '\u0131': 'i',
})


def transliterate(text):
    """ASCII look-alikes for accented letters and typographic punctuation
    (`JOSÉ “BUDI” ÑAÑA` -> `JOSE "BUDI" NANA`): bit 62 is ASCII, and a name
    should keep its letters on the receipt rather than lose them to spaces."""
    decomposed = unicodedata.normalize('NFKD', text).translate(_LOOKALIKES)
    return ''.join(c for c in decomposed if not unicodedata.combining(c))


def text_field(value, width):
    """Left-justified, space-padded, truncated; transliterated to ASCII, and
    what has no ASCII look-alike (or is not printable) -> space."""
    text = str(value or '')
    if not (text.isascii() and text.isprintable()):      # else already clean: most names
        text = ''.join(c if ' ' <= c <= '~' else ' ' for c in transliterate(text))
    return text[:width].ljust(width)


def number_field(value, width):
    """Zero-padded digits; ValueError when negative or too wide."""
    value = int(value or 0)
    digits = str(value)
    if value < 0 or len(digits) > width:
        raise ValueError('%d does not fit %d unsigned digits of bit 62' % (value, width))
    return digits.zfill(width)


def build(invoice_id, facts, amounts):
    """Bit 62 for a bill: BillFacts plus calc.Amounts."""
    due = facts.due_date.strftime('%Y%m%d') if facts.due_date else '0' * 8
    values = dict(
        invoice_id=str(invoice_id), name=facts.name, address=facts.address,
        village=facts.village, district=facts.district, province=facts.province,
        land_area=facts.land_area, building_area=facts.building_area,
        due_date=due, principal=amounts.principal, penalty=amounts.penalty,
        total=amounts.total, discount=amounts.discount)
    return ''.join(number_field(values[name], width) if numeric
                   else text_field(values[name], width)
                   for name, width, numeric in LAYOUT)


def parse(text):
    """Bit 62 back into a dict: text fields stripped, numbers as int."""
    if len(text) != LENGTH:
        raise ValueError('bit 62 has %d characters, expected %d' % (len(text), LENGTH))
    fields, start = {}, 0
    for name, width, numeric in LAYOUT:
        raw = text[start:start + width]
        fields[name] = int(raw) if numeric else raw.rstrip()
        start += width
    return fields
