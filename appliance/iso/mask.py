"""Card data masking for log lines and error texts (bits 2, 35, 52): of
values, and of the same fields in the bytes of a frame."""

CARD_BITS = frozenset((2, 35, 52))
_TRACK2_SEPARATORS = '=D'


def mask_pan(pan):
    """Keep the first 6 and last 4 digits of a full-length PAN; a short one
    would be almost entirely revealed by that rule, so keep only its last 4."""
    size = len(pan)
    if size >= 13:
        return pan[:6] + '*' * (size - 10) + pan[-4:]
    if size > 4:
        return '*' * (size - 4) + pan[-4:]
    return '*' * size


def mask_track2(track):
    """Mask the PAN part like a PAN and everything after the separator."""
    for i, char in enumerate(track):
        if char in _TRACK2_SEPARATORS:
            return mask_pan(track[:i]) + char + '*' * (len(track) - i - 1)
    return mask_pan(track)


def mask_value(bit, value):
    """`value` of field `bit` as it may appear in a log line."""
    if bit not in CARD_BITS:
        return value
    text = value if isinstance(value, str) else str(value)
    if bit == 2:
        return mask_pan(text)
    if bit == 35:
        return mask_track2(text)
    return '*' * len(text)


def mask_bits(bits):
    """A copy of `bits` with the card data masked; other values untouched."""
    masked = dict(bits)
    for bit in CARD_BITS.intersection(masked):
        masked[bit] = mask_value(bit, masked[bit])
    return masked


def mask_frame(raw, spans, encoding):
    """`raw` with the card data at `spans` masked in place, every other byte
    untouched: spans are (bit, start, end) from the codec (Codec.decode,
    Codec.encode, Codec.locate_card_data); a bit of None hides the span
    whole. Masking by position, not by searching for the values: a value
    that also occurs elsewhere in the frame (a PAN equal to the NTB, a track
    2 of `00`) must not hide those other bytes."""
    if not spans:
        return raw
    out = bytearray(raw)
    for bit, start, end in spans:
        if bit is None:
            shown = '*' * (end - start)
        else:
            shown = mask_value(bit, raw[start:end].decode(encoding, 'replace'))
        out[start:end] = shown.encode(encoding, 'replace')
    return bytes(out)
