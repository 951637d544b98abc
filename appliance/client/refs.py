"""Unique per-request references derived from the run's start time.

The seed derived NTB (MMDDhhmmss), STAN (hhmmss) and LinkAja trx_id from the
clock; request i of a run uses the start time plus i seconds, so a single
request looks exactly like the seed's and a stress run never repeats an NTB
(nor a STAN within 86,400 requests).
"""

from datetime import timedelta


def _moment(start, thread):
    return start + timedelta(seconds=thread - 1)


def ntb(start, thread):
    return _moment(start, thread).strftime('%m%d%H%M%S')


def stan(start, thread):
    return _moment(start, thread).strftime('%H%M%S')


trx_id = ntb
