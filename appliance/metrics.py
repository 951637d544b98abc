"""What the appliance counts, and its Prometheus text exposition.

Each host has a HostMetrics that its links update on the hot path: messages
in and out by MTI and response code, request latencies (a histogram for
Prometheus, the last few hundred values for exact percentiles, a per-second
ring for the charts), and a few error counts. All of it runs in one process
under gevent: a greenlet is never interrupted inside a `+= 1`, so plain ints
in plain dicts are enough (no locks). A message costs a tuple and a couple of
dict updates; nothing is formatted until someone asks for /metrics or
/status.

Link state, requests in flight and database reachability are not counted:
they are read from the live objects when the exposition is rendered.
"""
import time
from bisect import bisect_left
from collections import deque

from appliance import __version__

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

# Seconds. ISO8583 round trips here are milliseconds on a LAN, up to the
# request timeout (30-60 s) when a peer is slow.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RECENT = 500            # latencies kept per direction for the status page's percentiles
SERIES_SECONDS = 300    # the charts: one slot per second, the last five minutes
MAX_KEYS = 200          # distinct (MTI, code) pairs kept per direction; the rest
OVERFLOW = ('other', 'other')   # are counted here (a peer could send any code)

OUT, IN = 'out', 'in'   # requests/messages we sent, and those we received


class Histogram:
    """Cumulative-on-render histogram: counts[i] holds values <= bounds[i],
    counts[-1] the values above the last bound."""

    __slots__ = ('bounds', 'counts', 'sum', 'count')

    def __init__(self, bounds=LATENCY_BUCKETS):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value):
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self):
        """[(upper bound as text, values <= it), ..., ('+Inf', count)]."""
        total, out = 0, []
        for bound, n in zip(self.bounds + (float('inf'),), self.counts):
            total += n
            out.append(('+Inf' if bound == float('inf') else _number(bound), total))
        return out


class Series:
    """Per-second totals of the last `size` seconds (requests, summed and
    peak latency), in a fixed ring: a slot is reused when its second comes
    round again. Seconds are time.monotonic() ones; window() turns them into
    wall-clock time."""

    __slots__ = ('size', 'stamps', 'counts', 'sums', 'peaks')

    def __init__(self, size=SERIES_SECONDS):
        self.size = size
        self.stamps = [-1] * size
        self.counts = [0] * size
        self.sums = [0.0] * size
        self.peaks = [0.0] * size

    def add(self, now, seconds):
        second = int(now)
        i = second % self.size
        if self.stamps[i] != second:
            self.stamps[i] = second
            self.counts[i] = 0
            self.sums[i] = 0.0
            self.peaks[i] = 0.0
        self.counts[i] += 1
        self.sums[i] += seconds
        if seconds > self.peaks[i]:
            self.peaks[i] = seconds

    def window(self, mono_now=None, wall_now=None):
        """The last `size` whole seconds, oldest first, the current (still
        filling) second excluded: (wall-clock second, requests, summed
        latency, peak latency) per second."""
        mono_now = time.monotonic() if mono_now is None else mono_now
        wall_now = time.time() if wall_now is None else wall_now
        last = int(mono_now) - 1
        offset = int(wall_now) - int(mono_now)
        rows = []
        for second in range(last - self.size + 1, last + 1):
            i = second % self.size
            if self.stamps[i] == second:
                rows.append((second + offset, self.counts[i], self.sums[i], self.peaks[i]))
            else:
                rows.append((second + offset, 0, 0.0, 0.0))
        return rows


def merge_windows(windows):
    """Several hosts' window() rows (same seconds) added up."""
    if not windows:
        return []
    merged = []
    for rows in zip(*windows):
        merged.append((rows[0][0], sum(r[1] for r in rows), sum(r[2] for r in rows),
                       max(r[3] for r in rows)))
    return merged


