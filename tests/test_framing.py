"""Streamers: framing outgoing payloads and splitting incoming reads."""
import re

import pytest

from appliance.iso.framing import STREAMER_NAMES, FramingError, get_streamer

ECHO = b'0800822000000000000004000000000000000718222751222236301'
SEED_IN = b'0056' + ECHO + b'\x03'
HEADER_STREAMERS = ['bri', 'local', 'bank_kaltim']
LENGTH_STREAMERS = [n for n in STREAMER_NAMES if n not in ['none'] + HEADER_STREAMERS]
DIGIT_STREAMERS = ['bjb', 'bjb_with_suffix', 'bjt', 'bsb', 'bsm', 'btn', 'depok']


def raises(message):
    return pytest.raises(FramingError, match='^%s$' % re.escape(message))


def feed_bytewise(splitter, data):
    return [p for i in range(len(data)) for p in splitter.feed(data[i:i + 1])]


# -- lookup ---------------------------------------------------------------

def test_the_streamers_of_the_spec_and_of_the_other_banks_are_registered():
    assert set(STREAMER_NAMES) == {'bjb', 'bjb_with_suffix', 'mitracomm', 'pos', 'none',
                                   'bjt', 'bsb', 'bsm', 'btn', 'depok', 'bri_way4',
                                   'bri', 'local', 'bank_kaltim'}


@pytest.mark.parametrize('name', STREAMER_NAMES)
def test_a_streamer_carries_its_name(name):
    assert get_streamer(name).name == name


def test_get_streamer_names_the_valid_streamers_for_an_unknown_name():
    with pytest.raises(ValueError, match="^unknown streamer 'bjb_suffix'; valid: bjb, "
                                         "bjb_with_suffix, mitracomm, pos, none, bjt, bsb,"
                                         " bsm, btn, depok, bri_way4, bri, local,"
                                         " bank_kaltim$"):
        get_streamer('bjb_suffix')


def test_get_streamer_rejects_a_maximum_the_header_cannot_express():
    with pytest.raises(ValueError, match=r'^streamer bjb: max_length 10000 is out of '
                                         r'range 1\.\.9999$'):
        get_streamer('bjb', max_length=10000)


# -- frame ----------------------------------------------------------------

def test_bjb_frames_a_payload_behind_a_4_digit_zero_padded_length():
    assert get_streamer('bjb').frame(ECHO) == b'0055' + ECHO


def test_bjb_with_suffix_frames_the_seed_echo_counting_the_0x03_in_its_length():
    assert get_streamer('bjb_with_suffix').frame(ECHO) == SEED_IN


def test_mitracomm_frames_a_payload_behind_a_big_endian_2_byte_length():
    assert get_streamer('mitracomm').frame(ECHO) == b'\x00\x37' + ECHO


def test_pos_frames_a_payload_behind_a_little_endian_2_byte_length():
    assert get_streamer('pos').frame(ECHO) == b'\x37\x00' + ECHO


def test_none_sends_the_payload_unchanged():
    assert get_streamer('none').frame(ECHO) == ECHO


@pytest.mark.parametrize('name', STREAMER_NAMES)
def test_a_frame_is_one_bytes_object_so_it_goes_out_in_one_sendall(name):
    assert type(get_streamer(name).frame(bytearray(ECHO))) is bytes


def test_framing_an_empty_payload_is_an_error():
    with raises('bjb: cannot frame a payload of 0 bytes: length 0 is out of range'
                ' 1..9999; bytes: '):
        get_streamer('bjb').frame(b'')


def test_framing_a_payload_beyond_the_maximum_is_an_error():
    with raises('bjb_with_suffix: cannot frame a payload of 3 bytes: length 4 is out of'
                ' range 2..3; bytes: 61 62 63'):
        get_streamer('bjb_with_suffix', max_length=3).frame(b'abc')


# -- split ----------------------------------------------------------------

