"""The lines logged for every message, written without logging's per-record work.

The link logs six lines per ISO8583 message at INFO (the seed's `Receive`,
`Raw to ISO8583`, `Decode`, `Encode`, `ISO8583 to raw`, `Send`), on both sides
of every exchange. Through `logging.Logger.info` each line makes a LogRecord,
walks the handler chain, runs the filters and formats: about 30 µs, most of
what logging costs a daemon once appliance.runtime.logbatch batches the writes.

`Lines(logger, level).log(fmt, *args)` writes the same text when the logger's
handlers are plain: stream or file handlers whose streams logbatch batches,
whose formatter is logbatch's (`%`-style, printing only time, level, logger
name and message) and with no filters but logbatch's own. The line is
formatted once for all of them and appended to their batches. With anything
else in the chain (a filter, another handler class, pytest's capture) it is
`logger.log` itself. What is plain is worked out again whenever a logger or
handler of the chain gains or loses a handler or a filter, a handler's
formatter or stream changes, or the record factory does (`_watch`). The
web server's access and `allowed` lines go the same way.
"""
import logging
import re
import time

# What a line's format may print for the fast path to write it.
PLAIN_FIELDS = frozenset(('asctime', 'levelname', 'levelno', 'name', 'message'))
_FIELD = re.compile(r'%\((\w+)\)')


def plain_format(fmt):
    """True when a `%`-style format prints only PLAIN_FIELDS."""
    return set(_FIELD.findall(fmt or '')) <= PLAIN_FIELDS


class Lines:
    """Writes `logger`'s lines at `level`, as logging would, in a fraction of
    its time."""

    def __init__(self, logger, level=logging.INFO):
        self.logger = logger
        self.level = level
        self._watched = ()         # _watch(): what the plan was made from
        self._plan = None          # [(formatter, [handler])] or None: use the logger
        self._escape = None
        self._factory = None

    def log(self, fmt, *args):
        logger, level = self.logger, self.level
        if not logger.isEnabledFor(level) or logger.disabled:
            return
        if not self._unchanged():
            self._plan, self._escape = _plan(logger)
            self._watched = _watch(logger)
            self._factory = logging.getLogRecordFactory()
        plan = self._plan
        if plan is None:
            logger.log(level, fmt, *args, stacklevel=2)     # the caller's line
            return
        message = fmt % args if args else fmt
        if self._escape is not None:
            message = self._escape(message)
        now = time.time()
        levelname = logging.getLevelName(level)
        for formatter, handlers in plan:
            text = formatter.line(now, level, levelname, logger.name, message)
            for handler in handlers:
                if handler.level <= level:
                    handler.stream.write(text + handler.terminator)
                    handler.stream.flush()

    def _unchanged(self):
        watched = self._watched
        if not watched or logging.getLogRecordFactory() is not self._factory:
            return False
        counted, kept = watched
        for container, length in counted:
            if len(container) != length:
                return False
        for owner, name, value in kept:
            if getattr(owner, name, None) is not value:
                return False
        return True


def _chain(logger):
    """The loggers whose handlers see `logger`'s records."""
    while logger is not None:
        yield logger
        if not logger.propagate:
            return
        logger = logger.parent


def _watch(logger):
    """What the plan depends on and may change at run time (pytest's log
    capture adds a handler to the root), cheaply compared: lists by length,
    attributes by identity."""
    counted, kept = [], []
    for each in _chain(logger):
        counted += [(each.handlers, len(each.handlers)), (each.filters, len(each.filters))]
        kept.append((each, 'propagate', each.propagate))
        for handler in each.handlers:
            counted.append((handler.filters, len(handler.filters)))
            kept += [(handler, 'formatter', handler.formatter),
                     (handler, 'stream', getattr(handler, 'stream', None))]
    return counted, kept


def _plan(logger):
    """([(formatter, [handler])], escape) when every handler of the chain is
    plain, grouped by formatter; (None, None) when one is not, or the record
    factory is one the fast path cannot stand in for."""
    factory = logging.getLogRecordFactory()
    escape = getattr(factory, 'escape_message', None)
    if factory is not logging.LogRecord and escape is None:
        return None, None
    plan = {}
    for each in _chain(logger):
        if each.filters:
            return None, None
        for handler in each.handlers:
            if not _plain(handler):
                return None, None
            plan.setdefault(handler.formatter, []).append(handler)
    return (list(plan.items()) or None), escape


def _plain(handler):
    if type(handler) not in (logging.StreamHandler, logging.FileHandler):
        return False
    formatter = handler.formatter
    return (getattr(handler.stream, 'batched', False)
            and all(getattr(f, 'urgent_marker', False) for f in handler.filters)
            and hasattr(formatter, 'line')
            and type(formatter._style) is logging.PercentStyle    # not its {} and $ kin
            and plain_format(formatter._fmt))
