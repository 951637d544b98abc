"""Links in one process against a fake peer on a real loopback socket:
echo and sign-on, STAN matching, timeouts, late answers, limits."""
import logging
import time
from types import MappingProxyType

import gevent
import pytest

from appliance.runtime.config import HostConfig
from appliance.net.hosts import Connector, Host
from appliance.iso import netmgmt
from appliance.iso.message import Message
from appliance.net.link import (
    EXPIRY_TICK, AnswerLost, Busy, LinkDown, LinkError, RequestTimeout)
from appliance.net.module import HostModule
from fixtures.peers import FakePeer
from fixtures.waiting import until


def host_config(port, **kw):
    values = dict(name='pemda', ip='127.0.0.1', port=port, listen=False,
                  streamer='bjb_with_suffix', timeout=60.0, module='bank.pemda',
                  bind='0.0.0.0', source_ip='', spec='bjb_pbb', max_in_flight=100,
                  request_timeout=5.0, reconnect_max=0.5, options=MappingProxyType({}))
    values.update(kw)
    return HostConfig(**values)


class Recorder(HostModule):
    """A host module that answers every financial request with 00."""

    def handle(self, request):
        reply = request.reply(copy=(3, 4, 11, 61))
        reply[39] = '00'
        return reply


@pytest.fixture
def peer():
    p = FakePeer()
    yield p
    p.close()


def connected_host(peer, **kw):
    host = Host(host_config(peer.port, **kw))
    host.module = Recorder(host.config)
    connector = Connector(host)
    connector.start()
    peer.accepted.wait(10)
    with gevent.Timeout(10):
        while not host.is_up:
            gevent.sleep(0.01)
    return host, connector


def settle(peer, host):
    """Wait until the echo and the sign-on after connecting are answered."""
    peer.next_request('0800'), peer.next_request('0800')
    with gevent.Timeout(10):
        while host.link.pending or not host.link.signed_on:
            gevent.sleep(0.01)


def inquiry(stan, invoice='3271010001007002701995'):
    return Message('0200', {3: '341019', 11: stan, 61: invoice})


def answer(req, **bits):
    reply = req.reply(copy=(3, 11, 61))
    reply[39] = '00'
    reply.bits.update(bits)
    return reply


def test_the_connecting_side_echoes_first_and_signs_on_after_the_answer(peer):
    host, connector = connected_host(peer)
    try:
        first = peer.next_request()
        second = peer.next_request()
        assert (first.mti, first[70]) == ('0800', '301')
        assert (second.mti, second[70]) == ('0800', '001')
        until(lambda: host.link.signed_on and host.link.last_echo_rtt is not None,
              'signed on, with the echo timed')
    finally:
        connector.stop()


def test_no_sign_on_while_the_echo_is_unanswered():
    peer = FakePeer(answer_echo=False)
    host, connector = connected_host(peer, request_timeout=0.3)
    try:
        assert peer.next_request()[70] == '301'
        with pytest.raises(gevent.queue.Empty):
            peer.next_request(timeout=0.6)
        assert not host.link.signed_on
    finally:
        connector.stop()
        peer.close()


def test_many_requests_in_flight_each_get_their_own_answer(peer):
    host, connector = connected_host(peer)
    try:
        peer.next_request('0800'), peer.next_request('0800')
        stans = ['%06d' % n for n in range(1, 21)]
        calls = [gevent.spawn(host.send, inquiry(s, invoice='32710100010070027%05d' % i))
                 for i, s in enumerate(stans)]
        requests = [peer.next_request('0200') for _ in stans]
        for req in reversed(requests):          # answer in the opposite order
            peer.send(answer(req))
        gevent.joinall(calls, timeout=5, raise_error=True)
        for i, call in enumerate(calls):
            assert call.value[11] == stans[i]
            assert call.value[61] == '32710100010070027%05d' % i
    finally:
        connector.stop()


def test_a_duplicate_in_flight_stan_is_refused(peer):
    host, connector = connected_host(peer)
    try:
        first = gevent.spawn(host.send, inquiry('000777'))
        peer.next_request('0200')
        with pytest.raises(LinkError, match='STAN 000777 is already in flight on pemda'):
            host.send(inquiry('000777'))
        first.kill()
    finally:
        connector.stop()


