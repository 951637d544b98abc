"""Every exception the appliance raises on purpose, under one root.

`except ApplianceError` catches what the code means to raise; anything else
is a bug and keeps its traceback. Grouped by the layer that raises them; each
module that raises one imports it from here.
"""


class ApplianceError(Exception):
    """Root of the appliance's own exceptions."""


# -- running the daemon ---------------------------------------------------

class Fatal(ApplianceError):
    """The appliance cannot run; the message says why (exit status 1)."""


class ConfigError(ApplianceError):
    """A configuration problem (exit status 78); str() names where it is."""

    def __init__(self, message, file=None, section=None, key=None):
        super().__init__(message)
        self.message, self.file, self.section, self.key = message, file, section, key

    def __str__(self):
        where = []
        if self.file:
            where.append(self.file)
        if self.section:
            where.append('[%s]' % self.section)
        if self.key:
            where.append(self.key)
        return '%s: %s' % (' '.join(where), self.message) if where else self.message


class SettingError(ApplianceError, ValueError):
    """A bad value for `key` in a section; the loader adds file and section."""

    def __init__(self, key, message):
        super().__init__('%s: %s' % (key, message))
        self.key, self.message = key, message


# -- bytes on the wire ----------------------------------------------------

class FramingError(ApplianceError, ValueError):
    """The byte stream does not follow the streamer: close the connection."""


class CodecError(ApplianceError, ValueError):
    """A message that cannot be encoded or decoded under its spec."""


class InvalidInvoice(ApplianceError, ValueError):
    """The text is not a 22-digit invoice id (answered with 33)."""


# -- a request on a link --------------------------------------------------

class LinkError(ApplianceError):
    """A request could not be answered by the peer of a host."""


class LinkDown(LinkError):
    """No connection to the host's peer right now; raised at once, no waiting."""


class RequestTimeout(LinkError):
    """The peer did not answer within the request's timeout."""


class AnswerLost(RequestTimeout):
    """The link broke after the request went out: the peer may have acted on
    it, so the outcome is unknown, as after a timeout."""


class Rejected(LinkError):
    """The peer sent the request back refused (its MTI's first digit set to
    9): it was not acted on."""


class Busy(LinkError):
    """Too many requests in flight on this host; try again later."""


# -- answering one request ------------------------------------------------

class RpcError(ApplianceError):
    """Ends one HTTP request with a JSON-RPC error object."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class InvalidParams(RpcError):
    """JSON-RPC -32602: a missing or mistyped field; `field` is its name
    inside params."""

    def __init__(self, field, problem):
        super().__init__(-32602, 'params.%s %s' % (field, problem))


class Refusal(ApplianceError):
    """Ends a biller's handler with a response code; inside a transaction,
    rolls it back."""

    def __init__(self, code, reason):
        super().__init__('%s (%s)' % (reason, code))
        self.code = code


class Refused(ApplianceError):
    """Ends a LinkAja request with a one-line answer whose code is not 00."""

    def __init__(self, code, reason, bill_ref=''):
        super().__init__(reason)
        self.code, self.reason, self.bill_ref = code, reason, bill_ref


class Duplicate(ApplianceError):
    """A payment with this idempotency key is already in the journal."""

    def __init__(self, entry):
        super().__init__('payment %s already journalled as entry %d (%s)'
                         % (entry.idem_key, entry.id, entry.state))
        self.entry = entry


# -- commands beside the daemon -------------------------------------------

class CommandError(ApplianceError):
    """What stops a command, in one line for stderr (exit 1)."""


class InputError(ApplianceError, ValueError):
    """Text given to `iso8583d decode` is neither a bytes literal nor hex."""


# -- iso8583d-client ------------------------------------------------------

class UsageError(ApplianceError):
    """Options that do not fit together; reported like argparse errors, exit 2."""


class HTTPError(ApplianceError):
    """No usable HTTP answer came back."""


class ClientTimeout(HTTPError):
    """The whole HTTP exchange took longer than the client's request timeout."""

    def __str__(self):
        return 'timeout'


class InvoiceFileError(ApplianceError, ValueError):
    """A bad --invoice-file; the message names the file and line."""


class SettlementFileError(ApplianceError, ValueError):
    """A settlement file (iso8583d rekon) that cannot be trusted: not one, cut
    short, or its summary or checksum does not match; the message names the
    file and line."""
