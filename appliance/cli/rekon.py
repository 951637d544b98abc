"""`iso8583d rekon`: the daily reconciliation of bank and pemda (issue 21).

    iso8583d rekon --role bank --date 2026-12-05 [--to ...] [--host NAME] [--out FILE]
    iso8583d rekon --role pemda --file FILE [--csv | --json] [--apply]

The bank writes its settlement file (appliance.pbb.settlement) from its
journal and forwarder records (appliance.roles.bank.settlement); the pemda
compares it with its books (appliance.roles.pemda.rekon) and, with --apply,
books what the bank paid and it lacks. docs/operations.md, "Daily
reconciliation", is the operator's side.

Exit codes: 0 the two agree (the bank: file written), 1 they differ, 2 the
comparison could not be made (bad file, database unreachable), 78 bad
configuration.
"""
import argparse
import csv
import json
import os
import sys
from datetime import date, timedelta

from appliance.runtime import config
from appliance.cli.settings import settings_or_none
from appliance.errors import CommandError, SettlementFileError

EXIT_AGREE, EXIT_DIFFER, EXIT_FATAL, EXIT_CONFIG = 0, 1, 2, 78
JOURNAL_MODULE, FORWARDER_MODULE = 'bank.pemda', 'bank.forwarder'


def day(text):
    """YYYY-MM-DD, `today` or `yesterday` (local time)."""
    if text in ('today', 'yesterday'):
        return date.today() - timedelta(days=1 if text == 'yesterday' else 0)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not YYYY-MM-DD, today or yesterday' % text)


def parser():
    p = argparse.ArgumentParser(
        prog='iso8583d rekon',
        description="Daily reconciliation. The bank writes the settlement file of the "
                    "payments answered 00 and not reversed; the pemda compares it with "
                    "pembayaran_sppt and its payment records (exit 0 only when they agree).")
    p.add_argument('--role', choices=['bank', 'pemda'], required=True)
    p.add_argument('--conf-dir', default=os.environ.get('ISO8583D_CONF_DIR',
                                                        config.DEFAULT_CONF_DIR))
    p.add_argument('--data-dir', default=os.environ.get('ISO8583D_DATA_DIR'))
    p.add_argument('files', nargs='*', metavar='FILE.ini')
    bank = p.add_argument_group('bank')
    bank.add_argument('--date', type=day, help='first day (YYYY-MM-DD, today, yesterday)')
    bank.add_argument('--to', type=day, help='last day (default: --date)')
    bank.add_argument('--host', help='only this pemda [host_<name>]')
    bank.add_argument('--out', help='write the file here (default: standard output)')
    bank.add_argument('--out-dir', help='write <host>_<date>.csv into this directory')
    pemda = p.add_argument_group('pemda')
    pemda.add_argument('--file', help="the bank's settlement file")
    pemda.add_argument('--bank', action='append',
                       help="our payments of this bank code (bit 32) are compared "
                            "(default: the file's banks=); may be repeated")
    shown = pemda.add_mutually_exclusive_group()
    shown.add_argument('--csv', action='store_true', help='differences as CSV')
    shown.add_argument('--json', action='store_true', help='differences as one JSON object')
    pemda.add_argument('--apply', action='store_true',
                       help='book what the bank paid and the pemda lacks')
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if args.role == 'bank' and args.date is None:
        p.error('--role bank needs --date')
    if args.role == 'pemda' and not args.file:
        p.error('--role pemda needs --file')
    settings = settings_or_none(args, 'iso8583d rekon')
    if settings is None:
        return EXIT_CONFIG
    try:
        if args.role == 'bank':
            return bank_file(settings, args)
        return pemda_compare(settings, args)
    except (CommandError, SettlementFileError, PermissionError) as e:
        print('iso8583d rekon: %s' % e, file=sys.stderr)
        return EXIT_FATAL


# -- the bank ---------------------------------------------------------------------

def _host_urls(settings, module, option_default, only=None):
    urls = {}
    for host in settings.hosts:
        if host.module == module and only in (None, host.name):
            url = config.resolve_db_url(host.options.get('db_url') or option_default,
                                        settings.data_dir)
            urls.setdefault(url, []).append(host.name)
    return urls


def _open(url, what):
    from appliance.store.db import open_as_owner, parse_url
    checked = parse_url(url)
    if checked.kind == 'sqlite' and not os.path.exists(checked.target):
        raise CommandError('no %s yet at %s: the bank has not run with it'
                           % (what, checked.target))
    return open_as_owner(url)


