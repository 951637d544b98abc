"""The ISO8583 codec, its specs and card-data masking."""
import re

import pytest

from appliance.iso.codec import Codec, CodecError
from appliance.iso.mask import mask_bits
from appliance.iso.message import Message
from appliance.iso.spec import BJB_PBB, BJB_PBB_EBCDIC, SPECS, FieldSpec, Spec, get_spec

ECHO_REQUEST = b'0800822000000000000004000000000000000718222751222236301'
ECHO_RESPONSE = b'081082200000020000000400000000000000071822275122223600301'
PAYMENT = (b'0200323840018001000854101900000001953607182353040542372353030718'
           b'601003110050011001007190549510223271010001007002701995')
AGGREGATOR = (b'02006238440128E0803A186220118888888888883410190719061717061717'
              b'061717071960250100301524622011888888888888=9912?000000000000'
              b'AGRATEK LINKAJA        AGRATEK-LINKAJA                         '
              b'360003PAY0031230223271010001007002701995003214')


@pytest.fixture(scope='module')
def codec():
    return Codec(BJB_PBB)


def raises(message):
    """pytest.raises for a CodecError with exactly this text."""
    return pytest.raises(CodecError, match='^%s$' % re.escape(message))


# -- encode ---------------------------------------------------------------

def test_encoder_writes_the_seed_echo_response_byte_for_byte(codec):
    msg = Message('0810', {7: '0718222751', 11: '222236', 39: '00', 70: '301'})
    assert codec.encode(msg) == ECHO_RESPONSE


def test_encoder_writes_a_16_character_upper_case_bitmap_when_no_bit_is_above_64(codec):
    raw = codec.encode(Message('0200', {3: '341019', 61: 'X'}))
    assert raw[4:20] == b'2000000000000008'
    assert raw[20:26] == b'341019'


def test_encoder_sets_bit_1_and_writes_32_bitmap_characters_when_a_bit_is_above_64(codec):
    raw = codec.encode(Message('0800', {7: '0718222751', 11: '222236', 70: '301'}))
    assert raw[4:36] == b'82200000000000000400000000000000'


def test_encoder_left_pads_a_short_fixed_numeric_value_with_zeros(codec):
    raw = codec.encode(Message('0200', {4: '19536'}))
    assert raw[20:] == b'000000019536'


def test_encoder_right_pads_a_short_fixed_alphanumeric_value_with_spaces(codec):
    raw = codec.encode(Message('0200', {41: 'AGRATEK', 42: 'LINKAJA'}))
    assert raw[20:] == b'AGRATEK LINKAJA        '


def test_encoder_writes_two_and_three_digit_length_prefixes(codec):
    raw = codec.encode(Message('0200', {32: '110', 61: '3271010001007002701995'}))
    assert raw[20:] == b'03110' + b'022' + b'3271010001007002701995'


def test_encoder_writes_an_empty_variable_field_as_a_zero_length(codec):
    raw = codec.encode(Message('0200', {48: ''}))
    assert raw[20:] == b'000'


def test_encoder_emits_fields_in_ascending_bit_order_whatever_the_dict_order(codec):
    msg = Message('0810', {70: '301', 39: '00', 11: '222236', 7: '0718222751'})
    assert codec.encode(msg) == ECHO_RESPONSE


def test_encoder_returns_bytes(codec):
    assert type(codec.encode(Message('0800', {70: '301'}))) is bytes


def test_encoder_rejects_a_non_digit_amount_naming_bit_4_and_its_byte(codec):
    with raises("bit 4 (amount): expected up to 12 digits at byte 26, got '19536X'"):
        codec.encode(Message('0200', {3: '341019', 4: '19536X'}))


def test_encoder_rejects_a_value_longer_than_its_field(codec):
    with raises('bit 4 (amount): value of 13 characters at byte 26 exceeds the maximum 12'):
        codec.encode(Message('0200', {3: '341019', 4: '1234567890123'}))


def test_encoder_rejects_a_variable_value_longer_than_its_maximum(codec):
    with raises('bit 32 (acquiring institution): value of 12 characters at byte 20'
                ' exceeds the maximum 11'):
        codec.encode(Message('0200', {32: '123456789012'}))


def test_encoder_rejects_a_fixed_alphanumeric_value_longer_than_its_field(codec):
    with raises('bit 41 (terminal id): value of 9 characters at byte 20 exceeds the maximum 8'):
        codec.encode(Message('0200', {41: 'AGRATEK-1'}))


def test_encoder_rejects_a_bit_the_spec_does_not_define(codec):
    with raises('bit 5: not in spec bjb_pbb'):
        codec.encode(Message('0200', {3: '341019', 5: '1'}))


