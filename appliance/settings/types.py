"""Typed converters for configuration values.

Each takes the raw string of an .ini value and returns the typed value or
raises ValueError with a message that shows the bad value; the loader adds
file, section and key. `kind` says in words what a converter takes (the
type column of docs/configuration.md).
"""
import ipaddress
import math

from appliance.settings.dburl import parse_url
from appliance.errors import SettingError  # noqa: F401

_TRUE = {'1', 'true', 'yes', 'on'}
_FALSE = {'0', 'false', 'no', 'off'}

# The longest duration a setting may take. Nothing here waits longer, and a
# bound keeps timers and date arithmetic far from overflow.
MAX_SECONDS = 365 * 86400


def kind(words):
    """Name what a converter takes, for the configuration reference."""
    def named(convert):
        convert.kind = words
        return convert
    return named


@kind('boolean')
def boolean(text):
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError('%r is not a boolean (true/false, yes/no, on/off, 1/0)' % text)


@kind('integer')
def integer(text):
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError('%r is not a whole number' % text) from None


@kind('integer > 0')
def positive_int(text):
    value = integer(text)
    if value <= 0:
        raise ValueError('%r must be greater than 0' % text)
    return value


@kind('TCP port')
def port(text):
    value = integer(text)
    if not 0 <= value <= 65535:
        raise ValueError('%r is not a TCP port (0-65535)' % text)
    return value


@kind('seconds > 0')
def seconds(text):
    """A duration: finite, more than 0, at most MAX_SECONDS (nan would turn
    every comparison with a deadline false, and so disable the deadline)."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError('%r is not a number of seconds' % text) from None
    if not math.isfinite(value):
        raise ValueError('%r is not a finite number of seconds' % text)
    if value <= 0:
        raise ValueError('%r must be more than 0 seconds' % text)
    if value > MAX_SECONDS:
        raise ValueError('%r is more than a year (%d seconds)' % (text, MAX_SECONDS))
    return value


@kind('IP address')
def ip_address(text):
    value = text.strip()
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError('%r is not an IP address' % text) from None
    return value


@kind('address')
def address(text):
    """An IP address or a host name (for connect-hosts and bind addresses)."""
    value = text.strip()
    if not value or any(c.isspace() for c in value):
        raise ValueError('%r is not an address' % text)
    return value


@kind('words')
def lines(text):
    """A multi-line or whitespace-separated value as a tuple of words."""
    return tuple(text.split())


def _names(words, what):
    """The host names of a group, each once; ValueError names the fault."""
    if not words:
        raise ValueError('%s names no host' % what)
    seen = set()
    for name in words:
        if name in seen:
            raise ValueError('host %s is named twice in %s' % (name, what))
        seen.add(name)
    return tuple(words)


@kind('NAME words')
def host_names(text):
    """`kota_bogor_1 kota_bogor_2` (spaces or lines) -> a tuple of host
    names: one host, or a group of links to the same peer."""
    return _names(text.split(), repr(text.strip()))


@kind('NAME or NAME,NAME,...')
def host_group(text):
    """`kota_bogor_1,kota_bogor_2` -> a tuple of host names (the target of
    one invoice prefix, whose words are separated by spaces)."""
    words = text.split(',')
    if any(not word.strip() for word in words):
        raise ValueError('%r has an empty host name' % text)
    return _names([word.strip() for word in words], repr(text))


@kind('IP networks')
def ip_network(text):
    """An IPv4 or IPv6 address or network in CIDR form (10.8.20.0/24,
    fd00::/8); host bits may be set (10.8.20.5/24 is 10.8.20.0/24)."""
    value = text.strip()
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError('%r is not an IP address or network (e.g. 10.8.20.1, '
                         '10.8.20.0/24, fd00::/8)' % text) from None
    return value


@kind('IP addresses or networks')
def ip_list(text):
    """Addresses or CIDR networks, IPv4 or IPv6, one a line or space-separated."""
    return tuple(ip_network(word) for word in lines(text))


API_KEY_HASH_LENGTH = 64        # hex digits of a SHA-256


@kind('NAME:SHA256 lines')
def api_key_hashes(text):
    """One `NAME:SHA256` a line: a key's name (what the log shows) and the
    SHA-256 of the key in hex (`printf %s KEY | sha256sum`); the key itself
    is never written in a file. -> ((name, digest bytes), ...)"""
    found = []
    for word in lines(text):
        name, sep, digest = word.rpartition(':')
        digest = digest.lower()
        if (not sep or not name or len(digest) != API_KEY_HASH_LENGTH
                or any(c not in '0123456789abcdef' for c in digest)):
            raise ValueError('an entry is not NAME:SHA256 (a name, a colon, the 64 hex '
                             'digits of the key\'s SHA-256: printf %%s KEY | sha256sum)')
        if any(name == seen for seen, _ in found):
            raise ValueError('key name %s is given twice' % name)
        found.append((name, bytes.fromhex(digest)))
    return tuple(found)


@kind('URL path')
def url_path(text):
    value = text.strip()
    if not value.startswith('/'):
        raise ValueError('%r must start with /' % text)
    return value


@kind('text')
def text(value):
    return value.strip()


@kind('database URL')
def db_url(text):
    """A database URL, checked (not connected) at load, so --check-config
    catches what the daemon would otherwise only find when it opens it."""
    value = text.strip()
    parse_url(value)          # ValueError names the URL and the forms it takes
    return value


@kind('PREFIX:NAME words')
def prefix_map(text):
    """`3271:kota_bogor 3275:kota_bekasi` -> {'3271': 'kota_bogor', ...}."""
    result = {}
    for word in lines(text):
        prefix, sep, target = word.partition(':')
        if not sep or not prefix.isdigit() or not target:
            raise ValueError('%r is not PREFIX:NAME (e.g. 3271:kota_bogor)' % word)
        if prefix in result:
            raise ValueError('prefix %s is mapped twice' % prefix)
        result[prefix] = target
    return result


@kind('PREFIX:TEXT lines')
def prefix_texts(text):
    """One `PREFIX:TEXT` per line, the text may hold spaces and colons:
    `3271:PBB Kota Bogor` -> {'3271': 'PBB Kota Bogor'}."""
    result = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        prefix, sep, message = line.partition(':')
        prefix = prefix.strip()
        if not sep or not (prefix.isascii() and prefix.isdigit()):
            raise ValueError('%r is not PREFIX:TEXT (e.g. 3271:PBB Kota Bogor)' % line)
        if prefix in result:
            raise ValueError('prefix %s is given twice' % prefix)
        result[prefix] = message.strip()
    return result



@kind('MERCHANT:TERMINAL:SHA256 lines')
def merchant_credentials(text):
    """One `MERCHANT:TERMINAL:SHA256` a line: a merchant and terminal a caller
    names, and the SHA-256 in hex of the pwd it must send with them.
    -> ((merchant, terminal, digest bytes), ...)"""
    found = []
    for word in lines(text):
        parts = word.split(':')
        digest = parts[-1].lower()
        if (len(parts) != 3 or not parts[0] or not parts[1]
                or len(digest) != API_KEY_HASH_LENGTH
                or any(c not in '0123456789abcdef' for c in digest)):
            raise ValueError('an entry is not MERCHANT:TERMINAL:SHA256 (the 64 hex digits '
                             'of the pwd\'s SHA-256: printf %%s PWD | sha256sum)')
        found.append((parts[0], parts[1], bytes.fromhex(digest)))
    return tuple(found)
