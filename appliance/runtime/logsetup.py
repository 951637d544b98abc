"""Logging: the seed's format by default, or the seed's fileConfig sections;
either way made cheap enough to keep on (logbatch)."""
import logging
import logging.config
import sys

from appliance.runtime import logbatch, logescape
from appliance.runtime.config import ConfigError

FORMAT = '%(asctime)s %(levelname)s %(message)s'

# The old daemon logged as `iso8583_web`; a seed file's [logger_iso8583_web]
# applies to our `iso8583d` loggers too.
SEED_LOGGER = 'iso8583_web'
OUR_LOGGER = 'iso8583d'
# A key of ours in a [handler_<name>] section; fileConfig ignores it.
FLUSH_KEY = 'flush_interval'


def setup(settings, level=logging.INFO):
    logescape.install()
    if settings.logging is None:
        logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
        logbatch.install(logging.getLogger().handlers)
        return
    intervals = _flush_intervals(settings.logging)
    try:
        logging.config.fileConfig(settings.logging, disable_existing_loggers=False)
    except Exception as e:   # fileConfig raises KeyError, OSError, ValueError, ...
        raise ConfigError('logging sections: %s' % (e,)) from None
    _alias_seed_logger()
    logbatch.install(_all_handlers(), intervals)


def _flush_intervals(parser):
    """handler name -> flush_interval of the [handler_<name>] sections that set it."""
    intervals = {}
    for section in parser.sections():
        if section.startswith('handler_') and parser.has_option(section, FLUSH_KEY):
            try:
                intervals[section[len('handler_'):]] = logbatch.flush_interval(
                    parser.get(section, FLUSH_KEY))
            except ValueError as e:
                raise ConfigError(str(e), section=section, key=FLUSH_KEY) from None
    return intervals


def _all_handlers():
    loggers = [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)]
    found = []
    for logger in loggers:
        for handler in getattr(logger, 'handlers', ()):
            if handler not in found:
                found.append(handler)
    return found


def _alias_seed_logger():
    seed = logging.getLogger(SEED_LOGGER)
    ours = logging.getLogger(OUR_LOGGER)
    if seed.level != logging.NOTSET and ours.level == logging.NOTSET:
        ours.setLevel(seed.level)
    for handler in seed.handlers:
        ours.addHandler(handler)
    ours.propagate = seed.propagate
