"""Encode/decode throughput of our codec against pyiso8583 on a PBB 0210.

A script, not a test: `.venv/bin/python tests/bench_codec.py`. pyiso8583 is a
benchmark-only dependency (`pip install pyiso8583`), configured here from the
same field table so both do the same work on the same message.
"""
import timeit

import iso8583

from appliance.iso.codec import Codec
from appliance.iso.message import Message
from appliance.iso.spec import BJB_PBB


def _profile():
    """Bit 62 of the seed's inquiry response, at its real 277-character width."""
    text = ''.join(value.ljust(35) for value in (
        'UW** *****SNA', 'JL LINCAR I', 'TEGAL GUNDIL', 'BOGOR UTARA', 'JAWA BARAT'))
    amounts = ''.join('%012d' % n for n in (123, 72))
    money = ''.join('%012d' % n for n in (19536, 9378, 28914, 9378))
    return '3271010001007002701995' + text + amounts + '19951130' + money


INQUIRY_RESPONSE = Message('0210', {
    3: '341019', 4: '000000019536', 7: '0718235304', 11: '235069', 12: '235303',
    13: '0718', 18: '6010', 33: '00110', 39: '00', 61: '3271010001007002701995',
    62: _profile(),
})


def pyiso8583_spec(spec):
    """The pyiso8583 equivalent of one of our specs."""
    def element(max_len, desc, len_type=0):
        return {'data_enc': spec.encoding, 'len_enc': spec.encoding,
                'len_type': len_type, 'max_len': max_len, 'desc': desc}
    table = {'h': element(0, 'header'), 't': element(4, 'mti'),
             'p': element(16, 'primary bitmap'), '1': element(16, 'secondary bitmap')}
    for field in spec.fields.values():
        table[str(field.bit)] = element(field.length, field.name, field.prefix)
    return table


def rate(func):
    """Calls per second of the best of 5 runs, each of at least 0.2 s."""
    number = timeit.Timer(func).autorange()[0]
    best = min(timeit.repeat(func, number=number, repeat=5))
    return number / best


def main():
    codec = Codec(BJB_PBB)
    raw = codec.encode(INQUIRY_RESPONSE)
    theirs = pyiso8583_spec(BJB_PBB)
    doc = {'t': INQUIRY_RESPONSE.mti}
    doc.update({str(b): v for b, v in INQUIRY_RESPONSE.bits.items()})
    # pyiso8583 adds the bitmap to `doc` and recomputes it on every call.
    their_raw, _ = iso8583.encode(doc, theirs)
    assert bytes(their_raw) == raw, 'both codecs must produce the same bytes'
    assert codec.decode(raw) == INQUIRY_RESPONSE

    results = {
        'encode': (rate(lambda: codec.encode(INQUIRY_RESPONSE)),
                   rate(lambda: iso8583.encode(doc, theirs))),
        'decode': (rate(lambda: codec.decode(raw)),
                   rate(lambda: iso8583.decode(raw, theirs))),
    }
    print('PBB 0210 inquiry response, %d bytes' % len(raw))
    for op, (ours, pyiso) in results.items():
        print('%s: ours %8.0f/s  pyiso8583 %8.0f/s  ratio %.2fx' % (op, ours, pyiso, ours / pyiso))


if __name__ == '__main__':
    main()
