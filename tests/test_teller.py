"""The teller JSON-RPC methods over HTTP, against a fake pemda link."""
import time

import gevent
import pytest

from appliance.roles.bank import teller
from appliance.roles.bank.gateway import Gateway

INVOICE = '3271010001007002701995'
PAYMENT = {'invoice_id': INVOICE, 'amount': 19536, 'ntb': '0719054951',
           'stan': '054951'}
REVERSAL = dict(PAYMENT, stan='054237')


def sent(web):
    """The one message the teller sent to the link, and its timeout."""
    (msg, timeout), = web.gateway.sent
    return msg, timeout


def test_an_answered_inquiry_is_code_0_with_every_bit_keyed_by_its_number(teller_web,
                                                                         rpc):
    web = teller_web()
    result = rpc(web.port, 'inquiry', {'invoice_id': INVOICE})['result']
    msg, _ = sent(web)
    assert result['code'] == 0 and result['message'] == 'OK'
    assert result['data'] == {str(bit): value for bit, value in msg.bits.items()
                              } | {'39': '00'}


def test_the_answers_bits_come_in_ascending_order(teller_web, rpc):
    result = rpc(teller_web().port, 'inquiry', {'invoice_id': INVOICE})['result']
    assert [int(bit) for bit in result['data']] == sorted(int(b) for b in result['data'])


def test_an_inquiry_is_sent_as_a_0200_341019_with_a_stan_from_the_link(teller_web, rpc):
    web = teller_web()
    rpc(web.port, 'inquiry', {'invoice_id': INVOICE})
    msg, _ = sent(web)
    assert (msg.mti, msg[3], msg[11], msg[61]) == ('0200', '341019', '000001', INVOICE)


def test_a_request_is_sent_with_the_routes_timeout(teller_web, rpc):
    web = teller_web(timeout=12.5)
    rpc(web.port, 'inquiry', {'invoice_id': INVOICE})
    assert sent(web)[1] == 12.5


def test_a_payment_carries_amount_and_ntb_and_the_links_stan_not_the_callers(
        teller_web, rpc):
    web = teller_web()
    rpc(web.port, 'payment', PAYMENT)
    msg, _ = sent(web)
    assert (msg.mti, msg[3], msg[4], msg[48], msg[11]) == (
        '0200', '541019', '000000019536', '0719054951', '000001')


def test_a_payment_needs_no_stan(teller_web, rpc):
    params = {k: v for k, v in PAYMENT.items() if k != 'stan'}
    assert rpc(teller_web().port, 'payment', params)['result']['code'] == 0


def test_a_reversal_is_a_0400_with_the_payments_stan(teller_web, rpc):
    web = teller_web()
    rpc(web.port, 'reversal', REVERSAL)
    msg, _ = sent(web)
    assert (msg.mti, msg[3], msg[4], msg[48], msg[11]) == (
        '0400', '541019', '000000019536', '0719054951', '054237')


def test_an_amount_written_as_an_integral_float_is_accepted(teller_web, rpc):
    web = teller_web()
    rpc(web.port, 'payment', dict(PAYMENT, amount=19536.0))
    assert sent(web)[0][4] == '000000019536'


def test_the_channel_can_be_set_by_the_routes_request_bits(teller_web, rpc):
    web = teller_web(options={'request_bits': {18: '6014'}})
    rpc(web.port, 'inquiry', {'invoice_id': INVOICE})
    msg, _ = sent(web)
    assert (msg[18], msg[32], msg[33]) == ('6014', '110', '00110')


def test_request_bits_given_as_raw_text_are_parsed(teller_web, rpc):
    web = teller_web(options={'request_bits': '18:6017'})
    rpc(web.port, 'inquiry', {'invoice_id': INVOICE})
    assert sent(web)[0][18] == '6017'


def test_a_link_that_is_down_is_answered_code_91_within_half_a_second(teller_web, rpc):
    web = teller_web(mode='down')
    started = time.monotonic()
    result = rpc(web.port, 'payment', PAYMENT)['result']
    assert time.monotonic() - started < 0.5
    assert result == {'code': 91, 'message': 'link kota_bogor is down', 'data': {}}


def test_no_answer_is_code_68_at_the_routes_timeout(teller_web, rpc):
    web = teller_web(mode='timeout', timeout=0.3)
    started = time.monotonic()
    result = rpc(web.port, 'payment', PAYMENT)['result']
    assert 0.3 <= time.monotonic() - started < 2      # not the fixture's 30 s; room for load
    assert result == {'code': 68, 'message': 'no answer from kota_bogor within 0.3 s',
                      'data': {}}


