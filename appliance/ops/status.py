"""The operations endpoints: /status (an HTML page that refreshes itself),
/status.json (the same data) and /metrics (Prometheus text).

Everything is read from the live objects when asked: the hosts and their
links, their counters (appliance.metrics), and each open database, probed
with `SELECT 1` at most every few seconds. The page is self-contained: CSS,
the charts (SVG drawn here) and the few lines of script that refresh it are
inline, so it needs nothing but this process. Without script it still
refreshes, by a <meta> refresh.
"""
import html
import ipaddress
import logging
import math
import os
import time

import bottle
import gevent

from appliance import __version__
from appliance.metrics import (
    CONTENT_TYPE, IN, OUT, SERIES_SECONDS, HttpMetrics, exposition, merge_windows,
    percentiles)
from appliance.http.server import json_response
from appliance.ops.money import MoneyView, totals as money_totals
from appliance.ops.health import serving
from appliance.ops.nodes import NodesView

log = logging.getLogger('iso8583d.status')

LOOPBACK = ('127.0.0.1', '::1')     # always allowed to the operations endpoints
REFRESH_SECONDS = 5
DB_CACHE_SECONDS = 5.0              # a database is probed at most this often
DB_PROBE_TIMEOUT = 2.0


# The operations endpoints ([admin]); no [web_<name>] route may take these paths.
OPS_PATHS = ('/status', '/status.json', '/metrics')


class DatabaseProbe:
    """`SELECT 1` on one database, its outcome kept for DB_CACHE_SECONDS. While
    a probe runs, other callers get the previous outcome instead of waiting."""

    def __init__(self, name, db, clock=time.monotonic):
        self.name, self.db, self.clock = name, db, clock
        self.up = None              # unknown until the first probe
        self.error = None
        self.checked = None         # time.time() of the last probe
        self._at = None             # clock() of the last probe
        self._running = False

    def state(self):
        if not self._running and (self._at is None
                                  or self.clock() - self._at >= DB_CACHE_SECONDS):
            self._probe()
        return self.up

    def _probe(self):
        self._running = True
        try:
            with gevent.Timeout(DB_PROBE_TIMEOUT):
                with self.db.connection_context():
                    self.db.execute_sql('SELECT 1').fetchall()
            self.up, self.error = True, None
        except gevent.Timeout:
            self.up, self.error = False, 'no answer within %g s' % DB_PROBE_TIMEOUT
        except Exception as e:     # any driver error means: not reachable now
            self.up, self.error = False, ' '.join(str(e).split()) or type(e).__name__
        finally:
            self._running = False
            self._at = self.clock()
            self.checked = time.time()


