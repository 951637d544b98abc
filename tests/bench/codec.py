"""Encode/decode throughput of our codec next to pyiso8583 on a PBB 0210.

pyiso8583 (the `bench` extra) is configured from the same field table, and
both must produce and read the same bytes. The four measurements are
interleaved in rounds in one process, so a busy moment of the machine hits
both codecs alike; the best round of each counts.

Alone: `.venv/bin/python tests/bench/codec.py` (prints the JSON).
"""
import json
import time

import iso8583

from appliance.iso.codec import Codec
from appliance.iso.message import Message
from appliance.iso.spec import BJB_PBB


def profile_bit62():
    """Bit 62 of the seed's inquiry response, at its real 277-character width."""
    text = ''.join(value.ljust(35) for value in (
        'UW** *****SNA', 'JL LINCAR I', 'TEGAL GUNDIL', 'BOGOR UTARA', 'JAWA BARAT'))
    amounts = ''.join('%012d' % n for n in (123, 72))
    money = ''.join('%012d' % n for n in (19536, 9378, 28914, 9378))
    return '3271010001007002701995' + text + amounts + '19951130' + money


# The seed's inquiry response (README of iso8583-web), as the pemda sends it.
INQUIRY_RESPONSE = Message('0210', {
    3: '341019', 4: '000000019536', 7: '0718235304', 11: '235069', 12: '235303',
    13: '0718', 18: '6010', 33: '00110', 39: '00',
    61: '3271010001007002701995', 62: profile_bit62(),
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


def _calls_per_second(func, seconds):
    """Calls per second of `func` over at least `seconds` (batches of 1,000)."""
    done, started = 0, time.perf_counter()
    while True:
        for _ in range(1000):
            func()
        done += 1000
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def run(rounds=7, seconds=0.25):
    codec = Codec(BJB_PBB)
    raw = codec.encode(INQUIRY_RESPONSE)
    theirs = pyiso8583_spec(BJB_PBB)
    doc = {'t': INQUIRY_RESPONSE.mti}
    doc.update({str(b): v for b, v in INQUIRY_RESPONSE.bits.items()})
    their_raw, _ = iso8583.encode(dict(doc), theirs)
    assert bytes(their_raw) == raw, 'both codecs must produce the same bytes'
    assert codec.decode(raw) == INQUIRY_RESPONSE
    decoded, _ = iso8583.decode(raw, theirs)
    assert all(decoded[k] == v for k, v in doc.items() if k != '62') and \
        decoded['62'] == doc['62'], 'both codecs must read the same fields'

    cases = {
        ('encode', 'ours'): lambda: codec.encode(INQUIRY_RESPONSE),
        # pyiso8583 adds the bitmap to `doc` and recomputes it on every call.
        ('encode', 'pyiso8583'): lambda: iso8583.encode(doc, theirs),
        ('decode', 'ours'): lambda: codec.decode(raw),
        ('decode', 'pyiso8583'): lambda: iso8583.decode(raw, theirs),
    }
    best = dict.fromkeys(cases, 0.0)
    for _ in range(rounds):
        for case, func in cases.items():
            best[case] = max(best[case], _calls_per_second(func, seconds))
    result = {'message': 'PBB 0210 inquiry response', 'bytes': len(raw),
              'method': 'best of %d interleaved rounds of >= %g s each' % (rounds, seconds)}
    for op in ('encode', 'decode'):
        ours, pyiso = best[(op, 'ours')], best[(op, 'pyiso8583')]
        result[op] = {'ours_per_s': round(ours), 'pyiso8583_per_s': round(pyiso),
                      'ratio': round(ours / pyiso, 2)}
    return result


if __name__ == '__main__':
    print(json.dumps(run(), indent=2))
