"""The conf.d loader and its schema.

Drop-in `*.ini` files are read in byte order of file name; a later file wins
per key. Everything is validated before any socket or database is opened and
frozen into plain objects. Every error names file, section and key.

Sections (the seed's format, kept so old files load unchanged):
  host_<name>           one ISO8583 peer
  web                   the HTTP server
  web_<name>            one HTTP route (JSON-RPC teller, LinkAja, ...)
  module_<dotted.name>  settings of a host module (e.g. the pemda biller)
  admin                 the status page and metrics (/status, /metrics)
  node                  this process's node id and heartbeat (two nodes, one database)
  main                  the seed's table-creation file (iso8583-pbb.ini): module
                        and db_url of a biller; read by --initdb, not by the daemon
  loggers, handlers, formatters, logger_*, handler_*, formatter_*
                        passed to logging.config.fileConfig

The keys of each section are declared below (a module's extra keys in its
OPTIONS, see appliance.settings.schema); relations between keys are checked
by appliance.runtime.promises; docs/configuration.md is printed from both.
"""
import configparser
import dataclasses
import os
from dataclasses import dataclass, field
from types import MappingProxyType

from appliance.settings import types as t
from appliance.settings.schema import REQUIRED, Schema, Setting
from appliance.ops.status import OPS_PATHS
from appliance.runtime import promises, registry as modules
from appliance.roles.bank import node
from appliance.errors import ConfigError  # noqa: F401

DEFAULT_CONF_DIR = '/etc/iso8583d/conf.d'
DEFAULT_DATA_DIR = '/var/lib/iso8583d'
PRESET_SOURCE = '<preset %s>'

_LOGGING_SECTIONS = ('loggers', 'handlers', 'formatters')
_LOGGING_PREFIXES = ('logger_', 'handler_', 'formatter_')


# Each section's keys, declared once: the loader converts with them, the
# dataclasses below take their defaults from them, and `iso8583d
# config-reference` prints docs/configuration.md from them.
HOST_KEYS = Schema(
    Setting('ip', t.address, '127.0.0.1',
            "the peer's address: where to connect, or the only address accepted"),
    Setting('port', t.port, REQUIRED, 'the port to connect to, or to listen on'),
    Setting('listen', t.boolean, False, 'true: listen for the peer; false: connect to it'),
    Setting('streamer', t.text, 'bjb', 'the framing of messages on the wire '
            '(docs/protocol.md §1)'),
    Setting('timeout', t.seconds, 60.0, 'a link silent this long is dead and closed; '
            'the connecting side echoes after timeout - 5 s idle'),
    Setting('module', t.text, REQUIRED, 'what the host does with requests (a module '
            'name or its seed alias, below)'),
    Setting('bind', t.address, '0.0.0.0', 'the local address a listen-host listens on'),
    Setting('source_ip', t.text, '', "the local address a connect-host connects from "
            "('': any)"),
    Setting('spec', t.text, 'bjb_pbb', 'the field table of the codec (docs/protocol.md §2)'),
    Setting('max_in_flight', t.positive_int, 1000, 'requests in flight on the link at '
            'once; more are refused as busy'),
    Setting('request_timeout', t.seconds, None, 'how long our requests on the link wait '
            'for their answer', shown="the host's timeout"),
    Setting('reconnect_max', t.seconds, 5.0, 'longest pause between connect attempts '
            '(doubling from 0.5 s)'),
)

