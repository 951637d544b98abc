"""The teller JSON-RPC view: the seed's `iso8583_web.scripts.views.jsonrpc`.

Methods (params: one object, or the seed's list holding one object):

    inquiry   {invoice_id}
    payment   {invoice_id, amount, ntb, stan}
    reversal  {invoice_id, amount, ntb, stan}

A payment's `stan` is accepted for the seed's client and not used: every new
request gets its STAN from the link, unique among those in flight. A
reversal's `ntb` and `stan` are the payment's NTB and the bit 11 of the
payment's answer; they identify the payment being reversed.

Whatever happens on the link is a JSON-RPC *result*
`{"code": ..., "message": ..., "data": {...}}`; JSON-RPC *errors* are kept for
bad requests (-32600, -32601, -32602) and bugs (-32603). Codes:

    0   OK                                 the pemda answered; data holds every
                                           bit of its answer by number, and
                                           data["39"] is its response code
    91  link kota_bogor is down            answered at once, nothing was sent
    96  request not sent to kota_bogor: …  the link refused it (too many in
                                           flight, or that STAN is in flight);
                                           nothing was sent, try again
    68  no answer from kota_bogor within 30 s (or: link kota_bogor closed
        before the answer came)            sent, not answered: the
                                           outcome is unknown, so reverse a
                                           payment answered 68 or 91 (a pemda
                                           answers a reversal of a payment it
                                           never booked with 54 or 55)

On every code but 0 `data` is an empty object.
"""
import logging
from functools import partial

from .jsonrpc import Dispatcher, InvalidParams
from .link import AnswerLost, LinkDown, LinkError, RequestTimeout
from .pbb.request import MAX_AMOUNT, TELLER_DEFAULTS, RequestBuilder, parse_request_bits
from .web import View, json_response

OK = 0
TIMED_OUT = 68
LINK_DOWN = 91
NOT_SENT = 96

MAX_LLL = 999       # longest value of an LLL field (bits 48, 61)

# Extra keys of a [web_<name>] section with this module: key -> (converter, default).
# request_bits overrides TELLER_DEFAULTS bit by bit (e.g. 18:6014 for internet).
OPTIONS = {'request_bits': (parse_request_bits, None)}

log = logging.getLogger('iso8583d.teller')


def make_view(route, gateways, builder=None):
    """The view of one teller route; `gateways` maps host names to links."""
    teller = Teller(route, gateways, builder)
    dispatcher = Dispatcher({'inquiry': teller.inquiry, 'payment': teller.payment,
                             'reversal': teller.reversal})

    def handle(request):
        return json_response(dispatcher.answer(request.body.read()))

    return View('JSON-RPC', ('POST',), handle)


class Teller:
    """The three teller methods on one host's link."""

    def __init__(self, route, gateways, builder=None):
        unknown = sorted(set(route.options) - set(OPTIONS))
        if unknown:
            raise ValueError('[web_%s] unknown option %s' % (route.name, unknown[0]))
        if route.host not in gateways:
            raise ValueError('[web_%s] host %s has no link' % (route.name, route.host))
        self.route_name = route.name
        self.host = route.host
        self.gateway = gateways[route.host]
        self.timeout = route.timeout
        self.builder = builder or RequestBuilder(_defaults(route.options))

    def inquiry(self, params):
        invoice_id = _invoice_id(params)
        return self._exchange(partial(self.builder.inquiry, invoice_id))

    def payment(self, params):
        invoice_id, amount, ntb = _invoice_id(params), _amount(params), _ntb(params)
        return self._exchange(partial(self.builder.payment, invoice_id, amount, ntb))

    def reversal(self, params):
        invoice_id, amount, ntb = _invoice_id(params), _amount(params), _ntb(params)
        stan = _stan(params)
        return self._exchange(partial(self.builder.reversal, invoice_id, amount, ntb),
                              stan)

    def _exchange(self, build, stan=None):
        """Send build(stan) to the host and turn the outcome into a result."""
        try:
            answer = self.gateway.send(build(stan or self.gateway.next_stan()),
                                       self.timeout)
        except LinkDown:
            return self._failed(LINK_DOWN, 'link %s is down' % self.host)
        except AnswerLost as e:
            return self._failed(TIMED_OUT, '%s; the outcome is unknown' % e)
        except RequestTimeout:
            return self._failed(TIMED_OUT, 'no answer from %s %s' % (
                self.host, _within(self.timeout)))
        except LinkError as e:
            return self._failed(NOT_SENT, 'request not sent to %s: %s' % (self.host, e))
        data = {str(bit): value for bit, value in answer.sorted_bits().items()}
        return {'code': OK, 'message': 'OK', 'data': data}

    def _failed(self, code, message):
        log.warning('[web_%s] %s', self.route_name, message)
        return {'code': code, 'message': message, 'data': {}}


def _defaults(options):
    bits = options.get('request_bits') or {}
    if isinstance(bits, str):       # raw text when the loader did not convert it
        bits = parse_request_bits(bits)
    return {**TELLER_DEFAULTS, **bits}


def _within(timeout):
    return 'within %g s' % timeout if timeout else 'within the host timeout'


# -- params -----------------------------------------------------------------

def _field(params, name):
    if name not in params:
        raise InvalidParams(name, 'is required')
    return params[name]


def _invoice_id(params):
    value = _field(params, 'invoice_id')
    if not (_is_digits(value) and len(value) <= MAX_LLL):
        raise InvalidParams('invoice_id', 'must be a string of 1 to %d digits' % MAX_LLL)
    return value


def _amount(params):
    value = _field(params, 'amount')
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParams('amount', 'must be a whole number of rupiah')
    if not 0 <= value <= MAX_AMOUNT:
        raise InvalidParams('amount', 'must be from 0 to %d rupiah' % MAX_AMOUNT)
    return value


def _ntb(params):
    value = _field(params, 'ntb')
    if not (isinstance(value, str) and 0 < len(value) <= MAX_LLL
            and all(' ' <= char <= '~' for char in value)):
        raise InvalidParams('ntb', 'must be a string of 1 to %d printable ASCII '
                                   'characters' % MAX_LLL)
    return value


def _stan(params):
    value = _field(params, 'stan')
    if not (_is_digits(value) and len(value) == 6):
        raise InvalidParams('stan', "must be a string of 6 digits (bit 11 of the "
                                    "payment's answer)")
    return value


def _is_digits(value):
    return isinstance(value, str) and value.isascii() and value.isdigit()
