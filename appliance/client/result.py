"""The outcome of one client transaction ("thread" in the seed's output)."""

from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class Result:
    thread: int
    seconds: float = 0.0
    request: Optional[dict] = None
    response: Any = None
    # Set when no answer came back (timeout, refused, HTTP 500 page, ...).
    error: Optional[str] = None
    # Why the transaction failed, e.g. '39=55'; None when it succeeded.
    reason: Optional[str] = None
    # What the seed prints after "detik": 'stan 235069' or the LinkAja line.
    tail: str = ''
    # The inquiry a payment made first to learn the amount due.
    inquiry: Optional[dict] = None

    @property
    def ok(self):
        return self.reason is None

    @property
    def answered(self):
        return self.error is None

    def fail(self, error):
        """Record a transport failure: no answer, so the error is the reason."""
        self.error = self.reason = error

    def keep_inquiry(self):
        """After the inquiry a payment makes first: True, with the inquiry
        kept apart from the payment to come; or False, the failure named as
        the inquiry's."""
        if not self.ok:
            self.reason = 'inquiry ' + self.reason
            return False
        self.inquiry = {'request': self.request, 'response': self.response}
        return True

    def amount_due(self, name, value):
        """`value`, the inquiry answer's field `name`, as rupiah; None, and
        that as the reason, when it is not a plain number."""
        if isinstance(value, str) and value.isascii() and value.isdigit():
            return int(value)
        self.reason = 'inquiry %s %r is not an amount' % (name, value)
        return None