WEB_KEYS = Schema(
    Setting('bind', t.address, '0.0.0.0', 'the address the HTTP server listens on'),
    Setting('port', t.port, 7000, 'the port of the HTTP server'),
    Setting('threads', t.positive_int, 12, 'requests served at the same time; more wait '
            'their turn'),
    Setting('max_body', t.positive_int, 1 << 20, 'largest request body in bytes; larger '
            'gets 413'),
    Setting('max_connections', t.positive_int, 10000, 'HTTP connections open at once'),
    Setting('idle_timeout', t.seconds, 60.0, 'a connection that sends nothing this long '
            'is closed'),
    Setting('head_timeout', t.seconds, 10.0, 'the whole request line and headers must '
            'arrive within this, from their first byte, whatever their pace (else 408)'),
    Setting('body_timeout', t.seconds, 30.0, 'the whole body must arrive within this '
            '(else 408); it is read before a worker is taken'),
    Setting('max_headers', t.positive_int, 100, 'most header lines in a request (more '
            'gets 431)'),
    Setting('max_head_size', t.positive_int, 65536, 'largest request head in bytes (larger '
            'gets 431)'),
    Setting('max_connections_per_ip', t.positive_int, 1024, 'HTTP connections one client '
            'address may hold open (one more gets 429)'),
)

ROUTE_KEYS = Schema(
    Setting('route_path', t.url_path, REQUIRED, 'the URL path of the route, e.g. /rpc'),
    Setting('host', t.text, REQUIRED, 'the [host_<name>] its requests go to'),
    Setting('module', t.text, REQUIRED, 'the face it offers (a web module name or its seed '
            'alias, below)'),
    Setting('allowed_ip', t.ip_list, None, 'addresses or CIDR networks (IPv4, IPv6) that '
            'may call it, one a line; an empty value opens the route to every address',
            shown='loopback only, or every address when the route has credentials'),
    Setting('timeout', t.seconds, None, 'how long a request waits for the answer on the '
            'link', shown="the host's request_timeout"),
)

ADMIN_KEYS = Schema(
    Setting('enabled', t.boolean, True, 'serve /status, /status.json and /metrics'),
    Setting('bind', t.address, '127.0.0.1', 'the address of a status server of its own'),
    Setting('port', t.port, 7002, "the port of a status server of its own (unset with a "
            "[web]: on [web]'s port)"),
    Setting('allowed_ip', t.ip_list, (), 'addresses or CIDR networks (IPv4, IPv6) allowed '
            'besides loopback'),
)

NODE_KEYS = Schema(
    Setting('id', node.id_setting, None, "this process's node id: it owns the rows the "
            'process writes; another node takes them over once its heartbeat expired',
            shown='ISO8583D_NODE, else HOSTNAME:HASH (8 hex digits of the data directory)'),
    Setting('heartbeat_interval', t.seconds, 5.0, 'how often the node writes its heartbeat '
            'in each database that holds its rows'),
    Setting('expire_after', t.seconds, 30.0, "a node whose heartbeat is this old is gone: "
            "other nodes take over its unfinished rows (more than 2 x heartbeat_interval)"),
)

MAIN_KEYS = Schema(
    Setting('module', t.text, REQUIRED, "the biller module whose tables to create (the "
            "seed's opensipkd.iso8583.bjb.pbb.bogor_kota)"),
    Setting('db_url', t.db_url, REQUIRED, 'where to create them'),
)


@dataclass(frozen=True)
class HostConfig:
    name: str
    ip: str
    port: int
    listen: bool
    streamer: str
    timeout: float
    module: str               # canonical module name (aliases resolved)
    bind: str                 # listen address of a listen-host
    source_ip: str            # local address a connect-host binds, '' = any
    spec: str                 # codec field table
    max_in_flight: int
    request_timeout: float
    reconnect_max: float
    options: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class WebConfig:
    """[web] (a route without [web] gets the defaults)."""
    bind: str = WEB_KEYS.default('bind')
    port: int = WEB_KEYS.default('port')
    threads: int = WEB_KEYS.default('threads')
    max_body: int = WEB_KEYS.default('max_body')
    max_connections: int = WEB_KEYS.default('max_connections')
    idle_timeout: float = WEB_KEYS.default('idle_timeout')
    # Hostile clients (docs/operations.md "The HTTP face"): whole-head and
    # whole-body deadlines, whatever the pace of the bytes; head limits; a
    # cap of open connections per client address.
    head_timeout: float = WEB_KEYS.default('head_timeout')
    body_timeout: float = WEB_KEYS.default('body_timeout')
    max_headers: int = WEB_KEYS.default('max_headers')
    max_head_size: int = WEB_KEYS.default('max_head_size')
    max_connections_per_ip: int = WEB_KEYS.default('max_connections_per_ip')