@pytest.mark.parametrize('name', LENGTH_STREAMERS)
def test_a_splitter_returns_every_frame_of_one_read(name):
    streamer = get_streamer(name)
    # Upper case: bri_way4 upper-cases what it sends.
    data = b''.join(streamer.frame(p) for p in (b'ONE', b'TWO', ECHO))
    assert streamer.splitter().feed(data) == [b'ONE', b'TWO', ECHO]


@pytest.mark.parametrize('name', LENGTH_STREAMERS)
def test_a_splitter_reassembles_a_frame_fed_one_byte_at_a_time(name):
    streamer = get_streamer(name)
    assert feed_bytewise(streamer.splitter(), streamer.frame(ECHO)) == [ECHO]


@pytest.mark.parametrize('name', LENGTH_STREAMERS)
def test_a_splitter_keeps_a_frame_that_straddles_two_reads(name):
    streamer = get_streamer(name)
    data = streamer.frame(b'FIRST') + streamer.frame(ECHO)
    splitter = streamer.splitter()
    assert splitter.feed(data[:20]) == [b'FIRST']
    assert splitter.feed(data[20:]) == [ECHO]


@pytest.mark.parametrize('name', LENGTH_STREAMERS)
def test_a_splitter_reports_a_half_frame_as_pending(name):
    streamer = get_streamer(name)
    splitter = streamer.splitter()
    assert splitter.feed(streamer.frame(ECHO)[:10]) == []
    assert splitter.pending == 10


@pytest.mark.parametrize('name', LENGTH_STREAMERS)
def test_a_splitter_has_nothing_pending_after_a_whole_frame(name):
    streamer = get_streamer(name)
    splitter = streamer.splitter()
    splitter.feed(streamer.frame(ECHO))
    assert splitter.pending == 0


@pytest.mark.parametrize('name', LENGTH_STREAMERS + ['none'])
def test_each_splitter_is_fresh(name):
    streamer = get_streamer(name)
    first = streamer.splitter()
    first.feed(streamer.frame(ECHO)[:3])
    assert streamer.splitter().pending == 0


def test_bjb_with_suffix_splits_the_seed_echo_and_drops_the_suffix():
    assert get_streamer('bjb_with_suffix').splitter().feed(SEED_IN) == [ECHO]


@pytest.mark.parametrize('name', DIGIT_STREAMERS)
def test_an_ascii_splitter_skips_whitespace_and_a_stray_byte_between_frames(name):
    streamer = get_streamer(name)
    frame = streamer.frame(ECHO)
    data = b' \r\n' + frame + b'\x03 ' + frame + b'\r\n' + frame + b'\x00'
    assert streamer.splitter().feed(data) == [ECHO] * 3


def test_an_ascii_splitter_holds_nothing_back_for_trailing_whitespace():
    splitter = get_streamer('bjb_with_suffix').splitter()
    splitter.feed(SEED_IN + b' \r\n')
    assert splitter.pending == 0


def test_a_binary_splitter_reads_a_header_byte_that_looks_like_whitespace():
    streamer = get_streamer('mitracomm')
    payload = b'x' * 0x2003  # header b' \x03': a space and an 0x03
    assert streamer.splitter().feed(streamer.frame(payload)) == [payload]


def test_a_splitter_rejects_a_header_that_is_not_4_digits_showing_it_in_hex():
    with raises('bjb: length header is not 4 digits; bytes: 30 30 61 31 30 38'):
        get_streamer('bjb').splitter().feed(b'00a108')


def test_a_splitter_error_shows_at_most_24_bytes():
    with raises('bjb: length header is not 4 digits; bytes: ' + ' '.join(['58'] * 24)
                + ' (+6 more)'):
        get_streamer('bjb').splitter().feed(b'X' * 30)


@pytest.mark.parametrize('name, header', [('bjb', b'0000'), ('bjb_with_suffix', b'0000'),
                                          ('mitracomm', b'\0\0'), ('pos', b'\0\0')])
def test_a_splitter_rejects_a_length_of_zero(name, header):
    with pytest.raises(FramingError, match='^%s: length 0 is out of range' % name):
        get_streamer(name).splitter().feed(header + b'0800')


