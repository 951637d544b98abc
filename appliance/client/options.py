"""Command-line options every mode shares, and their typed converters."""

import argparse

from appliance.client.http import endpoint
from appliance.errors import UsageError  # noqa: F401


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError('%r is not a positive whole number' % text)
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError('%r is not a positive number of seconds' % text)
    return value


def http_url(text):
    try:
        endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_invoice_arguments(parser, required, reversal_help='reverse a payment'):
    """--invoice-id/--invoice-file, --payment/--reversal and --amount; the
    group of transaction kinds, so a mode can add kinds of its own."""
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument('--invoice-id', metavar='ID', help='invoice id (NOP + tax year)')
    source.add_argument('--invoice-file', metavar='FILE',
                        help='one invoice id per line, optionally followed by an amount; '
                             'requests go round-robin over the ids')
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument('--payment', action='store_true',
                      help='pay instead of inquire; without an amount it inquires first '
                           'and pays the amount due')
    kind.add_argument('--reversal', action='store_true', help=reversal_help)
    parser.add_argument('--amount', type=positive_int, metavar='RUPIAH',
                        help='amount for payment or reversal')
    return kind


def add_transaction_arguments(parser, default_url):
    """Which endpoint, which invoices, which transaction."""
    parser.add_argument('--url', type=http_url, default=default_url,
                        help='endpoint URL (default %(default)s)')
    add_invoice_arguments(parser, required=True)


def add_run_arguments(parser):
    """How many, how fast, and how the outcome is shown."""
    run = parser.add_argument_group('stress test and output')
    run.add_argument('--count', type=positive_int, default=1, metavar='N',
                     help='requests in flight at the same time (default 1)')
    run.add_argument('--requests', type=positive_int, metavar='N',
                     help='total requests (default: --count)')
    run.add_argument('--timeout', type=positive_float, default=30.0, metavar='SECONDS',
                     help='per HTTP request (default %(default)s)')
    run.add_argument('--json', action='store_true',
                     help='print one JSON object with statistics and every result, nothing else')
    run.add_argument('-v', '--verbose', action='store_true',
                     help='print Request/Response/thread lines even for runs of more than '
                          '10 requests')
    run.add_argument('--progress', action='store_true',
                     help='progress line on stderr every second (default: on a terminal, '
                          'after 2 s)')


def check_common(args):
    """Option combinations no mode accepts."""
    if args.amount is not None and not (args.payment or args.reversal):
        raise UsageError('--amount only applies to --payment and --reversal')


def need(args, invoices, what, names):
    """UsageError listing the `names` (option spellings) whose values are missing.

    An amount on every --invoice-file line stands in for --amount.
    """
    missing = [name for name in names if not _given(args, invoices, name)]
    if missing:
        raise UsageError('%s needs %s; missing: %s' % (what, _join(names), ', '.join(missing)))


def only_for(args, names, kinds):
    """UsageError if any of `names` is given outside the transaction `kinds`."""
    given = [name for name in names if getattr(args, _dest(name)) is not None]
    if given:
        raise UsageError('%s only appl%s to %s' % (
            _join(given), 'ies' if len(given) == 1 else 'y', _join(kinds)))


def has_amounts(args, invoices):
    """True when every request has an amount, from --amount or the invoice file."""
    return args.amount is not None or all(i.amount is not None for i in invoices)


def _given(args, invoices, name):
    if name == '--amount':
        return has_amounts(args, invoices)
    return getattr(args, _dest(name)) is not None


def _dest(name):
    return name.lstrip('-').replace('-', '_')


def _join(names):
    names = list(names)
    return names[0] if len(names) == 1 else '%s and %s' % (', '.join(names[:-1]), names[-1])
