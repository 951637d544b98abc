"""The JSON-RPC 2.0 dispatcher, spoken over real HTTP to the teller route."""
import json
import logging

import pytest

from appliance.http.jsonrpc import MAX_BATCH

INVOICE = '3271010001007002701995'
INQUIRY = {'jsonrpc': '2.0', 'id': 1, 'method': 'inquiry',
           'params': [{'invoice_id': INVOICE}]}


@pytest.fixture
def port(teller_web):
    return teller_web().port


@pytest.fixture
def post(http, port):
    """post(body: bytes | JSON value) -> the decoded JSON answer."""

    def send(body):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        reply = http(port, 'POST', '/rpc', body, {'Content-Type': 'application/json'})
        assert reply.status == 200
        assert reply.headers['Content-Type'] == 'application/json'
        return reply.json

    return send


def error_of(answer):
    return answer['error']['code'], answer['error']['message']


def test_a_body_that_is_not_json_is_a_parse_error_with_null_id(post):
    answer = post(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert answer['id'] is None
    assert error_of(answer)[0] == -32700
    assert error_of(answer)[1].startswith('Parse error: Expecting value')


def test_a_body_that_is_not_utf8_is_a_parse_error(post):
    assert error_of(post(b'\xff\xfe{}'))[0] == -32700


def test_nan_is_a_parse_error_because_it_is_not_json(post):
    assert error_of(post(b'{"jsonrpc": "2.0", "id": NaN, "method": "inquiry"}')) == (
        -32700, 'Parse error: NaN is not JSON')


def test_a_request_that_is_not_an_object_is_invalid(post):
    assert error_of(post(42)) == (-32600, 'Invalid Request: not an object')


def test_a_request_without_jsonrpc_2_0_is_invalid(post):
    answer = post({'id': 7, 'method': 'inquiry', 'params': [{'invoice_id': INVOICE}]})
    assert answer['id'] == 7
    assert error_of(answer) == (-32600, 'Invalid Request: "jsonrpc" must be "2.0"')


def test_a_request_with_jsonrpc_1_0_is_invalid(post):
    assert error_of(post(dict(INQUIRY, jsonrpc='1.0')))[0] == -32600


def test_a_request_without_method_is_invalid(post):
    assert error_of(post({'jsonrpc': '2.0', 'id': 1})) == (
        -32600, 'Invalid Request: "method" must be a string')


def test_a_request_whose_method_is_not_a_string_is_invalid(post):
    assert error_of(post(dict(INQUIRY, method=5)))[0] == -32600


def test_a_notification_is_refused_rather_than_run_unanswered(post):
    answer = post({'jsonrpc': '2.0', 'method': 'inquiry',
                   'params': [{'invoice_id': INVOICE}]})
    assert answer['id'] is None
    assert error_of(answer) == (
        -32600, 'Invalid Request: notifications are not supported, give an "id"')


def test_a_notification_does_not_reach_the_link(teller_web, http):
    web = teller_web()
    http(web.port, 'POST', '/rpc', json.dumps({'jsonrpc': '2.0', 'method': 'inquiry',
                                                'params': [{'invoice_id': INVOICE}]}))
    assert web.gateway.sent == []


def test_an_id_that_is_an_object_is_invalid_and_answered_with_null_id(post):
    answer = post(dict(INQUIRY, id={'a': 1}))
    assert answer['id'] is None
    assert error_of(answer) == (
        -32600, 'Invalid Request: "id" must be a string, a number or null')


def test_an_unknown_method_is_method_not_found(post):
    answer = post(dict(INQUIRY, method='transfer', id='x-1'))
    assert answer['id'] == 'x-1'
    assert error_of(answer) == (-32601, 'Method not found: transfer')


def test_params_that_are_a_string_are_invalid_params(post):
    assert error_of(post(dict(INQUIRY, params='3271'))) == (
        -32602, 'Invalid params: must be an object or a list holding one object')


def test_params_that_are_a_list_of_two_objects_are_invalid_params(post):
    assert error_of(post(dict(INQUIRY, params=[{}, {}])))[0] == -32602


def test_params_as_a_plain_object_are_accepted(post):
    answer = post(dict(INQUIRY, params={'invoice_id': INVOICE}))
    assert answer['result']['code'] == 0


def test_missing_params_name_the_first_required_field(post):
    answer = post({'jsonrpc': '2.0', 'id': 1, 'method': 'inquiry'})
    assert error_of(answer) == (-32602, 'params.invoice_id is required')


def test_an_amount_given_as_text_is_invalid_params_naming_the_field(post):
    answer = post({'jsonrpc': '2.0', 'id': 1, 'method': 'payment', 'params': [
        {'invoice_id': INVOICE, 'amount': '19536', 'ntb': '0719054951',
         'stan': '054951'}]})
    assert error_of(answer) == (-32602, 'params.amount must be a whole number of rupiah')


def test_a_valid_request_carries_its_id_and_a_result(post):
    answer = post(dict(INQUIRY, id='teller-9'))
    assert answer['jsonrpc'] == '2.0'
    assert answer['id'] == 'teller-9'
    assert answer['result']['code'] == 0
    assert 'error' not in answer


def test_a_null_id_is_a_request_and_is_answered_with_null_id(post):
    answer = post(dict(INQUIRY, id=None))
    assert answer['id'] is None
    assert answer['result']['code'] == 0


def test_a_failing_method_is_an_internal_error_without_traceback(teller_web, http):
    web = teller_web(mode='crash')
    reply = http(web.port, 'POST', '/rpc', json.dumps(INQUIRY))
    assert reply.json['error'] == {'code': -32603, 'message': 'Internal error'}
    assert b'Traceback' not in reply.body and b'gateway bug' not in reply.body


def test_a_failing_method_is_logged_with_its_traceback(teller_web, http, caplog):
    web = teller_web(mode='crash')
    with caplog.at_level(logging.ERROR, logger='iso8583d.jsonrpc'):
        http(web.port, 'POST', '/rpc', json.dumps(INQUIRY))
    record, = [r for r in caplog.records if r.name == 'iso8583d.jsonrpc']
    assert record.getMessage() == 'JSON-RPC method inquiry failed'
    assert 'RuntimeError: gateway bug' in caplog.text


def test_a_batch_is_answered_with_one_response_per_request_in_order(post):
    answers = post([dict(INQUIRY, id=1), {'jsonrpc': '2.0', 'id': 2, 'method': 'nope'},
                    dict(INQUIRY, id=3)])
    assert [a['id'] for a in answers] == [1, 2, 3]
    assert answers[0]['result']['code'] == 0
    assert answers[1]['error']['code'] == -32601
    assert answers[2]['result']['code'] == 0


def test_an_empty_batch_is_invalid(post):
    assert error_of(post([])) == (-32600, 'Invalid Request: empty batch')


def test_a_batch_beyond_the_limit_is_refused_whole(teller_web, http):
    web = teller_web()
    reply = http(web.port, 'POST', '/rpc', json.dumps([INQUIRY] * (MAX_BATCH + 1)))
    assert reply.json['error']['code'] == -32600
    assert web.gateway.sent == []