def test_encoder_rejects_bit_1_because_the_codec_derives_it(codec):
    with raises('bit 1: not in spec bjb_pbb'):
        codec.encode(Message('0200', {1: '0400000000000000', 3: '341019'}))


def test_encoder_rejects_a_bit_key_that_is_not_an_integer(codec):
    with raises("bit '4': not in spec bjb_pbb"):
        codec.encode(Message('0200', {3: '341019', '4': '1'}))


@pytest.mark.parametrize('mti', ['800', '08000', '08A0', '', 800, None])
def test_encoder_rejects_an_mti_that_is_not_4_digits(codec, mti):
    with raises('MTI: expected 4 digits, got %r' % (mti,)):
        codec.encode(Message(mti, {70: '301'}))


def test_encoder_rejects_a_value_that_is_not_a_string(codec):
    with raises('bit 3 (processing code): expected str at byte 20, got int'):
        codec.encode(Message('0200', {3: 341019}))


def test_encoder_accepts_a_str_subclass_value(codec):
    class Text(str):
        pass
    assert codec.encode(Message('0200', {4: Text('19536')}))[20:] == b'000000019536'


def test_encoder_rejects_a_character_the_charset_cannot_encode_naming_its_byte(codec):
    with raises("bit 43 (acceptor name location): character 'é' at byte 29 is not in ascii"):
        codec.encode(Message('0200', {3: '341019', 43: 'café'}))


def test_encoder_rejects_track_2_data_with_a_letter(codec):
    with raises("bit 35 (track 2): expected up to 37 track-2 characters at byte 20,"
                " got '622011********8888=****'"):
        codec.encode(Message('0200', {35: '622011888888888888=99X2'}))


def test_encoder_accepts_track_2_data_with_separator_and_sentinel(codec):
    raw = codec.encode(Message('0200', {35: '622011888888888888=9912?'}))
    assert raw[20:] == b'24622011888888888888=9912?'


def test_encoder_masks_the_pan_in_its_error_text(codec):
    with raises("bit 2 (pan): expected up to 19 digits at byte 20, got '622011********888X'"):
        codec.encode(Message('0200', {2: '62201188888888888X'}))


def test_encoder_requires_a_pin_block_of_exactly_16_hex_digits(codec):
    with raises("bit 52 (pin block): expected exactly 16 hex digits at byte 20, got '****'"):
        codec.encode(Message('0200', {52: '12AB'}))


def test_encoder_rejects_a_message_larger_than_the_spec_maximum():
    small = Codec(BJB_PBB.variant('small', max_size=30))
    with raises('message of 32 bytes exceeds the maximum 30 of spec small'):
        small.encode(Message('0200', {4: '19536'}))


# -- decode ---------------------------------------------------------------

def test_decoder_reads_the_seed_echo_request(codec):
    assert codec.decode(ECHO_REQUEST) == Message(
        '0800', {7: '0718222751', 11: '222236', 70: '301'})


def test_decoder_accepts_a_lower_case_bitmap(codec):
    lower = AGGREGATOR.replace(b'6238440128E0803A', b'6238440128e0803a')
    assert lower != AGGREGATOR
    assert codec.decode(lower) == codec.decode(AGGREGATOR)


def test_decoder_keeps_the_leading_zeros_of_numeric_fields(codec):
    assert codec.decode(PAYMENT)[4] == '000000019536'


def test_decoder_strips_the_trailing_spaces_of_fixed_alphanumeric_fields(codec):
    msg = codec.decode(AGGREGATOR)
    assert (msg[41], msg[42], msg[43]) == ('AGRATEK', 'LINKAJA', 'AGRATEK-LINKAJA')


def test_decoder_reads_a_zero_filled_terminal_field_as_empty(codec):
    raw = b'02000000000000C00000' + b'00000000' + b'000000000000000'
    assert codec.decode(raw).bits == {41: '', 42: ''}


def test_decoder_strips_trailing_nul_fill_of_a_terminal_field(codec):
    raw = b'02000000000000800000' + b'AGRATEK\x00'
    assert codec.decode(raw)[41] == 'AGRATEK'


def test_decoder_keeps_an_all_zero_retrieval_reference_because_it_is_a_value(codec):
    raw = b'02000000000008000000' + b'000000000000'
    assert codec.decode(raw)[37] == '000000000000'


def test_decoder_reads_the_secondary_bitmap_fields(codec):
    assert codec.decode(ECHO_RESPONSE)[70] == '301'


def test_decoder_accepts_a_bytearray_and_a_memoryview(codec):
    expected = codec.decode(ECHO_REQUEST)
    assert codec.decode(bytearray(ECHO_REQUEST)) == expected
    assert codec.decode(memoryview(ECHO_REQUEST)) == expected


