"""The iso8583d and iso8583d-client entry points."""
from appliance import patch  # noqa: F401  (first: gevent monkey-patching)

import argparse
import os
import sys

from appliance import __version__
from appliance.runtime import config, logsetup
from appliance.runtime.config import ConfigError
from appliance.runtime.registry import ROLES
from appliance.cli.settings import EXIT_CONFIG, load_settings, settings_or_none
from appliance.cli.sections import init_main, warn_open, warn_unused

EXIT_OK, EXIT_FATAL = 0, 1


def _parser():
    p = argparse.ArgumentParser(
        prog='iso8583d',
        description='ISO8583 host-to-host appliance for PBB payments '
                    '(roles: pemda biller, bank gateway, aggregator).',
        epilog='other commands (each with --help): iso8583d decode (ISO8583 frames from '
               'the logs, field by field), iso8583d journal (the bank\'s payments and '
               'their reversals), iso8583d rekon (daily reconciliation), '
               'iso8583d invoices, iso8583d demo, iso8583d client, '
               'iso8583d config-reference (docs/configuration.md)')
    p.add_argument('--role', choices=sorted(ROLES),
                   help='what to run; may be left out when the configuration '
                        'defines hosts (it is then guessed from their modules)')
    p.add_argument('--conf-dir', default=os.environ.get('ISO8583D_CONF_DIR',
                                                        config.DEFAULT_CONF_DIR),
                   help='directory of *.ini drop-ins, read in name order '
                        '(default: $ISO8583D_CONF_DIR or %(default)s)')
    p.add_argument('--data-dir', default=os.environ.get('ISO8583D_DATA_DIR'),
                   help='where SQLite databases live (default: $ISO8583D_DATA_DIR, '
                        '%s when it exists, else ~/.local/share/iso8583d)'
                        % config.DEFAULT_DATA_DIR)
    p.add_argument('files', nargs='*', metavar='FILE.ini',
                   help='configuration files to read instead of --conf-dir '
                        '(a seed file such as test-pemda.ini works unchanged)')
    p.add_argument('--check-config', action='store_true',
                   help='validate the configuration and exit (0 good, 78 bad)')
    p.add_argument('--print-config', action='store_true',
                   help='show every value with the file it came from, and exit')
    p.add_argument('--initdb', action='store_true',
                   help="create the role's database tables and exit")
    p.add_argument('--demo', action='store_true',
                   help='with --initdb: also load the demo bills')
    p.add_argument('--version', action='version', version='iso8583d ' + __version__)
    return p


def _invoices_parser():
    p = argparse.ArgumentParser(
        prog='iso8583d invoices',
        description="List invoice ids of the pemda's bills, one per line (for "
                    "iso8583d-client --invoice-file).")
    p.add_argument('--role', choices=['pemda'], default='pemda')
    p.add_argument('--conf-dir', default=os.environ.get('ISO8583D_CONF_DIR',
                                                        config.DEFAULT_CONF_DIR))
    p.add_argument('--data-dir', default=os.environ.get('ISO8583D_DATA_DIR'))
    p.add_argument('files', nargs='*', metavar='FILE.ini')
    which = p.add_mutually_exclusive_group()
    which.add_argument('--paid', dest='unpaid', action='store_false', default=True,
                       help='paid bills instead of bills with something to pay')
    which.add_argument('--all', dest='unpaid', action='store_const', const=None,
                       help='every bill')
    p.add_argument('--prefix', help='2 or 4 leading digits (e.g. 3275)')
    p.add_argument('--limit', type=int, help='at most this many')
    return p