class Ops:
    """The three endpoints of one appliance (an app.Appliance: settings,
    hosts, databases)."""

    def __init__(self, appliance):
        self.appliance = appliance
        self.started = time.time()
        self.http = HttpMetrics()
        admin = appliance.settings.admin
        self.networks = tuple(ipaddress.ip_network(a, strict=False) for a in LOOPBACK + tuple(
            admin.allowed_ip))
        self._probes = {}
        self.money = MoneyView()
        self.nodes = NodesView(getattr(appliance, 'nodes', None))

    def views(self):
        return list(zip(OPS_PATHS, (self.page, self.json, self.metrics)))

    # -- data ----------------------------------------------------------------

    def databases(self):
        """[DatabaseProbe] of the open databases, each probed if due."""
        from appliance.settings.dburl import public_url
        probes = []
        for url, db in list(self.appliance.databases.items()):
            probe = self._probes.get(url)
            if probe is None or probe.db is not db:
                probe = self._probes[url] = DatabaseProbe(public_url(url), db)
            probe.state()
            probes.append(probe)
        return probes

    def snapshot(self):
        """Everything the page shows, as JSON-ready data (times: Unix seconds)."""
        now = time.time()
        hosts = list(self.appliance.hosts.values())
        chart = merge_windows([h.metrics.series.window(wall_now=now) for h in hosts])
        ok, why = self.serving()
        return {
            'role': self.appliance.settings.role,
            'serving': ok,
            'not_serving': why,
            'version': __version__,
            'pid': os.getpid(),
            'started': self.started,
            'now': now,
            'links': [link_state(h) for h in hosts],
            'routes': route_groups(self.appliance.settings, self.appliance.hosts),
            'databases': [{'name': p.name, 'up': p.up, 'checked': p.checked,
                           'error': p.error} for p in self.databases()],
            'chart': {
                'step': 1,
                'start': chart[0][0] if chart else int(now) - SERIES_SECONDS,
                'requests': [row[1] for row in chart],
                'latency_ms': [round(row[2] / row[1] * 1000, 3) if row[1] else None
                               for row in chart],
                'peak_ms': [round(row[3] * 1000, 3) if row[1] else None for row in chart],
            },
            'http': [{'path': path, 'code': code, 'count': n}
                     for (path, code), n in sorted(self.http.requests.items())],
            'money': self.money.read(hosts),
            'node': self.nodes.read(),
        }

    def serving(self):
        """(True, '') or (False, why): appliance.ops.health."""
        return serving(self.appliance.settings.routes, self.appliance.hosts,
                       self.appliance.stopping.is_set())

    # -- views ---------------------------------------------------------------

    def json(self, request):
        # 503 while it cannot serve: what a load balancer's health check reads.
        snap = self.snapshot()
        return json_response(snap, 200 if snap['serving'] else 503, Cache_Control='no-store')

    def page(self, request):
        return bottle.HTTPResponse(render_page(self.snapshot()), 200,
                                   Content_Type='text/html; charset=utf-8',
                                   Cache_Control='no-store')

    def metrics(self, request):
        databases = [(p.name, p.up) for p in self.databases()]
        hosts = list(self.appliance.hosts.values())
        text = exposition(self.appliance.settings.role, self.started,
                          hosts, self.http, databases, self.money.read(hosts)['rows'],
                          self.nodes.read())
        return bottle.HTTPResponse(text, 200, Content_Type=CONTENT_TYPE,
                                   Cache_Control='no-store')


def link_state(host):
    """One host's row of the status page."""
    cfg, m, link = host.config, host.metrics, host.link
    up = link is not None and link.is_open
    state = {
        'name': host.name,
        'state': 'up' if up else 'down',
        'side': 'listen' if cfg.listen else 'connect',
        'address': '%s:%d' % (cfg.bind if cfg.listen else cfg.ip, cfg.port),
        'peer': link.peer_ip if up else cfg.ip,
        'since': link.since if up else None,
        'changed': m.changed,
        'signed_on': bool(link.signed_on) if up and link.connecting else None,
        'last_echo': link.last_echo if up else None,
        'echo': ('sent' if link.connecting else 'received') if up else None,
        'echo_rtt_ms': (round(link.last_echo_rtt * 1000, 3)
                        if up and link.last_echo_rtt is not None else None),
        'in_flight': {OUT: len(link.pending) if up else 0,
                      IN: len(link.handlers) if up else 0},
        'messages': [{'direction': d, 'mti': mti, 'code': code, 'count': n}
                     for d in (OUT, IN) for (mti, code), n in sorted(m.messages[d].items())],
        'latency_ms': {},
        'connects': m.connects,
        'timeouts': m.timeouts,
        'decode_errors': m.decode_errors,
        'unmatched': m.unmatched,
        'reversal_queue': {'configured': m.saf_configured, 'depth': m.saf_depth,
                           'retries': m.saf_retries, 'owed': m.saf_owed},
    }
    for direction in (OUT, IN):
        values = list(m.recent[direction])
        if values:
            found = {k: round(v * 1000, 3) for k, v in percentiles(values).items()}
            found['samples'] = len(values)
            state['latency_ms'][direction] = found
    return state