def test_decoder_rejects_a_non_digit_amount_naming_bit_4_and_its_byte(codec):
    with raises("bit 4 (amount): expected 12 digits at byte 26, got '0000000ABC36'"):
        codec.decode(PAYMENT.replace(b'000000019536', b'0000000ABC36'))


def test_decoder_rejects_a_truncated_message_naming_the_field_cut_short(codec):
    with raises('bit 48 (ntb): expected 10 characters at byte 83, got 5 (message truncated)'):
        codec.decode(PAYMENT[:-30])


def test_decoder_rejects_a_message_that_ends_before_a_field_starts(codec):
    with raises('bit 13 (local date): expected 4 characters at byte 60, got 0'
                ' (message truncated)'):
        codec.decode(PAYMENT[:60])


def test_decoder_rejects_a_message_cut_inside_a_length_prefix(codec):
    with raises("bit 61 (invoice id): expected a 3-digit length at byte 93, got '02'"):
        codec.decode(PAYMENT[:95])


def test_decoder_rejects_a_non_digit_length_prefix(codec):
    with raises("bit 2 (pan): expected a 2-digit length at byte 20, got '2X'"):
        codec.decode(AGGREGATOR.replace(b'186220118888', b'2X6220118888'))


def test_decoder_rejects_a_length_above_the_field_maximum(codec):
    with raises('bit 2 (pan): length 20 at byte 20 exceeds the maximum 19'):
        codec.decode(AGGREGATOR.replace(b'186220118888', b'206220118888'))


def test_decoder_rejects_a_non_hex_primary_bitmap(codec):
    with raises("primary bitmap: expected 16 hex digits at byte 4, got 'zz20000000000000'"):
        codec.decode(b'0800zz20000000000000')


def test_decoder_rejects_a_bitmap_with_a_sign_that_int_would_accept(codec):
    with raises("primary bitmap: expected 16 hex digits at byte 4, got '+220000000000000'"):
        codec.decode(b'0800+220000000000000')


def test_decoder_rejects_a_message_cut_inside_the_primary_bitmap(codec):
    with raises("primary bitmap: expected 16 hex digits at byte 4, got '8220'"):
        codec.decode(b'08008220')


def test_decoder_rejects_a_short_secondary_bitmap_naming_bit_1(codec):
    with raises("bit 1 (secondary bitmap): expected 16 hex digits at byte 20,"
                " got '04000000000000'"):
        codec.decode(ECHO_REQUEST[:34])


def test_decoder_rejects_a_bit_the_spec_does_not_define(codec):
    with raises('bit 5: not in spec bjb_pbb, present in the bitmap at byte 4'):
        codec.decode(b'02000800000000000000' + b'000000019536')


def test_decoder_rejects_an_undefined_bit_every_time_it_is_seen(codec):
    for _ in range(2):
        with raises('bit 5: not in spec bjb_pbb, present in the bitmap at byte 4'):
            codec.decode(b'02000800000000000000')


def test_decoder_rejects_an_undefined_bit_of_the_secondary_bitmap(codec):
    with raises('bit 65: not in spec bjb_pbb, present in the bitmap at byte 20'):
        codec.decode(b'0800800000000000000080000000000000000')


def test_decoder_rejects_trailing_bytes_naming_the_last_field(codec):
    with raises("3 unexpected bytes at byte 118 after bit 61 (invoice id): b'\\x03xy'"):
        codec.decode(PAYMENT + b'\x03xy')


def test_decoder_rejects_bytes_after_an_empty_bitmap(codec):
    with raises("1 unexpected bytes at byte 20 after the bitmap: b'X'"):
        codec.decode(b'08000000000000000000X')


@pytest.mark.parametrize('raw', [b'', b'08', b'08x0', b'\xff800'])
def test_decoder_rejects_an_mti_that_is_not_4_digits(codec, raw):
    with pytest.raises(CodecError, match='^MTI: expected 4 digits at byte 0, got '):
        codec.decode(raw)


def test_decoder_rejects_a_byte_outside_the_charset_naming_the_text_field(codec):
    with raises('bit 43 (acceptor name location): byte 0xe9 at byte 157 is not valid ascii'):
        codec.decode(AGGREGATOR.replace(b'AGRATEK-LINKAJA', b'AGRATEK-LINK\xe9JA'))


def test_decoder_masks_the_pan_in_its_error_text(codec):
    with raises("bit 2 (pan): expected 18 digits at byte 22, got '622011********8888'"):
        codec.decode(AGGREGATOR.replace(b'18622011888888888888', b'186220118888888X8888'))


