"""Log lines cheap enough to keep on: each formatted once, written in batches.

Sites keep the seed's six lines per ISO8583 message at INFO, to a file and to
the console: disputes with a pemda are settled from them. Python's logging
formats a record again for every handler, renders its timestamp with strftime
every time, looks up the caller's frame, thread and process for fields the
seed's format never prints, takes a lock per handler, and flushes (a write(2))
after every line on every handler. Measured with the seed's test-bank.ini,
that was about half of the throughput of a JSON-RPC inquiry.

Here, with the text byte for byte the same:
- a record is formatted once per formatter, whatever the number of handlers;
- the timestamp text is reused within its second;
- caller, thread and process are not looked up unless a format prints them;
- a handler's stream is written once per turn of the event loop: what the
  turn logged leaves in one write (`flush_interval` below changes that);
- handlers take no lock: the process is one OS thread, and nothing in an
  emit yields to another greenlet (lines go to memory; the write at the end
  of the turn runs in the hub).

What a crash can cost: a SIGKILL loses the lines of the current loop turn,
or, with `flush_interval = S` in a `[handler_<name>]` section, at most the last
S seconds of that handler's lines. A line at ERROR or above and every clean
exit flush at once; `flush_interval = 0` writes every line as it comes, as
Python's logging does.
"""
import atexit
import logging
import math
import sys
import time

import gevent

URGENT = logging.ERROR
_MESSAGE = '\x00iso8583d-message\x00'    # stands for the message in OnceFormatter._split
_SRCFILE = logging._srcfile      # set: logging looks up each record's caller
_writers = []


class OnceFormatter(logging.Formatter):
    """A logging.Formatter that keeps its text on the record for the next
    handler, and reuses the timestamp text within one second."""

    _second = None
    _stamp = ''
    _arounds = None     # line(): (level, name) -> (second, msecs, before message, after)

    def formatTime(self, record, datefmt=None):
        if datefmt or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        return self._asctime(record.created, record.msecs)

    def _asctime(self, created, msecs):
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(created))
            self._second = second
        return self.default_msec_format % (self._stamp, msecs)

    def line(self, created, level, levelname, name, message):
        """The text format() gives a record of these fields without an
        exception (appliance.loglines, whose formats print no other field).
        What the format prints around the message is the same for every
        line of one millisecond, level and logger: it is made once for them."""
        second = int(created)
        msecs = int((created - second) * 1000)
        arounds = self._arounds
        if arounds is None:
            arounds = self._arounds = {}
        around = arounds.get((level, name))
        if around is None or around[1] != msecs or around[0] != second:
            around = arounds[level, name] = (second, msecs) + self._split(
                self._text(created, msecs, level, levelname, name, _MESSAGE))
        if around[2] is None:
            return self._text(created, msecs, level, levelname, name, message)
        return around[2] + message + around[3]

    def _text(self, created, msecs, level, levelname, name, message):
        if self.datefmt or not self.default_msec_format:
            asctime = time.strftime(self.datefmt or self.default_time_format,
                                    self.converter(created))
        else:
            asctime = self._asctime(created, msecs)
        return self._fmt % {'asctime': asctime, 'levelname': levelname,
                            'levelno': level, 'name': name, 'message': message}

    @staticmethod
    def _split(text):
        """(before the message, after it) in a line made with _MESSAGE for
        its message; (None, None) when the format prints it not once."""
        before, found, after = text.partition(_MESSAGE)
        if not found or _MESSAGE in after:
            return None, None
        return before, after

    def format(self, record):
        kept = record.__dict__.get('_iso8583d_text')
        if kept is not None and kept[0] is self:
            return kept[1]
        text = super().format(record)
        record._iso8583d_text = (self, text)
        return text


class TurnWriter:
    """Stands in for a handler's stream: lines wait in memory and are written
    and flushed in one go at the end of the event loop's turn (or `interval`
    seconds after the first of them); at once when `urgent` is set."""

    batched = True     # appliance.loglines may write to it directly

    def __init__(self, stream, interval=None):
        self.stream = stream
        self.interval = interval
        self.parts = []
        self.pending = None
        self.urgent = False

    @property
    def name(self):
        return getattr(self.stream, 'name', '')

    def write(self, text):
        self.parts.append(text)
        if self.pending is None:
            loop = gevent.get_hub().loop
            if self.interval is None:
                self.pending = loop.run_callback(self.drain)
            else:
                self.pending = loop.timer(self.interval, ref=False)
                self.pending.start(self.drain)

    def flush(self):
        """Called by the handler after every line: only an urgent line (or no
        batching at all) is written now; the rest waits for the turn's end."""
        if self.urgent or self.interval == 0:
            self.urgent = False
            self.drain()

    def drain(self):
        if self.pending is not None:
            self.pending.close()
            self.pending = None
        if not self.parts:
            return
        text = ''.join(self.parts)
        self.parts.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError) as e:   # a full disk, a closed stream
            _last_resort('%d bytes of log lines lost writing to %s: %s'
                         % (len(text), self.name or self.stream, e))

    def close(self):
        self.drain()
        if self.stream not in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__):
            self.stream.close()


def _last_resort(text):
    try:
        sys.__stderr__.write('iso8583d: %s\n' % text)
    except (OSError, ValueError, AttributeError):
        pass


def _mark_urgent(writer):
    def check(record):
        if record.levelno >= URGENT:
            writer.urgent = True
        return True
    check.urgent_marker = True       # appliance.loglines: writes nothing urgent
    return check


def flush_interval(text):
    """A handler's flush_interval: seconds, 0 for every line; ValueError names
    a bad value."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError('flush_interval must be a number of seconds >= 0 (0: write every '
                         'line as it comes), not %r' % text)
    return value


def install(handlers, intervals=None):
    """Make `handlers` cheap as the module docstring says. `intervals`:
    handler name -> flush_interval (None: once per loop turn)."""
    intervals = intervals or {}
    for handler in handlers:
        if handler.formatter is not None and type(handler.formatter) is logging.Formatter:
            # fileConfig built it; same fields, our two methods.
            handler.formatter.__class__ = OnceFormatter
        handler.lock = None
        stream = getattr(handler, 'stream', None)
        if isinstance(handler, logging.StreamHandler) and stream is not None \
                and not isinstance(stream, TurnWriter):
            writer = TurnWriter(stream, intervals.get(handler.get_name()))
            handler.stream = writer
            handler.addFilter(_mark_urgent(writer))
            _writers.append(writer)
    _skip_unused_record_fields(handlers)


def _skip_unused_record_fields(handlers):
    """Caller, thread and process are looked up for every record; skip those
    that no formatter prints (the logging HOWTO's "Optimization"), and look
    them up again for handlers installed later that print them."""
    formats = ' '.join(h.formatter._fmt or '' for h in handlers if h.formatter is not None)
    caller = any(f in formats for f in ('pathname', 'filename', 'module', 'funcName', 'lineno'))
    logging._srcfile = _SRCFILE if caller else None
    logging.logThreads = 'thread' in formats
    logging.logProcesses = logging.logMultiprocessing = 'process' in formats


def drain_all():
    """Write every waiting line now (a clean exit; registered with atexit)."""
    for writer in _writers:
        writer.drain()


atexit.register(drain_all)
