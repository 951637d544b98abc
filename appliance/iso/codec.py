"""Encode and decode ISO8583 messages of one Spec: MTI, hex bitmap, fields.

The per-field work is compiled into closures once, in Codec(); encode and
decode then run one tight loop over the present bits. Every failure is a
CodecError naming the field and the byte position (offsets count from the
MTI, framing excluded); card data is masked in its text.

Both can also report where the card data fields lie in the bytes (`spans`),
so a log line masks exactly those bytes (appliance.iso.mask.mask_frame).
"""
from appliance.iso.mask import CARD_BITS, mask_value
from appliance.iso.message import Message
from appliance.iso.spec import Spec, get_spec
from appliance.errors import CodecError  # noqa: F401

_HEX = '0123456789ABCDEFabcdef'
_TRACK2 = '0123456789=D?;'
_SHOWN = 24  # bytes of a bad tail quoted in an error, enough to recognise it
_PRIMARY = 1 << 63  # bit 1 in the primary bitmap: a secondary one follows
_SECONDARY_FIRST = frozenset('89ABCDEFabcdef')  # first hex digit with bit 1 set
_PLANS_KEPT = 1024


def _digits(value):
    return value.isdigit() and value.isascii()


def _hex(value):
    return not value.strip(_HEX)


def _track2(value):
    return not value.strip(_TRACK2)


# kind -> (content check or None, what the content is called in errors)
_CONTENT = {
    'n': (_digits, 'digits'),
    'z': (_track2, 'track-2 characters'),
    'b': (_hex, 'hex digits'),
    'an': (None, 'characters'),
    'ans': (None, 'characters'),
}


def _show(field, value):
    return repr(mask_value(field.bit, value))


def _strip_padding(kind):
    """The receive-side cleanup of a fixed text field, None for the others."""
    if kind == 'an':
        return lambda value: value.rstrip(' ')
    if kind == 'ans':
        def strip(value):
            value = value.rstrip(' \x00')
            return '' if not value.strip('0') else value
        return strip
    return None


class _Field:
    """One FieldSpec compiled: its bitmap mask, encoder and decoder."""

    __slots__ = ('spec', 'mask', 'encode', 'take')

    def __init__(self, spec):
        self.spec = spec
        self.mask = 1 << (128 - spec.bit)
        valid, _ = _CONTENT[spec.kind]
        if spec.fixed:
            self.encode = _fixed_encoder(spec, valid)
            self.take = _fixed_taker(spec, valid, _strip_padding(spec.kind))
        else:
            self.encode = _variable_encoder(spec, valid)
            self.take = _variable_taker(spec, valid)


def _fixed_encoder(spec, valid):
    """value -> padded text, or None when the value does not fit."""
    size = spec.length
    if spec.kind == 'n':
        def encode(value):
            if type(value) is str and len(value) <= size and _digits(value):
                return value.rjust(size, '0')
            return None
    elif valid is not None:
        # Hex and track-2 data have no padding convention: exact length only.
        def encode(value):
            if type(value) is str and len(value) == size and valid(value):
                return value
            return None
    else:
        def encode(value):
            if type(value) is str and len(value) <= size:
                return value.ljust(size)
            return None
    return encode


def _variable_encoder(spec, valid):
    """value -> length prefix + value, or None when the value does not fit."""
    top = spec.length
    prefixes = ['%0*d' % (spec.prefix, n) for n in range(top + 1)]

    def encode(value):
        if type(value) is str and len(value) <= top and (
                valid is None or not value or valid(value)):
            return prefixes[len(value)] + value
        return None
    return encode


def _fixed_taker(spec, valid, strip):
    """Decoder: store the field read at `pos` in `out`, return the end."""
    size, bit = spec.length, spec.bit

    def take(text, pos, out):
        end = pos + size
        value = text[pos:end]
        if len(value) != size:
            raise _truncated(spec, size, pos, value)
        if valid is not None and not valid(value):
            raise _invalid(spec, size, pos, value)
        out[bit] = strip(value) if strip is not None else value
        return end
    return take


def _variable_taker(spec, valid):
    digits, top, bit = spec.prefix, spec.length, spec.bit

    def take(text, pos, out):
        start = pos + digits
        head = text[pos:start]
        if not (len(head) == digits and _digits(head)):
            raise CodecError('%s: expected a %d-digit length at byte %d, got %r'
                             % (spec.label, digits, pos, head))
        size = int(head)
        if size > top:
            raise CodecError('%s: length %d at byte %d exceeds the maximum %d'
                             % (spec.label, size, pos, top))
        end = start + size
        value = text[start:end]
        if len(value) != size:
            raise _truncated(spec, size, start, value)
        if valid is not None and size and not valid(value):
            raise _invalid(spec, size, start, value)
        out[bit] = value
        return end
    return take


def _truncated(spec, size, pos, value):
    return CodecError('%s: expected %d characters at byte %d, got %d (message truncated)'
                      % (spec.label, size, pos, len(value)))


