"""The bank's request builder against the requests of spec/golden-frames.md."""
import datetime

import pytest

from appliance.iso.codec import Codec
from appliance.iso.framing import get_streamer
from appliance.iso.message import Message
from appliance.iso.spec import get_spec
from appliance.pbb.request import RequestBuilder, parse_request_bits

INVOICE = '3271010001007002701995'

# The seed's request_bits of [host_bjb] in test-agratek.ini.
SEED_REQUEST_BITS = """
2:622011888888888888
18:6025
22:010
32:015
35:622011888888888888=9912?
37:000000000000
41:AGRATEK
42:LINKAJA
43:AGRATEK-LINKAJA
49:360
59:PAY
60:123
63:214"""


def clock_reading(*times):
    """A clock whose successive readings are the given datetimes."""
    readings = iter(times)
    return lambda: next(readings)


def golden_clock():
    # Golden frames: transaction time 23:53:03 (bits 12, 13), sent at 23:53:04 (bit 7).
    return clock_reading(datetime.datetime(2020, 7, 18, 23, 53, 3),
                         datetime.datetime(2020, 7, 18, 23, 53, 4))


GOLDEN_TIMES = {7: '0718235304', 12: '235303', 13: '0718'}
GOLDEN_TELLER = {18: '6010', 32: '110', 33: '00110', 61: INVOICE}


def test_inquiry_is_the_golden_inquiry_request():
    msg = RequestBuilder(clock=golden_clock()).inquiry(INVOICE, '235069')
    assert msg == Message('0200', {3: '341019', 11: '235069', **GOLDEN_TIMES,
                                   **GOLDEN_TELLER})


def test_payment_is_the_golden_payment_request():
    msg = RequestBuilder(clock=golden_clock()).payment(INVOICE, 19536, '0719054951',
                                                       '054237')
    assert msg == Message('0200', {3: '541019', 4: '000000019536', 11: '054237',
                                   48: '0719054951', **GOLDEN_TIMES, **GOLDEN_TELLER})


def test_reversal_is_the_golden_reversal_request():
    msg = RequestBuilder(clock=golden_clock()).reversal(INVOICE, 19536, '0719054951',
                                                        '054237')
    assert msg == Message('0400', {3: '541019', 4: '000000019536', 11: '054237',
                                   48: '0719054951', **GOLDEN_TIMES, **GOLDEN_TELLER})


def test_seed_request_bits_as_defaults_give_the_golden_aggregator_inquiry():
    sent_at = datetime.datetime(2020, 7, 19, 6, 17, 17)
    builder = RequestBuilder(parse_request_bits(SEED_REQUEST_BITS),
                             clock=clock_reading(sent_at, sent_at))
    assert builder.inquiry(INVOICE, '061717') == Message('0200', {
        2: '622011888888888888', 3: '341019', 7: '0719061717', 11: '061717',
        12: '061717', 13: '0719', 18: '6025', 22: '010', 32: '015',
        35: '622011888888888888=9912?', 37: '000000000000', 41: 'AGRATEK',
        42: 'LINKAJA', 43: 'AGRATEK-LINKAJA', 49: '360', 59: 'PAY', 60: '123',
        61: INVOICE, 63: '214'})


# The frames of spec/golden-frames.md, built by an independent codec.
GOLDEN_FRAMES = {
    'inquiry': b'0094020022384001800000083410190718235304235069235303071860100311'
               b'005001100223271010001007002701995\x03',
    'payment': b'0119020032384001800100085410190000000195360718235304054237235303'
               b'0718601003110050011001007190549510223271010001007002701995\x03',
    'reversal': b'011904003238400180010008541019000000019536071823530405423723530'
                b'30718601003110050011001007190549510223271010001007002701995\x03',
}
GOLDEN_ARGS = {'inquiry': (INVOICE, '235069'),
               'payment': (INVOICE, 19536, '0719054951', '054237'),
               'reversal': (INVOICE, 19536, '0719054951', '054237')}


