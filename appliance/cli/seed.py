"""The seed's (iso8583-web's) command names, so a site's scripts, cron jobs
and runbooks keep working:

  iso8583 FILE.ini                        iso8583d FILE.ini (the daemon)
  iso8583_web_client ...                  iso8583d-client ... (teller JSON-RPC)
  iso8583_web_client_linkaja ...          iso8583d-client linkaja ...
  iso8583_bjb_pbb_initdb FILE [--demo]    the biller's tables at [main]'s db_url
  iso8583_bjb_pbb_test_aggregator_initdb [FILE]
                                          the forwarder's STAN map (bank.forwarder
                                          hosts' db_url); no FILE: conf dir or preset
  init_db_linkaja FILE                    the LinkAja records ([web_linkaja] db_url)

The table commands print one line per database (password masked) on stdout;
a problem is one line on stderr: exit 78 for the configuration, 1 for a
database that cannot be opened or written.
"""
from appliance import patch  # noqa: F401  (first: gevent monkey-patching)

import argparse
import logging
import os
import sys

from appliance.runtime import config
from appliance.runtime.config import ConfigError, resolve_db_url
from appliance.runtime.registry import lookup
from appliance.cli.sections import init_main, warn_unused
from appliance.cli.settings import EXIT_CONFIG, default_data_dir, load_settings

EXIT_OK, EXIT_FATAL = 0, 1
FORWARDER = 'bank.forwarder'        # opensipkd.iso8583.bjb.pbb.test_aggregator
AGGREGATOR_BANK = 'aggregator.bank'  # opensipkd.iso8583.bjb.pbb.agratek


def daemon(argv=None):
    """iso8583 FILE.ini: the daemon, as iso8583d."""
    from appliance.cli.main import main
    return main(argv)


def web_client(argv=None):
    """iso8583_web_client: iso8583d-client (JSON-RPC mode)."""
    from appliance.client import main
    return main(_argv(argv))


def web_client_linkaja(argv=None):
    """iso8583_web_client_linkaja: iso8583d-client linkaja."""
    from appliance.client import main
    return main(['linkaja'] + _argv(argv))


def _argv(argv):
    return sys.argv[1:] if argv is None else list(argv)


# -- [main]: the biller's tables ------------------------------------------------

def _one_line(error):
    return ' '.join(str(error).split())


def pbb_initdb(argv=None):
    """iso8583_bjb_pbb_initdb FILE [--demo]."""
    prog = 'iso8583_bjb_pbb_initdb'
    p = _table_parser(prog, "Create a biller's tables (SISMIOP subset and its records) "
                            "at the db_url of FILE's [main] section (module, db_url).")
    p.add_argument('file', metavar='FILE.ini', help="e.g. the seed's iso8583-pbb.ini")
    p.add_argument('--demo', action='store_true', help='also load the demo bills')
    args = p.parse_args(_argv(argv))
    try:
        settings = config.load(None, [args.file], args.data_dir or default_data_dir())
        if settings.main is None:
            raise ConfigError('no [main] section (module = ..., db_url = ...)', args.file)
        warn_unused(settings, prog, reads_main=True)
        if settings.hosts:
            print('%s: warning: %s: the host_ sections are left alone (iso8583d --initdb '
                  'FILE creates their tables too)' % (prog, args.file), file=sys.stderr)
        line = init_main(settings, args.demo)
    except ConfigError as e:
        print('%s: configuration error: %s' % (prog, e), file=sys.stderr)
        return EXIT_CONFIG
    except Exception as e:
        from appliance.store.db import mask_url
        url = resolve_db_url(settings.main.db_url, settings.data_dir)
        print('%s: cannot create tables in %s: %s' % (prog, mask_url(url), _one_line(e)),
              file=sys.stderr)
        return EXIT_FATAL
    print(line)
    return EXIT_OK


# -- tables of host modules: the forwarder and the LinkAja records --------------------

def forwarder_initdb(argv=None):
    """iso8583_bjb_pbb_test_aggregator_initdb [FILE]."""
    prog = 'iso8583_bjb_pbb_test_aggregator_initdb'
    p = _table_parser(prog, "Create the forwarder's STAN map tables at the db_url of each "
                            'host_ section with module opensipkd.iso8583.bjb.pbb.'
                            "test_aggregator (the bank's file).")
    p.add_argument('files', nargs='*', metavar='FILE.ini',
                   help="e.g. the seed's test-bank.ini (default: the *.ini of --conf-dir, "
                        "or the bank's preset when there are none)")
    p.add_argument('--conf-dir', default=os.environ.get('ISO8583D_CONF_DIR',
                                                        config.DEFAULT_CONF_DIR),
                   help='read when no FILE is named (default: $ISO8583D_CONF_DIR or '
                        '%(default)s)')
    return _host_tables(prog, p.parse_args(_argv(argv)), FORWARDER)


def linkaja_initdb(argv=None):
    """init_db_linkaja FILE."""
    prog = 'init_db_linkaja'
    p = _table_parser(prog, 'Create the LinkAja records tables at the db_url of each '
                            "[web_...] LinkAja route (the aggregator's file).")
    p.add_argument('files', nargs=1, metavar='FILE.ini', help="e.g. the seed's test-agratek.ini")
    p.set_defaults(conf_dir=None)
    return _host_tables(prog, p.parse_args(_argv(argv)), AGGREGATOR_BANK)


def _host_tables(prog, args, module):
    """Settings as iso8583d reads them; only `module`'s hosts create tables."""
    from appliance.runtime.app import Appliance
    args.role = None
    try:
        if not (args.files or config.config_files(args.conf_dir)):
            args.role = 'bank'      # nothing configured: the bank's preset, as iso8583d
        settings = load_settings(args)
        if not any(h.module == module for h in settings.hosts):
            raise ConfigError('no host_ section with module %s (%s)' % (
                module, ', '.join(n for n in lookup(module).aliases)),
                ', '.join(settings.files) or config.PRESET_SOURCE % args.role)
        warn_unused(settings, prog, reads_main=False)
    except ConfigError as e:
        print('%s: configuration error: %s' % (prog, e), file=sys.stderr)
        return EXIT_CONFIG

    def report(level, line):
        print(line if level < logging.ERROR else '%s: %s' % (prog, line),
              file=sys.stdout if level < logging.ERROR else sys.stderr)

    return Appliance(settings).initdb(False, only={module}, report=report)


def _table_parser(prog, description):
    p = argparse.ArgumentParser(prog=prog, description=description,
                                epilog='exit status: 0 done, 1 a database cannot be opened '
                                       'or written, 78 a configuration error')
    p.add_argument('--data-dir', default=os.environ.get('ISO8583D_DATA_DIR'),
                   help='where relative SQLite paths (sqlite:///name.db) live, as for '
                        'iso8583d (default: $ISO8583D_DATA_DIR, %s when it exists, else '
                        '~/.local/share/iso8583d)' % config.DEFAULT_DATA_DIR)
    return p


COMMANDS = {
    'iso8583': daemon,
    'iso8583_web_client': web_client,
    'iso8583_web_client_linkaja': web_client_linkaja,
    'iso8583_bjb_pbb_initdb': pbb_initdb,
    'iso8583_bjb_pbb_test_aggregator_initdb': forwarder_initdb,
    'init_db_linkaja': linkaja_initdb,
}