def test_a_late_answer_is_logged_and_not_handed_to_anyone(peer, caplog):
    host, connector = connected_host(peer)
    try:
        started = time.monotonic()
        with pytest.raises(RequestTimeout, match='no answer from pemda within 0.2 s'):
            host.send(inquiry('000001'), timeout=0.2)
        # One expiry greenlet per link polls every EXPIRY_TICK: late by that at most.
        assert 0.2 <= time.monotonic() - started < 0.2 + EXPIRY_TICK + 0.2
        late = peer.next_request('0200')
        caplog.set_level(logging.WARNING, logger='iso8583d.link')
        peer.send(answer(late))
        second = gevent.spawn(host.send, inquiry('000002'))
        peer.send(answer(peer.next_request('0200')))
        assert second.get(timeout=5)[11] == '000002'
        assert 'Late or unmatched response MTI 0210 STAN 000001 dropped' in caplog.text
    finally:
        connector.stop()


def test_a_request_on_a_down_host_fails_at_once():
    host = Host(host_config(1))
    started = gevent.get_hub().loop.now()
    with pytest.raises(LinkDown, match='link pemda is down'):
        host.send(inquiry('000001'))
    assert gevent.get_hub().loop.now() - started < 0.1


def test_a_link_that_drops_fails_the_waiting_requests_at_once(peer):
    host, connector = connected_host(peer, reconnect_max=30)
    try:
        call = gevent.spawn(host.send, inquiry('000003'), 30)
        peer.next_request('0200')
        peer.conn.close()
        with pytest.raises(AnswerLost, match='closed before the answer came'):
            call.get(timeout=5)
    finally:
        connector.stop()


def test_requests_beyond_max_in_flight_are_refused_as_busy(peer):
    host, connector = connected_host(peer, max_in_flight=2)
    try:
        settle(peer, host)
        calls = [gevent.spawn(host.send, inquiry('00000%d' % n)) for n in (1, 2)]
        until(lambda: len(host.link.pending) == 2, 'two requests in flight')
        with pytest.raises(Busy, match='2 requests in flight on pemda'):
            host.send(inquiry('000009'))
        for c in calls:
            c.kill()
    finally:
        connector.stop()


def test_generated_stans_skip_the_ones_in_flight(peer):
    host, connector = connected_host(peer)
    try:
        settle(peer, host)
        host._stan = 41
        call = gevent.spawn(host.send, inquiry('000043'))
        peer.next_request('0200')
        assert host.next_stan() == '000042'
        assert host.next_stan() == '000044'
        call.kill()
    finally:
        connector.stop()


def test_a_silent_link_is_closed_after_its_timeout():
    peer = FakePeer(answer_echo=False)
    host, connector = connected_host(peer, timeout=1.0, reconnect_max=30)
    try:
        link = host.link
        link.closed.wait(3)
        assert not link.is_open
    finally:
        connector.stop()
        peer.close()


def test_an_incoming_request_is_answered_by_the_hosts_module(peer):
    host, connector = connected_host(peer)
    try:
        peer.next_request('0800'), peer.next_request('0800')
        peer.send(Message('0200', {3: '341019', 11: '123456', 61: '3271'}))
        # The answer arrives at the peer as a received message.
        reply = peer.next_request('0210')
        assert (reply[11], reply[39]) == ('123456', '00')
    finally:
        connector.stop()


def test_an_unknown_network_function_is_answered_76():
    reply = netmgmt.answer(Message('0800', {7: '0718222751', 11: '000001', 70: '999'}))
    assert (reply.mti, reply[39], reply[70]) == ('0810', '76', '999')


def test_card_data_is_masked_in_the_log(peer, caplog):
    host, connector = connected_host(peer)
    caplog.set_level(logging.INFO, logger='iso8583d.link')
    try:
        settle(peer, host)
        msg = inquiry('000005')
        msg[2] = '622011888888888888'
        msg[35] = '622011888888888888=9912?'
        call = gevent.spawn(host.send, msg)
        peer.send(answer(peer.next_request('0200')))
        call.get(timeout=5)
        lines = [r.getMessage() for r in caplog.records if 'STAN' not in r.getMessage()]
        sent = [line for line in lines if ' Encode MTI 0200' in line or ' Send [' in line
                or ' ISO8583 to raw [' in line]
        assert len(sent) >= 3 and all('622011********8888' in line for line in sent[-3:])
        assert not any('622011888888888888' in line or '9912' in line for line in lines)
    finally:
        connector.stop()
