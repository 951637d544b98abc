"""`iso8583d decode`: frames as the logs show them, or hex, to fields."""
import io

import pytest

from appliance.cli.decode import main
from appliance.iso.codec import Codec
from appliance.iso.framing import get_streamer
from appliance.iso.message import Message
from appliance.iso.spec import get_spec
from fixtures.daemon import run_cli

SEED_ECHO = b'00560800822000000000000004000000000000000718222751222236301\x03'
ECHO_LINES = [
    'MTI 0800  network management request',
    '  framing bjb_with_suffix (detected), message 55 bytes, spec bjb_pbb',
    '    7  transmission date time  0718222751',
    '   11  stan                    222236',
    '   70  network function        301  (echo)',
]
CODEC = Codec(get_spec('bjb_pbb'))


def decode(*args, stdin=''):
    """(exit status, stdout, stderr) of `iso8583d decode ARGS` in this process."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_a_log_line_of_the_seeds_echo_decodes_to_named_fields():
    line = ("2020-07-18 22:27:51,300 INFO 127.0.0.1 bjb 140 Send [%r]" % SEED_ECHO)
    code, out = run_cli(['decode', line])
    assert (code, out.splitlines()) == (0, ECHO_LINES)


def test_hex_decodes_like_the_literal():
    assert decode(SEED_ECHO.hex()) == (0, '\n'.join(ECHO_LINES) + '\n', '')
    spaced = ' '.join(SEED_ECHO.hex()[i:i + 2] for i in range(0, 2 * len(SEED_ECHO), 2))
    assert decode(spaced)[1].splitlines() == ECHO_LINES


def test_standard_input_is_read_one_frame_per_line():
    code, out, err = decode(stdin='%r\n\n%r\n' % (SEED_ECHO, SEED_ECHO[4:-1]))
    assert code == 0 and err == ''
    first, second = out.split('\n\n')
    assert first.splitlines() == ECHO_LINES
    assert second.splitlines()[1] == '  framing none, message 55 bytes, spec bjb_pbb'


def test_a_named_streamer_strips_its_own_framing():
    payload = SEED_ECHO[4:-1]
    frame = get_streamer('mitracomm').frame(payload)
    code, out, err = decode('--streamer', 'mitracomm', frame.hex())
    assert code == 0, err
    assert out.splitlines()[1] == '  framing mitracomm, message 55 bytes, spec bjb_pbb'
    assert decode('--streamer', 'bjb_with_suffix', repr(SEED_ECHO))[1].splitlines()[1] == \
        '  framing bjb_with_suffix, message 55 bytes, spec bjb_pbb'


def test_card_data_is_masked():
    msg = Message('0200', {2: '6220118888888888', 3: '341019', 11: '000001',
                           35: '6220118888888888=2512101', 52: '0123456789ABCDEF',
                           61: '3271010001007002701995'})
    code, out, err = decode(repr(CODEC.encode(msg)))
    assert code == 0, err
    assert '    2  pan' in out and '622011******8888' in out
    assert '6220118888888888=*******' not in out and '622011******8888=*******' in out
    assert '****************' in out and '0123456789ABCDEF' not in out
    assert '8888888888' not in out


def test_a_message_whose_mti_reads_as_its_own_length_is_decoded_bare():
    msg = Message('0210', {3: '341019', 11: '000001', 39: '00', 61: ''})
    while True:
        raw = CODEC.encode(msg)
        if len(raw) == 214:             # '0210' would announce the 210 bytes after it
            break
        msg[61] += 'x'
    code, out, err = decode(repr(raw))
    assert code == 0, err
    assert out.splitlines()[:2] == ['MTI 0210  financial response',
                                    '  framing none, message 214 bytes, spec bjb_pbb']


def test_an_ebcdic_frame_decodes_with_its_spec():
    raw = Codec(get_spec('bjb_pbb_ebcdic')).encode(
        Message('0800', {7: '0718222751', 11: '222236', 70: '301'}))
    code, out, err = decode('--spec', 'bjb_pbb_ebcdic', raw.hex())
    assert code == 0, err
    assert out.splitlines()[4] == '   70  network function        301  (echo)'


@pytest.mark.parametrize('args, message', [
    (['zz'], "argument 1: neither a b'...' literal as in the log lines nor hex digits"),
    (["b'0800'"], "argument 1: primary bitmap: expected 16 hex digits at byte 4, got ''"),
    (["b'\\x00"], "argument 1: neither a b'...' literal"),
    (['--streamer', 'bjb', "b'0056080082200000'"],
     'argument 1: bjb: 16 bytes after the last complete frame (truncated?)'),
    (['--streamer', 'none', repr(SEED_ECHO)],
     'argument 1: bit 5: not in spec bjb_pbb, present in the bitmap at byte 4'),
    (['0800822000000000000004000000000000000718222751222236301'],
     "argument 1: neither a b'...' literal as in the log lines nor hex digits (hex was "
     "expected: give a message's own text as a b'...' literal)"),
])
def test_a_bad_frame_is_one_line_on_stderr_and_exit_status_1(args, message):
    code, out, err = decode(*args)
    assert (code, out) == (1, '')
    assert err.startswith('iso8583d decode: ' + message), err
    assert len(err.splitlines()) == 1


def test_good_frames_are_still_printed_when_another_fails():
    code, out, err = decode(stdin='%r\nnot a frame\n' % SEED_ECHO)
    assert code == 1 and out.splitlines() == ECHO_LINES
    assert err.startswith('iso8583d decode: line 2: ')


def test_the_command_shows_no_traceback_on_errors():
    code, out = run_cli(['decode', '--streamer', 'bjb_with_suffix', "b'0010abc'"])
    assert code == 1 and 'Traceback' not in out
    assert out.startswith('iso8583d decode: argument 1: bjb_with_suffix: ')


def test_no_frame_at_all_is_an_error():
    assert decode(stdin='\n\n') == (1, '', 'iso8583d decode: no frame given\n')
