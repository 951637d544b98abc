"""One ISO8583 message: an MTI and its fields as text, keyed by bit number."""
import json

from appliance.iso.mask import CARD_BITS, mask_bits
from appliance.iso.codes import RESPONSE_MTI as _RESPONSE_MTI

# A repeat (0401) is answered as a repeat (0411).


def response_mti(mti):
    """The MTI that answers `mti`; ValueError for one that is not a request."""
    try:
        return _RESPONSE_MTI[mti]
    except KeyError:
        raise ValueError('MTI %s is not a request this appliance answers' % mti) from None


def is_response(mti):
    """True for MTIs whose third digit marks a response (0210, 0410, 0810, ...)."""
    return len(mti) == 4 and mti[2] in '13579'


class Message:
    """MTI plus fields. Values are str, as they appear on the wire with the
    padding of fixed alphanumeric fields stripped (numeric fields keep their
    leading zeros). Bit 1 (secondary bitmap) is never stored: the codec
    derives it."""

    __slots__ = ('mti', 'bits')

    def __init__(self, mti, bits=None):
        self.mti = mti
        self.bits = dict(bits or {})

    def __getitem__(self, bit):
        return self.bits[bit]

    def __setitem__(self, bit, value):
        self.bits[bit] = value

    def __contains__(self, bit):
        return bit in self.bits

    def get(self, bit, default=None):
        return self.bits.get(bit, default)

    def reply(self, copy=()):
        """A response to this request carrying the listed bits that it has."""
        return Message(response_mti(self.mti),
                       {b: self.bits[b] for b in copy if b in self.bits})

    def sorted_bits(self):
        """Fields in ascending bit order, as the seed's log lines show them."""
        return {b: self.bits[b] for b in sorted(self.bits)}

    def __eq__(self, other):
        return (isinstance(other, Message) and self.mti == other.mti
                and self.bits == other.bits)

    def __repr__(self):
        # Card data never reaches a log through repr().
        return 'Message(%r, %r)' % (self.mti, mask_bits(self.sorted_bits()))


# Request fields a response repeats so the peer can match it (spec §2);
# the amount (4) is repeated too and may be overwritten by the answerer.
COPY_BITS = (2, 3, 4, 7, 11, 12, 13, 15, 18, 22, 32, 33, 35, 37, 41, 42, 43, 48,
             49, 59, 60, 61, 63, 102, 107)


def to_json(msg):
    """A message as JSON text for a database row; card data is left out."""
    return json.dumps({'mti': msg.mti, 'bits': {str(b): v for b, v in
                                                 msg.sorted_bits().items()
                                                 if b not in CARD_BITS}})


def from_json(text):
    """The message `to_json` stored."""
    data = json.loads(text)
    return Message(data['mti'], {int(b): v for b, v in data['bits'].items()})
