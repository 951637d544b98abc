"""Run statistics: counts, throughput, and latency over answered requests.

Latency leaves out requests that got no answer: a refused connection is not a
fast transaction, and a timeout only measures the --timeout setting.
"""

import math
from dataclasses import dataclass, field
from typing import Optional

from appliance.client.result import Result


def percentile(ordered, p):
    """Nearest-rank percentile `p` (0-100] of an ascending, non-empty sequence."""
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


@dataclass
class Summary:
    count: int
    ok: int
    failed: int
    seconds: float
    tps: float
    fastest: Optional[Result] = None
    slowest: Optional[Result] = None
    mean: Optional[float] = None
    # min, p50, p95, p99, max, mean in milliseconds; None values when nothing answered.
    latency_ms: dict = field(default_factory=dict)


def summarize(results, seconds):
    answered = [r for r in results if r.answered]
    ok = sum(1 for r in results if r.ok)
    summary = Summary(
        count=len(results), ok=ok, failed=len(results) - ok, seconds=seconds,
        tps=len(results) / seconds if seconds > 0 else 0.0,
        latency_ms=dict.fromkeys(('min', 'p50', 'p95', 'p99', 'max', 'mean')))
    if answered:
        by_time = sorted(answered, key=lambda r: r.seconds)
        summary.fastest, summary.slowest = by_time[0], by_time[-1]
        summary.mean = sum(r.seconds for r in by_time) / len(by_time)
        summary.latency_ms = _latency_ms([r.seconds for r in by_time], summary.mean)
    return summary


def _latency_ms(ordered, mean):
    ms = {
        'min': ordered[0], 'p50': percentile(ordered, 50), 'p95': percentile(ordered, 95),
        'p99': percentile(ordered, 99), 'max': ordered[-1], 'mean': mean,
    }
    return {name: round(value * 1000, 3) for name, value in ms.items()}