class HostMetrics:
    """The counters of one host_<name>, across its successive links."""

    def __init__(self, name):
        self.name = name
        self.messages = {OUT: {}, IN: {}}       # direction -> {(mti, code): count}
        self.latency = {}                       # (direction, mti) -> Histogram
        self.recent = {OUT: deque(maxlen=RECENT), IN: deque(maxlen=RECENT)}
        self.series = Series()
        self.decode_errors = 0      # frames that could not be decoded (dropped)
        self.unmatched = 0          # late or unmatched responses (dropped)
        self.timeouts = 0           # our requests not answered in time
        self.connects = 0           # links established
        self.changed = None         # time.time() of the last up/down change
        # Store-and-forward of reversals: no module keeps such a queue yet.
        # One that does sets saf_configured and keeps the other two current.
        self.saf_configured = False
        self.saf_depth = 0
        self.saf_owed = 0           # reversals owed, not queued yet (appliance.roles.bank.owed)
        self.saf_retries = 0

    def count(self, direction, msg):
        """One message sent (OUT) or received and decoded (IN)."""
        counts = self.messages[direction]
        key = (msg.mti, msg.bits.get(39, ''))
        try:
            counts[key] += 1
        except KeyError:
            if len(counts) >= MAX_KEYS:
                key = OVERFLOW
            counts[key] = counts.get(key, 0) + 1

    def answered(self, direction, mti, seconds, now):
        """A request answered: OUT, we asked and the answer came `seconds`
        after we sent it; IN, the peer asked and we answered in `seconds`.
        `now` is time.monotonic() at the end. Network management (08xx)
        stays out of the percentiles and the charts."""
        try:
            histogram = self.latency[direction, mti]
        except KeyError:
            if len(self.latency) >= MAX_KEYS:
                return
            histogram = self.latency[direction, mti] = Histogram()
        histogram.observe(seconds)
        if mti[1] != '8':
            self.recent[direction].append(seconds)
            self.series.add(now, seconds)


class HttpMetrics:
    """HTTP requests answered, by route path (known paths only) and status."""

    def __init__(self):
        self.requests = {}      # (path, code) -> count

    def count(self, path, code):
        key = (path, code)
        self.requests[key] = self.requests.get(key, 0) + 1