def route_groups(settings, hosts):
    """Each route's host or group of hosts (appliance.roles.bank.group) and
    which of them are up: the web routes, then each forwarder's invoice
    prefixes. `hosts`: name -> appliance.net.hosts.Host."""
    rows = [_route_row('web_' + r.name, r.route_path, r.hosts, hosts)
            for r in getattr(settings, 'routes', ())]
    for cfg in getattr(settings, 'hosts', ()):
        if cfg.module == 'bank.forwarder':
            rows += [_route_row('host_' + cfg.name, 'prefix ' + prefix, names, hosts)
                     for prefix, names in sorted(cfg.options['host'].items())]
    return rows


def _route_row(section, what, names, hosts):
    members = [{'name': name, 'state': 'up' if name in hosts and hosts[name].is_up
                else 'down'} for name in names]
    return {'section': section, 'route': what, 'hosts': members,
            'up': sum(1 for m in members if m['state'] == 'up')}


def summary_line(hosts):
    """One line for systemd's STATUS=: which links are up."""
    hosts = list(hosts)
    if not hosts:
        return 'no ISO8583 links configured'
    up = [h.name for h in hosts if h.is_up]
    line = '%d/%d links up (%s)' % (len(up), len(hosts), ', '.join(
        '%s %s' % (h.name, 'up' if h.is_up else 'down') for h in hosts))
    if len(line) > 200:
        down = [h.name for h in hosts if not h.is_up]
        line = '%d/%d links up; down: %s' % (len(up), len(hosts), ', '.join(down))
        if len(line) > 200:
            line = line[:196].rsplit(', ', 1)[0] + ', ...'
    return line


# -- the page ------------------------------------------------------------------

_CSS = """
:root { color-scheme: light dark; --fg: #1d2329; --muted: #5f6b76; --bg: #f6f7f9;
  --card: #fff; --line: #dfe3e8; --up: #1a7f37; --down: #c62828; --accent: #1f6feb; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ec; --muted: #9aa5b1;
  --bg: #14181c; --card: #1c2227; --line: #2f373f; --up: #3fb950; --down: #f85149;
  --accent: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
  "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line);
  display: flex; flex-wrap: wrap; gap: 6px 24px; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
header span { color: var(--muted); }
main { padding: 8px 24px 24px; max-width: 1400px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: 12px 16px; margin-top: 16px; overflow-x: auto; }
h2 { font-size: 15px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 12px 5px 0; border-bottom: 1px solid var(--line);
  vertical-align: top; }
td { white-space: nowrap; }
td.wrap { white-space: normal; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
tr:last-child td { border-bottom: none; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.badge { display: inline-block; min-width: 44px; text-align: center; padding: 1px 8px;
  border-radius: 10px; font-weight: 600; font-size: 12px; color: #fff; }
.badge.up { background: var(--up); } .badge.down { background: var(--down); }
.badge.unknown { background: var(--muted); }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { flex: 1 1 460px; min-width: 320px; }
.chart h3 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
svg { width: 100%; height: auto; display: block; }
svg text { font-size: 11px; fill: var(--muted); }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .line { fill: none; stroke: var(--accent); stroke-width: 1.5; }
svg .area { fill: var(--accent); opacity: .18; }
svg .peak { fill: none; stroke: var(--muted); stroke-width: 1; stroke-dasharray: 3 3; }
#stale { margin: 12px 24px 0; padding: 8px 12px; border-radius: 6px; color: #fff;
  background: var(--down); }
footer { padding: 0 24px 24px; color: var(--muted); font-size: 12px; }
"""