@dataclass(frozen=True)
class RouteConfig:
    name: str
    route_path: str
    host: str
    module: str
    allowed_ip: tuple
    timeout: float
    options: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class AdminConfig:
    """[admin]: /status, /status.json and /metrics. Served on [web]'s port when
    there is a [web] and [admin] names no port; otherwise by a server of their
    own on bind:port (a pemda has no [web]). Loopback always may call them."""
    enabled: bool = ADMIN_KEYS.default('enabled')
    bind: str = ADMIN_KEYS.default('bind')
    port: int = ADMIN_KEYS.default('port')
    allowed_ip: tuple = ADMIN_KEYS.default('allowed_ip')  # besides 127.0.0.1 and ::1
    own_server: bool = True         # False: on [web]'s server
    port_set: bool = False          # port came from a file: failing to bind is fatal


@dataclass(frozen=True)
class NodeConfig:
    """[node]: the node id (None: ISO8583D_NODE or the default) and heartbeats."""
    id: str = None
    heartbeat_interval: float = NODE_KEYS.default('heartbeat_interval')
    expire_after: float = NODE_KEYS.default('expire_after')


@dataclass(frozen=True)
class MainConfig:
    """[main] of the seed's iso8583-pbb.ini: which biller's tables to create
    where (iso8583_bjb_pbb_initdb, iso8583d --initdb)."""
    module: str               # canonical module name (aliases resolved)
    db_url: str
    source: str               # the file it came from


@dataclass(frozen=True)
class Settings:
    role: str
    data_dir: str
    files: tuple
    hosts: tuple
    web: object               # WebConfig or None
    routes: tuple
    module_sections: MappingProxyType   # canonical module name -> parsed settings
    logging: object           # RawConfigParser with the logging sections, or None
    origin: MappingProxyType  # (section, key) -> file it came from
    values: MappingProxyType  # (section, key) -> raw value, for --print-config
    admin: object = AdminConfig()   # AdminConfig
    main: object = None             # MainConfig of a [main] section, or None
    node: object = NodeConfig()     # NodeConfig

    def host(self, name):
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


def config_files(conf_dir):
    """The drop-ins of conf_dir in byte order of name; dotfiles skipped."""
    try:
        names = os.listdir(conf_dir)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise ConfigError('cannot read the configuration directory: %s' % e.strerror,
                          file=conf_dir) from None
    names = sorted((n for n in names if n.endswith('.ini') and not n.startswith('.')),
                   key=os.fsencode)
    return [os.path.join(conf_dir, n) for n in names]


def _parse(text, source):
    parser = configparser.RawConfigParser(interpolation=None, strict=True)
    parser.optionxform = str        # keep key case; the seed uses lower case anyway
    try:
        parser.read_string(text, source=source)
    except configparser.DuplicateSectionError as e:
        raise ConfigError('section appears twice in one file', source, e.section) from None
    except configparser.DuplicateOptionError as e:
        raise ConfigError('key appears twice in one section', source, e.section,
                          e.option) from None
    except configparser.MissingSectionHeaderError as e:
        raise ConfigError('line %d: text before the first [section]' % e.lineno,
                          source) from None
    except configparser.ParsingError as e:
        lines = ', '.join('line %d' % n for n, _ in e.errors)
        raise ConfigError('cannot parse %s' % lines, source) from None
    return parser