def list_invoices(argv):
    args = _invoices_parser().parse_args(argv)
    settings = settings_or_none(args, 'iso8583d invoices')
    if settings is None:
        return EXIT_CONFIG
    from appliance.store.db import mask_url, open_as_owner
    from appliance.roles.pemda.demo import invoice_ids
    urls = []
    for section in settings.module_sections.values():
        url = config.resolve_db_url(section.biller.db_url, settings.data_dir)
        if url not in urls:
            urls.append(url)
    if not urls:
        print('iso8583d invoices: the configuration has no biller module', file=sys.stderr)
        return EXIT_CONFIG
    for url in urls:
        try:
            db = open_as_owner(url)
        except PermissionError as e:
            print('iso8583d invoices: %s' % e, file=sys.stderr)
            return EXIT_FATAL
        try:
            ids = invoice_ids(db, unpaid=args.unpaid, prefix=args.prefix, limit=args.limit)
        except Exception as e:
            print('iso8583d invoices: cannot read bills from %s: %s' % (mask_url(url), e),
                  file=sys.stderr)
            return EXIT_FATAL
        finally:
            db.close()
        sys.stdout.write(''.join(i + '\n' for i in ids))
    return EXIT_OK


def run_demo(argv):
    from appliance.cli.demo import main as demo_main
    return demo_main(argv)


def decode_frames(argv):
    from appliance.cli.decode import main as decode_main
    return decode_main(argv)


def print_reference(argv):
    from appliance.cli.reference import main as reference_main
    return reference_main(argv)


def show_journal(argv):
    from appliance.cli.journal import main as journal_main
    return journal_main(argv)


def reconcile(argv):
    from appliance.cli.rekon import main as rekon_main
    return rekon_main(argv)


SUBCOMMANDS = {'invoices': list_invoices, 'demo': run_demo,
               'client': lambda argv: client_main(argv), 'decode': decode_frames,
               'journal': show_journal, 'config-reference': print_reference,
               'rekon': reconcile}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = _parser().parse_args(argv)
    if args.demo and not args.initdb:
        _parser().error('--demo goes with --initdb')
    try:
        settings = load_settings(args)
        if settings.main is not None and not settings.hosts and not (
                args.initdb or args.print_config):
            raise ConfigError('names only a database, for --initdb (the seed\'s '
                              'iso8583-pbb.ini); a daemon needs host_ sections',
                              settings.main.source, 'main')
        warn_unused(settings, 'iso8583d', reads_main=args.initdb)
        warn_open(settings, 'iso8583d')
        if args.check_config:
            print('configuration OK: role %s, %d host(s), %d web route(s), from %s' % (
                settings.role, len(settings.hosts), len(settings.routes),
                ', '.join(settings.files) or 'the preset'))
            return EXIT_OK
        if args.print_config:
            config.print_config(settings, sys.stdout)
            return EXIT_OK
        logsetup.setup(settings)
    except ConfigError as e:
        print('iso8583d: configuration error: %s' % e, file=sys.stderr)
        return EXIT_CONFIG
    os.makedirs(settings.data_dir, exist_ok=True)
    from appliance.runtime.app import Appliance, Fatal
    try:
        appliance = Appliance(settings)
    except Fatal as e:
        import logging
        logging.getLogger('iso8583d').error('%s', e)
        return EXIT_FATAL
    if args.initdb:
        return _initdb(appliance, settings, args.demo)
    return appliance.run()


def _initdb(appliance, settings, demo):
    """--initdb: [main]'s biller tables (the seed's iso8583-pbb.ini), then the hosts'."""
    if settings.main is not None:
        import logging
        log = logging.getLogger('iso8583d')
        try:
            log.info('%s', init_main(settings, demo))
        except ConfigError as e:
            log.error('configuration error: %s', e)
            return EXIT_CONFIG
        except Exception as e:
            from appliance.store.db import mask_url
            log.error('[main] cannot create tables in %s: %s', mask_url(
                config.resolve_db_url(settings.main.db_url, settings.data_dir)),
                ' '.join(str(e).split()))
            return EXIT_FATAL
    return appliance.initdb(demo)


def client_main(argv=None):
    from appliance.client import main as run_client
    return run_client(argv)
