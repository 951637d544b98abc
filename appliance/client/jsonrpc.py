"""Teller JSON-RPC mode, the seed's iso8583_web_client (spec §6).

A request counts as done when an ISO answer came back with bit 39 = '00':
result.code 0 and result.data['39'] == '00'.
"""

import argparse
import json
import os
from datetime import datetime

from appliance.client import refs
from appliance.client.http import HTTPError, describe
from appliance.client.invoices import pick
from appliance.client.options import add_transaction_arguments, need, only_for
from appliance.client.transaction import Transaction
from appliance.errors import UsageError

DESCRIPTION = "Teller JSON-RPC (the seed's iso8583_web_client)."
DEFAULT_URL = 'http://127.0.0.1:7000/rpc'
# Built once: json.dumps(separators=...) would build an encoder per request.
_encode = json.JSONEncoder(separators=(',', ':')).encode
API_KEY_ENV = 'ISO8583D_API_KEY'


def stan_value(text):
    if not (len(text) == 6 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError('%r is not a 6-digit STAN' % text)
    return text


def add_arguments(parser):
    add_transaction_arguments(parser, DEFAULT_URL)
    parser.add_argument('--ntb', help='bank reference, bit 48 (payment default: MMDDhhmmss, '
                                      'unique per request)')
    parser.add_argument('--stan', type=stan_value,
                        help='payment default: hhmmss, unique per request; '
                             'reversal: bit 11 of the payment response')
    parser.add_argument('--api-key', metavar='KEY',
                        help='the route\'s API key, sent in the X-Api-Key header (default: '
                             '$%s, which keeps it out of the shell history)' % API_KEY_ENV)


def api_key(args):
    """--api-key, else $ISO8583D_API_KEY, else None."""
    return args.api_key or os.environ.get(API_KEY_ENV) or None


def check(args, invoices):
    key = api_key(args)
    if key is not None and not (key.isascii() and key.isprintable()):
        raise UsageError('the API key (--api-key or $%s) must be printable ASCII text'
                         % API_KEY_ENV)
    if args.reversal:
        need(args, invoices, '--reversal', ('--amount', '--ntb', '--stan'))
    elif not args.payment:
        only_for(args, ('--ntb', '--stan'), ('--payment', '--reversal'))


def judge(response):
    """Why a JSON-RPC answer means failure, or None when bit 39 is '00'."""
    if not isinstance(response, dict):
        return 'bad JSON-RPC answer'
    error = response.get('error')
    if error is not None:
        if isinstance(error, dict):
            return 'JSON-RPC error %s: %s' % (error.get('code'), error.get('message'))
        return 'JSON-RPC error %s' % (error,)
    result = response.get('result')
    if not isinstance(result, dict):
        return 'bad JSON-RPC answer'
    if result.get('code') != 0:
        return 'code %s: %s' % (result.get('code'), result.get('message'))
    code = data_of(response).get('39')
    return None if code == '00' else '39=%s' % code


def data_of(response):
    """result.data of a JSON-RPC answer: the ISO response bits keyed '3', '4', ..."""
    result = response.get('result') if isinstance(response, dict) else None
    data = result.get('data') if isinstance(result, dict) else None
    return data if isinstance(data, dict) else {}


class Teller(Transaction):
    content_type = 'application/json'

    def __init__(self, args, invoices, echo):
        super().__init__(args.url, args.timeout, echo)
        self.method = 'payment' if args.payment else 'reversal' if args.reversal else 'inquiry'
        self.invoices = invoices
        self.amount = args.amount
        self.ntb = args.ntb
        self.stan = args.stan
        self.start = datetime.now()
        key = api_key(args)
        if key is not None:
            self.headers = (('X-Api-Key', key),)

    def request(self, thread, method, invoice_id, amount=None):
        params = {'invoice_id': invoice_id}
        if method != 'inquiry':
            params['amount'] = amount
            params['ntb'] = self.ntb or refs.ntb(self.start, thread)
            params['stan'] = self.stan or refs.stan(self.start, thread)
        return {'id': thread, 'method': method, 'params': [params], 'jsonrpc': '2.0'}

    def transact(self, result, connection):
        invoice = pick(self.invoices, result.thread)
        amount = self.amount if invoice.amount is None else invoice.amount
        if self.method == 'payment' and amount is None:
            amount = self._amount_due(result, connection, invoice.id)
            if amount is None:
                return
        request = self.request(result.thread, self.method, invoice.id, amount)
        self._exchange(result, connection, request)

    def _amount_due(self, result, connection, invoice_id):
        """Inquire first, as a teller does; bit 4 is the amount due (None: failed)."""
        try:
            self._exchange(result, connection, self.request(result.thread, 'inquiry', invoice_id))
        except (HTTPError, OSError) as exc:
            raise HTTPError('inquiry ' + describe(exc)) from None
        if not result.keep_inquiry():
            return None
        return result.amount_due('bit 4', data_of(result.response).get('4', ''))

    def _exchange(self, result, connection, request):
        result.request, result.response, result.tail = request, None, ''
        if self.echo:
            self.echo('Request: %r' % (request,))
        answer = connection.post(_encode(request).encode())
        response = self._decode(answer)
        result.response = response
        result.reason = judge(response)
        stan = data_of(response).get('11')
        result.tail = 'stan %s' % stan if stan else ''

    def _decode(self, answer):
        """The answer's JSON; HTTPError when the body is not JSON (no JSON-RPC answer)."""
        try:
            response = json.loads(answer.body)
        except ValueError:
            if self.echo:
                self.echo('Response %d: %r' % (answer.status, answer.body[:200]))
            raise HTTPError('HTTP %d' % answer.status if answer.status != 200
                            else 'answer is not JSON') from None
        if self.echo:
            self.echo('Response: %r' % (response,))
        return response


def transaction(args, invoices, echo):
    return Teller(args, invoices, echo)
