"""Bit 62, the 277-character invoice profile (spec §3)."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.pbb import profile
from appliance.roles.pemda.calc import Amounts

SEED_FACTS = profile.BillFacts(
    name='UW** *****SNA', address='JL LINCAR I', village='TEGAL GUNDIL',
    district='BOGOR UTARA', province='JAWA BARAT', land_area=123, building_area=72,
    due_date=date(1995, 11, 30))
SEED_AMOUNTS = Amounts(principal=19536, penalty=9378, discount=9378)
SEED_PROFILE = ('3271010001007002701995' + 'UW** *****SNA'.ljust(35)
                + 'JL LINCAR I'.ljust(35) + 'TEGAL GUNDIL'.ljust(35)
                + 'BOGOR UTARA'.ljust(35) + 'JAWA BARAT'.ljust(35)
                + '000000000123' + '000000000072' + '19951130' + '000000019536'
                + '000000009378' + '000000028914' + '000000009378')


def test_the_seed_bill_gives_the_seed_profile_exactly():
    assert profile.build('3271010001007002701995', SEED_FACTS, SEED_AMOUNTS) == SEED_PROFILE
    assert len(SEED_PROFILE) == profile.LENGTH == 277


def test_long_text_is_truncated_to_35_characters():
    facts = profile.BillFacts('N' * 50, 'A' * 36, '', '', '', 0, 0, None)
    fields = profile.parse(profile.build('3271010001007002701995', facts, SEED_AMOUNTS))
    assert (fields['name'], fields['address']) == ('N' * 35, 'A' * 35)


def test_control_characters_become_spaces():
    facts = profile.BillFacts('JOSE\tNINO', 'JL\nX', '', '', '', 0, 0, None)
    text = profile.build('3271010001007002701995', facts, SEED_AMOUNTS)
    assert text[22:22 + 9] == 'JOSE NINO'
    assert text[57:57 + 4] == 'JL X'


def test_a_name_with_accents_and_curly_quotes_keeps_its_letters():
    facts = profile.BillFacts('JOSÉ “BUDI” ÑAÑA', '', '', '', '', 0, 0, None)
    fields = profile.parse(profile.build('3271010001007002701995', facts, SEED_AMOUNTS))
    assert fields['name'] == 'JOSE "BUDI" NANA'


@pytest.mark.parametrize('text, ascii', [
    ('Straße', 'Strasse'), ('ØRSTED Æ', 'ORSTED AE'), ('Łódź', 'Lodz'),
    ('‘A’ – B — C', "'A' - B - C"), ('ﬁ½', 'fi1/2'), ('Ð đ', 'D d'),
])
def test_letters_and_punctuation_nfkd_leaves_alone_have_ascii_look_alikes(text, ascii):
    assert profile.text_field(text, 35) == ascii.ljust(35)


def test_a_character_without_an_ascii_look_alike_becomes_a_space():
    assert profile.text_field('BUDI 李 €', 10) == 'BUDI     '.ljust(10)


def test_missing_text_and_due_date_are_blank_and_zero():
    facts = profile.BillFacts(None, None, None, None, None, None, None, None)
    fields = profile.parse(profile.build('3271010001007002701995', facts, SEED_AMOUNTS))
    assert (fields['name'], fields['village'], fields['land_area'], fields['due_date']) == (
        '', '', 0, '00000000')


def test_a_number_wider_than_its_field_is_an_error():
    facts = profile.BillFacts('', '', '', '', '', 10 ** 12, 0, None)
    with pytest.raises(ValueError, match=r'1000000000000 does not fit 12 unsigned digits'):
        profile.build('3271010001007002701995', facts, SEED_AMOUNTS)


def test_a_negative_amount_is_an_error():
    with pytest.raises(ValueError, match=r'-1 does not fit 12 unsigned digits'):
        profile.build('3271010001007002701995', SEED_FACTS, Amounts(-1, 0, 0))


def test_parse_reads_the_seed_profile_back():
    assert profile.parse(SEED_PROFILE) == dict(
        invoice_id='3271010001007002701995', name='UW** *****SNA', address='JL LINCAR I',
        village='TEGAL GUNDIL', district='BOGOR UTARA', province='JAWA BARAT',
        land_area=123, building_area=72, due_date='19951130', principal=19536,
        penalty=9378, total=28914, discount=9378)


def test_parse_refuses_a_profile_of_the_wrong_length():
    with pytest.raises(ValueError, match=r'bit 62 has 276 characters, expected 277'):
        profile.parse(SEED_PROFILE[:-1])


@given(st.text(), st.text(), st.integers(0, 10 ** 12 - 1), st.integers(0, 10 ** 11))
def test_any_text_and_amounts_give_277_printable_characters(name, village, area, principal):
    facts = profile.BillFacts(name, 'JL', village, '', '', area, 0, date(2020, 1, 31))
    text = profile.build('3271010001007002701995', facts, Amounts(principal, principal, 0))
    assert len(text) == 277
    assert all(' ' <= c <= '~' for c in text)


@given(st.text(max_size=60), st.integers(min_value=1, max_value=40))
def test_a_text_field_is_its_transliteration_with_the_rest_as_spaces(text, width):
    ascii = profile.transliterate(text)
    expected = ''.join(c if ' ' <= c <= '~' else ' ' for c in ascii)[:width].ljust(width)
    assert profile.text_field(text, width) == expected


@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60))
def test_printable_ascii_is_left_as_it_is(text):
    assert profile.text_field(text, 60) == text.ljust(60)