def _invalid(spec, size, pos, value):
    return CodecError('%s: expected %d %s at byte %d, got %s'
                      % (spec.label, size, _CONTENT[spec.kind][1], pos, _show(spec, value)))


def _expected(spec):
    """What encode accepts for a field, for its error message."""
    what = _CONTENT[spec.kind][1]
    if spec.fixed and spec.kind in ('b', 'z'):
        return 'exactly %d %s' % (spec.length, what)
    return 'up to %d %s' % (spec.length, what)


class Codec:
    """encode(Message) -> bytes and decode(bytes) -> Message for one spec."""

    def __init__(self, spec):
        self.spec = get_spec(spec) if not isinstance(spec, Spec) else spec
        self._encoding = self.spec.encoding
        self._max_size = self.spec.max_size
        self._fields = {bit: _Field(f) for bit, f in self.spec.fields.items()}
        self._plans = {}

    # -- encode ---------------------------------------------------------

    def encode(self, msg, spans=None):
        """The bytes of `msg`; with a list as `spans`, (bit, start, end) of
        each card data value in them is appended to it."""
        mti, bits = msg.mti, msg.bits
        if not (type(mti) is str and len(mti) == 4 and _digits(mti)):
            raise CodecError('MTI: expected 4 digits, got %r' % (mti,))
        try:
            order = sorted(bits)
        except TypeError:
            raise self._unknown_key(bits) from None
        fields = self._fields
        parts = []
        bitmap = 0
        for bit in order:
            field = fields.get(bit)
            if field is None:
                raise CodecError('bit %r: not in spec %s' % (bit, self.spec.name))
            piece = field.encode(bits[bit])
            if piece is None:
                piece = self._encode_slowly(field, bits[bit], order, parts)
            parts.append(piece)
            bitmap |= field.mask
        if bitmap & 0xFFFFFFFFFFFFFFFF:
            head = '%032X' % (bitmap | (1 << 127))
        else:
            head = '%016X' % (bitmap >> 64)
        text = mti + head + ''.join(parts)
        try:
            raw = text.encode(self._encoding)
        except UnicodeEncodeError:
            raise self._unencodable(order, parts) from None
        if len(raw) > self._max_size:
            raise CodecError('message of %d bytes exceeds the maximum %d of spec %s'
                             % (len(raw), self._max_size, self.spec.name))
        if spans is not None and not CARD_BITS.isdisjoint(bits):
            self._card_spans(len(mti) + len(head), order, parts, spans)
        return raw

    def _card_spans(self, pos, order, parts, spans):
        """Where the encoded card data values lie (after their length prefix)."""
        fields = self.spec.fields
        for bit, piece in zip(order, parts):
            if bit in CARD_BITS:
                spans.append((bit, pos + fields[bit].prefix, pos + len(piece)))
            pos += len(piece)

    def _unknown_key(self, bits):
        bad = next(b for b in bits if type(b) is not int)
        return CodecError('bit %r: not in spec %s' % (bad, self.spec.name))

    @staticmethod
    def _header_size(order):
        return 36 if order and order[-1] > 64 else 20

    def _encode_slowly(self, field, value, order, parts):
        """The encoding of a str subclass, or the error the value deserves."""
        if isinstance(value, str):
            piece = field.encode(str(value))
            if piece is not None:
                return piece
        spec = field.spec
        pos = self._header_size(order) + sum(map(len, parts))
        if not isinstance(value, str):
            raise CodecError('%s: expected str at byte %d, got %s'
                             % (spec.label, pos, type(value).__name__))
        if len(value) > spec.length:
            raise CodecError('%s: value of %d characters at byte %d exceeds the maximum %d'
                             % (spec.label, len(value), pos, spec.length))
        raise CodecError('%s: expected %s at byte %d, got %s'
                         % (spec.label, _expected(spec), pos, _show(spec, value)))

    def _unencodable(self, order, parts):
        """Find which field holds a character the charset lacks."""
        pos = self._header_size(order)
        for bit, piece in zip(order, parts):
            try:
                piece.encode(self._encoding)
            except UnicodeEncodeError as exc:
                spec = self.spec.fields[bit]
                char = mask_value(bit, exc.object[exc.start])
                return CodecError('%s: character %r at byte %d is not in %s'
                                  % (spec.label, char, pos + exc.start, self._encoding))
            pos += len(piece)
        return CodecError('message is not encodable in %s' % self._encoding)

    # -- decode ---------------------------------------------------------

    def decode(self, raw, spans=None):
        """The Message in `raw`; with a list as `spans`, (bit, start, end) of
        each card data value in `raw` is appended to it."""
        if not isinstance(raw, bytes):
            try:
                raw = bytes(raw)
            except TypeError:
                raise CodecError('expected bytes, got %s' % type(raw).__name__) from None
        if len(raw) > self._max_size:
            raise CodecError('message of %d bytes exceeds the maximum %d of spec %s'
                             % (len(raw), self._max_size, self.spec.name))
        try:
            text = raw.decode(self._encoding)
            bad = None
        except UnicodeDecodeError as exc:
            # Keep one character per byte so positions stay byte offsets.
            text = raw.decode(self._encoding, 'surrogateescape')
            bad = exc.start
        mti = text[:4]
        if not (len(mti) == 4 and _digits(mti)):
            raise CodecError('MTI: expected 4 digits at byte 0, got %r' % (mti,))
        takes, specs, pos, card = self._plan(text)
        out = {}
        if bad is None:
            if spans is None or not card:
                for take in takes:
                    pos = take(text, pos, out)
            else:
                pos = self._take_locating(text, pos, takes, card, out, spans)
        else:
            starts = []
            for take, spec in zip(takes, specs):
                starts.append((pos, spec))
                pos = take(text, pos, out)
        if pos != len(text):
            after = specs[-1].label if specs else 'the bitmap'
            raise CodecError('%d unexpected bytes at byte %d after %s: %r'
                             % (len(text) - pos, pos, after, raw[pos:pos + _SHOWN]))
        if bad is not None:
            raise self._undecodable(raw, bad, starts)
        return Message(mti, out)

    @staticmethod
    def _take_locating(text, pos, takes, card, out, spans):
        """The decoding loop, noting where card data values lie."""
        for index, take in enumerate(takes):
            start = pos
            pos = take(text, pos, out)
            where = card.get(index)
            if where is not None:
                spans.append((where[0], start + where[1], pos))
        return pos

    def _plan(self, text):
        """(field decoders, field specs, position after the bitmap, card data
        fields as {index: (bit, length prefix digits)}), cached by
        bitmap text: a link sees few message shapes, so parsing the bitmap and
        looking up fields is done once per shape."""
        size = 32 if text[4:5] in _SECONDARY_FIRST else 16
        key = text[4:4 + size]
        plan = self._plans.get(key)
        if plan is None:
            plan = self._build_plan(text)
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()  # bounded: a peer could vary bitmaps forever
            self._plans[key] = plan
        return plan

    def _build_plan(self, text):
        bitmap, width, pos = self._bitmap(text)
        fields = []
        while bitmap:
            top = bitmap.bit_length()
            bitmap ^= 1 << (top - 1)
            bit = width + 1 - top
            if bit == 1:
                continue
            field = self._fields.get(bit)
            if field is None:
                raise CodecError('bit %d: not in spec %s, present in the bitmap at byte %d'
                                 % (bit, self.spec.name, 4 if bit <= 64 else 20))
            fields.append(field)
        card = {i: (f.spec.bit, f.spec.prefix) for i, f in enumerate(fields)
                if f.spec.bit in CARD_BITS}
        return (tuple(f.take for f in fields), tuple(f.spec for f in fields), pos, card)

    @staticmethod
    def _bitmap(text):
        """(bitmap as int, its width in bits, position after it)."""
        primary = text[4:20]
        if len(primary) != 16 or primary.strip(_HEX):
            raise CodecError('primary bitmap: expected 16 hex digits at byte 4, got %r'
                             % (primary,))
        value = int(primary, 16)
        if not value & _PRIMARY:
            return value, 64, 20
        secondary = text[20:36]
        if len(secondary) != 16 or secondary.strip(_HEX):
            raise CodecError('bit 1 (secondary bitmap): expected 16 hex digits at byte 20,'
                             ' got %r' % (secondary,))
        return (value << 64) | int(secondary, 16), 128, 36

    # -- an undecodable frame, for its log line ------------------------------

    def locate_card_data(self, raw):
        """Spans to mask in a frame that decode refused, for its log line:
        (bit, start, end) of each card data value read before the failure,
        and (None, start, end) for the bytes from the failure on when they
        may hold card data that could not be located (a card field at or
        after the failure, or a bitmap that cannot be read)."""
        text = bytes(raw).decode(self._encoding, 'surrogateescape')
        if not _digits(text[:4]):
            return [(None, 0, len(text))]
        try:
            bitmap, width, pos = self._bitmap(text)
        except CodecError:
            return [(None, 4, len(text))]
        bits = [bit for bit in range(2, width + 1) if bitmap >> (width - bit) & 1]
        spans = []
        for index, bit in enumerate(bits):
            end = self._end_of(bit, text, pos)
            if end is None:         # nothing from here on can be located
                if not CARD_BITS.isdisjoint(bits[index:]):
                    spans.append((None, pos, len(text)))
                return spans
            if bit in CARD_BITS:
                spans.append((bit, pos + self.spec.fields[bit].prefix, end))
            pos = end
        return spans

    def _end_of(self, bit, text, pos):
        """Where field `bit` read at `pos` ends; None when it cannot be read."""
        field = self._fields.get(bit)
        if field is None:
            return None
        try:
            return field.take(text, pos, {})
        except CodecError:
            return None

    def _undecodable(self, raw, bad, starts):
        """A text field held a byte the charset cannot decode."""
        owner = 'MTI or bitmap'
        for start, spec in starts:
            if start <= bad:
                owner = spec.label
        return CodecError('%s: byte 0x%02x at byte %d is not valid %s'
                          % (owner, raw[bad], bad, self._encoding))