def test_decoder_rejects_a_message_larger_than_the_spec_maximum():
    small = Codec(BJB_PBB.variant('small', max_size=30))
    with raises('message of 32 bytes exceeds the maximum 30 of spec small'):
        small.decode(b'02001000000000000000000000019536')


def test_decoder_rejects_a_str_because_the_wire_carries_bytes(codec):
    with raises('expected bytes, got str'):
        codec.decode(ECHO_REQUEST.decode())


def test_codec_error_is_a_value_error():
    assert issubclass(CodecError, ValueError)


# -- specs ----------------------------------------------------------------

def test_codec_accepts_a_spec_by_its_registered_name():
    assert Codec('bjb_pbb').decode(ECHO_REQUEST)[70] == '301'


def test_get_spec_names_the_valid_specs_for_an_unknown_name():
    with pytest.raises(ValueError, match="^unknown ISO8583 spec 'bjb'; valid: bjb_pbb, "
                                         "bjb_pbb_ebcdic$"):
        get_spec('bjb')


def test_the_registry_holds_the_bjb_pbb_table_in_ascii_and_ebcdic():
    assert SPECS == {'bjb_pbb': BJB_PBB, 'bjb_pbb_ebcdic': BJB_PBB_EBCDIC}
    assert BJB_PBB_EBCDIC.fields == BJB_PBB.fields
    assert (BJB_PBB.encoding, BJB_PBB_EBCDIC.encoding) == ('ascii', 'cp1047')


def test_the_bjb_pbb_table_defines_every_bit_of_the_spec_document():
    documented = {2, 3, 4, 7, 11, 12, 13, 15, 18, 22, 32, 33, 35, 37, 39, 41, 42, 43,
                  47, 48, 49, 59, 60, 61, 62, 63, 70, 102, 107}
    assert documented <= set(BJB_PBB.fields)


def test_the_ebcdic_spec_encodes_the_echo_request_as_its_cp1047_translation():
    msg = Codec(BJB_PBB).decode(ECHO_REQUEST)
    assert Codec(BJB_PBB_EBCDIC).encode(msg) == ECHO_REQUEST.decode().encode('cp1047')


def test_the_ebcdic_spec_decodes_cp1047_bytes_to_the_same_message():
    raw = AGGREGATOR.decode().encode('cp1047')
    assert Codec(BJB_PBB_EBCDIC).decode(raw) == Codec(BJB_PBB).decode(AGGREGATOR)


def test_field_spec_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match=r"^bit 4 \(amount\): kind 'x' is not one of "
                                         "n, z, b, an, ans$"):
        FieldSpec(4, 'amount', 'x', 12)


def test_field_spec_rejects_a_length_its_prefix_cannot_express():
    with pytest.raises(ValueError, match=r"^bit 2 \(pan\): length 100 does not fit a "
                                         "2-digit prefix$"):
        FieldSpec(2, 'pan', 'n', 100, 2)


def test_field_spec_rejects_bit_1_because_it_is_the_secondary_bitmap():
    with pytest.raises(ValueError, match=r'^bit 1: must be 2\.\.128'):
        FieldSpec(1, 'bitmap', 'b', 16)


def test_spec_rejects_a_bit_defined_twice():
    with pytest.raises(ValueError, match='^spec twice: bit 4 is defined twice$'):
        Spec('twice', [FieldSpec(4, 'amount', 'n', 12), FieldSpec(4, 'again', 'n', 12)])


def test_spec_rejects_a_charset_of_more_than_one_byte_per_character():
    with pytest.raises(ValueError, match='^spec wide: encoding utf-16 is not a single-byte'):
        Spec('wide', [], encoding='utf-16')


# -- masking --------------------------------------------------------------

def test_mask_bits_keeps_the_first_6_and_last_4_digits_of_the_pan():
    assert mask_bits({2: '622011888888888888'})[2] == '622011********8888'


def test_mask_bits_keeps_only_the_last_4_digits_of_a_short_pan():
    assert mask_bits({2: '1234567890'})[2] == '******7890'


def test_mask_bits_masks_track_2_like_a_pan_and_everything_after_the_separator():
    assert mask_bits({35: '622011888888888888=9912?'})[35] == '622011********8888=*****'


def test_mask_bits_masks_the_pin_block_entirely():
    assert mask_bits({52: '0123456789ABCDEF'})[52] == '*' * 16


def test_mask_bits_leaves_other_fields_and_its_input_untouched():
    bits = {2: '622011888888888888', 4: '000000019536'}
    masked = mask_bits(bits)
    assert masked[4] == '000000019536'
    assert bits[2] == '622011888888888888'