def test_a_splitter_rejects_a_length_beyond_the_configured_maximum():
    with raises('bjb: length 101 is out of range 1..100; bytes: 30 31 30 31 30 38'):
        get_streamer('bjb', max_length=100).splitter().feed(b'010108')


def test_a_binary_splitter_rejects_a_length_beyond_the_configured_maximum():
    with raises('pos: length 4097 is out of range 1..4096; bytes: 01 10'):
        get_streamer('pos', max_length=4096).splitter().feed(b'\x01\x10')


def test_bjb_with_suffix_rejects_a_frame_whose_last_byte_is_not_0x03():
    with raises('bjb_with_suffix: expected 0x03 at the end of the 3-byte frame;'
                ' bytes: 30 30 30 33 61 62 63'):
        get_streamer('bjb_with_suffix').splitter().feed(b'0003abc')


def test_bjb_with_suffix_rejects_a_frame_holding_only_the_suffix():
    with raises('bjb_with_suffix: length 1 is out of range 2..9999; bytes: 30 30 30 31 03'):
        get_streamer('bjb_with_suffix').splitter().feed(b'0001\x03')


def test_a_splitter_rejects_a_bad_header_after_good_frames_in_the_same_read():
    streamer = get_streamer('bjb')
    with raises('bjb: length header is not 4 digits; bytes: 58 58 58 58'):
        streamer.splitter().feed(streamer.frame(ECHO) + b'XXXX')


def test_the_none_splitter_returns_each_read_whole():
    splitter = get_streamer('none').splitter()
    assert splitter.feed(ECHO) == [ECHO]
    assert splitter.feed(b'ab') == [b'ab']
    assert splitter.pending == 0


def test_the_none_splitter_ignores_an_empty_read():
    assert get_streamer('none').splitter().feed(b'') == []


def test_the_none_splitter_rejects_a_read_beyond_the_maximum():
    with raises('none: length 3 is out of range 1..2; bytes: 61 62 63'):
        get_streamer('none', max_length=2).splitter().feed(b'abc')


# -- the other banks -----------------------------------------------------

@pytest.mark.parametrize('name', ['bjt', 'bsb', 'bsm', 'btn', 'depok'])
def test_the_4_digit_banks_frame_a_payload_behind_its_length_without_a_suffix(name):
    assert get_streamer(name).frame(ECHO) == b'0055' + ECHO


@pytest.mark.parametrize('name', ['bjt', 'bsb', 'bsm', 'btn', 'depok'])
def test_the_4_digit_banks_split_a_frame_behind_its_length(name):
    assert get_streamer(name).splitter().feed(b'0055' + ECHO + b'0003abc') == [ECHO, b'abc']


def test_bri_way4_upper_cases_the_payload_behind_a_big_endian_length_of_the_payload():
    payload = b'0800822000000000000004000000000000000718222751000001301abc'
    assert get_streamer('bri_way4').frame(payload) == b'\x00\x3a' + payload.upper()


def test_bri_way4_upper_cases_the_hex_digits_of_a_bitmap():
    assert get_streamer('bri_way4').frame(b'0200f23a') == b'\x00\x080200F23A'


def test_bri_way4_splits_what_it_receives_without_changing_the_case():
    assert get_streamer('bri_way4').splitter().feed(b'\x00\x03abc') == [b'abc']


@pytest.mark.parametrize('name', ['bri', 'local'])
def test_bri_and_local_send_iso_and_nine_zeros_before_the_peer_sent_a_header(name):
    assert get_streamer(name).splitter().frame(ECHO) == b'ISO000000000' + ECHO


@pytest.mark.parametrize('name', ['bri', 'local'])
def test_bri_and_local_split_a_read_after_its_12_byte_header_without_a_length(name):
    assert get_streamer(name).splitter().feed(b'ISO011000017' + ECHO) == [ECHO]


