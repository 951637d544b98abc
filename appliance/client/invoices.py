"""The invoices a run works through: --invoice-id, or --invoice-file lines.

File format: one invoice id per line, optionally followed by whitespace and
the amount to pay in whole rupiah; blank lines and `#` comments are ignored.
"""

from dataclasses import dataclass
from typing import Optional
from appliance.errors import InvoiceFileError  # noqa: F401


@dataclass(frozen=True)
class Invoice:
    id: str
    amount: Optional[int] = None


def read_invoice_file(path):
    """The file's invoices in file order; InvoiceFileError when unusable."""
    try:
        with open(path, encoding='utf-8') as f:
            invoices = [
                _parse_line(path, number, line) for number, line in enumerate(f, 1)
            ]
    except UnicodeDecodeError as exc:
        raise InvoiceFileError('%s: not UTF-8 text (%s)' % (path, exc.reason)) from None
    except OSError as exc:
        raise InvoiceFileError('%s: %s' % (path, exc.strerror)) from None
    invoices = [invoice for invoice in invoices if invoice is not None]
    if not invoices:
        raise InvoiceFileError('%s: no invoice ids' % path)
    return invoices


def _parse_line(path, number, line):
    fields = line.split('#', 1)[0].split()
    if not fields:
        return None
    where = '%s:%d' % (path, number)
    if len(fields) > 2:
        raise InvoiceFileError(
            '%s: expected an invoice id and an optional amount, got %d fields'
            % (where, len(fields)))
    if not _digits(fields[0]):
        raise InvoiceFileError('%s: invoice id %r is not all digits' % (where, fields[0]))
    if len(fields) == 1:
        return Invoice(fields[0])
    if not _digits(fields[1]) or int(fields[1]) == 0:
        raise InvoiceFileError(
            '%s: amount %r is not a positive whole number of rupiah' % (where, fields[1]))
    return Invoice(fields[0], int(fields[1]))


def _digits(text):
    # str.isdigit alone accepts digits int() rejects, such as '²'.
    return text.isascii() and text.isdigit()


def pick(invoices, thread):
    """The invoice of request number `thread` (1-based): round-robin over the list."""
    return invoices[(thread - 1) % len(invoices)]
