"""iso8583d-client linkaja, against a fake LinkAja face over real HTTP."""

import json
import re

from appliance.client import main
from appliance.client.linkaja import mask, parse_answer

INVOICE = '3271010001007002701995'
STAMP = re.compile(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ')
SECONDS = r'\d+\.\d+(e-\d+)?'


def run(capsys, face, *argv):
    """(exit status, stdout lines without their timestamps, stderr) of one linkaja run."""
    status = main(['linkaja', '--url', face.url, '--invoice-id=' + INVOICE] + list(argv))
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert all(STAMP.match(line) for line in lines), out
    return status, [line[24:] for line in lines], err


def test_an_inquiry_prints_the_seeds_request_parsed_response_thread_and_verdict_lines(
        capsys, fake_linkaja_face):
    status, lines, _ = run(capsys, fake_linkaja_face)
    assert status == 0
    assert re.fullmatch(
        r"Request: \{'merchant': 'iso8583d', 'terminal': 'Terminal Name', 'pwd': 'iso\*\*\*3d', "
        r"'msisdn': '628111234567', 'acc_no': '3271010001007002701995', "
        r"'trx_date': '\d{14}', 'trx_type': '021'\}", lines[0])
    assert lines[1] == (
        "Response 200: ['00:UW** *****SNA:19536:16:'] -> {'Response Code': '00', "
        "'Biller Name': 'UW** *****SNA', 'Bill Amount': '19536', 'Bill Ref': '16', "
        "'Notification Message': ''}")
    assert re.fullmatch(r'thread 1 %s detik 00:UW\*\* \*\*\*\*\*SNA:19536:16:' % SECONDS,
                        lines[2])
    assert lines[3:] == ['Tidak ada yang gagal']


def test_requests_are_form_posts_carrying_the_seed_fields(capsys, fake_linkaja_face):
    run(capsys, fake_linkaja_face, '--merchant=ldmjakarta1', '--pwd=ldmsecretss')
    request = fake_linkaja_face.requests[0]
    assert fake_linkaja_face.content_types == ['application/x-www-form-urlencoded']
    assert re.fullmatch(r'\d{14}', request.pop('trx_date'))
    assert request == {'merchant': 'ldmjakarta1', 'terminal': 'Terminal Name',
                       'pwd': 'ldmsecretss', 'msisdn': '628111234567', 'acc_no': INVOICE,
                       'trx_type': '021'}


def test_a_payment_sends_amount_bill_ref_and_a_trx_id(capsys, fake_linkaja_face):
    status, lines, _ = run(capsys, fake_linkaja_face, '--payment', '--bill-ref=16',
                           '--amount=19536')
    request = fake_linkaja_face.requests[0]
    assert status == 0
    assert (request['trx_type'], request['amount'], request['bill_ref']) == ('022', '19536', '16')
    assert request['trx_id'] == request['trx_date'][4:]  # MMDDhhmmss, as the seed's
    assert lines[0].endswith("'amount': 19536, 'bill_ref': '16', 'trx_id': '%s'}"
                             % request['trx_id'])
    assert lines[1] == (
        "Response 200: ['00:010123882462:16:'] -> {'Response Code': '00', "
        "'Transaction ID': '010123882462', 'Bill Ref': '16', 'Notification Message': ''}")
    assert re.fullmatch(r'thread 1 %s detik 00:010123882462:16:' % SECONDS, lines[2])


def test_a_payment_without_bill_ref_and_amount_inquires_first(capsys, fake_linkaja_face):
    status, _, _ = run(capsys, fake_linkaja_face, '--payment')
    inquiry, payment = fake_linkaja_face.requests
    assert status == 0
    assert (inquiry['trx_type'], payment['trx_type']) == ('021', '022')
    assert (payment['amount'], payment['bill_ref']) == ('19536', '16')


def test_a_payment_whose_inquiry_fails_or_has_no_amount_is_not_sent(
        capsys, fake_linkaja_face):
    fake_linkaja_face.behaviour = 'fail'
    status, lines, _ = run(capsys, fake_linkaja_face, '--payment')
    assert status == 1
    assert 'Gagal thread 1: inquiry RC=55' in lines
    fake_linkaja_face.behaviour = 'ok'
    fake_linkaja_face.answers = dict(fake_linkaja_face.answers, **{'021': '00:UW:19,536:16:'})
    status, lines, _ = run(capsys, fake_linkaja_face, '--payment')
    assert status == 1
    assert "Gagal thread 1: inquiry Bill Amount '19,536' is not an amount" in lines
    assert [r['trx_type'] for r in fake_linkaja_face.requests] == ['021', '021']


def test_a_reversal_answer_has_an_empty_transaction_id(capsys, fake_linkaja_face):
    status, lines, _ = run(capsys, fake_linkaja_face, '--reversal', '--bill-ref=16',
                           '--amount=19536', '--trx-id=0719062100')
    assert status == 0
    assert fake_linkaja_face.requests[0]['trx_id'] == '0719062100'
    assert lines[1] == ("Response 200: ['00::16:'] -> {'Response Code': '00', "
                        "'Transaction ID': '', 'Bill Ref': '16', 'Notification Message': ''}")
    assert re.fullmatch(r'thread 1 %s detik 00::16:' % SECONDS, lines[2])


def test_a_reversal_without_trx_id_is_a_usage_error(capsys, fake_linkaja_face):
    status, _, err = run(capsys, fake_linkaja_face, '--reversal', '--bill-ref=16',
                         '--amount=19536')
    assert status == 2
    assert ('iso8583d-client linkaja: error: --reversal needs --bill-ref, --amount and '
            '--trx-id; missing: --trx-id') in err
    assert fake_linkaja_face.requests == []


def test_a_response_code_other_than_00_is_a_listed_failure(capsys, fake_linkaja_face):
    fake_linkaja_face.behaviour = 'fail'
    status, lines, _ = run(capsys, fake_linkaja_face)
    assert status == 1
    assert lines[-2:] == ['Gagal thread 1: RC=55', 'Failed 1 of 1: RC=55 1']


def test_an_http_500_is_an_error_without_a_response_in_json(capsys, fake_linkaja_face):
    fake_linkaja_face.behaviour = 'http500'
    status = main(['linkaja', '--url', fake_linkaja_face.url, '--invoice-id=' + INVOICE,
                   '--json'])
    result = json.loads(capsys.readouterr().out)['results'][0]
    assert status == 1
    assert result['error'] == 'HTTP 500' and 'response' not in result


def test_json_holds_the_answer_lines_and_their_parsed_fields(capsys, fake_linkaja_face):
    status = main(['linkaja', '--url', fake_linkaja_face.url, '--invoice-id=' + INVOICE,
                   '--json'])
    document = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (document['count'], document['ok'], document['failed']) == (1, 1, 0)
    assert document['results'][0]['response'] == {
        'status': 200, 'lines': ['00:UW** *****SNA:19536:16:'],
        'fields': {'Response Code': '00', 'Biller Name': 'UW** *****SNA',
                   'Bill Amount': '19536', 'Bill Ref': '16', 'Notification Message': ''}}
    assert document['results'][0]['request']['pwd'] == 'iso***3d'


def test_stress_payments_carry_a_unique_trx_id_each_and_all_succeed(capsys, fake_linkaja_face):
    status, lines, _ = run(capsys, fake_linkaja_face, '--payment', '--bill-ref=16',
                           '--amount=19536', '--requests=200', '--count=20')
    assert status == 0 and lines[-1] == 'Tidak ada yang gagal'
    assert len({request['trx_id'] for request in fake_linkaja_face.requests}) == 200


def test_the_notification_message_keeps_its_colons():
    assert parse_answer('021', '00:UW** *****SNA:19536:16:PBB: Kota Bogor') == {
        'Response Code': '00', 'Biller Name': 'UW** *****SNA', 'Bill Amount': '19536',
        'Bill Ref': '16', 'Notification Message': 'PBB: Kota Bogor'}


def test_fields_missing_from_a_short_answer_are_empty():
    assert parse_answer('022', '55') == {'Response Code': '55', 'Transaction ID': '',
                                         'Bill Ref': '', 'Notification Message': ''}


def test_the_password_shows_only_its_ends():
    assert (mask('ldmsecretss'), mask('short')) == ('ldm***ss', '***')
