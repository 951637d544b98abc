"""The money view of the status page and /metrics: today's payments and
reversals, computed from the databases (not from counters, so it survives a
restart and agrees with `iso8583d rekon`), per bank and channel at the pemda,
per pemda host and channel at the bank.

A host module that keeps money records offers `money_source(modules)` (the
process's host modules, for records it shares with them): (a key
shared by the hosts reading the same records, a function of a date giving
[{party, channel, kind, count, amount, principal, penalty}]). Each source is
read at most every MONEY_CACHE_SECONDS; while a read runs, others get the
previous result instead of waiting; a slow read is kept longer
(MONEY_COST_FACTOR).
"""
import time
from datetime import date

import gevent

MONEY_CACHE_SECONDS = 5.0
# A read is kept at least this many times as long as it took: on SQLite a
# read holds the event loop (a busy bank's day: ~0.3 s for 20,000 payments),
# so the view costs the links at most 1/20 of their time.
MONEY_COST_FACTOR = 20
MONEY_READ_TIMEOUT = 5.0


class MoneyView:
    def __init__(self, clock=time.monotonic, today=date.today):
        self.clock, self.today = clock, today
        self._cache = {}            # key -> (clock() when due again, rows, error)
        self._running = set()

    def read(self, hosts):
        """{'day', 'sources', 'rows': [...], 'errors': [...]} of today, from
        every source once; no source (the aggregator): no rows."""
        rows, errors, seen = [], [], set()
        modules = [host.module for host in hosts if host.module is not None]
        for module in modules:
            offer = getattr(module, 'money_source', None)
            source = offer(modules) if offer is not None else None
            if source is None or source[0] in seen:
                continue
            seen.add(source[0])
            found, error = self._cached(*source)
            rows += found
            if error:
                errors.append(error)
        return {'day': self.today().isoformat(), 'sources': len(seen), 'rows': rows,
                'errors': errors}

    def _cached(self, key, totals):
        due, rows, error = self._cache.get(key, (None, [], None))
        if (due is None or self.clock() >= due) and key not in self._running:
            self._running.add(key)
            started = self.clock()
            try:
                with gevent.Timeout(MONEY_READ_TIMEOUT):
                    rows, error = totals(self.today()), None
            except gevent.Timeout:
                error = 'money view: no answer from the database within %g s' % (
                    MONEY_READ_TIMEOUT)
            except Exception as e:     # the database is away: show why, keep the page
                error = 'money view: %s' % (' '.join(str(e).split()) or type(e).__name__)
            finally:
                self._running.discard(key)
            took = self.clock() - started
            self._cache[key] = (self.clock() + max(MONEY_CACHE_SECONDS,
                                                   MONEY_COST_FACTOR * took), rows, error)
        return rows, error


def totals(rows):
    """(count, amount) of the payments and of the reversals in `rows`."""
    out = {'payment': [0, 0], 'reversal': [0, 0]}
    for row in rows:
        out[row['kind']][0] += row['count']
        out[row['kind']][1] += row['amount']
    return out
