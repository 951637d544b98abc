"""API keys of a route: the key a client sends in a header, checked against
the SHA-256 digests of the route's `api_keys` (NAME:SHA256, one a line).

Only digests are configured, so a leaked conf.d does not hand out keys.
Every configured digest is compared, with hmac.compare_digest, whatever
matched first: the time taken tells nothing about which key or how much of
it was right. Neither a key nor its digest is ever logged; the key's NAME is.
"""
import hashlib
import hmac

HEADER = 'X-Api-Key'


class ApiKeys:
    def __init__(self, entries):
        self.entries = tuple(entries)       # ((name, sha256 digest bytes), ...)

    def __bool__(self):
        return bool(self.entries)

    def match(self, presented):
        """The name of the key `presented` (str or None) is, or None."""
        if not presented:
            return None
        digest = _digest(presented)
        matched = None
        for name, expected in self.entries:
            if hmac.compare_digest(digest, expected) and matched is None:
                matched = name
        return matched


def _digest(text):
    return hashlib.sha256(text.encode('utf-8', 'surrogateescape')).digest()


class MerchantCredentials:
    """LinkAja's merchant, terminal and pwd against the configured
    (merchant, terminal, SHA-256 of pwd) entries, every entry compared."""

    def __init__(self, entries):
        self.entries = tuple(entries)

    def __bool__(self):
        return bool(self.entries)

    def match(self, merchant, terminal, pwd):
        """True when the three name one configured entry."""
        m, t, p = _digest(merchant), _digest(terminal), _digest(pwd)
        found = False
        for merchant_, terminal_, pwd_digest in self.entries:
            same = hmac.compare_digest(m, _digest(merchant_))
            same &= hmac.compare_digest(t, _digest(terminal_))
            same &= hmac.compare_digest(p, pwd_digest)
            found |= same
        return found
