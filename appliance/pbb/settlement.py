"""The settlement file: the payments the bank settles with a pemda for some
days, written by the bank (`iso8583d rekon --role bank`) and read by the
pemda (`iso8583d rekon --role pemda --file`). docs/operations.md, "Daily
reconciliation", describes it for people:

    # iso8583d settlement 1 from=2026-12-05 to=2026-12-05 hosts=kota_bogor banks=110
    invoice_id,ntb,ntp,stan,amount,paid_at,channel,bank_code,host,source
    3271010001007002702016,1234567,0101xxxxxxxx,000123,150000,2026-12-05 09:01:02,6010,
        110,kota_bogor,teller         (one line, wrapped here)
    # summary count=1 sum=150000
    # sha256 <hex digest of every byte above this line>

Rows are sorted by host, paid_at, invoice_id, ntb. UTF-8, LF line ends.
"""
import csv
import hashlib
import io
from collections import namedtuple
from datetime import date, datetime, time as daytime, timedelta

from appliance.errors import SettlementFileError  # noqa: F401

MAGIC = '# iso8583d settlement 1'
COLUMNS = ('invoice_id', 'ntb', 'ntp', 'stan', 'amount', 'paid_at', 'channel',
           'bank_code', 'host', 'source')
TIME_FORMAT = '%Y-%m-%d %H:%M:%S'

Row = namedtuple('Row', COLUMNS)
Settlement = namedtuple('Settlement', 'first last hosts banks rows')


def day_range(first, last):
    """Local datetimes [start of `first`, start of the day after `last`)."""
    return (datetime.combine(first, daytime()),
            datetime.combine(last + timedelta(days=1), daytime()))


def render(first, last, hosts, banks, rows):
    """The file's text for [Row] (already sorted) of days first..last."""
    out = io.StringIO()
    out.write('%s from=%s to=%s hosts=%s banks=%s\n' % (
        MAGIC, first.isoformat(), last.isoformat(), ','.join(hosts) or '-',
        ','.join(banks) or '-'))
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    out.write('# summary count=%d sum=%d\n' % (len(rows), sum(int(r.amount) for r in rows)))
    text = out.getvalue()
    return text + '# sha256 %s\n' % hashlib.sha256(text.encode('utf-8')).hexdigest()


def _cell(value):
    return value.strftime(TIME_FORMAT) if isinstance(value, datetime) else str(value)


def parse(text, name='the file'):
    """A Settlement from the file's text; SettlementFileError when it is not
    one, is cut short, or its summary or checksum does not match."""
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    if not lines or not lines[0].startswith(MAGIC + ' '):
        raise SettlementFileError('%s line 1: not a settlement file (expected %r)'
                                  % (name, MAGIC))
    if len(lines) < 4 or not lines[-1].startswith('# sha256 '):
        raise SettlementFileError('%s: no checksum line at the end: the file is cut short'
                                  % name)
    body = ''.join(line + '\n' for line in lines[:-1])
    digest = hashlib.sha256(body.encode('utf-8')).hexdigest()
    if lines[-1].split()[-1] != digest:
        raise SettlementFileError('%s line %d: the checksum does not match the content'
                                  % (name, len(lines)))
    header = _pairs(lines[0][len(MAGIC):], name, 1)
    try:
        first, last = date.fromisoformat(header['from']), date.fromisoformat(header['to'])
    except (KeyError, ValueError):
        raise SettlementFileError('%s line 1: from= and to= must be YYYY-MM-DD' % name)
    if lines[1].split(',') != list(COLUMNS):
        raise SettlementFileError('%s line 2: the columns must be %s' % (name, ','.join(COLUMNS)))
    rows = []
    for number, cells in enumerate(csv.reader(lines[2:-2]), 3):
        if len(cells) != len(COLUMNS) or not cells[4].isdigit():
            raise SettlementFileError('%s line %d: expected %d columns with a whole amount'
                                      % (name, number, len(COLUMNS)))
        rows.append(Row(*cells))
    summary = _pairs(lines[-2][len('# summary'):], name, len(lines) - 1)
    if not lines[-2].startswith('# summary ') or summary != {
            'count': str(len(rows)), 'sum': str(sum(int(r.amount) for r in rows))}:
        raise SettlementFileError('%s line %d: the summary does not match the rows'
                                  % (name, len(lines) - 1))
    return Settlement(first, last, _names(header.get('hosts')), _names(header.get('banks')),
                      rows)


def _pairs(text, name, number):
    try:
        return dict(word.split('=', 1) for word in text.split())
    except ValueError:
        raise SettlementFileError('%s line %d: expected key=value words' % (name, number))


def _names(text):
    return [] if text in (None, '-') else text.split(',')
