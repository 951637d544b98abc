"""Concurrency: N worker greenlets, each with its own keep-alive connection,
taking request numbers 1..total from one shared counter until none are left.
"""

import signal
import time
from dataclasses import dataclass

import gevent

from appliance.net.rlimit import raise_file_limit

# Descriptors the process needs besides the workers' sockets.
_SPARE_FILES = 64


@dataclass
class Run:
    results: list  # Result objects of the requests that finished, by thread number
    seconds: float
    interrupted: bool = False


def run(transaction, total, concurrency, on_result):
    """Run `total` transactions with at most `concurrency` in flight.

    `transaction.connect()` gives a worker its connection and
    `transaction(thread, connection)` performs request number `thread`,
    returning its Result; `on_result(result)` sees each one as it finishes.
    SIGINT (Ctrl-C) stops the run early and returns what finished.
    """
    workers = min(concurrency, total)
    raise_file_limit(workers + _SPARE_FILES)
    results = [None] * total
    numbers = iter(range(1, total + 1))  # shared: greenlets take turns, no lock

    def work():
        connection = transaction.connect()
        try:
            for thread in numbers:
                result = results[thread - 1] = transaction(thread, connection)
                on_result(result)
        finally:
            connection.close()

    start = time.perf_counter()
    greenlets = [gevent.spawn(work) for _ in range(workers)]
    interrupts = []

    def interrupt():
        # Runs in the hub: stop the workers, let joinall return normally.
        interrupts.append(time.perf_counter())
        gevent.killall(greenlets, block=False)

    handler = gevent.signal_handler(signal.SIGINT, interrupt)
    try:
        gevent.joinall(greenlets, raise_error=True)
    finally:
        handler.cancel()
        gevent.killall(greenlets)
    seconds = (interrupts[0] if interrupts else time.perf_counter()) - start
    return Run([r for r in results if r is not None], seconds, bool(interrupts))
