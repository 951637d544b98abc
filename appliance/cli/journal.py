"""`iso8583d journal`: the bank's payment journal with each entry's reversal,
for an operator: did this payment reach the pemda, what did it answer, which
reversals still wait, which expired and must be settled by hand.

Read-only, and safe while the bank runs: it opens the journal databases of
the configuration's `bank.pemda` hosts (their `db_url`) and only selects.
Newest entries first. The reversals the bank queued for payments it only
forwarded (an aggregator's, appliance.roles.bank.forwarder) have no journal entry: they
are listed from the queue alone, as kind `forwarded`.
"""
import argparse
import json
import os
import sys
import time

from appliance.runtime import config
from appliance.cli.settings import settings_or_none
from appliance.client.options import positive_int
from appliance.roles.bank.journal import (
    ANSWERED, CUT, DONE, EXPIRED, LOST, MALFORMED, ORPHANED, QUEUED, SENDING, TIMEOUT,
    UNRECORDED, UNSENT, JournalEntry, SafEntry, loaded)
from appliance.errors import CommandError  # noqa: F401

EXIT_OK, EXIT_FATAL, EXIT_CONFIG = 0, 1, 78
JOURNAL_MODULE = 'bank.pemda'
STATES = (SENDING, ANSWERED, UNSENT, TIMEOUT, LOST, MALFORMED, CUT, ORPHANED, UNRECORDED)
REVERSAL_STATES = (QUEUED, DONE, EXPIRED)
COLUMNS = (('id', 6), ('time', 19), ('host', 12), ('kind', 8), ('invoice', 22),
           ('ntb', 14), ('stan', 6), ('amount', 12), ('state', 10), ('39', 2),
           ('node', 16), ('reversal', 0))


def parser():
    p = argparse.ArgumentParser(
        prog='iso8583d journal',
        description="The bank's payment journal, newest first, with each entry's "
                    "reversal (read-only; the bank may be running).")
    p.add_argument('--conf-dir', default=os.environ.get('ISO8583D_CONF_DIR',
                                                        config.DEFAULT_CONF_DIR),
                   help="the bank's drop-ins (default: $ISO8583D_CONF_DIR or %(default)s)")
    p.add_argument('--data-dir', default=os.environ.get('ISO8583D_DATA_DIR'),
                   help='where its SQLite journal lives (as for the daemon)')
    p.add_argument('files', nargs='*', metavar='FILE.ini',
                   help='configuration files to read instead of --conf-dir')
    p.add_argument('--invoice', help='only this invoice id')
    p.add_argument('--ntb', help='only this bank reference (bit 48)')
    p.add_argument('--host', help='only this [host_<name>]')
    p.add_argument('--state', choices=STATES, help='only entries in this state')
    p.add_argument('--reversal', choices=REVERSAL_STATES + ('any',),
                   help="only entries whose reversal is in this state ('any': "
                        "every entry with a reversal; 'expired': to settle by hand)")
    p.add_argument('--limit', type=positive_int, default=50, help='at most this many '
                   '(default %(default)s)')
    p.add_argument('--json', action='store_true', help='one JSON object per line')
    p.set_defaults(role='bank')     # read as the bank does: its preset if no host is set
    return p


def journal_urls(settings, only_host=None):
    """{resolved db_url: [host names]} of the configuration's journals."""
    from appliance.roles.bank.peer import PemdaPeer
    default = PemdaPeer.OPTIONS.default('db_url')
    urls = {}
    for host in settings.hosts:
        if host.module != JOURNAL_MODULE or only_host not in (None, host.name):
            continue
        url = config.resolve_db_url(host.options.get('db_url') or default, settings.data_dir)
        urls.setdefault(url, []).append(host.name)
    return urls


def read(db, hosts, args):
    """The matching journal entries of one database, newest first, as dicts."""
    from peewee import JOIN
    query = (JournalEntry
             .select(JournalEntry.id, JournalEntry.created_at, JournalEntry.host,
                     JournalEntry.kind, JournalEntry.invoice_id, JournalEntry.ntb,
                     JournalEntry.stan, JournalEntry.amount, JournalEntry.state,
                     JournalEntry.code, JournalEntry.message, JournalEntry.owner.alias('node'),
                     SafEntry.id.alias('reversal_id'), SafEntry.state.alias('reversal_state'),
                     SafEntry.owner.alias('reversal_node'),
                     SafEntry.attempts.alias('reversal_attempts'),
                     SafEntry.last_code.alias('reversal_last_code'))
             .join(SafEntry, JOIN.LEFT_OUTER, on=(SafEntry.journal_id == JournalEntry.id))
             .where(JournalEntry.host.in_(hosts)))
    query = _filtered(query, args, JournalEntry.invoice_id, JournalEntry.ntb,
                      JournalEntry.state)
    query = _reversal_filter(query, args.reversal)
    query = query.order_by(JournalEntry.created_at.desc(), JournalEntry.id.desc())
    with db.connection_context():
        return list(query.limit(args.limit).dicts().execute(db))