_SCRIPT = """
(function () {
  var refreshes = 0, shown = new Date();
  function tick() {
    fetch(location.pathname, {cache: 'no-store'}).then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      return r.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, 'text/html').querySelector('main');
      if (!fresh) { throw new Error('no status in the answer'); }
      refreshes += 1;
      shown = new Date();
      fresh.setAttribute('data-refreshes', String(refreshes));
      document.querySelector('main').replaceWith(fresh);
      document.getElementById('stale').hidden = true;
    }).catch(function (e) {
      var stale = document.getElementById('stale');
      stale.textContent = 'Cannot refresh (' + e.message + '): what is shown is from ' +
        shown.toLocaleTimeString() + '. Is the daemon running?';
      stale.hidden = false;
    }).then(function () { setTimeout(tick, %d); });
  }
  setTimeout(tick, %d);
})();
""" % (REFRESH_SECONDS * 1000, REFRESH_SECONDS * 1000)


def _e(value):
    return html.escape(str(value), quote=True)


def _clock(epoch):
    return time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(epoch))


def _ago(seconds):
    seconds = max(0, int(seconds))
    if seconds < 60:
        return '%d s' % seconds
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return '%d min %d s' % (minutes, seconds)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return '%d h %d min' % (hours, minutes)
    days, hours = divmod(hours, 24)
    return '%d d %d h' % (days, hours)


def _when(epoch, now):
    """The time of day (with the date when it is not today) and how long ago."""
    if epoch is None:
        return '<span class="muted">&mdash;</span>'
    full = _clock(epoch)
    shown = full[11:] if full[:10] == _clock(now)[:10] else full
    return '<span title="%s">%s</span> <span class="muted">%s ago</span>' % (
        _e(full), _e(shown), _ago(now - epoch))


def _ms(value):
    if value is None:
        return '<span class="muted">&mdash;</span>'
    return '%.1f ms' % value if value < 100 else '%d ms' % round(value)


def render_page(snap):
    """The HTML of /status for a snapshot()."""
    now = snap['now']
    title = 'iso8583d %s' % (snap['role'] or '')
    up = sum(1 for link in snap['links'] if link['state'] == 'up')
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<title>%s: %d/%d links up</title>' % (_e(title), up, len(snap['links'])),
        '<noscript><meta http-equiv="refresh" content="%d"></noscript>' % REFRESH_SECONDS,
        '<style>%s</style></head><body>' % _CSS,
        '<header><h1>%s</h1><span>version %s</span><span>node %s</span><span>pid %d</span>'
        '<span>up %s</span></header>' % (_e(title), _e(snap['version']),
                                         _e(snap['node']['id'] or '-'), snap['pid'],
                                         _ago(now - snap['started'])),
        '<p id="stale" hidden></p>',
        '<main data-refreshes="0">',
        _links_section(snap['links'], now),
        _routes_section(snap.get('routes') or ()),
        _messages_section(snap['links']),
        _money_section(snap['money']),
        _charts_section(snap['chart']),
        _databases_section(snap['databases'], now),
        _nodes_section(snap['node']),
        '<p class="muted" id="updated">Updated %s; refreshes every %d s. The same data: '
        '<a href="status.json">status.json</a>, <a href="metrics">metrics</a>.</p>'
        % (_e(_clock(now)), REFRESH_SECONDS),
        '</main>',
        '<script>%s</script>' % _SCRIPT,
        '</body></html>\n',
    ]
    return ''.join(parts)


