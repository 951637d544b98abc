"""The bank's PBB requests to a pemda: teller calls built as ISO 0200/0400.

This is the role of the seed's `opensipkd.iso8583.bjb.pbb.test` module on the
bank side. Default bits (channel, institutions, or an aggregator's
`request_bits`) are settings; the bits that identify one request are set here.
"""
import datetime
from types import MappingProxyType

from appliance.iso.mask import mask_pan
from appliance.iso.message import Message
from appliance.iso.codes import INQUIRY, PAYMENT  # noqa: F401
from appliance.settings.types import kind


# A teller at BJB: channel 6010, acquirer 110 (BJB), forwarder 00110.
TELLER_DEFAULTS = MappingProxyType({18: '6010', 32: '110', 33: '00110'})

# Bits every request sets itself; as a default they would be silently lost.
PER_REQUEST_BITS = frozenset((3, 4, 7, 11, 12, 13, 48, 61))

MAX_AMOUNT = 10 ** 12 - 1      # bit 4 is 12 digits of whole rupiah


class RequestBuilder:
    """Builds inquiry, payment and reversal requests.

    `defaults` replaces TELLER_DEFAULTS as a whole (an aggregator sends no bit
    33, for instance). `clock` returns the local datetime; it is read twice per
    request: first for the transaction time (bits 12, 13), then for the
    transmission time (bit 7) as the message is completed.
    """

    def __init__(self, defaults=TELLER_DEFAULTS, clock=datetime.datetime.now):
        clash = sorted(PER_REQUEST_BITS.intersection(defaults))
        if clash:
            raise ValueError('bit %d is set by each request and cannot be a default'
                             % clash[0])
        self._defaults = dict(defaults)
        self._clock = clock

    def inquiry(self, invoice_id, stan):
        return self._build('0200', INQUIRY, invoice_id, stan, {})

    def payment(self, invoice_id, amount, ntb, stan):
        return self._build('0200', PAYMENT, invoice_id, stan, _money(amount, ntb))

    def reversal(self, invoice_id, amount, ntb, stan):
        """`ntb` and `stan` are those of the payment being reversed."""
        return self._build('0400', PAYMENT, invoice_id, stan, _money(amount, ntb))

    def _build(self, mti, processing_code, invoice_id, stan, extra):
        if len(stan) != 6 or not stan.isdigit():
            raise ValueError('STAN must be 6 digits, got %r' % stan)
        local = _month_to_second(self._clock())
        msg = Message(mti, self._defaults)
        msg.bits.update(extra)
        msg.bits.update({3: processing_code, 11: stan, 12: local[4:], 13: local[:4],
                         61: invoice_id})
        msg[7] = _month_to_second(self._clock())
        return msg


def _month_to_second(moment):
    """MMDDhhmmss: what strftime('%m%d%H%M%S') gives, in an eighth of its time
    (three strftime calls were 4 % of a bank's CPU per inquiry)."""
    return '%02d%02d%02d%02d%02d' % (moment.month, moment.day, moment.hour, moment.minute,
                                     moment.second)


def _money(amount, ntb):
    """Bits 4 and 48 of a payment or reversal."""
    if isinstance(amount, bool) or not isinstance(amount, int) \
            or not 0 <= amount <= MAX_AMOUNT:
        raise ValueError('amount must be a whole number of rupiah from 0 to %d, got %r'
                         % (MAX_AMOUNT, amount))
    return {4: '%012d' % amount, 48: ntb}


@kind('BIT:VALUE lines')
def parse_request_bits(text):
    """The seed's multi-line `request_bits` setting as {bit: value}.

    One `BIT:VALUE` per line (`2:622011888888888888`); blank lines are skipped;
    the value is everything after the first colon, surrounding spaces removed.
    Errors name the line.
    """
    bits, seen_on = {}, {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        bit_text, colon, value = line.partition(':')
        where = 'request_bits line %d' % number
        if not colon:
            raise ValueError('%s has no colon: expected BIT:VALUE, e.g. 18:6010' % where)
        bit_text, value = bit_text.strip(), value.strip()
        if not bit_text.isdigit() or not 2 <= int(bit_text) <= 128:
            raise ValueError('%s: bit %r is not a number from 2 to 128'
                             % (where, _shown(bit_text)))
        bit = int(bit_text)
        if bit in seen_on:
            raise ValueError('%s: bit %d is already given on line %d'
                             % (where, bit, seen_on[bit]))
        if not value:
            raise ValueError('%s: bit %d has no value' % (where, bit))
        bits[bit], seen_on[bit] = value, number
    return bits


def _shown(fragment):
    # A bad "bit" may be a PAN pasted in the wrong place: never echo one whole.
    return fragment if len(fragment) <= 4 else mask_pan(fragment)