def read_forwarded(db, hosts, args):
    """Reversals queued without a journal entry (forwarded payments), as
    rows like read()'s: kind `forwarded`, state the outcome that queued it."""
    query = SafEntry.select().where(SafEntry.journal_id.is_null() & SafEntry.host.in_(hosts))
    query = _filtered(query, args, SafEntry.invoice_id, SafEntry.ntb, SafEntry.reason)
    if args.reversal in REVERSAL_STATES:
        query = query.where(SafEntry.state == args.reversal)
    query = query.order_by(SafEntry.created_at.desc(), SafEntry.id.desc())
    with db.connection_context():
        entries = list(query.limit(args.limit).execute(db))
    return [{'id': None, 'created_at': e.created_at, 'host': e.host, 'kind': 'forwarded',
             'invoice_id': e.invoice_id, 'ntb': e.ntb, 'stan': e.stan,
             'amount': int(loaded(e.request).get(4) or 0), 'state': e.reason, 'code': '',
             'message': '', 'node': e.owner, 'reversal_node': e.owner,
             'reversal_id': e.id, 'reversal_state': e.state,
             'reversal_attempts': e.attempts, 'reversal_last_code': e.last_code}
            for e in entries]


def _filtered(query, args, invoice, ntb, state):
    """--invoice, --ntb and --state on these columns."""
    for wanted, column in ((args.invoice, invoice), (args.ntb, ntb), (args.state, state)):
        if wanted:
            query = query.where(column == wanted)
    return query


def _reversal_filter(query, wanted):
    if wanted == 'any':
        return query.where(SafEntry.id.is_null(False))
    if wanted:
        return query.where(SafEntry.state == wanted)
    return query


def reversal_text(row):
    """'queued #7, 3 attempts, last 68' or '' without a reversal."""
    if row['reversal_id'] is None:
        return ''
    attempts = row['reversal_attempts']
    text = '%s #%d, %d attempt%s' % (row['reversal_state'], row['reversal_id'], attempts,
                                     '' if attempts == 1 else 's')
    if row['reversal_last_code']:
        text += ', last %s' % row['reversal_last_code']
    if row['reversal_node'] and row['reversal_node'] != row['node']:
        text += ', taken over by node %s' % row['reversal_node']
    return text


def _cells(row):
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(row['created_at']))
    entry = '-' if row['id'] is None else str(row['id'])      # '-': forwarded
    return (entry, when, row['host'], row['kind'], row['invoice_id'], row['ntb'],
            row['stan'], str(row['amount']), row['state'], row['code'] or '-',
            row['node'] or '-', reversal_text(row))


def _line(cells):
    return '  '.join(cell.ljust(width) if width else cell
                     for cell, (_, width) in zip(cells, COLUMNS)).rstrip()


def show(rows, as_json, out):
    if as_json:
        for row in rows:
            out.write(json.dumps(row, sort_keys=True) + '\n')
        return
    if not rows:
        out.write('no journal entries match\n')
        return
    out.write(_line([name for name, _ in COLUMNS]) + '\n')
    for row in rows:
        out.write(_line(_cells(row)) + '\n')


def read_journals(urls, args):
    """The matching entries of every journal, newest first."""
    from appliance.store.db import mask_url, open_as_owner, parse_url
    rows = []
    for url, hosts in urls.items():
        checked = parse_url(url)
        if checked.kind == 'sqlite' and not os.path.exists(checked.target):
            raise CommandError('no journal yet at %s (host %s): the bank has not run with it'
                               % (checked.target, ', '.join(hosts)))
        db = open_as_owner(url)      # the loader checked the URL
        try:
            rows += read(db, hosts, args) + read_forwarded(db, hosts, args)
        except Exception as e:
            raise CommandError('cannot read the journal in %s: %s' % (mask_url(url), e))
        finally:
            db.close()
    rows.sort(key=lambda r: (r['created_at'], r['id'] or 0), reverse=True)
    return rows


def main(argv=None):
    args = parser().parse_args(argv)
    settings = settings_or_none(args, 'iso8583d journal')
    if settings is None:
        return EXIT_CONFIG
    urls = journal_urls(settings, args.host)
    if not urls:
        print('iso8583d journal: no %s host%s in the configuration: the journal is '
              "kept by the bank's links to its pemdas" % (
                  JOURNAL_MODULE, ' named %s' % args.host if args.host else ''),
              file=sys.stderr)
        return EXIT_CONFIG
    try:
        rows = read_journals(urls, args)
    except (CommandError, PermissionError) as e:
        print('iso8583d journal: %s' % e, file=sys.stderr)
        return EXIT_FATAL
    show(rows[:args.limit], args.json, sys.stdout)
    return EXIT_OK
