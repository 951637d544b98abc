"""What a run prints: the seed's timestamped lines, or one JSON document."""

import json
from datetime import datetime

# More failures than this are summarised by reason instead of listed one by one.
_LISTED_FAILURES = 20


def timestamp():
    """'2020-07-18 23:53:03.150', the seed's line prefix."""
    return datetime.now().strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]


class Printer:
    """Writes timestamped lines, flushed so they show while a run goes on."""

    def __init__(self, stream):
        self._stream = stream

    def line(self, text):
        self._stream.write('%s %s\n' % (timestamp(), text))
        self._stream.flush()


def thread_line(result):
    # str(float) gives the seed's full precision: 'thread 1 1.3430681228637695 detik stan 235069'.
    return ' '.join(filter(None, ('thread %d %s detik' % (result.thread, result.seconds),
                                  result.tail)))


def write_text(printer, summary, run, per_request):
    """The seed's closing lines, preceded by one `thread` line per request if asked."""
    if per_request:
        for result in run.results:
            printer.line(thread_line(result))
    for text in summary_lines(summary, run):
        printer.line(text)


def summary_lines(summary, run):
    lines = []
    if run.interrupted:
        lines.append('Interrupted after %d requests' % summary.count)
    if summary.count > 1 and summary.fastest is not None:
        lines += [
            'Tercepat ' + thread_line(summary.fastest),
            'Terlama ' + thread_line(summary.slowest),
            'Rerata %s detik / request' % summary.mean,
            'Latency ms: min {min} p50 {p50} p95 {p95} p99 {p99} max {max}'.format(
                **summary.latency_ms),
            'Throughput %.1f tx/s: %d requests in %.3f s' % (
                summary.tps, summary.count, summary.seconds),
        ]
    return lines + failure_lines(summary, run.results)


def failure_lines(summary, results):
    if not summary.failed:
        return ['Tidak ada yang gagal']
    failed = [r for r in results if not r.ok]
    lines = ['Gagal thread %d: %s' % (r.thread, r.reason) for r in failed[:_LISTED_FAILURES]]
    if len(failed) > _LISTED_FAILURES:
        lines.append('... and %d more' % (len(failed) - _LISTED_FAILURES))
    reasons = {}
    for result in failed:
        reasons[result.reason] = reasons.get(result.reason, 0) + 1
    lines.append('Failed %d of %d: %s' % (summary.failed, summary.count, ', '.join(
        '%s %d' % item for item in sorted(reasons.items(), key=lambda i: -i[1]))))
    return lines


def write_json(stream, summary, run):
    document = {
        'count': summary.count, 'ok': summary.ok, 'failed': summary.failed,
        'seconds': summary.seconds, 'tps': round(summary.tps, 2),
        'latency_ms': summary.latency_ms,
        'results': [result_object(r) for r in run.results],
    }
    if run.interrupted:
        document['interrupted'] = True
    json.dump(document, stream)
    stream.write('\n')
    stream.flush()


def result_object(result):
    obj = {'thread': result.thread, 'seconds': result.seconds, 'ok': result.ok,
           'request': result.request}
    if result.inquiry is not None:
        obj['inquiry'] = result.inquiry
    if result.error is None:
        obj['response'] = result.response
    else:
        obj['error'] = result.error
    if result.reason is not None:
        obj['reason'] = result.reason
    return obj
