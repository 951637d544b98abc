"""Raw ISO8583 mode: play the bank toward a pemda, no bank daemon needed.

The client holds one ISO8583 link through the appliance's own link layer
(appliance.net.hosts: a Host with a do-nothing module, served by a Listener with
--listen, as the seed's bank waits for its pemda, or by a Connector), and
every worker sends its requests on that link, many in flight, matched by
STAN. Requests are built by appliance.pbb.request.RequestBuilder, as the bank
builds them for a teller.

A request counts as done when its answer has bit 39 = '00'.
"""

import argparse
import logging
import time
from datetime import datetime
from types import MappingProxyType

import gevent

from appliance.client import refs
from appliance.client.invoices import pick
from appliance.client.options import (
    UsageError, add_invoice_arguments, need, only_for, positive_float, positive_int)
from appliance.client.transaction import Transaction

DESCRIPTION = 'Raw ISO8583: play the bank toward a pemda (inquiry, payment, reversal, echo).'
DEFAULT_PORT = 10002
DEFAULT_STREAMER = 'bjb_with_suffix'   # the seed's test-bank.ini and test-pemda.ini
DEFAULT_SPEC = 'bjb_pbb'
DEFAULT_WAIT = 30.0


def stan_value(text):
    if not (len(text) == 6 and text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError('%r is not a 6-digit STAN' % text)
    return text


def port_value(text):
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError('%r is not a port number' % text)
    return value


def add_arguments(parser):
    from appliance.iso.framing import STREAMER_NAMES
    from appliance.iso.spec import SPECS
    link = parser.add_argument_group('ISO8583 link')
    link.add_argument('--host', default='127.0.0.1',
                      help="the pemda's address: the one we connect to, or with --listen "
                           'the only one whose connection is accepted (default %(default)s)')
    link.add_argument('--port', type=port_value, default=DEFAULT_PORT,
                      help='port to connect to, or with --listen to listen on '
                           '(default %(default)s)')
    link.add_argument('--listen', action='store_true',
                      help='listen like the bank and wait for the pemda to connect '
                           '(default: connect to it)')
    link.add_argument('--bind', default='0.0.0.0',
                      help='with --listen: address to listen on (default %(default)s)')
    link.add_argument('--streamer', choices=STREAMER_NAMES, default=DEFAULT_STREAMER,
                      help='framing (default %(default)s)')
    link.add_argument('--spec', choices=sorted(SPECS), default=DEFAULT_SPEC,
                      help='field table (default %(default)s)')
    link.add_argument('--wait', type=positive_float, default=DEFAULT_WAIT, metavar='SECONDS',
                      help='how long to wait for the link to come up (default %(default)s)')

    kind = add_invoice_arguments(parser, required=False,
                                 reversal_help='reverse a payment (0400)')
    kind.add_argument('--echo', action='store_true',
                      help='send network management echoes (0800, bit 70 = 301)')
    parser.add_argument('--ntb', help='bank reference, bit 48 (payment default: MMDDhhmmss, '
                                      'unique per request)')
    parser.add_argument('--stan', type=stan_value,
                        help='bit 11: payment default: a fresh STAN per request from the '
                             'link; reversal: bit 11 of the payment response')


def check(args, invoices):
    given = args.invoice_id is not None or args.invoice_file is not None
    if args.echo:
        if given:
            raise UsageError('--invoice-id and --invoice-file do not apply to --echo')
        only_for(args, ('--ntb', '--stan'), ('--payment', '--reversal'))
        return
    if not given:
        raise UsageError('one of the arguments --invoice-id --invoice-file is required '
                         '(or --echo)')
    if args.reversal:
        need(args, invoices, '--reversal', ('--amount', '--ntb', '--stan'))
    elif not args.payment:
        only_for(args, ('--ntb', '--stan'), ('--payment', '--reversal'))


def judge(answer):
    """Why an answer means failure, or None when bit 39 is '00'."""
    code = answer.get(39)
    return None if code == '00' else '39=%s' % code


def shown(msg):
    """A message as the output shows it: MTI and bits, card data masked."""
    from appliance.iso.mask import mask_bits
    return {'mti': msg.mti, 'bits': {str(bit): value
                                     for bit, value in mask_bits(msg.sorted_bits()).items()}}


class Gateway:
    """The one link every worker shares, up before the run starts."""

    def __init__(self, args, in_flight):
        from appliance.runtime.config import HostConfig
        from appliance.net.hosts import Connector, Host, Listener
        from appliance.net.module import HostModule
        config = HostConfig(
            name='pemda', ip=args.host, port=args.port, listen=args.listen,
            streamer=args.streamer, timeout=max(60.0, args.timeout + 10), module='client',
            bind=args.bind, source_ip='', spec=args.spec,
            max_in_flight=max(1000, in_flight), request_timeout=args.timeout,
            reconnect_max=1.0, options=MappingProxyType({}))
        self.host = Host(config, HostModule(config))
        if args.listen:
            self.service = Listener(args.bind, args.port, [self.host])
        else:
            self.service = Connector(self.host)
        self.wait = args.wait
        self.ready = False
        where = '%s:%d' % (args.bind if args.listen else args.host, args.port)
        self.problem = ('no pemda connected to %s within %g s' % (where, args.wait)
                        if args.listen else 'cannot connect to %s' % where)

    def start(self):
        """Serve the link and wait up to --wait s for it; True when it is up."""
        try:
            self.service.start()
        except OSError as exc:
            self.problem = 'cannot listen on %s:%d: %s' % (
                self.service.bind, self.service.port, exc.strerror or exc)
            return False
        deadline = time.monotonic() + self.wait
        while not self.host.is_up and time.monotonic() < deadline:
            gevent.sleep(0.02)
        self.ready = self.host.is_up
        return self.ready

    def close(self):
        pass      # one link for the whole run: it ends with the process


class IsoTransaction(Transaction):

    def __init__(self, args, invoices, echo):
        super().__init__(None, args.timeout, echo)
        from appliance.pbb.request import RequestBuilder
        self.kind = ('echo' if args.echo else 'payment' if args.payment
                     else 'reversal' if args.reversal else 'inquiry')
        self.invoices = invoices
        self.amount = args.amount
        self.ntb = args.ntb
        self.stan = args.stan
        self.start = datetime.now()
        self.builder = RequestBuilder()
        self.gateway = Gateway(args, args.count)
        # Before the run starts: waiting for the pemda is not a request's latency.
        self.gateway.start()

    def connect(self):
        return self.gateway

    def transact(self, result, gateway):
        from appliance.net.link import LinkError
        if not gateway.ready:
            result.fail('link down: %s' % gateway.problem)
            return
        try:
            self._transact(result, gateway.host)
        except LinkError as exc:
            result.fail(_describe(exc))

    def _transact(self, result, host):
        from appliance.iso import netmgmt
        if self.kind == 'echo':
            self._exchange(result, host, netmgmt.request(netmgmt.ECHO, host.next_stan()))
            return
        invoice = pick(self.invoices, result.thread)
        amount = self.amount if invoice.amount is None else invoice.amount
        if self.kind == 'inquiry':
            msg = self.builder.inquiry(invoice.id, host.next_stan())
        elif self.kind == 'reversal':
            msg = self.builder.reversal(invoice.id, amount, self.ntb, self.stan)
        else:
            if amount is None:
                amount = self._amount_due(result, host, invoice.id)
                if amount is None:
                    return
            ntb = self.ntb or refs.ntb(self.start, result.thread)
            msg = self.builder.payment(invoice.id, amount, ntb, self.stan or host.next_stan())
        self._exchange(result, host, msg)

    def _amount_due(self, result, host, invoice_id):
        """Inquire first, as a teller does; bit 4 is the amount due (None: failed)."""
        from appliance.net.link import LinkError
        try:
            answer = self._exchange(result, host,
                                    self.builder.inquiry(invoice_id, host.next_stan()))
        except LinkError as exc:
            result.fail('inquiry ' + _describe(exc))
            return None
        if not result.keep_inquiry():
            return None
        return result.amount_due('bit 4', answer.get(4, ''))

    def _exchange(self, result, host, msg):
        result.request, result.response, result.tail = shown(msg), None, ''
        if self.echo:
            self.echo('Request: %r' % (result.request,))
        answer = host.send(msg, self.timeout)
        result.response = shown(answer)
        if self.echo:
            self.echo('Response: %r' % (result.response,))
        result.reason = judge(answer)
        stan = answer.get(11)
        result.tail = 'stan %s' % stan if stan else ''
        return answer


def _describe(exc):
    from appliance.net.link import AnswerLost, LinkDown, RequestTimeout
    if isinstance(exc, LinkDown):
        return 'link down'
    if isinstance(exc, AnswerLost):
        return 'link closed before the answer'
    if isinstance(exc, RequestTimeout):
        return 'timeout'
    return str(exc)


def transaction(args, invoices, echo):
    # The link layer logs every frame at INFO and each failed connect at
    # ERROR; the client reports every outcome itself.
    logging.getLogger('iso8583d').setLevel(logging.CRITICAL)
    return IsoTransaction(args, invoices, echo)
