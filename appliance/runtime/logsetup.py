"""Logging: the seed's format by default, or the seed's fileConfig sections."""
import logging
import logging.config
import sys

from appliance.runtime.config import ConfigError

FORMAT = '%(asctime)s %(levelname)s %(message)s'

# The old daemon logged as `iso8583_web`; a seed file's [logger_iso8583_web]
# applies to our `iso8583d` loggers too.
SEED_LOGGER = 'iso8583_web'
OUR_LOGGER = 'iso8583d'


def setup(settings, level=logging.INFO):
    if settings.logging is None:
        logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
        return
    try:
        logging.config.fileConfig(settings.logging, disable_existing_loggers=False)
    except Exception as e:   # fileConfig raises KeyError, OSError, ValueError, ...
        raise ConfigError('logging sections: %s' % (e,)) from None
    _alias_seed_logger()


def _alias_seed_logger():
    seed = logging.getLogger(SEED_LOGGER)
    ours = logging.getLogger(OUR_LOGGER)
    if seed.level != logging.NOTSET and ours.level == logging.NOTSET:
        ours.setLevel(seed.level)
    for handler in seed.handlers:
        ours.addHandler(handler)
    ours.propagate = seed.propagate
