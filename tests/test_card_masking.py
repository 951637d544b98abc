"""Card data in the link's raw lines (`Receive`, `Raw to ISO8583`,
`ISO8583 to raw`, `Send`) is masked by position: only the bytes of bits 2,
35 and 52, whatever else in the frame holds the same characters; an
undecodable frame is masked as far as its fields can be located."""
import logging

import gevent
import pytest

from appliance.iso.codec import Codec
from appliance.iso.mask import mask_frame
from appliance.iso.message import Message
from test_link import connected_host, peer, settle  # noqa: F401  (peer is a fixture)

PAYMENT_HEAD = b'0200'
INVOICE = '3271010001007002701995'


def raw_lines(caplog, verb):
    """The bytes logged by the link's `verb` lines, in order."""
    marker = ' %s [' % verb
    found = []
    for record in caplog.records:
        text = record.getMessage()
        if record.name == 'iso8583d.link' and marker in text:
            found.append(text.split(marker, 1)[1][:-1])
    return found


def wait_for(caplog, words, timeout=5):
    with gevent.Timeout(timeout):
        while not any(words in r.getMessage() for r in caplog.records):
            gevent.sleep(0.01)


@pytest.fixture
def host(peer, caplog):  # noqa: F811
    caplog.set_level(logging.INFO, logger='iso8583d.link')
    host, connector = connected_host(peer)
    settle(peer, host)
    yield host
    connector.stop()


def receive(peer, frame):  # noqa: F811
    peer.conn.sendall(frame)


# The predecessor's bank-side test payment: bit 2 is a timestamp, the same
# one as the NTB in bit 48.
TIMESTAMP_PAN = (b'0103' b'0200' b'7020000000010008' b'14' b'20190719054951' b'541019'
                 b'000000019536' b'054951' b'014' b'20190719054951' b'022' + INVOICE.encode()
                 + b'\x03')


def test_a_pan_equal_to_the_ntb_masks_the_pan_and_leaves_the_ntb_readable(peer, host, caplog):
    receive(peer, TIMESTAMP_PAN)
    assert peer.next_request('0210')[39] == '00'
    assert raw_lines(caplog, 'Receive')[-1] == repr(
        b'01030200702000000001000814201907****4951541019000000019536054951'
        b'01420190719054951022' + INVOICE.encode() + b'\x03')
    assert raw_lines(caplog, 'Raw to ISO8583')[-1] == repr(
        b'0200702000000001000814201907****4951541019000000019536054951'
        b'01420190719054951022' + INVOICE.encode())


# A track 2 of `00`: searching for its value turned the MTI 0200 into 02**.
TRACK2_00 = (b'0087' b'0200' b'3020000020010008' b'541019' b'000000019536' b'000200'
             b'02' b'00' b'010' b'0719054951' b'022' + INVOICE.encode() + b'\x03')


def test_a_track_2_of_00_masks_only_its_own_two_bytes(peer, host, caplog):
    receive(peer, TRACK2_00)
    assert peer.next_request('0210')[39] == '00'
    assert raw_lines(caplog, 'Receive')[-1] == repr(
        b'0087' b'0200' b'3020000020010008' b'541019' b'000000019536' b'000200'
        b'02' b'**' b'010' b'0719054951' b'022' + INVOICE.encode() + b'\x03')


def test_a_sent_message_masks_its_card_data_by_position(peer, host, caplog):
    msg = Message('0200', {2: '20190719054951', 3: '541019', 4: '000000019536',
                           11: '054951', 35: '00', 48: '20190719054951', 61: INVOICE})
    host.link.send(msg)
    peer.next_request('0200')
    fields = (b'14' b'201907****4951' b'541019' b'000000019536' b'054951' b'02' b'**'
              b'014' b'20190719054951' b'022' + INVOICE.encode())
    assert raw_lines(caplog, 'ISO8583 to raw')[-1] == repr(b'0200' b'7020000020010008' + fields)
    assert raw_lines(caplog, 'Send')[-1] == repr(
        b'0107' b'0200' b'7020000020010008' + fields + b'\x03')


def test_an_undecodable_frame_masks_the_pan_it_could_locate(peer, host, caplog):
    bad_amount = (b'0065' b'0200' b'7020000000000000' b'18' b'622011888888888888'
                  b'541019' b'0000000195X6' b'054951' b'\x03')
    receive(peer, bad_amount)
    wait_for(caplog, 'Cannot decode')
    assert raw_lines(caplog, 'Receive')[-1] == repr(
        b'0065' b'0200' b'7020000000000000' b'18' b'622011********8888'
        b'541019' b'0000000195X6' b'054951' b'\x03')
    assert not any('622011888888888888' in r.getMessage() for r in caplog.records)


def test_an_undecodable_card_field_hides_the_frame_from_that_field_on(peer, host, caplog):
    too_long = (b'0054' b'0200' b'6000000000000000' b'25' b'6220118888888888881234567'
                b'541019' b'\x03')
    receive(peer, too_long)
    wait_for(caplog, 'Cannot decode')
    assert raw_lines(caplog, 'Receive')[-1] == repr(
        b'0054' b'0200' b'6000000000000000' + b'*' * 33 + b'\x03')
    assert not any('8888881234567' in r.getMessage() for r in caplog.records)


def test_an_unreadable_bitmap_hides_everything_after_the_mti():
    codec = Codec('bjb_pbb')
    raw = b'0200' b'70200000XYZ00000' b'18622011888888888888'
    spans = codec.locate_card_data(raw)
    assert mask_frame(raw, spans, 'ascii') == b'0200' + b'*' * 36


def test_a_frame_without_card_fields_is_left_whole_when_it_cannot_be_decoded():
    codec = Codec('bjb_pbb')
    raw = b'0200' b'3000000000000000' b'541019' b'00000001953X'
    assert mask_frame(raw, codec.locate_card_data(raw), 'ascii') == raw


def test_a_bit_outside_the_spec_before_a_track_2_hides_the_rest_of_the_frame():
    codec = Codec('bjb_pbb')
    raw = b'0200' b'0800000020000000' b'123456' b'24' b'622011888888888888=9912'
    assert mask_frame(raw, codec.locate_card_data(raw), 'ascii') == (
        b'0200' b'0800000020000000' + b'*' * 31)
