"""Streamers: how ISO8583 messages are delimited on a TCP stream.

A streamer frames one outgoing payload into one bytes object (written with a
single sendall, see docs/protocol.md on Nagle) and gives each connection a fresh
splitter that turns arbitrary reads back into payloads. A connection frames
what it sends with its splitter's frame(): the header streamers (bri, local)
answer with the header the peer last sent on that connection, which only the
splitter has seen. The layouts are listed in docs/protocol.md, "Framing".
"""
import struct
from appliance.errors import FramingError  # noqa: F401

# Bytes quoted in a framing error: a 4-digit header, the MTI and a primary
# bitmap, so the dump never reaches the digits of a PAN.
_SHOWN = 24
# Between frames of the ASCII-header streamers: line noise, keep-alive NULs
# and the stray space or repeated 0x03 BJB sends after a frame.
_BETWEEN = b' \t\r\n\x00\x03'
_SUFFIX = b'\x03'


def _dump(data, start=0):
    """Hex of the bytes from `start`, truncated to _SHOWN."""
    shown = bytes(data[start:start + _SHOWN]).hex(' ')
    more = len(data) - start - _SHOWN
    return shown + (' (+%d more)' % more if more > 0 else '')


class Streamer:
    """A length header (ASCII digits or binary), an optional suffix byte
    counted in the length, and a maximum length."""

    # Frames may share a write: the length header finds where each one ends.
    one_read_one_message = False

    def __init__(self, name, header_size, read_header, write_header, max_length,
                 suffix=b'', skip=b'', upper=False):
        self.name = name
        self.upper = upper             # bri_way4 sends its payloads upper-cased
        self.header_size = header_size
        self.max_length = max_length
        self.suffix = suffix
        self.skip = skip
        self._read_header = read_header
        self._write_header = write_header
        self._min_length = 1 + len(suffix)

    def error(self, problem, data, start=0):
        return FramingError('%s: %s; bytes: %s' % (self.name, problem, _dump(data, start)))

    def frame(self, payload):
        """Header + payload + suffix, as one bytes object."""
        length = len(payload) + len(self.suffix)
        if not self._min_length <= length <= self.max_length:
            raise self.error('cannot frame a payload of %d bytes: length %d is out of'
                             ' range %d..%d' % (len(payload), length, self._min_length,
                                                self.max_length), payload)
        if self.upper:
            payload = payload.upper()    # ASCII letters only; the length is unchanged
        return b''.join((self._write_header(length), payload, self.suffix))

    def parse_header(self, data, start):
        """The length announced by the header at `start` in `data`."""
        length = self._read_header(data[start:start + self.header_size])
        if length is None:
            raise self.error('length header is not %d digits' % self.header_size,
                             data, start)
        if not self._min_length <= length <= self.max_length:
            raise self.error('length %d is out of range %d..%d'
                             % (length, self._min_length, self.max_length), data, start)
        return length

    def splitter(self):
        return Splitter(self)

    def __repr__(self):
        return '<streamer %s, max %d>' % (self.name, self.max_length)


class Splitter:
    """Incremental receive side of one connection for a length streamer."""

    def __init__(self, streamer):
        self._streamer = streamer
        self._buffer = bytearray()

    @property
    def pending(self):
        """Bytes of an incomplete frame held back; 0 between frames."""
        return len(self._buffer)

    def frame(self, payload):
        """The frame of an outgoing payload on this connection."""
        return self._streamer.frame(payload)

    def feed(self, data):
        """Append one read; return the payloads it completed, in order."""
        buffer = self._buffer
        buffer += data
        streamer = self._streamer
        head, skip, suffix = streamer.header_size, streamer.skip, streamer.suffix
        payloads = []
        pos = 0
        while True:
            if skip:
                while pos < len(buffer) and buffer[pos] in skip:
                    pos += 1
            if len(buffer) - pos < head:
                break
            length = streamer.parse_header(buffer, pos)
            end = pos + head + length
            if len(buffer) < end:
                break
            frame = bytes(buffer[pos + head:end])
            if suffix:
                if not frame.endswith(suffix):
                    raise streamer.error('expected 0x%s at the end of the %d-byte frame'
                                         % (suffix.hex(), length), buffer, pos)
                frame = frame[:-len(suffix)]
            payloads.append(frame)
            pos = end
        del buffer[:pos]
        return payloads


class RawStreamer:
    """`none`: no header; one read is one message (legacy peers only)."""

    name = 'none'
    one_read_one_message = True     # each frame needs a write of its own

    def __init__(self, max_length):
        self.max_length = max_length

    def frame(self, payload):
        self.check(payload)
        return bytes(payload)

    def check(self, data):
        """A message must be non-empty and within the maximum."""
        if not 1 <= len(data) <= self.max_length:
            raise FramingError('none: length %d is out of range 1..%d; bytes: %s'
                               % (len(data), self.max_length, _dump(data)))

    def splitter(self):
        return RawSplitter(self)

    def __repr__(self):
        return '<streamer none, max %d>' % self.max_length


class RawSplitter:
    """Receive side of `none`: each non-empty read is returned whole."""

    pending = 0  # nothing is ever held back

    def __init__(self, streamer):
        self._streamer = streamer

    def feed(self, data):
        if not data:
            return []
        self._streamer.check(data)
        return [bytes(data)]

    def frame(self, payload):
        return self._streamer.frame(payload)