def _links_section(links, now):
    rows = []
    for link in links:
        state = link['state']
        if state == 'up':
            since = _when(link['since'], now)
        else:
            since = ('<span class="muted">down since</span><br>%s' % _when(link['changed'], now)
                     if link['changed'] else '<span class="muted">never connected</span>')
        echo = _when(link['last_echo'], now)
        if link['echo'] and link['last_echo']:
            echo += ' <span class="muted">(%s)</span>' % link['echo']
        latency = link['latency_ms'].get(OUT) or link['latency_ms'].get(IN)
        if latency:
            lat = '%s / %s / %s<br><span class="muted">last %d requests</span>' % (
                _ms(latency['p50']), _ms(latency['p90']), _ms(latency['p99']),
                latency['samples'])
        else:
            lat = '<span class="muted">no requests yet</span>'
        queue = link['reversal_queue']
        saf = (str(queue['depth']) if queue['configured']
               else '0 <span class="muted">(not configured)</span>')
        if queue['owed']:
            saf += ' <span class="badge down">+%d owed</span>' % queue['owed']
        rows.append(
            '<tr data-link="%s" data-state="%s"><td><b>%s</b></td>'
            '<td><span class="badge %s">%s</span></td>'
            '<td>%s<br><span class="muted">%s %s</span></td><td>%s</td><td>%s</td>'
            '<td class="num">%s</td><td class="num">%d / %d</td><td>%s</td><td>%s</td></tr>'
            % (_e(link['name']), state, _e(link['name']), state, state, _e(link['peer']),
               link['side'], _e(link['address']), since, echo, _ms(link['echo_rtt_ms']),
               link['in_flight'][OUT], link['in_flight'][IN], lat, saf))
    if not rows:
        rows.append('<tr><td colspan="9" class="muted">No ISO8583 hosts configured.'
                    '</td></tr>')
    return ('<section id="links"><h2>Links</h2><table><thead><tr><th>Host</th><th>State</th>'
            '<th>Peer</th><th>Connected</th><th>Last echo</th><th class="num">Echo round '
            'trip</th><th class="num">In flight<br>out / in</th>'
            '<th>Latency<br>p50 / p90 / p99</th><th>Reversal queue</th></tr>'
            '</thead><tbody>%s</tbody></table></section>' % ''.join(rows))


def _routes_section(routes):
    """Which links each route may use, and which of them are up."""
    if not routes:
        return ''
    rows = []
    for row in routes:
        state = 'up' if row['up'] else 'down'
        members = ' '.join('<span class="badge %s" data-host="%s">%s</span>' % (
            m['state'], _e(m['name']), _e(m['name'])) for m in row['hosts'])
        rows.append('<tr data-route="%s" data-state="%s"><td><b>[%s]</b></td><td>%s</td>'
                    '<td class="wrap">%s</td><td class="num">%d / %d</td></tr>'
                    % (_e(row['section']), state, _e(row['section']), _e(row['route']),
                       members, row['up'], len(row['hosts'])))
    return ('<section id="routes"><h2>Routes</h2><table><thead><tr><th>Section</th>'
            '<th>Route</th><th>Hosts (a group takes its live links in turn)</th>'
            '<th class="num">Links up</th></tr></thead><tbody>%s</tbody></table></section>'
            % ''.join(rows))


def _messages_section(links):
    rows = []
    for link in links:
        by_mti = {}
        for m in link['messages']:
            entry = by_mti.setdefault(m['mti'], {OUT: 0, IN: 0, 'codes': {}})
            entry[m['direction']] += m['count']
            if m['code']:
                entry['codes'][m['code']] = entry['codes'].get(m['code'], 0) + m['count']
        for mti in sorted(by_mti):
            entry = by_mti[mti]
            codes = ', '.join('%s &times; %d' % (_e(code), n)
                              for code, n in sorted(entry['codes'].items()))
            rows.append('<tr data-link="%s" data-mti="%s"><td>%s</td><td>%s</td>'
                        '<td class="num">%d</td><td class="num">%d</td><td class="wrap">%s</td></tr>'
                        % (_e(link['name']), _e(mti), _e(link['name']), _e(mti), entry[OUT],
                           entry[IN], codes or '<span class="muted">&mdash;</span>'))
        errors = [(label, link[key]) for label, key in (
            ('timeouts', 'timeouts'), ('undecodable', 'decode_errors'),
            ('unmatched answers', 'unmatched')) if link[key]]
        if errors:
            rows.append('<tr><td>%s</td><td colspan="4" class="muted">%s</td></tr>' % (
                _e(link['name']), ', '.join('%s: %d' % e for e in errors)))
    if not rows:
        rows.append('<tr><td colspan="5" class="muted">No messages yet.</td></tr>')
    return ('<section id="messages"><h2>Messages since start</h2><table><thead><tr>'
            '<th>Host</th><th>MTI</th><th class="num">Sent</th><th class="num">Received</th>'
            '<th class="wrap">Response codes (bit 39)</th></tr></thead><tbody>%s</tbody>'
            '</table></section>'
            % ''.join(rows))


