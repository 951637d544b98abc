"""Counters, histograms, the per-second ring and the Prometheus text; and the
link's counting against a fake peer on a real socket."""
import time
from types import SimpleNamespace

import gevent
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance import metrics
from appliance.iso.message import Message
from appliance.metrics import (
    IN, OUT, Histogram, HostMetrics, HttpMetrics, Series, exposition, merge_windows,
    percentiles)
from fixtures.peers import FakePeer
from fixtures.waiting import until
from test_link import answer, connected_host, inquiry, settle


def test_a_value_on_a_bucket_bound_counts_in_that_bucket_and_all_above():
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 7.0):
        h.observe(v)
    assert h.cumulative() == [('0.1', 2), ('1.0', 4), ('+Inf', 5)]
    assert (h.count, h.sum) == (5, pytest.approx(8.65))


def test_the_series_keeps_the_last_seconds_and_leaves_out_the_current_one():
    s = Series(size=5)
    s.add(100.2, 0.010)
    s.add(100.7, 0.030)
    s.add(102.5, 0.020)
    s.add(104.1, 0.5)               # the current second at window time
    rows = s.window(mono_now=104.9, wall_now=1000.9)
    assert rows == [(995, 0, 0.0, 0.0), (996, 2, pytest.approx(0.04), 0.03),
                    (997, 0, 0.0, 0.0), (998, 1, 0.02, 0.02), (999, 0, 0.0, 0.0)]


def test_a_slot_of_the_series_is_reused_when_its_second_comes_round_again():
    s = Series(size=3)
    s.add(10.5, 0.1)
    s.add(13.5, 0.2)                # same slot as second 10, three seconds later
    assert [r[1] for r in s.window(mono_now=14.0, wall_now=14.0)] == [0, 0, 1]


def test_windows_of_several_hosts_add_up_per_second():
    a = [(1, 2, 0.2, 0.15), (2, 0, 0.0, 0.0)]
    b = [(1, 1, 0.5, 0.5), (2, 3, 0.3, 0.2)]
    assert merge_windows([a, b]) == [(1, 3, 0.7, 0.5), (2, 3, 0.3, 0.2)]
    assert merge_windows([]) == []


def test_percentiles_are_nearest_rank():
    values = [v / 1000 for v in range(1, 101)]
    assert percentiles(values) == {'p50': 0.05, 'p90': 0.09, 'p99': 0.099}
    assert percentiles([0.2]) == {'p50': 0.2, 'p90': 0.2, 'p99': 0.2}
    assert percentiles([]) == {}


def test_distinct_mti_and_code_pairs_are_capped_and_the_rest_counted_as_other(monkeypatch):
    monkeypatch.setattr(metrics, 'MAX_KEYS', 3)
    m = HostMetrics('pemda')
    for code in ('00', '01', '02', '03', '04', '00'):
        m.count(IN, Message('0210', {39: code}))
    assert m.messages[IN] == {('0210', '00'): 2, ('0210', '01'): 1, ('0210', '02'): 1,
                              ('other', 'other'): 2}


def test_network_management_stays_out_of_the_percentiles_and_the_chart():
    m = HostMetrics('pemda')
    m.answered(OUT, '0800', 0.002, 50.5)
    m.answered(OUT, '0200', 0.040, 50.5)
    m.answered(IN, '0400', 0.010, 50.6)
    assert list(m.recent[OUT]) == [0.040] and list(m.recent[IN]) == [0.010]
    assert m.series.window(mono_now=51.0, wall_now=51.0)[-1][1:3] == (2, pytest.approx(0.05))
    assert {k: h.count for k, h in m.latency.items()} == {
        (OUT, '0800'): 1, (OUT, '0200'): 1, (IN, '0400'): 1}


def fake_host(name, up=True, pending=0):
    link = SimpleNamespace(pending=dict.fromkeys(range(pending)), handlers=()) if up else None
    return SimpleNamespace(name=name, metrics=HostMetrics(name), link=link, is_up=up)