# The 12-byte header of bri, local and bank_kaltim: `ISO` and 9 digits.
HEADER_SIZE = 12
_PREFIX = b'ISO'
# bri and local before the peer has sent a header on the connection.
_DEFAULT_HEADER = _PREFIX + b'0' * 9
# bank_kaltim: `ISO`, product indicator 04, release 10, status 000; then the
# originator (6 network management, 1 anything else) and the responder (7).
_KALTIM_HEAD = _PREFIX + b'04' + b'10' + b'000'
_KALTIM_RESPONDER = b'7'


class HeaderStreamer:
    """A 12-byte ASCII header without a length: one read is one message.

    `make_header(payload, received)` gives the header of an outgoing payload;
    `received` is the header the peer last sent on the connection, or None.
    """

    one_read_one_message = True     # each frame needs a write of its own

    def __init__(self, name, make_header, max_length):
        self.name = name
        self.max_length = max_length
        self._make_header = make_header

    def error(self, problem, data):
        return FramingError('%s: %s; bytes: %s' % (self.name, problem, _dump(data)))

    def frame(self, payload, received=None):
        """Header + payload, as one bytes object."""
        if not 1 <= len(payload) <= self.max_length:
            raise self.error('cannot frame a payload of %d bytes: out of range 1..%d'
                             % (len(payload), self.max_length), payload)
        return self._make_header(payload, received) + bytes(payload)

    def parse(self, data):
        """(header, payload) of one read."""
        header, payload = bytes(data[:HEADER_SIZE]), bytes(data[HEADER_SIZE:])
        if not (header.startswith(_PREFIX) and header[3:].isdigit()
                and len(header) == HEADER_SIZE):
            raise self.error('a read must start with a %d-byte header, ISO and 9 digits'
                             % HEADER_SIZE, data)
        if not 1 <= len(payload) <= self.max_length:
            raise self.error('length %d after the header is out of range 1..%d'
                             % (len(payload), self.max_length), data)
        return header, payload

    def splitter(self):
        return HeaderSplitter(self)

    def __repr__(self):
        return '<streamer %s, max %d>' % (self.name, self.max_length)


class HeaderSplitter:
    """Both sides of one connection for a header streamer: each non-empty
    read is one message, and its header is kept for the answers."""

    pending = 0  # nothing is ever held back

    def __init__(self, streamer):
        self._streamer = streamer
        self.header = None             # the header last received, bytes

    def feed(self, data):
        if not data:
            return []
        self.header, payload = self._streamer.parse(data)
        return [payload]

    def frame(self, payload):
        return self._streamer.frame(payload, self.header)


def _echoed_header(payload, received):
    """bri, local: the peer's last header back, `ISO000000000` before any."""
    return received or _DEFAULT_HEADER


def _kaltim_header(payload, received):
    """bank_kaltim: the originator follows the MTI of what is sent."""
    originator = b'6' if payload[:2] == b'08' else b'1'
    return _KALTIM_HEAD + originator + _KALTIM_RESPONDER


def _read_digits(header):
    # bytes.isdigit() is ASCII-only, so int() below cannot fail or see a sign.
    return int(header) if header.isdigit() else None


def _write_digits(length):
    return b'%04d' % length


def _ascii(name, suffix=b''):
    """A 4-digit decimal header, tolerant of noise between frames."""
    return lambda max_length: Streamer(name, 4, _read_digits, _write_digits,
                                       max_length, suffix, _BETWEEN)


def _binary(name, fmt, upper=False):
    """A 2-byte binary header; every byte value is a valid header byte, so
    nothing can be skipped between frames."""
    header = struct.Struct(fmt)
    return lambda max_length: Streamer(name, 2, lambda data: header.unpack(data)[0],
                                       header.pack, max_length, upper=upper)


def _header(name, make_header):
    return lambda max_length: HeaderStreamer(name, make_header, max_length)


# name -> (factory taking the maximum length, the header's own limit)
_FACTORIES = {
    'bjb': (_ascii('bjb'), 9999),
    'bjb_with_suffix': (_ascii('bjb_with_suffix', _SUFFIX), 9999),
    'mitracomm': (_binary('mitracomm', '>H'), 65535),
    'pos': (_binary('pos', '<H'), 65535),
    'none': (RawStreamer, 65535),
    # The other banks of the opensipkd ecosystem (docs/protocol.md, "Framing").
    'bjt': (_ascii('bjt'), 9999),
    'bsb': (_ascii('bsb'), 9999),
    'bsm': (_ascii('bsm'), 9999),
    'btn': (_ascii('btn'), 9999),
    'depok': (_ascii('depok'), 9999),
    'bri_way4': (_binary('bri_way4', '>H', upper=True), 65535),
    'bri': (_header('bri', _echoed_header), 65535),
    'local': (_header('local', _echoed_header), 65535),
    'bank_kaltim': (_header('bank_kaltim', _kaltim_header), 65535),
}

STREAMER_NAMES = tuple(_FACTORIES)


def get_streamer(name, max_length=None):
    """The streamer called `name`; `max_length` lowers the header's own limit
    (9999 for 4 digits, 65535 for 2 binary bytes), e.g. to a spec's max_size."""
    try:
        factory, limit = _FACTORIES[name]
    except (KeyError, TypeError):
        raise ValueError('unknown streamer %r; valid: %s'
                         % (name, ', '.join(STREAMER_NAMES))) from None
    if max_length is None:
        max_length = limit
    if type(max_length) is not int or not 1 <= max_length <= limit:
        raise ValueError('streamer %s: max_length %r is out of range 1..%d'
                         % (name, max_length, limit))
    return factory(max_length)