@pytest.mark.parametrize('name', ['bri', 'local'])
def test_bri_and_local_echo_the_header_received_on_the_connection(name):
    splitter = get_streamer(name).splitter()
    splitter.feed(b'ISO011000017' + ECHO)
    assert splitter.frame(b'0810abc') == b'ISO011000017' + b'0810abc'


@pytest.mark.parametrize('name', ['bri', 'local'])
def test_bri_and_local_keep_headers_apart_per_connection(name):
    streamer = get_streamer(name)
    first, second = streamer.splitter(), streamer.splitter()
    first.feed(b'ISO011000017' + ECHO)
    assert second.frame(b'0810') == b'ISO000000000' + b'0810'


def test_bank_kaltim_marks_network_management_with_originator_6_and_responder_7():
    assert get_streamer('bank_kaltim').frame(ECHO) == b'ISO041000067' + ECHO


@pytest.mark.parametrize('mti', [b'0200', b'0210', b'0400', b'0410'])
def test_bank_kaltim_marks_everything_else_with_originator_1(mti):
    assert get_streamer('bank_kaltim').frame(mti + b'abc') == b'ISO041000017' + mti + b'abc'


def test_bank_kaltim_does_not_echo_the_received_header():
    splitter = get_streamer('bank_kaltim').splitter()
    splitter.feed(b'ISO041000067' + ECHO)
    assert splitter.frame(b'0810abc') == b'ISO041000067' + b'0810abc'
    assert splitter.frame(b'0210abc') == b'ISO041000017' + b'0210abc'


def test_bank_kaltim_splits_a_rejected_message_with_its_9_and_keeps_the_status():
    splitter = get_streamer('bank_kaltim').splitter()
    assert splitter.feed(b'ISO041004817' + b'9200abc') == [b'9200abc']
    assert splitter.header == b'ISO041004817'


@pytest.mark.parametrize('name', HEADER_STREAMERS)
def test_a_header_splitter_returns_each_read_whole_after_the_header(name):
    splitter = get_streamer(name).splitter()
    assert splitter.feed(b'ISO011000017' + b'ab' + b'ISO011000017') == [b'abISO011000017']
    assert splitter.pending == 0


@pytest.mark.parametrize('name', HEADER_STREAMERS)
def test_a_header_splitter_ignores_an_empty_read(name):
    assert get_streamer(name).splitter().feed(b'') == []


@pytest.mark.parametrize('name', HEADER_STREAMERS)
def test_a_header_splitter_rejects_a_read_that_does_not_start_with_the_header(name):
    with raises('%s: a read must start with a 12-byte header, ISO and 9 digits;'
                ' bytes: 30 30 35 35 30 38' % name):
        get_streamer(name).splitter().feed(b'005508')


@pytest.mark.parametrize('name', HEADER_STREAMERS)
def test_a_header_splitter_rejects_a_header_without_a_message(name):
    with raises('%s: length 0 after the header is out of range 1..65535;'
                ' bytes: 49 53 4f 30 31 31 30 30 30 30 31 37' % name):
        get_streamer(name).splitter().feed(b'ISO011000017')


def test_a_header_splitter_rejects_a_message_beyond_the_maximum():
    with raises('bri: length 3 after the header is out of range 1..2;'
                ' bytes: 49 53 4f 30 30 30 30 30 30 30 30 30 61 62 63'):
        get_streamer('bri', max_length=2).splitter().feed(b'ISO000000000abc')


def test_a_header_streamer_refuses_to_frame_an_empty_payload():
    with raises('bank_kaltim: cannot frame a payload of 0 bytes: out of range 1..65535;'
                ' bytes: '):
        get_streamer('bank_kaltim').frame(b'')


@pytest.mark.parametrize('name', STREAMER_NAMES)
def test_a_connection_frames_as_its_streamer_until_it_received_something(name):
    streamer = get_streamer(name)
    assert streamer.splitter().frame(ECHO) == streamer.frame(ECHO)


def test_framing_error_is_a_value_error():
    assert issubclass(FramingError, ValueError)