def _rupiah(value):
    if value is None:
        return '<span class="muted">&mdash;</span>'
    return '{:,}'.format(value).replace(',', '.')


def _money_section(money):
    """Today's payments and reversals from the databases (appliance.ops.money);
    nothing in a role that keeps no money records."""
    if not money['sources']:
        return ''
    rows = []
    for r in money['rows']:
        rows.append('<tr data-party="%s" data-channel="%s" data-kind="%s"><td>%s</td>'
                    '<td>%s</td><td>%s</td><td class="num">%d</td><td class="num">%s</td>'
                    '<td class="num">%s</td><td class="num">%s</td></tr>' % (
                        _e(r['party']), _e(r['channel']), r['kind'], _e(r['party'] or '-'),
                        _e(r['channel'] or '-'), r['kind'], r['count'],
                        _rupiah(r['amount']), _rupiah(r['principal']),
                        _rupiah(r['penalty'])))
    sums = money_totals(money['rows'])
    for kind in ('payment', 'reversal'):
        count, amount = sums[kind]
        rows.append('<tr data-total="%s"><th>Total</th><th></th><th>%s</th>'
                    '<th class="num">%d</th><th class="num">%s</th><th></th><th></th></tr>'
                    % (kind, kind, count, _rupiah(amount)))
    errors = ''.join('<p class="muted">%s</p>' % _e(e) for e in money['errors'])
    return ('<section id="money"><h2>Money today (%s): payments not reversed, and '
            'reversals</h2><table><thead><tr><th>Bank / pemda</th><th>Channel</th>'
            '<th>Kind</th><th class="num">Count</th><th class="num">Amount</th>'
            '<th class="num">Principal</th><th class="num">Penalty</th></tr></thead>'
            '<tbody>%s</tbody></table>%s</section>' % (_e(money['day']), ''.join(rows), errors))


def _databases_section(databases, now):
    if not databases:
        body = '<p class="muted">No database is open in this process.</p>'
    else:
        rows = []
        for db in databases:
            state = {True: 'up', False: 'down'}.get(db['up'], 'unknown')
            rows.append('<tr data-database="%s"><td>%s</td><td><span class="badge %s">%s'
                        '</span></td><td>%s</td><td class="muted">%s</td></tr>' % (
                            _e(db['name']), _e(db['name']), state, state,
                            _when(db['checked'], now), _e(db['error'] or '')))
        body = ('<table><thead><tr><th>Database</th><th>SELECT 1</th><th>Checked</th>'
                '<th>Error</th></tr></thead><tbody>%s</tbody></table>' % ''.join(rows))
    return '<section id="databases"><h2>Databases</h2>%s</section>' % body


_NODE_BADGES = {'alive': 'up', 'expired': 'down', 'stopped': 'unknown'}