@pytest.mark.parametrize('kind', sorted(GOLDEN_FRAMES))
def test_a_built_request_encodes_to_its_golden_frame(kind):
    msg = getattr(RequestBuilder(clock=golden_clock()), kind)(*GOLDEN_ARGS[kind])
    frame = get_streamer('bjb_with_suffix').frame(Codec(get_spec('bjb_pbb')).encode(msg))
    assert frame == GOLDEN_FRAMES[kind]


def test_amount_is_twelve_digits_with_leading_zeros():
    msg = RequestBuilder().payment(INVOICE, 5, 'N', '000001')
    assert msg[4] == '000000000005'


def test_an_amount_beyond_twelve_digits_is_refused():
    with pytest.raises(ValueError, match='amount must be a whole number of rupiah '
                                         'from 0 to 999999999999, got 1000000000000'):
        RequestBuilder().payment(INVOICE, 10 ** 12, 'N', '000001')


def test_a_boolean_amount_is_refused():
    with pytest.raises(ValueError, match='got True'):
        RequestBuilder().payment(INVOICE, True, 'N', '000001')


def test_a_stan_that_is_not_six_digits_is_refused():
    with pytest.raises(ValueError, match="STAN must be 6 digits, got '12345'"):
        RequestBuilder().inquiry(INVOICE, '12345')


def test_a_default_for_a_bit_set_per_request_is_refused():
    with pytest.raises(ValueError, match='bit 11 is set by each request and cannot '
                                         'be a default'):
        RequestBuilder({11: '000001', 18: '6010'})


def test_the_builder_does_not_share_its_defaults_between_messages():
    builder = RequestBuilder()
    builder.inquiry(INVOICE, '000001')[18] = '6011'
    assert builder.inquiry(INVOICE, '000002')[18] == '6010'


def test_request_bits_parse_one_bit_per_line():
    assert parse_request_bits('2:622011888888888888\n18:6025') == {
        2: '622011888888888888', 18: '6025'}


def test_request_bits_skip_blank_lines_and_surrounding_spaces():
    assert parse_request_bits('\n  18 : 6025  \n\n49:360\n') == {18: '6025', 49: '360'}


def test_a_request_bits_value_keeps_everything_after_the_first_colon():
    assert parse_request_bits('43:SHOP:BOGOR') == {43: 'SHOP:BOGOR'}


def test_a_request_bits_line_without_colon_is_named():
    with pytest.raises(ValueError, match='request_bits line 3 has no colon: '
                                         'expected BIT:VALUE, e.g. 18:6010'):
        parse_request_bits('18:6025\n\n6025')


def test_a_request_bits_line_with_a_bad_bit_is_named():
    with pytest.raises(ValueError, match="request_bits line 1: bit 'x' is not a "
                                         "number from 2 to 128"):
        parse_request_bits('x:6025')


def test_request_bits_refuse_bit_one_which_the_codec_derives():
    with pytest.raises(ValueError, match="line 1: bit '1' is not a number from 2 to 128"):
        parse_request_bits('1:8000000000000000')


def test_request_bits_refuse_a_bit_above_128():
    with pytest.raises(ValueError, match="line 1: bit '129' is not a number"):
        parse_request_bits('129:X')


def test_a_pan_written_as_a_bit_number_is_masked_in_the_error():
    with pytest.raises(ValueError, match=r"bit '622011\*{8}8888' is not a number"):
        parse_request_bits('622011888888888888:6025')


def test_a_request_bits_bit_given_twice_is_refused():
    with pytest.raises(ValueError, match='request_bits line 2: bit 18 is already '
                                         'given on line 1'):
        parse_request_bits('18:6025\n18:6010')


def test_a_request_bits_bit_without_value_is_refused():
    with pytest.raises(ValueError, match='request_bits line 1: bit 41 has no value'):
        parse_request_bits('41:')
