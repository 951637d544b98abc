"""A JSON-RPC 2.0 dispatcher: one HTTP body in, one JSON answer out.

Methods take their params as one object. The seed's clients send a list
holding one object (`"params": [{"invoice_id": ...}]`); a plain object is
accepted too, and missing params count as an empty object.

Two deliberate departures from the letter of JSON-RPC 2.0:

- Notifications (requests without "id") are rejected with -32600 instead of
  being run silently: a payment whose answer nobody reads must not be booked.
- A batch runs its requests one after the other in the worker that received
  it, at most MAX_BATCH of them, so one HTTP request cannot occupy more than
  one worker.

A body nested deeper than MAX_DEPTH arrays and objects is an invalid request
(-32600): nothing this API takes is nested more than three levels, and the
parser would otherwise recurse once per level (`[` x 200,000 used to end in a
RecursionError, a 500 and a traceback).
"""
import json
import logging
from appliance.errors import InvalidParams, RpcError  # noqa: F401

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAUTHORIZED = -32001       # server-defined: no valid API key (HTTP 401)

MAX_BATCH = 100
MAX_DEPTH = 32

log = logging.getLogger('iso8583d.jsonrpc')


class Dispatcher:
    """Answers JSON-RPC bodies with the given methods: name -> f(params)."""

    def __init__(self, methods):
        self._methods = dict(methods)

    def answer(self, body):
        """The JSON text (bytes) answering `body`, a request or a batch."""
        try:
            payload = _parse(body)
        except ValueError as e:
            return _encode(_error(None, PARSE_ERROR, 'Parse error: %s' % e))
        except RecursionError:
            payload = _TOO_DEEP
        if payload is _TOO_DEEP or _too_deep(payload, MAX_DEPTH):
            return _encode(_error(None, INVALID_REQUEST, 'Invalid Request: JSON nested '
                                  'deeper than %d levels' % MAX_DEPTH))
        if not isinstance(payload, list):
            return self._one(payload)
        if not payload:
            return _encode(_error(None, INVALID_REQUEST, 'Invalid Request: empty batch'))
        if len(payload) > MAX_BATCH:
            return _encode(_error(None, INVALID_REQUEST,
                                  'Invalid Request: a batch of %d requests exceeds '
                                  'the limit of %d' % (len(payload), MAX_BATCH)))
        return b'[' + b', '.join(self._one(request) for request in payload) + b']'

    def _one(self, request):
        """The response (JSON bytes) to one request object. Encoded here, once:
        a result that is not JSON fails as -32603, not the whole batch."""
        request_id = _request_id(request)
        try:
            method, params = self._check(request)
            result = method(params)
            return _encode({'jsonrpc': '2.0', 'id': request_id, 'result': result})
        except RpcError as e:
            return _encode(_error(request_id, e.code, e.message))
        except Exception:
            log.exception('JSON-RPC method %s failed', request.get('method'))
            return _encode(_error(request_id, INTERNAL_ERROR, 'Internal error'))

    def _check(self, request):
        """The method and params of a valid request; RpcError otherwise."""
        if not isinstance(request, dict):
            raise RpcError(INVALID_REQUEST, 'Invalid Request: not an object')
        if request.get('jsonrpc') != '2.0':
            raise RpcError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
        if 'id' not in request:
            raise RpcError(INVALID_REQUEST,
                           'Invalid Request: notifications are not supported, give an "id"')
        if not _valid_id(request['id']):
            raise RpcError(INVALID_REQUEST,
                           'Invalid Request: "id" must be a string, a number or null')
        name = request.get('method')
        if not isinstance(name, str):
            raise RpcError(INVALID_REQUEST, 'Invalid Request: "method" must be a string')
        if name not in self._methods:
            raise RpcError(METHOD_NOT_FOUND, 'Method not found: %s' % name)
        return self._methods[name], _params(request.get('params', {}))


def _parse(body):
    """The JSON value of `body`; ValueError for bad UTF-8 or bad JSON."""
    return _DECODER.decode(body.decode('utf-8'))


_TOO_DEEP = object()


def _too_deep(value, levels):
    """True when `value` nests more than `levels` arrays and objects."""
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return False
    if levels == 0:
        return True
    return any(_too_deep(item, levels - 1) for item in value)


def _reject_constant(name):
    raise ValueError('%s is not JSON' % name)


# One decoder for every request (json.loads with an option builds a new one each call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _params(params):
    """The one params object, from the seed's [object] or a plain object."""
    if isinstance(params, list) and len(params) == 1:
        params = params[0]
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS,
                       'Invalid params: must be an object or a list holding one object')
    return params


def _valid_id(value):
    return value is None or (isinstance(value, (str, int, float))
                             and not isinstance(value, bool))


def _request_id(request):
    """The id to answer with; null when the request has no usable one."""
    if isinstance(request, dict) and _valid_id(request.get('id')):
        return request.get('id')
    return None


def error_answer(code, message):
    """A JSON-RPC error answer (id null) in bytes, for a request refused
    before its body is looked at."""
    return _encode(_error(None, code, message))


def _error(request_id, code, message):
    return {'jsonrpc': '2.0', 'id': request_id,
            'error': {'code': code, 'message': message}}


# Built once: json.dumps with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _encode(answer):
    return _ENCODER.encode(answer).encode('utf-8')