def percentiles(values, points=(50, 90, 99)):
    """{'p50': seconds, ...} of `values` (nearest rank), {} when empty."""
    ordered = sorted(values)
    if not ordered:
        return {}
    result = {}
    for p in points:
        rank = max(1, -(-p * len(ordered) // 100))     # ceil(p/100 * n)
        result['p%d' % p] = ordered[rank - 1]
    return result


# -- the text exposition format ------------------------------------------------

def _number(value):
    if value == float('inf'):
        return '+Inf'
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return '%d.0' % value
    return repr(value) if isinstance(value, float) else str(value)


def _escape(value):
    return str(value).replace('\\', r'\\').replace('\n', r'\n').replace('"', r'\"')


def _labels(pairs):
    if not pairs:
        return ''
    return '{%s}' % ','.join('%s="%s"' % (k, _escape(v)) for k, v in pairs)


class Exposition:
    """Builds the text: every family once, HELP and TYPE before its samples."""

    def __init__(self):
        self.lines = []

    def family(self, name, kind, help_text, samples):
        """samples: [(label pairs, value)]; a counter's name ends in _total."""
        self.lines.append('# HELP %s %s' % (name, help_text.replace('\\', r'\\')
                                                 .replace('\n', r'\n')))
        self.lines.append('# TYPE %s %s' % (name, kind))
        for labels, value in samples:
            self.lines.append('%s%s %s' % (name, _labels(labels), _number(value)))

    def histograms(self, name, help_text, samples):
        """samples: [(label pairs, Histogram)]."""
        self.lines.append('# HELP %s %s' % (name, help_text))
        self.lines.append('# TYPE %s histogram' % name)
        for labels, h in samples:
            for le, n in h.cumulative():
                self.lines.append('%s_bucket%s %d' % (name, _labels(labels + (('le', le),)), n))
            self.lines.append('%s_sum%s %s' % (name, _labels(labels), _number(h.sum)))
            self.lines.append('%s_count%s %d' % (name, _labels(labels), h.count))

    def text(self):
        return '\n'.join(self.lines) + '\n'


def exposition(role, started, hosts, http, databases, money=(), node=None):
    """The /metrics text. `hosts`: Host objects (name, metrics, link, is_up);
    `http`: HttpMetrics; `databases`: [(name, up)]; `money`: today's rows of
    the money view (appliance.ops.money); `node`: this node and the others
    (appliance.ops.nodes)."""
    out = Exposition()
    out.family('iso8583d_build_info', 'gauge', 'Version and role of this process; always 1.',
               [((('version', __version__), ('role', role or '')), 1)])
    out.family('process_start_time_seconds', 'gauge',
               'Start time of the process since the Unix epoch in seconds.', [((), started)])
    hosts = list(hosts)
    out.family('iso8583d_link_up', 'gauge', '1 when the host has a live ISO8583 link.',
               [((('host', h.name),), 1 if h.is_up else 0) for h in hosts])
    out.family('iso8583d_link_connects_total', 'counter',
               'Links established with the host (connected or accepted).',
               [((('host', h.name),), h.metrics.connects) for h in hosts])
    samples = []
    for h in hosts:
        for direction in (OUT, IN):
            for (mti, code), n in sorted(h.metrics.messages[direction].items()):
                samples.append(((('host', h.name), ('direction', direction), ('mti', mti),
                                 ('code', code)), n))
    out.family('iso8583d_messages_total', 'counter',
               'ISO8583 messages sent (direction="out") and received (direction="in") by '
               'MTI and response code (bit 39; empty for requests).', samples)
    in_flight = []
    for h in hosts:
        link = h.link
        pending = len(link.pending) if link is not None else 0
        handling = len(link.handlers) if link is not None else 0
        in_flight.append(((('host', h.name), ('direction', OUT)), pending))
        in_flight.append(((('host', h.name), ('direction', IN)), handling))
    out.family('iso8583d_in_flight', 'gauge',
               'Requests in flight: sent and awaiting an answer (out), received and '
               'being handled (in).', in_flight)
    out.histograms('iso8583d_request_duration_seconds',
                   'Round trip of requests we sent (direction="out"); time to answer '
                   'requests we received (direction="in").',
                   [((('host', h.name), ('direction', d), ('mti', mti)), hist)
                    for h in hosts for (d, mti), hist in sorted(h.metrics.latency.items())])
    for name, attr, help_text in (
            ('iso8583d_request_timeouts_total', 'timeouts',
             'Requests we sent that got no answer in time or lost their link.'),
            ('iso8583d_decode_errors_total', 'decode_errors',
             'Received frames that could not be decoded and were dropped.'),
            ('iso8583d_unmatched_responses_total', 'unmatched',
             'Late or unmatched responses, dropped.')):
        out.family(name, 'counter', help_text,
                   [((('host', h.name),), getattr(h.metrics, attr)) for h in hosts])
    out.family('iso8583d_saf_depth', 'gauge',
               'Reversals waiting in the store-and-forward queue (0: no queue configured).',
               [((('host', h.name),), h.metrics.saf_depth) for h in hosts])
    out.family('iso8583d_reversals_owed', 'gauge',
               'Reversals owed for answers the journal could not record, not in the '
               'queue yet (the journal is unreachable); kept in reversals-owed-<host>.jsonl.',
               [((('host', h.name),), h.metrics.saf_owed) for h in hosts])
    out.family('iso8583d_saf_retries_total', 'counter',
               'Store-and-forward resends of queued reversals.',
               [((('host', h.name),), h.metrics.saf_retries) for h in hosts])
    out.family('iso8583d_database_up', 'gauge',
               '1 when SELECT 1 on the database succeeded (checked at most every few '
               'seconds).', [((('database', name),), 1 if up else 0)
                             for name, up in databases])
    if node and node['id']:
        out.family('iso8583d_node_info', 'gauge', "This process's node id; always 1.",
                   [((('node', node['id']),), 1)])
        out.family('iso8583d_node_heartbeat_age_seconds', 'gauge',
                   'Seconds since another node in the databases of this one last beat; '
                   'state alive, expired (its unfinished rows are taken over) or stopped.',
                   [((('node', o['node']), ('state', o['state'])), o['age'])
                    for o in node['others']])
    out.family('iso8583d_http_requests_total', 'counter',
               'HTTP requests answered, by route path ("other" for unknown paths) and '
               'status code.', [((('path', path), ('code', code)), n)
                                for (path, code), n in sorted(http.requests.items())])
    for field, help_text in (
            ('count', 'Payments (kind="payment", not reversed) and reversals today, per bank '
                      '(pemda) or pemda host (bank) and channel; read from the database.'),
            ('amount', 'Their amount (bit 4) in rupiah.'),
            ('principal', 'Their principal in rupiah (as far as the bill profile tells).'),
            ('penalty', 'Their penalty in rupiah (net of any waiver).')):
        out.family('iso8583d_today_%s' % field, 'gauge', help_text,
                   [((('party', r['party']), ('channel', r['channel']), ('kind', r['kind'])),
                     r[field]) for r in money if r[field] is not None])
    return out.text()
