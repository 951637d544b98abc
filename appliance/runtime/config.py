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
  loggers, handlers, formatters, logger_*, handler_*, formatter_*
                        passed to logging.config.fileConfig
"""
import configparser
import dataclasses
import os
from dataclasses import dataclass, field
from types import MappingProxyType

from appliance.settings import types as t
from appliance.ops.status import OPS_PATHS
from appliance.runtime import registry as modules
from appliance.errors import ConfigError  # noqa: F401

DEFAULT_CONF_DIR = '/etc/iso8583d/conf.d'
DEFAULT_DATA_DIR = '/var/lib/iso8583d'
PRESET_SOURCE = '<preset %s>'

_LOGGING_SECTIONS = ('loggers', 'handlers', 'formatters')
_LOGGING_PREFIXES = ('logger_', 'handler_', 'formatter_')


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
    bind: str = '0.0.0.0'
    port: int = 7000
    threads: int = 12
    max_body: int = 1 << 20
    max_connections: int = 10000
    idle_timeout: float = 60.0
    # Hostile clients (docs/operations.md "The HTTP face"): whole-head and
    # whole-body deadlines, whatever the pace of the bytes; head limits; a
    # cap of open connections per client address.
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_headers: int = 100
    max_head_size: int = 65536
    max_connections_per_ip: int = 256


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
    enabled: bool = True
    bind: str = '127.0.0.1'
    port: int = 7002
    allowed_ip: tuple = ()          # addresses allowed besides 127.0.0.1 and ::1
    own_server: bool = True         # False: on [web]'s server
    port_set: bool = False          # port came from a file: failing to bind is fatal


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

    def host(self, name):
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


# key -> (converter, default); a default of REQUIRED means the key must be set.
REQUIRED = t.REQUIRED      # in datatypes, so modules' OPTIONS can use it too

HOST_KEYS = {
    'ip': (t.address, '127.0.0.1'),
    'port': (t.port, REQUIRED),
    'listen': (t.boolean, False),
    'streamer': (t.text, 'bjb'),
    'timeout': (t.seconds, 60.0),
    'module': (t.text, REQUIRED),
    'bind': (t.address, '0.0.0.0'),
    'source_ip': (t.text, ''),
    'spec': (t.text, 'bjb_pbb'),
    'max_in_flight': (t.positive_int, 1000),
    'request_timeout': (t.seconds, None),   # None: the host's timeout
    'reconnect_max': (t.seconds, 5.0),
}

WEB_KEYS = {
    'bind': (t.address, '0.0.0.0'),
    'port': (t.port, 7000),
    'threads': (t.positive_int, 12),
    'max_body': (t.positive_int, 1 << 20),
    'max_connections': (t.positive_int, 10000),
    'idle_timeout': (t.seconds, 60.0),
    'head_timeout': (t.seconds, 10.0),
    'body_timeout': (t.seconds, 30.0),
    'max_headers': (t.positive_int, 100),
    'max_head_size': (t.positive_int, 65536),
    'max_connections_per_ip': (t.positive_int, 256),
}

ROUTE_KEYS = {
    'route_path': (t.url_path, REQUIRED),
    'host': (t.text, REQUIRED),
    'module': (t.text, REQUIRED),
    'allowed_ip': (t.ip_list, ()),
    'timeout': (t.seconds, None),
}


ADMIN_KEYS = {
    'enabled': (t.boolean, True),
    'bind': (t.address, '127.0.0.1'),
    'port': (t.port, 7002),
    'allowed_ip': (t.ip_list, ()),
}


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
    """Typed values of one section per schema; unknown keys are errors."""
    raw = layers.sections[section]
    allowed = dict(schema)
    allowed.update(extra or {})
    for key in raw:
        if key not in allowed:
            known = ', '.join(sorted(allowed))
            raise ConfigError('unknown key (known keys: %s)' % known,
                              layers.where(section, key), section, key)
    values = {}
    for key, (convert, default) in allowed.items():
        if key in raw:
            try:
                values[key] = convert(raw[key])
            except ValueError as e:
                raise ConfigError(str(e), layers.where(section, key), section, key) from None
        elif default is REQUIRED:
            raise ConfigError('required key is missing', layers.where(section),
                              section, key)
        else:
            values[key] = default
    return values


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
    extra = {k: (conv, default) for k, (conv, default) in
             (entry.host_options.items() if entry else ())}
    v = _convert(layers, section, HOST_KEYS, extra)
    from appliance.iso import framing, spec
    for key, check in (('streamer', framing.get_streamer), ('spec', spec.get_spec)):
        try:
            check(v[key])
        except (KeyError, ValueError) as e:
            raise ConfigError(str(e).strip('"'), layers.where(section, key),
                              section, key) from None
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
        {k: default for k, (_, default) in ADMIN_KEYS.items()}
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
    extra = dict(entry.host_options) if entry else {}
    v = _convert(layers, section, ROUTE_KEYS, extra)
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
        if section in ('web', 'main', 'admin') or section in _LOGGING_SECTIONS:
            continue
        if section.startswith(('host_', 'web_', 'module_') + _LOGGING_PREFIXES):
            if section.endswith('_'):
                raise ConfigError('section name needs a name after the prefix',
                                  layers.where(section), section)
            continue
        raise ConfigError('unknown section (expected host_<name>, web, web_<name>, '
                          'module_<name>, admin or logging sections)', layers.where(section),
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
    as the base layer only when no file defines a host_ section.
    """
    layers = _Layers()
    parsed = [(read_file(path), path) for path in files]
    if not any(s.startswith('host_') for p, _ in parsed for s in p.sections()):
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
        web = WebConfig()
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
    admin = _admin(layers, web, routes, hosts)
    values = {(s, k): v for s, kv in layers.sections.items() for k, v in kv.items()}
    return Settings(
        role=role, data_dir=data_dir, files=tuple(files),
        hosts=tuple(hosts.values()), web=web, routes=tuple(routes),
        module_sections=MappingProxyType(sections), logging=_logging(layers),
        origin=MappingProxyType(dict(layers.origin)),
        values=MappingProxyType(values), admin=admin)


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
