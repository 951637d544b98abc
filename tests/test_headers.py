"""appliance.http.headers gives pywsgi the same header message as the standard
parser it replaces (http.client.parse_headers into gevent's OldMessage)."""
import io

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from gevent.pywsgi import headers_factory

from appliance.http.headers import MAX_HEADERS, HeadTooLarge, parse_headers

TOKEN = st.text(alphabet="!#$%&'*+.^_`|~-abcXYZ019", min_size=1, max_size=12)
VALUE = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=20)
ODD = st.sampled_from([b' folded', b'\tfolded', b'no colon', b'bad name: x', b'(x): y',
                       b'From someone', b'X: a\rb', b':empty name', b'\r', b'X:\r\r'])


@st.composite
def blocks(draw):
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 9)) == 0:
            line = draw(ODD)
        else:
            line = (draw(TOKEN) + ':' + draw(st.sampled_from(['', ' ', '\t', '  ']))
                    + draw(VALUE)).encode('iso-8859-1')
        lines.append(line + draw(st.sampled_from([b'\r\n', b'\n'])))
    return b''.join(lines) + draw(st.sampled_from([b'\r\n', b'\n', b'']))


def both(raw):
    ours, theirs = parse_headers(io.BytesIO(raw)), headers_factory(io.BytesIO(raw))
    return ((list(ours.raw_items()), ours.status), (list(theirs.raw_items()), theirs.status))


@settings(max_examples=2000, deadline=None)
@given(blocks())
def test_any_header_block_parses_as_the_standard_parser_does(raw):
    ours, theirs = both(raw)
    assert ours == theirs


def test_a_plain_block_is_split_name_as_sent_value_without_leading_blanks():
    raw = b'Host: h:7000\r\nX-Tab:\t v \r\nContent-Length: 87\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n'
    (items, status), standard = both(raw)
    assert items == [('Host', 'h:7000'), ('X-Tab', 'v '), ('Content-Length', '87'),
                     ('x-dup', '1'), ('X-Dup', '2')] and status == ''
    assert (items, status) == standard


def test_a_head_over_the_line_count_or_byte_limits_raises_head_too_large():
    long_line = b'X: ' + b'a' * 70000 + b'\r\n\r\n'
    many = b''.join(b'X%d: v\r\n' % n for n in range(MAX_HEADERS + 1)) + b'\r\n'
    big = b''.join(b'X%d: %s\r\n' % (n, b'v' * 1000) for n in range(20)) + b'\r\n'
    for raw, limits, message in ((long_line, (), 'larger than 65536 bytes'),
                                 (many, (), 'more than 100 request headers'),
                                 (big, (100, 10000), 'larger than 10000 bytes')):
        with pytest.raises(HeadTooLarge, match=message):
            parse_headers(io.BytesIO(raw), *limits)


def test_a_head_of_exactly_max_headers_lines_parses():
    many = b''.join(b'X%d: v\r\n' % n for n in range(MAX_HEADERS)) + b'\r\n'
    assert len(parse_headers(io.BytesIO(many)).items()) == MAX_HEADERS
