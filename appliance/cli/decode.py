"""`iso8583d decode`: an ISO8583 frame copied from the logs, field by field.

    iso8583d decode "b'00560800822000000000000004000000000000000718222751222236301\\x03'"
    grep 'Receive \\[' iso8583d.log | iso8583d decode
    iso8583d decode --streamer mitracomm 0037303830...

A frame is given as the `b'...'` literal the log lines show (the rest of a
pasted log line is ignored) or as hex digits; as arguments, or on standard
input one per line. Framing: with --streamer NAME the frame is split by that
streamer (its header and suffix stripped); without it, a leading 4-digit
length header that matches the frame's length (bjb, bjb_with_suffix) is
detected and stripped, anything else is taken as the bare ISO8583 message.
Card data (bits 2, 35, 52) is masked in the output, as in the logs.
Exit status: 0 when every frame decoded, 1 otherwise (each failure is one
line on stderr).
"""
import argparse
import ast
import re
import string
import sys

from appliance.iso import netmgmt
from appliance.iso.codec import Codec, CodecError
from appliance.iso.framing import STREAMER_NAMES, FramingError, get_streamer
from appliance.iso.mask import mask_value
from appliance.iso.spec import SPECS
from appliance.errors import InputError  # noqa: F401
from appliance.iso.codes import MTI_NAMES, PROCESSING_CODES, RESPONSE_CODES  # noqa: F401

# A Python bytes literal as repr() writes it, quotes and escapes included.
_LITERAL = re.compile(r"""b'(?:[^'\\]|\\.)*'|b"(?:[^"\\]|\\.)*\"""")
_HEX_JUNK = re.compile(r'[\s:]+')
_PRINTABLE = set(string.printable) - set('\t\n\r\x0b\x0c')


_TEXT_HINT = " (hex was expected: give a message's own text as a b'...' literal)"


def parse_frame(text):
    """The bytes of one frame written as a b'...' literal (anywhere in the
    text, e.g. a whole log line) or as hex digits (spaces and colons allowed)."""
    found = _LITERAL.search(text)
    if found:
        try:
            return ast.literal_eval(found.group(0))
        except (ValueError, SyntaxError) as e:
            raise InputError('bad b\'...\' literal: %s' % e) from None
    digits = _HEX_JUNK.sub('', text)
    if digits[:2].lower() == '0x':
        digits = digits[2:]
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        hint = _TEXT_HINT if text.strip()[:4].isdigit() else ''
        raise InputError("neither a b'...' literal as in the log lines nor hex digits%s"
                         % hint) from None
    if not data:
        raise InputError('empty frame')
    return data


def payloads(data, streamer_name, max_length):
    """[(ISO8583 message bytes, how it was framed)] of one frame."""
    if streamer_name is None:
        return [_detect(data)]
    streamer = get_streamer(streamer_name, max_length=max_length)
    splitter = streamer.splitter()
    found = splitter.feed(data)
    if splitter.pending:
        raise FramingError('%s: %d bytes after the last complete frame (truncated?)'
                           % (streamer_name, splitter.pending))
    if not found:
        raise FramingError('%s: no complete frame' % streamer_name)
    return [(payload, streamer_name) for payload in found]


def _detect(data):
    """bjb / bjb_with_suffix when the first 4 bytes are the length of the rest
    (suffix included), else the bare message."""
    head = data[:4]
    if len(data) > 4 and head.isdigit() and int(head) == len(data) - 4:
        if data.endswith(b'\x03'):
            return data[4:-1], 'bjb_with_suffix (detected)'
        return data[4:], 'bjb (detected)'
    return data, 'none'


def describe(msg, codec, framing, size):
    """The lines printed for one decoded message."""
    spec = codec.spec
    lines = ['MTI %s  %s' % (msg.mti, MTI_NAMES.get(msg.mti, '')),
             '  framing %s, message %d bytes, spec %s' % (framing, size, spec.name)]
    width = max((len(spec.fields[bit].name) for bit in msg.bits), default=0)
    for bit in sorted(msg.bits):
        value = mask_value(bit, msg.bits[bit])
        shown = value if set(value) <= _PRINTABLE and value == value.strip() else repr(value)
        note = _note(bit, msg.bits[bit])
        lines.append('  %3d  %-*s  %s%s' % (bit, width, spec.fields[bit].name, shown,
                                            '  (%s)' % note if note else ''))
    return lines


def _note(bit, value):
    if bit == 3:
        return PROCESSING_CODES.get(value)
    if bit == 39:
        return RESPONSE_CODES.get(value)
    if bit == 70:
        return netmgmt.FUNCTIONS.get(value)
    return None


def decode_text(text, codec, streamer_name):
    """Lines describing the message(s) in one input line; raises InputError,
    FramingError or CodecError."""
    data = parse_frame(text)
    out = []
    for payload, framing in payloads(data, streamer_name, codec.spec.max_size):
        try:
            msg = codec.decode(payload)
        except CodecError as e:
            msg = _retry_bare(e, data, framing, codec, text)
            framing, payload = 'none', data
        if out:
            out.append('')
        out.extend(describe(msg, codec, framing, len(payload)))
    return out


def _retry_bare(error, data, framing, codec, text):
    """A detected header may have been the MTI of a bare message of just that
    length: decode it bare, or raise the first error (with a hint when the
    input was hex that reads like ISO text itself)."""
    if framing.endswith('(detected)'):
        try:
            return codec.decode(data)
        except CodecError:
            pass
    if not _LITERAL.search(text) and text.strip()[:4].isdigit() and \
            not data[:4].isdigit():
        raise CodecError('%s%s' % (error, _TEXT_HINT)) from None
    raise error


def _parser():
    p = argparse.ArgumentParser(
        prog='iso8583d decode',
        description="Decode ISO8583 frames as the logs show them (b'...') or as hex; "
                    "print the MTI and every field with its number and name (card "
                    "data masked).")
    p.add_argument('frames', nargs='*', metavar='FRAME',
                   help="b'...' literal (a whole log line will do) or hex digits; "
                        "none or '-': read standard input, one frame per line")
    p.add_argument('--streamer', choices=STREAMER_NAMES,
                   help='strip this framing (header and suffix); default: detect a '
                        '4-digit bjb header, else decode the bare message')
    p.add_argument('--spec', choices=sorted(SPECS), default='bjb_pbb',
                   help='field table (default %(default)s)')
    return p


def main(argv=None, stdin=None, stdout=None, stderr=None):
    args = _parser().parse_args(argv)
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    codec = Codec(SPECS[args.spec])
    if args.frames and args.frames != ['-']:
        inputs = [('argument %d' % n, text) for n, text in enumerate(args.frames, 1)]
    else:
        inputs = (('line %d' % n, line) for n, line in enumerate(stdin, 1))
    failed = printed = 0
    for where, text in inputs:
        if not text.strip():
            continue
        try:
            lines = decode_text(text, codec, args.streamer)
        except (InputError, FramingError, CodecError) as e:
            failed += 1
            stderr.write('iso8583d decode: %s: %s\n' % (where, e))
            continue
        if printed:
            stdout.write('\n')
        stdout.write('\n'.join(lines) + '\n')
        printed += 1
    if not failed and not printed:
        stderr.write('iso8583d decode: no frame given\n')
        return 1
    return 1 if failed else 0
