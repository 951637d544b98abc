"""LinkAja mode, the seed's iso8583_web_client_linkaja (spec §6).

Requests are form POSTs; the answer is one line `RC:...` whose fields depend
on trx_type. A request counts as done when HTTP 200 came with Response Code '00'.
"""

from datetime import datetime
from urllib.parse import urlencode

from appliance.client import refs
from appliance.client.http import HTTPError, describe
from appliance.client.invoices import pick
from appliance.client.options import add_transaction_arguments, need, only_for
from appliance.client.transaction import Transaction

DESCRIPTION = "LinkAja form POST (the seed's iso8583_web_client_linkaja)."
DEFAULT_URL = 'http://127.0.0.1:7001/linkaja'

INQUIRY, PAYMENT, REVERSAL = '021', '022', '023'
_PAID_FIELDS = ('Response Code', 'Transaction ID', 'Bill Ref', 'Notification Message')
FIELDS = {
    INQUIRY: ('Response Code', 'Biller Name', 'Bill Amount', 'Bill Ref', 'Notification Message'),
    PAYMENT: _PAID_FIELDS,
    REVERSAL: _PAID_FIELDS,
}


def add_arguments(parser):
    add_transaction_arguments(parser, DEFAULT_URL)
    parser.add_argument('--bill-ref', help='Bill Ref of the inquiry answer')
    parser.add_argument('--trx-id', help='payment default: MMDDhhmmss, unique per request; '
                                         'reversal: trx_id of the payment')
    parser.add_argument('--merchant', default='iso8583d', help='default %(default)s')
    parser.add_argument('--pwd', default='iso8583d', help='merchant password (masked in output)')
    parser.add_argument('--terminal', default='Terminal Name', help='default %(default)s')
    parser.add_argument('--msisdn', default='628111234567', help='default %(default)s')


def check(args, invoices):
    if args.reversal:
        need(args, invoices, '--reversal', ('--bill-ref', '--amount', '--trx-id'))
    elif not args.payment:
        only_for(args, ('--bill-ref', '--trx-id'), ('--payment', '--reversal'))


def parse_answer(trx_type, line):
    """The named fields of an answer line; the last field keeps any further colons."""
    names = FIELDS[trx_type]
    values = line.split(':', len(names) - 1)
    values += [''] * (len(names) - len(values))
    return dict(zip(names, values))


def mask(secret):
    """'ldm***ss': enough to recognise a password in output, not to reuse it."""
    return secret[:3] + '***' + secret[-2:] if len(secret) > 5 else '***'


class Agent(Transaction):
    content_type = 'application/x-www-form-urlencoded'

    def __init__(self, args, invoices, echo):
        super().__init__(args.url, args.timeout, echo)
        self.trx_type = PAYMENT if args.payment else REVERSAL if args.reversal else INQUIRY
        self.invoices = invoices
        self.amount = args.amount
        self.bill_ref = args.bill_ref
        self.trx_id = args.trx_id
        self.identity = {'merchant': args.merchant, 'terminal': args.terminal,
                         'pwd': args.pwd, 'msisdn': args.msisdn}
        self.start = datetime.now()

    def fields(self, thread, trx_type, invoice_id, amount=None, bill_ref=None):
        fields = dict(self.identity, acc_no=invoice_id,
                      trx_date=datetime.now().strftime('%Y%m%d%H%M%S'), trx_type=trx_type)
        if trx_type != INQUIRY:
            fields['amount'] = amount
            fields['bill_ref'] = bill_ref
            fields['trx_id'] = self.trx_id or refs.trx_id(self.start, thread)
        return fields

    def transact(self, result, connection):
        invoice = pick(self.invoices, result.thread)
        amount = self.amount if invoice.amount is None else invoice.amount
        bill_ref = self.bill_ref
        if self.trx_type == PAYMENT and (amount is None or bill_ref is None):
            bill = self._bill(result, connection, invoice.id)
            if bill is None:
                return
            amount = bill[0] if amount is None else amount
            bill_ref = bill[1] if bill_ref is None else bill_ref
        fields = self.fields(result.thread, self.trx_type, invoice.id, amount, bill_ref)
        self._exchange(result, connection, fields)

    def _bill(self, result, connection, invoice_id):
        """Inquire first: (Bill Amount, Bill Ref), or None when that failed."""
        try:
            self._exchange(result, connection, self.fields(result.thread, INQUIRY, invoice_id))
        except (HTTPError, OSError) as exc:
            raise HTTPError('inquiry ' + describe(exc)) from None
        if not result.keep_inquiry():
            return None
        answer = result.response['fields']
        amount = result.amount_due('Bill Amount', answer['Bill Amount'])
        return None if amount is None else (amount, answer['Bill Ref'])

    def _exchange(self, result, connection, fields):
        shown = dict(fields, pwd=mask(fields['pwd']))
        result.request, result.response, result.tail = shown, None, ''
        if self.echo:
            self.echo('Request: %r' % (shown,))
        answer = connection.post(urlencode(fields).encode())
        lines = answer.body.decode('utf-8', 'replace').splitlines()
        if answer.status != 200 or not lines:
            if self.echo:
                self.echo('Response %d: %r' % (answer.status, lines))
            raise HTTPError(_http_failure(answer.status, self.url))
        parsed = parse_answer(fields['trx_type'], lines[0])
        if self.echo:
            self.echo('Response %d: %r -> %r' % (answer.status, lines, parsed))
        result.response = {'status': answer.status, 'lines': lines, 'fields': parsed}
        result.tail = lines[0]
        code = parsed['Response Code']
        result.reason = None if code == '00' else 'RC=%s' % code


def _http_failure(status, url):
    """The reason of a non-200 answer. The seed README sends its LinkAja payment
    and reversal to :7000/linkaja, the bank's teller port, which has no such
    route: a 404 says where LinkAja is served."""
    if status == 200:
        return 'empty answer'
    if status == 404:
        return ('HTTP 404: nothing serves %s; LinkAja is the aggregator\'s [web_linkaja] '
                'route (port 7001 in the seed\'s test-agratek.ini, not the bank\'s 7000)' % url)
    return 'HTTP %d' % status


def transaction(args, invoices, echo):
    return Agent(args, invoices, echo)
