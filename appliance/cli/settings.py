"""Where a command finds its settings: the conf dir or the files named, the
role's preset, the data dir; shared by iso8583d and its sub-commands."""
import os
import sys

from appliance.runtime import config
from appliance.runtime.config import ConfigError
from appliance.runtime.registry import ROLES

EXIT_CONFIG = 78


def default_data_dir():
    if os.path.isdir(config.DEFAULT_DATA_DIR) and os.access(config.DEFAULT_DATA_DIR, os.W_OK):
        return config.DEFAULT_DATA_DIR
    base = os.environ.get('XDG_DATA_HOME') or os.path.expanduser('~/.local/share')
    return os.path.join(base, 'iso8583d')


def guess_role(settings):
    """The seed ran without --role; tell the role from the modules in use."""
    mods = {h.module for h in settings.hosts} | {r.module for r in settings.routes}
    if settings.main is not None:
        mods.add(settings.main.module)
    if any(m.startswith('pemda') for m in mods):
        return 'pemda'
    if any(m.startswith('aggregator') for m in mods):
        return 'aggregator'
    return 'bank'


def load_settings(args):
    files = args.files or config.config_files(args.conf_dir)
    data_dir = args.data_dir or default_data_dir()
    if args.role is None and not files:
        raise ConfigError('no configuration found in %s: say which preset to run '
                          'with --role bank, pemda or aggregator' % args.conf_dir)
    presets = []
    if args.role:
        role = ROLES[args.role]
        presets = [(config.PRESET_SOURCE % args.role, role.PRESET)]
    settings = config.load(args.role, files, data_dir, presets)
    if args.role is None:
        if not settings.hosts and settings.main is None:
            raise ConfigError('the configuration defines no host_ section; '
                              'name a preset with --role')
        settings = config.with_role(settings, guess_role(settings))
    return settings


def settings_or_none(args, command):
    """load_settings for a command beside the daemons; None once the
    configuration error is printed."""
    try:
        return load_settings(args)
    except ConfigError as e:
        print('%s: configuration error: %s' % (command, e), file=sys.stderr)
        return None