def test_a_busy_link_is_code_96_with_the_links_reason(teller_web, rpc):
    result = rpc(teller_web(mode='busy').port, 'inquiry',
                 {'invoice_id': INVOICE})['result']
    assert result == {'code': 96, 'data': {}, 'message': 'request not sent to '
                      'kota_bogor: 1000 requests in flight on fake'}


def test_a_failed_exchange_is_logged_as_a_warning(teller_web, rpc, caplog):
    rpc(teller_web(mode='down').port, 'inquiry', {'invoice_id': INVOICE})
    assert ('iso8583d.teller', 30, '[web_teller] link kota_bogor is down') in \
        caplog.record_tuples


@pytest.mark.parametrize('params, message', [
    ({'invoice_id': 3271010001007002701995}, 'params.invoice_id must be a string of '
                                             '1 to 999 digits'),
    ({'invoice_id': '3271-01'}, 'params.invoice_id must be a string of 1 to 999 digits'),
    ({'invoice_id': ''}, 'params.invoice_id must be a string of 1 to 999 digits'),
    ({'invoice_id': '\u0663\u0662'}, 'params.invoice_id must be a string of 1 to 999 '
                                     'digits'),
], ids=['number', 'dash', 'empty', 'arabic-indic digits'])
def test_an_invoice_id_that_is_not_a_string_of_digits_is_refused(teller_web, rpc,
                                                                  params, message):
    web = teller_web()
    assert rpc(web.port, 'inquiry', params)['error'] == {'code': -32602,
                                                         'message': message}
    assert web.gateway.sent == []


@pytest.mark.parametrize('amount, message', [
    (19536.5, 'params.amount must be a whole number of rupiah'),
    (True, 'params.amount must be a whole number of rupiah'),
    (None, 'params.amount must be a whole number of rupiah'),
    (-1, 'params.amount must be from 0 to 999999999999 rupiah'),
    (10 ** 12, 'params.amount must be from 0 to 999999999999 rupiah'),
], ids=['fraction', 'boolean', 'null', 'negative', 'thirteen digits'])
def test_an_amount_that_is_not_whole_rupiah_in_range_is_refused(teller_web, rpc,
                                                                amount, message):
    answer = rpc(teller_web().port, 'payment', dict(PAYMENT, amount=amount))
    assert answer['error'] == {'code': -32602, 'message': message}


@pytest.mark.parametrize('ntb', ['', 719054951, 'a\nb', 'x' * 1000],
                         ids=['empty', 'number', 'control character', 'too long'])
def test_an_ntb_that_is_not_printable_text_is_refused(teller_web, rpc, ntb):
    answer = rpc(teller_web().port, 'payment', dict(PAYMENT, ntb=ntb))
    assert answer['error'] == {'code': -32602, 'message': 'params.ntb must be a string '
                               'of 1 to 999 printable ASCII characters'}


@pytest.mark.parametrize('stan', ['54237', 54237, '05423x'],
                         ids=['five digits', 'number', 'letter'])
def test_a_reversal_stan_that_is_not_six_digits_is_refused(teller_web, rpc, stan):
    answer = rpc(teller_web().port, 'reversal', dict(REVERSAL, stan=stan))
    assert answer['error'] == {'code': -32602, 'message': "params.stan must be a string "
                               "of 6 digits (bit 11 of the payment's answer)"}


@pytest.mark.parametrize('field', ['invoice_id', 'amount', 'ntb', 'stan'])
def test_a_reversal_missing_a_field_names_it(teller_web, rpc, field):
    params = {k: v for k, v in REVERSAL.items() if k != field}
    answer = rpc(teller_web().port, 'reversal', params)
    assert answer['error'] == {'code': -32602, 'message': 'params.%s is required' % field}


def test_concurrent_payments_each_get_their_own_stan(teller_web, rpc):
    web = teller_web(threads=8, delay=0.05)
    jobs = [gevent.spawn(rpc, web.port, 'payment', PAYMENT) for _ in range(8)]
    gevent.joinall(jobs, raise_error=True)
    stans = [job.value['result']['data']['11'] for job in jobs]
    assert len(set(stans)) == 8


def test_a_route_with_an_unknown_option_is_refused_at_start(make_route,
                                                            fake_gateway_class):
    route = make_route(options={'colour': 'red'})
    with pytest.raises(ValueError, match=r'\[web_teller\] unknown option colour'):
        teller.make_view(route, {'kota_bogor': Gateway(fake_gateway_class(), name='kota_bogor')})


def test_a_route_to_a_host_without_link_is_refused_at_start(make_route):
    with pytest.raises(ValueError, match=r'\[web_teller\] host kota_bogor has no link'):
        teller.make_view(make_route(), {})