def _nodes_section(node):
    """This node and the others in its databases (appliance.roles.bank.heartbeat)."""
    if node['id'] is None:
        return ''
    if not node['others']:
        body = '<p class="muted">No other node in the databases of this one.</p>'
    else:
        rows = ['<tr data-node="%s"><td>%s</td><td>%s</td><td>%s</td><td class="num">%d</td>'
                '<td>%s ago</td><td><span class="badge %s">%s</span></td></tr>' % (
                    _e(o['node']), _e(o['node']), _e(o['role']), _e(o['hostname']), o['pid'],
                    _ago(o['age']), _NODE_BADGES[o['state']], o['state'])
                for o in node['others']]
        body = ('<table><thead><tr><th>Node</th><th>Role</th><th>Host</th><th class="num">PID'
                '</th><th>Last heartbeat</th><th>State</th></tr></thead><tbody>%s</tbody>'
                '</table>' % ''.join(rows))
    return ('<section id="nodes"><h2>Nodes</h2><p>This node: <b>%s</b> (heartbeat every '
            '%g s; another node is taken over after %g s without one)</p>%s</section>' % (
                _e(node['id']), node['heartbeat_interval'], node['expire_after'], body))


def _charts_section(chart):
    requests = chart['requests']
    minutes = len(requests) * chart['step'] / 60
    return ('<section id="charts"><h2>Last %g minutes (financial requests, all links)</h2>'
            '<div class="charts">%s%s</div></section>' % (
                minutes,
                svg_chart('throughput', 'Requests per second', requests, chart, area=True),
                svg_chart('latency', 'Latency in ms: mean per second (dashed: slowest)',
                          chart['latency_ms'], chart, peak=chart['peak_ms'])))


def _nice_ceiling(value):
    """1, 2, 2.5 or 5 times a power of ten, at least `value` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5):
        if step * power >= value:
            return step * power
    return 10 * power


def svg_chart(name, title, values, chart, area=False, peak=None):
    """An inline SVG line chart of one value per second; None is a gap."""
    width, height = 640, 150
    left, right, top, bottom = 48, 10, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    present = [v for v in values if v is not None]
    highest = max(present + [v for v in (peak or ()) if v is not None] or [0])
    ceiling = _nice_ceiling(highest)
    count = max(len(values) - 1, 1)

    def x(i):
        return left + plot_w * i / count

    def y(v):
        return top + plot_h * (1 - v / ceiling)

    def path(series):
        out, pen = [], False
        for i, v in enumerate(series):
            if v is None:
                pen = False
                continue
            out.append('%s%.1f %.1f' % ('L' if pen else 'M', x(i), y(v)))
            pen = True
        return ' '.join(out)

    parts = ['<svg viewBox="0 0 %d %d" role="img" aria-label="%s" data-series="%s" '
             'data-points="%d" data-nonzero="%d" preserveAspectRatio="xMidYMid meet">'
             % (width, height, _e(title), name, len(values),
                sum(1 for v in present if v))]
    parts.append('<title>%s</title>' % _e(title))
    for fraction in (0, 0.5, 1):
        gy = top + plot_h * (1 - fraction)
        parts.append('<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>'
                     % (left, gy, width - right, gy))
        label = ceiling * fraction
        parts.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (
            left - 6, gy + 4, label))
    start = chart['start']
    end = start + (len(values) - 1) * chart['step']
    parts.append('<text x="%d" y="%d">%s</text>' % (left, height - 5, _e(
        time.strftime('%H:%M:%S', time.localtime(start)))))
    parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (
        width - right, height - 5, _e(time.strftime('%H:%M:%S', time.localtime(end)))))
    if peak is not None:
        parts.append('<path class="peak" d="%s"/>' % path(peak))
    line = path(values)
    if area and values:
        filled = [0 if v is None else v for v in values]
        parts.append('<path class="area" d="M%.1f %.1f %s L%.1f %.1f Z"/>' % (
            x(0), y(0), ' '.join('L%.1f %.1f' % (x(i), y(v)) for i, v in enumerate(filled)),
            x(len(filled) - 1), y(0)))
    if line:
        parts.append('<path class="line" d="%s"/>' % line)
    if not present or not any(present):
        parts.append('<text x="%d" y="%d" text-anchor="middle">no requests</text>' % (
            left + plot_w // 2, top + plot_h // 2))
    parts.append('</svg>')
    return '<div class="chart"><h3>%s</h3>%s</div>' % (_e(title), ''.join(parts))