def read_file(path):
    """Parse one .ini file; an unreadable file is an error, never skipped."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError as e:
        raise ConfigError('cannot read: %s' % e.strerror, path) from None
    except UnicodeDecodeError as e:
        raise ConfigError('not UTF-8 text (byte %d)' % e.start, path) from None
    return _parse(text, path)


class _Layers:
    """Sections merged from several sources; remembers where each key came from."""

    def __init__(self):
        self.sections = {}          # name -> {key: value}
        self.origin = {}            # (section, key) -> source
        self.section_origin = {}    # section -> first source that named it

    def add(self, parser, source):
        for section in parser.sections():
            values = self.sections.setdefault(section, {})
            self.section_origin.setdefault(section, source)
            for key, value in parser.items(section):
                values[key] = value
                self.origin[(section, key)] = source

    def where(self, section, key=None):
        if key is not None and (section, key) in self.origin:
            return self.origin[(section, key)]
        return self.section_origin.get(section)


def _convert(layers, section, schema, extra=None):
    """Typed values of one section per schema (plus a module's extra keys);
    unknown keys are errors."""
    if extra:
        schema = schema + extra
    try:
        return schema.parse(layers.sections[section])
    except t.SettingError as e:
        raise ConfigError(e.message, layers.where(section, e.key), section, e.key) from None


def _module_entry(layers, section, key, name, kind):
    try:
        entry = modules.lookup(name)
    except KeyError:
        raise ConfigError('no module named %r (known: %s)' % (name, ', '.join(
            modules.names(kind))), layers.where(section, key), section, key) from None
    if entry.kind != kind:
        raise ConfigError('module %r is a %s module, not a %s module' % (
            name, entry.kind, kind), layers.where(section, key), section, key)
    return entry


def _host(layers, section):
    name = section[len('host_'):]
    raw_module = layers.sections[section].get('module')
    entry = None
    if raw_module is not None:
        entry = _module_entry(layers, section, 'module', raw_module.strip(), 'host')
    v = _convert(layers, section, HOST_KEYS, entry.options if entry else None)
    from appliance.iso import framing, spec
    for key, check in (('streamer', framing.get_streamer), ('spec', spec.get_spec)):
        try:
            check(v[key])
        except (KeyError, ValueError) as e:
            raise ConfigError(str(e).strip('"'), layers.where(section, key),
                              section, key) from None
    if v['port'] == 0:      # the peer could not know a port the system picks
        raise ConfigError('a host needs a port from 1 to 65535',
                          layers.where(section, 'port'), section, 'port')
    if v['source_ip'] and v['listen']:
        raise ConfigError('source_ip is for connecting hosts (listen = false)',
                          layers.where(section, 'source_ip'), section, 'source_ip')
    options = {k: v.pop(k) for k in list(v) if k not in HOST_KEYS}
    v['request_timeout'] = v['request_timeout'] or v['timeout']
    v['module'] = entry.name
    return HostConfig(name=name, options=MappingProxyType(options), **v)


def _check_shared_ports(layers, hosts):
    """Listen-hosts may share a port only when their peer addresses differ."""
    seen = {}
    for host in hosts.values():
        if not host.listen:
            continue
        key = (host.bind, host.port, host.ip)
        if key in seen:
            section = 'host_' + host.name
            raise ConfigError('[host_%s] already listens on port %d for %s; hosts on '
                              'one port are told apart by ip' % (seen[key], host.port, host.ip),
                              layers.where(section, 'ip'), section, 'ip')
        seen[key] = host.name


def _web(layers):
    return WebConfig(**_convert(layers, 'web', WEB_KEYS))


def _admin(layers, web, routes, hosts):
    """[admin] (all defaults without one), checked against [web], the routes
    and the listen ports it could collide with."""
    raw = layers.sections.get('admin', {})
    v = _convert(layers, 'admin', ADMIN_KEYS) if 'admin' in layers.sections else \
        ADMIN_KEYS.defaults()
    own = web is None or 'port' in raw
    admin = AdminConfig(own_server=own, port_set='port' in raw, **v)
    if not admin.enabled:
        return admin
    if not own:
        if 'bind' in raw:
            raise ConfigError('bind is for a status server of its own: set port too, or '
                              'drop bind to serve /status on [web]\'s port',
                              layers.where('admin', 'bind'), 'admin', 'bind')
        for route in routes:
            if route.route_path in OPS_PATHS:
                section = 'web_' + route.name
                raise ConfigError('%s is the status page\'s path (set [admin] port to '
                                  'serve it elsewhere, or enabled = false)' % route.route_path,
                                  layers.where(section, 'route_path'), section, 'route_path')
        return admin
    taken = [('[web]', web.port)] if web is not None else []
    taken += [('[host_%s]' % h.name, h.port) for h in hosts.values() if h.listen]
    for what, port in taken:
        if admin.port and port == admin.port:
            raise ConfigError('port %d is also the port of %s' % (port, what),
                              layers.where('admin', 'port'), 'admin', 'port')
    return admin


def _route(layers, section, hosts):
    name = section[len('web_'):]
    raw_module = layers.sections[section].get('module')
    entry = None
    if raw_module is not None:
        entry = _module_entry(layers, section, 'module', raw_module.strip(), 'web')
    v = _convert(layers, section, ROUTE_KEYS, entry.options if entry else None)
    if v['host'] not in hosts:
        raise ConfigError('there is no [host_%s] section' % v['host'],
                          layers.where(section, 'host'), section, 'host')
    options = {k: v.pop(k) for k in list(v) if k not in ROUTE_KEYS}
    v['timeout'] = v['timeout'] or hosts[v['host']].request_timeout
    v['module'] = entry.name
    return RouteConfig(name=name, options=MappingProxyType(options), **v)


def _module_section(layers, section):
    name = section[len('module_'):]
    entry = _module_entry(layers, section, None, name, 'host')
    if entry.parse_section is None:
        raise ConfigError('module %r takes no [module_...] section' % name,
                          layers.where(section), section)
    raw = layers.sections[section]
    try:
        return entry.name, entry.parse_section(raw)
    except t.SettingError as e:
        raise ConfigError(e.message, layers.where(section, e.key), section, e.key) from None


def _node(layers):
    """[node], all defaults without one; expire_after must leave room for a
    late beat or two, else a live node would be taken over."""
    if 'node' not in layers.sections:
        return NodeConfig()
    cfg = NodeConfig(**_convert(layers, 'node', NODE_KEYS))
    if cfg.expire_after <= 2 * cfg.heartbeat_interval:
        raise ConfigError('expire_after (%g s) must be more than 2 x heartbeat_interval '
                          '(%g s): a live node whose beat is late would be taken over'
                          % (cfg.expire_after, cfg.heartbeat_interval),
                          layers.where('node', 'expire_after'), 'node', 'expire_after')
    return cfg


def _main(layers):
    if 'main' not in layers.sections:
        return None
    v = _convert(layers, 'main', MAIN_KEYS)
    entry = _module_entry(layers, 'main', 'module', v['module'], 'host')
    return MainConfig(module=entry.name, db_url=v['db_url'], source=layers.where('main'))


def _logging(layers):
    names = [s for s in layers.sections
             if s in _LOGGING_SECTIONS or s.startswith(_LOGGING_PREFIXES)]
    if not names:
        return None
    if 'loggers' not in names:
        raise ConfigError('logging sections need a [loggers] section',
                          layers.where(names[0]), names[0])
    parser = configparser.RawConfigParser(interpolation=None)
    for section in names:
        parser.add_section(section)
        for key, value in layers.sections[section].items():
            parser.set(section, key, value)
    return parser


def _check_sections(layers):
    for section in layers.sections:
        if section in ('web', 'main', 'admin', 'node') or section in _LOGGING_SECTIONS:
            continue
        if section.startswith(('host_', 'web_', 'module_') + _LOGGING_PREFIXES):
            if section.endswith('_'):
                raise ConfigError('section name needs a name after the prefix',
                                  layers.where(section), section)
            continue
        raise ConfigError('unknown section (expected host_<name>, web, web_<name>, '
                          'module_<name>, admin, node or logging sections)', layers.where(section),
                          section)


def resolve_db_url(url, data_dir):
    """A relative SQLite path (sqlite:///name.db) lives in the data dir."""
    prefix = 'sqlite:///'
    if url.startswith(prefix) and not url.startswith(prefix + '/'):
        return prefix + os.path.join(os.path.abspath(data_dir), url[len(prefix):])
    return url


def load(role, files, data_dir, presets=None):
    """Validate and freeze the configuration.

    files: paths read in the given order. presets: (source, text) pairs used
    as the base layer only when no file defines a host_ or a [main] section
    (a [main] file names the one database it is about).
    """
    layers = _Layers()
    parsed = [(read_file(path), path) for path in files]
    if not any(s.startswith('host_') or s == 'main' for p, _ in parsed for s in p.sections()):
        for source, text in presets or ():
            layers.add(_parse(text, source), source)
    for parser, path in parsed:
        layers.add(parser, path)
    _check_sections(layers)

    hosts = {}
    for section in layers.sections:
        if section.startswith('host_'):
            host = _host(layers, section)
            hosts[host.name] = host
    _check_shared_ports(layers, hosts)
    web = _web(layers) if 'web' in layers.sections else None
    routes = [_route(layers, s, hosts) for s in layers.sections if s.startswith('web_')]
    if routes and web is None:
        web = WebConfig(**WEB_KEYS.defaults())
    paths = {}
    for route in routes:
        if route.route_path in paths:
            raise ConfigError('route_path %s is also used by [web_%s]' % (
                route.route_path, paths[route.route_path]),
                layers.where('web_' + route.name, 'route_path'),
                'web_' + route.name, 'route_path')
        paths[route.route_path] = route.name
    sections = dict(_module_section(layers, s) for s in layers.sections
                    if s.startswith('module_'))
    for host in hosts.values():
        entry = modules.lookup(host.module)
        if entry.parse_section is not None and host.module not in sections:
            raise ConfigError('module %s needs a [module_%s] section with its settings'
                              % (host.module, layers.sections['host_' + host.name]['module']
                                 .strip()), layers.where('host_' + host.name, 'module'),
                              'host_' + host.name, 'module')
    promises.check(hosts, routes, layers.where)
    admin = _admin(layers, web, routes, hosts)
    values = {(s, k): v for s, kv in layers.sections.items() for k, v in kv.items()}
    return Settings(
        role=role, data_dir=data_dir, files=tuple(files),
        hosts=tuple(hosts.values()), web=web, routes=tuple(routes),
        module_sections=MappingProxyType(sections), logging=_logging(layers),
        origin=MappingProxyType(dict(layers.origin)),
        values=MappingProxyType(values), admin=admin, main=_main(layers),
        node=_node(layers))


# Route keys holding a credential of the route's own (teller API keys,
# LinkAja's merchant credentials): with one, a route needs no allowed_ip.
CREDENTIAL_KEYS = ('api_keys', 'credentials')


def open_routes(settings):
    """(file, route) of each route open to every address without a
    credential: an explicitly empty `allowed_ip =` (the seed's meaning)."""
    return [(settings.origin.get(('web_' + r.name, 'allowed_ip'), '?'), r)
            for r in settings.routes
            if r.allowed_ip == () and not any(r.options.get(k) for k in CREDENTIAL_KEYS)]


def with_role(settings, role):
    return dataclasses.replace(settings, role=role)


def print_config(settings, out):
    """Every value with the file it came from (--print-config)."""
    current = None
    for (section, key), value in sorted(settings.values.items(),
                                        key=lambda kv: kv[0][0]):
        if section != current:
            out.write('%s[%s]\n' % ('' if current is None else '\n', section))
            current = section
        shown = ' '.join(value.split()) if '\n' in value else value
        out.write('%s = %s    ; %s\n' % (key, shown, settings.origin[(section, key)]))
