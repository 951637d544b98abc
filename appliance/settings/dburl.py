"""Database URLs as the configuration writes them: checked without
connecting, and shown with the password masked."""
import re
from collections import namedtuple
from urllib.parse import urlsplit

_POSTGRES_SCHEMES = ('postgresql', 'postgres', 'postgresql+psycopg2')
_URL_FORMS = 'sqlite:///relative/path, sqlite:////absolute/path or postgresql://user:pass@host:port/db'

DatabaseUrl = namedtuple('DatabaseUrl', 'kind target')
DatabaseUrl.__doc__ = """A checked URL: kind 'sqlite' with a file path as target,
or kind 'postgresql' with a libpq connection URI as target."""


def mask_url(url):
    """The URL with its password replaced by ***, fit for logs and errors."""
    return re.sub(r'^([^:/]+://[^:/@]*:)[^@]*@', r'\1***@', str(url))


def public_url(url):
    """The URL without user, password and query (which may hold them too):
    scheme://host/db, for pages any reader may see (status page, /metrics)."""
    return re.sub(r'^([^:/]+://)[^/@]*@', r'\1', str(url).split('?', 1)[0])


def parse_url(url):
    """Check a database URL without connecting; ValueError names the problem."""
    if not isinstance(url, str) or '://' not in url:
        raise ValueError('database URL %r has no scheme; use %s'
                         % (mask_url(url), _URL_FORMS))
    scheme, rest = url.split('://', 1)
    scheme = scheme.lower()
    if scheme == 'sqlite':
        return DatabaseUrl('sqlite', _sqlite_path(url, rest))
    if scheme in _POSTGRES_SCHEMES:
        return DatabaseUrl('postgresql', _postgres_uri(url, rest))
    raise ValueError('database URL scheme %r in %s is not supported; use %s'
                     % (scheme, mask_url(url), _URL_FORMS))


def _sqlite_path(url, rest):
    # Same convention as SQLAlchemy: three slashes, then the path as written.
    if not rest.startswith('/'):
        raise ValueError('SQLite URL %s must start with sqlite:/// followed by the path'
                         % mask_url(url))
    path = rest[1:]
    if not path or path.startswith(':memory:'):
        raise ValueError('SQLite URL %s names no file; an in-memory database '
                         'cannot be shared by pooled connections' % mask_url(url))
    return path


def _postgres_uri(url, rest):
    parts = urlsplit('postgresql://' + rest)
    try:
        parts.port
    except ValueError:
        raise ValueError('PostgreSQL URL %s has a bad port' % mask_url(url)) from None
    if not parts.path.strip('/'):
        raise ValueError('PostgreSQL URL %s names no database; use %s'
                         % (mask_url(url), _URL_FORMS))
    return 'postgresql://' + rest
