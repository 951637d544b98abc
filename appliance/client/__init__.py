"""iso8583d-client: the teller and LinkAja client, and a stress tool.

`iso8583d-client [MODE] OPTIONS`, MODE defaulting to jsonrpc. A mode is a
module with DESCRIPTION, add_arguments(parser), check(args, invoices) (raises
UsageError) and transaction(args, invoices, echo) returning a Transaction.
"""

import argparse
import sys

from appliance.client import iso, jsonrpc, linkaja, report, runner, stats
from appliance.client.invoices import Invoice, InvoiceFileError, read_invoice_file
from appliance.client.options import UsageError, add_run_arguments, check_common
from appliance.client.progress import Progress

PROG = 'iso8583d-client'
MODES = {'jsonrpc': jsonrpc, 'linkaja': linkaja, 'iso': iso}
DEFAULT_MODE = 'jsonrpc'
# Runs of up to this many requests print every Request, Response and thread line.
SMALL_RUN = 10
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv=None):
    """Run the client with `argv` (default sys.argv[1:]); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    name, argv = split_mode(argv)
    mode = MODES[name]
    try:
        args, invoices = parse(build_parser(name, mode), mode, argv)
    except SystemExit as exc:  # argparse has printed the usage error or --help
        return exc.code
    return execute(mode, args, invoices)


def split_mode(argv):
    if argv and argv[0] in MODES:
        return argv[0], argv[1:]
    return DEFAULT_MODE, argv


def build_parser(name, mode):
    modes = '\n'.join('  %s %-9s %s' % (PROG, '[%s]' % n if n == DEFAULT_MODE else n,
                                          m.DESCRIPTION) for n, m in MODES.items())
    parser = argparse.ArgumentParser(
        prog=PROG if name == DEFAULT_MODE else '%s %s' % (PROG, name),
        description=mode.DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='modes (see `%s MODE --help`):\n%s\n\nexit status: 0 no request failed, '
               '1 some failed, 2 usage error, 130 interrupted' % (PROG, modes))
    mode.add_arguments(parser)
    add_run_arguments(parser)
    return parser


def parse(parser, mode, argv):
    """(args, invoices); usage errors exit through parser.error like argparse's own."""
    args = parser.parse_args(argv)
    try:
        invoices = load_invoices(args)
        check_common(args)
        mode.check(args, invoices)
    except (UsageError, InvoiceFileError) as exc:
        parser.error(str(exc))
    return args, invoices


def load_invoices(args):
    if args.invoice_file is not None:
        return read_invoice_file(args.invoice_file)
    return [Invoice(args.invoice_id)]


def execute(mode, args, invoices):
    total = args.requests or args.count
    printer = report.Printer(sys.stdout)
    per_request = not args.json and (args.verbose or total <= SMALL_RUN)
    transaction = mode.transaction(args, invoices, printer.line if per_request else None)
    # Big runs keep only what the summary needs, not every request and answer.
    keep = args.json or per_request
    progress = Progress(total, sys.stderr, always=args.progress)

    def on_result(result):
        progress.record(result)
        if not keep:
            result.request = result.response = result.inquiry = None

    progress.start()
    try:
        run = runner.run(transaction, total, args.count, on_result)
    finally:
        progress.stop()
    summary = stats.summarize(run.results, run.seconds)
    if args.json:
        report.write_json(sys.stdout, summary, run)
    else:
        report.write_text(printer, summary, run, per_request)
    if run.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.failed == 0 else EXIT_FAILED
