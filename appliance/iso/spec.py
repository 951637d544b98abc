"""ISO8583 dialects as data: which bits exist, their format and the charset.

A dialect is a `Spec`; the codec compiles it once. The character encoding is a
spec property so an EBCDIC peer is a new spec, not new code.
"""
import codecs
from dataclasses import dataclass

import ebcdic  # noqa: F401  registers the EBCDIC codecs (cp1047, cp1141, ...)

# Field kinds. 'n': ASCII digits. 'z': track-2 data (digits, separator,
# sentinels). 'b': binary data carried as hex digits, two per byte.
# 'an' / 'ans': text; fixed ones are space-padded. A fixed 'ans' field also
# accepts zero-fill on receive (all '0' or trailing NULs): some peers blank
# terminal and acceptor fields that way.
KINDS = ('n', 'z', 'b', 'an', 'ans')
_PREFIX_MAX = {0: None, 2: 99, 3: 999}


@dataclass(frozen=True)
class FieldSpec:
    """One data element. `length` is the fixed length when `prefix` is 0,
    else the maximum length; `prefix` is the number of length digits (LL=2,
    LLL=3). Lengths count characters, which are bytes in a single-byte
    charset."""

    bit: int
    name: str
    kind: str
    length: int
    prefix: int = 0

    def __post_init__(self):
        if not 2 <= self.bit <= 128:
            raise ValueError('bit %r: must be 2..128 (bit 1 is the secondary bitmap)'
                             % (self.bit,))
        if self.kind not in KINDS:
            raise ValueError('bit %d (%s): kind %r is not one of %s'
                             % (self.bit, self.name, self.kind, ', '.join(KINDS)))
        if self.prefix not in _PREFIX_MAX:
            raise ValueError('bit %d (%s): prefix %r must be 0, 2 or 3 digits'
                             % (self.bit, self.name, self.prefix))
        top = _PREFIX_MAX[self.prefix]
        if self.length < 1 or (top is not None and self.length > top):
            raise ValueError('bit %d (%s): length %r does not fit a %d-digit prefix'
                             % (self.bit, self.name, self.length, self.prefix))

    @property
    def fixed(self):
        return self.prefix == 0

    @property
    def label(self):
        """How errors and logs name the field: 'bit 4 (amount)'."""
        return 'bit %d (%s)' % (self.bit, self.name)


class Spec:
    """A dialect: named fields, a single-byte charset and a size limit."""

    def __init__(self, name, fields, encoding='ascii', max_size=9999):
        self.name = name
        self.encoding = codecs.lookup(encoding).name
        # Positions in error messages and length prefixes count characters.
        if len('09 AZ'.encode(self.encoding)) != 5:
            raise ValueError('spec %s: encoding %s is not a single-byte charset'
                             % (name, encoding))
        self.max_size = max_size
        self.fields = {}
        for field in fields:
            if field.bit in self.fields:
                raise ValueError('spec %s: bit %d is defined twice' % (name, field.bit))
            self.fields[field.bit] = field

    def variant(self, name, **changes):
        """The same field table under another name, e.g. another charset."""
        params = {'encoding': self.encoding, 'max_size': self.max_size}
        params.update(changes)
        return Spec(name, self.fields.values(), **params)

    def __repr__(self):
        return 'Spec(%r, %d fields, encoding=%r)' % (self.name, len(self.fields),
                                                     self.encoding)


def _fields(*rows):
    return [FieldSpec(*row) for row in rows]


# The BJB PBB table of docs/protocol.md ("Field table"), plus the standard bits a bank switch
# may add to the same messages (14, 17, 38, 52-54, 90, 100, 103).
BJB_PBB = Spec('bjb_pbb', _fields(
    (2, 'pan', 'n', 19, 2),
    (3, 'processing code', 'n', 6),
    (4, 'amount', 'n', 12),
    (7, 'transmission date time', 'n', 10),
    (11, 'stan', 'n', 6),
    (12, 'local time', 'n', 6),
    (13, 'local date', 'n', 4),
    (14, 'expiration date', 'n', 4),
    (15, 'settlement date', 'n', 4),
    (17, 'capture date', 'n', 4),
    (18, 'merchant type', 'n', 4),
    (22, 'pos entry mode', 'n', 3),
    (32, 'acquiring institution', 'n', 11, 2),
    (33, 'forwarding institution', 'n', 11, 2),
    (35, 'track 2', 'z', 37, 2),
    (37, 'retrieval reference', 'an', 12),
    (38, 'approval code', 'an', 6),
    (39, 'response code', 'an', 2),
    (41, 'terminal id', 'ans', 8),
    (42, 'acceptor id', 'ans', 15),
    (43, 'acceptor name location', 'ans', 40),
    (47, 'ntp', 'ans', 999, 3),
    (48, 'ntb', 'ans', 999, 3),
    (49, 'currency', 'n', 3),
    (52, 'pin block', 'b', 16),
    (53, 'security control', 'n', 16),
    (54, 'additional amounts', 'ans', 120, 3),
    (59, 'additional data', 'ans', 999, 3),
    (60, 'additional data 60', 'ans', 999, 3),
    (61, 'invoice id', 'ans', 999, 3),
    (62, 'invoice profile', 'ans', 999, 3),
    (63, 'pemda code', 'ans', 999, 3),
    (70, 'network function', 'n', 3),
    (90, 'original data elements', 'n', 42),
    (100, 'receiving institution', 'n', 11, 2),
    (102, 'source account', 'ans', 28, 2),
    (103, 'destination account', 'ans', 28, 2),
    (107, 'branch user', 'ans', 999, 3),
))

BJB_PBB_EBCDIC = BJB_PBB.variant('bjb_pbb_ebcdic', encoding='cp1047')

SPECS = {spec.name: spec for spec in (BJB_PBB, BJB_PBB_EBCDIC)}


def get_spec(name):
    """The registered spec called `name`; ValueError naming the valid ones."""
    try:
        return SPECS[name]
    except (KeyError, TypeError):
        raise ValueError('unknown ISO8583 spec %r; valid: %s'
                         % (name, ', '.join(sorted(SPECS)))) from None
