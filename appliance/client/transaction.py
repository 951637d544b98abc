"""The frame every mode's transaction fits in: timing and transport failures."""

import abc
import time

from appliance.client.http import Connection, HTTPError, describe
from appliance.client.result import Result


class Transaction(abc.ABC):
    """One request number in, one Result out; subclasses implement `transact`.

    `echo` is None, or prints a timestamped line (small runs show every
    Request and Response as they happen, as the seed did).
    """

    content_type = 'application/octet-stream'
    headers = ()            # extra request headers: (name, value) pairs

    def __init__(self, url, timeout, echo):
        self.url = url
        self.timeout = timeout
        self.echo = echo

    def connect(self):
        return Connection(self.url, self.content_type, self.timeout, self.headers)

    def __call__(self, thread, connection):
        result = Result(thread)
        began = time.perf_counter()
        try:
            self.transact(result, connection)
        except (HTTPError, OSError) as exc:
            result.fail(describe(exc))
        result.seconds = time.perf_counter() - began
        return result

    @abc.abstractmethod
    def transact(self, result, connection):
        """Fill `result` by talking over `connection`; transport errors may propagate."""