def parse(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_the_exposition_parses_and_escapes_label_values():
    host = fake_host('kota "bogor"\\', pending=2)
    host.metrics.count(IN, Message('0210', {39: '0"'}))
    host.metrics.answered(OUT, '0200', 0.02, 1.0)
    http = HttpMetrics()
    http.count('/rpc', '200')
    text = exposition('bank', 1700000000.5, [host, fake_host('down', up=False)], http,
                      [('sqlite:////var/lib/iso8583d/bank.db', True)])
    families = parse(text)
    (sample,) = families['iso8583d_messages'].samples
    assert sample.labels == {'host': 'kota "bogor"\\', 'direction': 'in', 'mti': '0210',
                             'code': '0"'}
    assert [(s.labels['host'], s.value) for s in families['iso8583d_link_up'].samples] == [
        ('kota "bogor"\\', 1), ('down', 0)]
    in_flight = {(s.labels['host'], s.labels['direction']): s.value
                 for s in families['iso8583d_in_flight'].samples}
    assert in_flight[('kota "bogor"\\', 'out')] == 2 and in_flight[('down', 'out')] == 0
    buckets = [s for s in families['iso8583d_request_duration_seconds'].samples
               if s.name.endswith('_bucket')]
    assert len(buckets) == len(metrics.LATENCY_BUCKETS) + 1
    assert families['process_start_time_seconds'].samples[0].value == 1700000000.5
    assert families['iso8583d_http_requests'].samples[0].labels == {'path': '/rpc',
                                                                     'code': '200'}
    assert text.endswith('\n') and '\n\n' not in text


def test_every_family_has_help_and_type_before_its_samples():
    text = exposition('pemda', 1.0, [fake_host('bjb')], HttpMetrics(), [])
    seen = set()
    for line in text.splitlines():
        if line.startswith('# HELP '):
            name = line.split()[2]
        elif line.startswith('# TYPE '):
            assert line.split()[2] == name
            seen.add(name)
        else:
            assert any(line.startswith(n) for n in seen), line
    assert 'iso8583d_saf_depth' in seen and 'iso8583d_database_up' in seen


# -- the link counts what crosses it ------------------------------------------

@pytest.fixture
def peer():
    p = FakePeer()
    yield p
    p.close()


def test_the_link_counts_requests_answers_and_their_round_trips(peer):
    host, connector = connected_host(peer)
    try:
        settle(peer, host)
        call = gevent.spawn(host.send, inquiry('000001'))
        request = peer.next_request('0200')
        gevent.sleep(0.05)
        peer.send(answer(request))
        call.get(timeout=5)
        m = host.metrics
        assert m.messages[OUT][('0200', '')] == 1
        assert m.messages[IN][('0210', '00')] == 1
        assert m.messages[OUT][('0800', '')] == 2          # echo and sign-on
        assert m.messages[IN][('0810', '00')] == 2
        assert m.latency[(OUT, '0200')].count == 1
        assert 0.05 <= m.recent[OUT][0] < 5           # 5 s: room for a loaded machine
        assert m.connects == 1 and m.changed is not None
        assert host.link.last_echo == pytest.approx(time.time(), abs=5)
    finally:
        connector.stop()


def test_the_link_counts_timeouts_late_answers_and_undecodable_frames(peer):
    host, connector = connected_host(peer)
    try:
        settle(peer, host)
        with pytest.raises(Exception, match='no answer'):
            host.send(inquiry('000001'), timeout=0.1)
        peer.send(answer(peer.next_request('0200')))           # late
        peer.conn.sendall(peer.streamer.frame(b'02zz'))        # undecodable
        m = host.metrics
        until(lambda: m.decode_errors, 'the undecodable frame read')
        assert (m.timeouts, m.unmatched, m.decode_errors) == (1, 1, 1)
    finally:
        connector.stop()


def test_the_link_times_the_answers_it_gives(peer):
    host, connector = connected_host(peer)
    try:
        settle(peer, host)
        peer.send(Message('0200', {3: '341019', 11: '123456', 61: '3271'}))
        peer.next_request('0210')
        m = host.metrics
        until(lambda: (IN, '0200') in m.latency, 'the answer timed')
        assert m.messages[IN][('0200', '')] == 1 and m.messages[OUT][('0210', '00')] == 1
        assert m.latency[(IN, '0200')].count == 1 and len(m.recent[IN]) == 1
    finally:
        connector.stop()