def bank_file(settings, args):
    from appliance.pbb.settlement import Row, day_range, render
    from appliance.roles.bank.forwarder import ForwarderModule
    from appliance.roles.bank.peer import PemdaPeer
    from appliance.roles.bank.settlement import settled
    first, last = args.date, args.to or args.date
    journal_urls = _host_urls(settings, JOURNAL_MODULE, PemdaPeer.OPTIONS.default('db_url'),
                              args.host)
    if not journal_urls:
        raise CommandError('no [host_%s] with module = %s in the configuration: the '
                           "bank's journal is kept by its links to the pemdas"
                           % (args.host or '<name>', JOURNAL_MODULE))
    forwarder_urls = _host_urls(settings, FORWARDER_MODULE,
                                ForwarderModule.OPTIONS.default('db_url'))
    opened = {}
    try:
        journals = [(opened.setdefault(u, _open(u, 'journal')), hosts)
                    for u, hosts in journal_urls.items()]
        forwarders = [opened.get(u) or opened.setdefault(u, _open(u, 'forwarder record'))
                      for u in forwarder_urls]
        start, end = day_range(first, last)
        try:
            payments = settled(journals, forwarders, start, end)
        except Exception as e:
            raise CommandError('cannot read the journal: %s' % e)
    finally:
        for db in opened.values():
            db.close()
    hosts = sorted({h for names in journal_urls.values() for h in names})
    rows = [Row(p.invoice_id, p.ntb, p.ntp, p.stan, p.amount, p.paid_at, p.channel,
                p.bank_code, p.host, p.source) for p in payments]
    text = render(first, last, hosts, sorted({r.bank_code for r in rows if r.bank_code}),
                  rows)
    target = args.out
    if args.out_dir:
        span = first.isoformat() + ('' if last == first else '_' + last.isoformat())
        target = os.path.join(args.out_dir, '%s_%s.csv' % ('+'.join(hosts), span))
    if target:
        _write(target, text)
        print('iso8583d rekon: %d payment(s), %d in total, written to %s' % (
            len(rows), sum(r.amount for r in rows), target), file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_AGREE


def _write(path, text):
    """Whole or not at all: a reader never sees half a file."""
    temporary = '%s.part' % path
    try:
        with open(temporary, 'w', encoding='utf-8', newline='') as f:
            f.write(text)
        os.replace(temporary, path)
    except OSError as e:
        raise CommandError('cannot write %s: %s' % (path, e.strerror or e))


# -- the pemda --------------------------------------------------------------------

def _biller(settings):
    """(BillerSettings, db_url) of the configuration's one biller database."""
    found = {}
    for section in settings.module_sections.values():
        biller = getattr(section, 'biller', None)
        if biller is not None:
            found.setdefault(config.resolve_db_url(biller.db_url, settings.data_dir), biller)
    if not found:
        raise CommandError('the configuration has no biller module (pemda)')
    if len(found) > 1:
        raise CommandError('the configuration has %d biller databases; give the '
                           'configuration file of one' % len(found))
    url, biller = next(iter(found.items()))
    return biller, url


def pemda_compare(settings, args):
    from appliance.pbb.settlement import parse
    from appliance.roles.pemda import rekon
    from appliance.store.db import mask_url, open_as_owner
    try:
        with open(args.file, encoding='utf-8', newline='') as f:
            settlement = parse(f.read(), args.file)
    except OSError as e:
        raise CommandError('cannot read %s: %s' % (args.file, e.strerror or e))
    biller, url = _biller(settings)
    banks = args.bank or settlement.banks
    db = open_as_owner(url)
    try:
        differences = rekon.compare(settlement, rekon.our_side(db, settlement, banks))
        applied = []
        if args.apply:
            applied = rekon.apply(db, biller, rekon.settlement_rows(differences, settlement))
            differences = rekon.compare(settlement, rekon.our_side(db, settlement, banks))
    except Exception as e:
        raise CommandError('cannot compare with %s: %s' % (mask_url(url), e))
    finally:
        db.close()
    show(settlement, differences, applied, args, sys.stdout)
    return EXIT_AGREE if not differences else EXIT_DIFFER


# The columns of a difference (Difference's fields, `kind` shown as `class`).
HEADER = ('class', 'invoice_id', 'ntb', 'stan', 'bank_amount', 'pemda_amount', 'detail')


def show(settlement, differences, applied, args, out):
    if args.json:
        json.dump({'from': settlement.first.isoformat(), 'to': settlement.last.isoformat(),
                   'banks': settlement.banks, 'rows': len(settlement.rows),
                   'agree': not differences,
                   'differences': [d._asdict() for d in differences],
                   'applied': [a._asdict() for a in applied]}, out, indent=1)
        out.write('\n')
        return
    for a in applied:      # with --csv on standard error, the CSV stays clean
        (sys.stderr if args.csv else out).write('applied: invoice %s NTB %s: %s, %s\n' % (
            a.invoice_id, a.ntb, a.outcome, a.detail))
    if args.csv:
        writer = csv.writer(out, lineterminator='\n')
        writer.writerow(HEADER)
        writer.writerows([_text(v) for v in d] for d in differences)
        return
    period = settlement.first.isoformat() + (
        '' if settlement.last == settlement.first else ' to ' + settlement.last.isoformat())
    if not differences:
        out.write('agree: %d payment(s) of %s, banks %s\n' % (
            len(settlement.rows), period, ','.join(settlement.banks) or '-'))
        return
    widths = [28, 22, 14, 6, 12, 12, 0]
    out.write(_line(HEADER, widths) + '\n')
    for d in differences:
        out.write(_line([_text(v) for v in d], widths) + '\n')
    out.write('%d difference(s); the file has %d payment(s) of %s\n' % (
        len(differences), len(settlement.rows), period))


def _text(value):
    return '' if value is None else str(value)


def _line(cells, widths):
    return '  '.join(c.ljust(w) if w else c for c, w in zip(cells, widths)).rstrip()
