"""Golden frames: raw bytes as on the wire (tests/data/NAME.frame) and their
expected decoded form (tests/data/NAME.json). Each frame must split, decode to
exactly those fields, and encode and frame back to the same bytes."""
import json
from pathlib import Path

import pytest

from appliance.iso.codec import Codec
from appliance.iso.framing import get_streamer
from appliance.iso.message import Message

DATA = Path(__file__).parent / 'data'
FRAMES = sorted(DATA.glob('*.frame'))


def load(frame_path):
    """(raw frame, streamer, codec, expected Message) of one golden pair."""
    expected = json.loads(frame_path.with_suffix('.json').read_text())
    msg = Message(expected['mti'], {int(b): v for b, v in expected['bits'].items()})
    return (frame_path.read_bytes(), get_streamer(expected['streamer']),
            Codec(expected.get('spec', 'bjb_pbb')), msg)


def only_payload(streamer, raw):
    payloads = streamer.splitter().feed(raw)
    assert len(payloads) == 1
    return payloads[0]


def test_the_golden_set_holds_every_frame_of_golden_frames_md():
    assert {p.stem for p in FRAMES} >= {
        'echo_request', 'echo_response', 'sign_on_request', 'inquiry_request',
        'payment_request', 'reversal_request', 'aggregator_inquiry'}


@pytest.mark.parametrize('path', FRAMES, ids=lambda p: p.stem)
def test_a_golden_frame_decodes_to_its_expected_fields(path):
    raw, streamer, codec, expected = load(path)
    assert codec.decode(only_payload(streamer, raw)) == expected


@pytest.mark.parametrize('path', FRAMES, ids=lambda p: p.stem)
def test_a_golden_message_encodes_and_frames_back_to_the_same_bytes(path):
    raw, streamer, codec, expected = load(path)
    assert streamer.frame(codec.encode(expected)) == raw


@pytest.mark.parametrize('path', FRAMES, ids=lambda p: p.stem)
def test_a_golden_frame_fed_one_byte_at_a_time_gives_the_same_payload(path):
    raw, streamer, _, _ = load(path)
    splitter = streamer.splitter()
    payloads = [p for i in range(len(raw)) for p in splitter.feed(raw[i:i + 1])]
    assert payloads == [only_payload(streamer, raw)]
    assert splitter.pending == 0
