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
