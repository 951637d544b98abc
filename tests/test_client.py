"""iso8583d-client, JSON-RPC teller mode, against a fake teller face over real HTTP."""

import json
import re
import subprocess
import sys

import pytest
from gevent.pywsgi import WSGIServer

from appliance.client import main
from appliance.client.http import Connection
from appliance.client.invoices import Invoice, InvoiceFileError, read_invoice_file
from appliance.client.stats import percentile
from fixtures.daemon import free_port

INVOICE = '3271010001007002701995'
STAMP = re.compile(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ')
SECONDS = r'\d+\.\d+(e-\d+)?'


def run(capsys, *argv):
    """(exit status, stdout lines without their timestamps, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert all(STAMP.match(line) for line in lines), out
    return status, [line[24:] for line in lines], err


def invoice_file(tmp_path, text):
    path = tmp_path / 'invoices.txt'
    path.write_text(text)
    return str(path)


def methods(face):
    return [request['method'] for request in face.requests]


def test_a_single_inquiry_prints_the_seeds_request_response_thread_and_verdict_lines(
        capsys, fake_teller_face):
    status, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE)
    assert status == 0
    assert lines[0] == ("Request: {'id': 1, 'method': 'inquiry', 'params': "
                        "[{'invoice_id': '3271010001007002701995'}], 'jsonrpc': '2.0'}")
    assert lines[1].startswith(
        "Response: {'jsonrpc': '2.0', 'id': 1, 'result': {'code': 0, 'message': 'OK', "
        "'data': {'3': '341019', '4': '000000019536', '11': '235069', '39': '00', "
        "'61': '3271010001007002701995', '62': '3271010001007002701995UW** *****SNA")
    assert re.fullmatch('thread 1 %s detik stan 235069' % SECONDS, lines[2])
    assert lines[3:] == ['Tidak ada yang gagal']


def test_a_payment_sends_the_amount_and_a_seed_style_ntb_and_stan(capsys, fake_teller_face):
    status, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                           '--payment', '--amount=19536')
    assert status == 0
    request = re.fullmatch(
        r"Request: \{'id': 1, 'method': 'payment', 'params': \[\{'invoice_id': "
        r"'3271010001007002701995', 'amount': 19536, 'ntb': '(\d{10})', 'stan': '(\d{6})'\}\], "
        r"'jsonrpc': '2.0'\}", lines[0])
    assert request and request[1][4:] == request[2]  # MMDDhhmmss and hhmmss of one moment
    assert "'47': '010192430486', '48': '%s'" % request[1] in lines[1]
    assert re.fullmatch('thread 1 %s detik stan 235069' % SECONDS, lines[2])
    assert lines[3:] == ['Tidak ada yang gagal']


def test_a_reversal_sends_the_given_amount_ntb_and_stan(capsys, fake_teller_face):
    status, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                           '--reversal', '--amount=19536', '--ntb=0719054951', '--stan=054237')
    assert status == 0
    assert lines[0] == ("Request: {'id': 1, 'method': 'reversal', 'params': [{'invoice_id': "
                        "'3271010001007002701995', 'amount': 19536, 'ntb': '0719054951', "
                        "'stan': '054237'}], 'jsonrpc': '2.0'}")
    assert re.fullmatch('thread 1 %s detik stan 054237' % SECONDS, lines[2])
    assert lines[3:] == ['Tidak ada yang gagal']


def test_a_reversal_without_ntb_and_stan_is_a_usage_error(capsys, fake_teller_face):
    status, lines, err = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                             '--reversal', '--amount=19536')
    assert status == 2
    assert ('iso8583d-client: error: --reversal needs --amount, --ntb and --stan; '
            'missing: --ntb, --stan') in err
    assert lines == [] and fake_teller_face.requests == []


def test_ntb_and_stan_are_a_usage_error_for_an_inquiry(capsys, fake_teller_face):
    status, _, err = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                         '--ntb=0719054951', '--stan=054237')
    assert status == 2
    assert 'error: --ntb and --stan only apply to --payment and --reversal' in err


def test_an_amount_is_a_usage_error_for_an_inquiry(capsys):
    status, _, err = run(capsys, '--invoice-id=' + INVOICE, '--amount=5')
    assert status == 2
    assert 'error: --amount only applies to --payment and --reversal' in err


def test_a_count_of_zero_is_a_usage_error_showing_the_value(capsys):
    status, _, err = run(capsys, '--invoice-id=' + INVOICE, '--count=0')
    assert status == 2
    assert "argument --count: '0' is not a positive whole number" in err


def test_help_lists_the_linkaja_mode_and_exits_0(capsys):
    assert main(['--help']) == 0
    assert 'iso8583d-client linkaja' in capsys.readouterr().out


def test_count_12_prints_fastest_slowest_mean_latency_throughput_and_no_failures(
        capsys, fake_teller_face):
    status, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                           '--count=12')
    assert status == 0
    assert len(fake_teller_face.requests) == 12
    assert re.fullmatch(r'Tercepat thread \d+ %s detik stan \d{6}' % SECONDS, lines[0])
    assert re.fullmatch(r'Terlama thread \d+ %s detik stan \d{6}' % SECONDS, lines[1])
    assert re.fullmatch(r'Rerata %s detik / request' % SECONDS, lines[2])
    assert re.fullmatch(r'Latency ms: min [\d.]+ p50 [\d.]+ p95 [\d.]+ p99 [\d.]+ max [\d.]+',
                        lines[3])
    assert re.fullmatch(r'Throughput [\d.]+ tx/s: 12 requests in [\d.]+ s', lines[4])
    assert lines[5:] == ['Tidak ada yang gagal']


def test_verbose_prints_every_request_of_a_run_over_ten(capsys, fake_teller_face):
    _, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                      '--count=12', '--verbose')
    assert sum(line.startswith('Request: ') for line in lines) == 12
    assert sum(line.startswith('thread ') for line in lines) == 12


def test_failures_are_listed_with_their_reasons_and_the_exit_status_is_1(
        capsys, tmp_path, fake_teller_face):
    fake_teller_face.by_invoice = {'2': 'fail', '3': 'slow', '4': 'http500', '5': 'drop'}
    path = invoice_file(tmp_path, '1\n2\n3\n4\n5\n')
    status, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-file', path,
                           '--count=5', '--timeout=0.3')
    assert status == 1
    assert lines[-5:] == [
        'Gagal thread 2: 39=55', 'Gagal thread 3: timeout', 'Gagal thread 4: HTTP 500',
        'Gagal thread 5: connection closed',
        'Failed 4 of 5: 39=55 1, timeout 1, HTTP 500 1, connection closed 1']


def test_a_refused_connection_is_a_failure_reason(capsys):
    port = free_port()                     # reserved for this run, and nothing binds it
    status, lines, _ = run(capsys, '--url', 'http://127.0.0.1:%d/rpc' % port,
                           '--invoice-id=' + INVOICE)
    assert status == 1
    assert 'Gagal thread 1: connection refused' in lines


def test_json_prints_only_one_object_with_counts_latency_and_results(capsys, fake_teller_face):
    status = main(['--url', fake_teller_face.url, '--invoice-id=' + INVOICE, '--count=3',
                   '--json'])
    document = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (document['count'], document['ok'], document['failed']) == (3, 3, 0)
    assert document['seconds'] > 0 and document['tps'] > 0
    assert set(document['latency_ms']) == {'min', 'p50', 'p95', 'p99', 'max', 'mean'}
    assert [r['thread'] for r in document['results']] == [1, 2, 3]
    first = document['results'][0]
    assert first['request'] == {'id': 1, 'method': 'inquiry',
                                'params': [{'invoice_id': INVOICE}], 'jsonrpc': '2.0'}
    assert first['response']['result']['data']['39'] == '00'
    assert first['ok'] is True and first['seconds'] > 0


def test_json_gives_the_error_instead_of_a_response_when_no_answer_came(
        capsys, fake_teller_face):
    fake_teller_face.behaviour = 'http500'
    status = main(['--url', fake_teller_face.url, '--invoice-id=' + INVOICE, '--json'])
    document = json.loads(capsys.readouterr().out)
    assert status == 1
    assert (document['ok'], document['failed']) == (0, 1)
    assert document['latency_ms']['p50'] is None
    result = document['results'][0]
    assert result['error'] == 'HTTP 500' and 'response' not in result


def test_two_thousand_requests_over_200_connections_all_succeed(capsys, fake_teller_face):
    status, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                           '--requests', '2000', '--count', '200')
    assert status == 0
    assert lines[-1] == 'Tidak ada yang gagal'
    assert re.fullmatch(r'Throughput [\d.]+ tx/s: 2000 requests in [\d.]+ s', lines[-2])
    assert len(fake_teller_face.requests) == 2000


def test_each_worker_keeps_one_connection_for_all_its_requests(capsys, fake_teller_face):
    run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
        '--requests=50', '--count=5')
    assert len(fake_teller_face.client_ports) == 5


def test_stress_payments_carry_a_unique_ntb_and_stan_each(capsys, fake_teller_face):
    run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE, '--payment',
        '--amount=19536', '--requests=300', '--count=30')
    params = [request['params'][0] for request in fake_teller_face.requests]
    assert len({p['ntb'] for p in params}) == len({p['stan'] for p in params}) == 300


def test_a_payment_without_an_amount_inquires_first_and_pays_bit_4(capsys, fake_teller_face):
    fake_teller_face.amount_due = 28914
    status, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                           '--payment')
    assert status == 0
    assert methods(fake_teller_face) == ['inquiry', 'payment']
    assert fake_teller_face.requests[1]['params'][0]['amount'] == 28914
    assert [line.split(':')[0] for line in lines[:4]] == ['Request', 'Response'] * 2


def test_json_shows_the_inquiry_a_payment_made_first(capsys, fake_teller_face):
    main(['--url', fake_teller_face.url, '--invoice-id=' + INVOICE, '--payment', '--json'])
    result = json.loads(capsys.readouterr().out)['results'][0]
    assert result['inquiry']['request']['method'] == 'inquiry'
    assert result['inquiry']['response']['result']['data']['4'] == '000000019536'
    assert result['request']['method'] == 'payment'


@pytest.mark.parametrize('fault, reason', [
    ({'behaviour': 'fail'}, 'inquiry 39=55'),
    ({'inquiry_bit4': '0000001953X6'}, "inquiry bit 4 '0000001953X6' is not an amount"),
])
def test_a_payment_whose_inquiry_fails_or_has_no_amount_is_not_sent(
        capsys, fake_teller_face, fault, reason):
    for name, value in fault.items():
        setattr(fake_teller_face, name, value)
    status, lines, _ = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                           '--payment')
    assert status == 1
    assert methods(fake_teller_face) == ['inquiry']
    assert 'Gagal thread 1: ' + reason in lines


def test_amounts_from_the_invoice_file_are_paid_without_an_inquiry(
        capsys, tmp_path, fake_teller_face):
    path = invoice_file(tmp_path, '111 100\n222 200\n')
    run(capsys, '--url', fake_teller_face.url, '--invoice-file', path, '--payment',
        '--count=2')
    paid = sorted((r['params'][0]['invoice_id'], r['params'][0]['amount'])
                  for r in fake_teller_face.requests)
    assert methods(fake_teller_face) == ['payment'] * 2
    assert paid == [('111', 100), ('222', 200)]


def test_requests_go_round_robin_over_the_invoice_file_ids(capsys, tmp_path, fake_teller_face):
    path = invoice_file(tmp_path, '1\n2\n3\n')
    run(capsys, '--url', fake_teller_face.url, '--invoice-file', path, '--requests=7')
    ids = [request['params'][0]['invoice_id'] for request in fake_teller_face.requests]
    assert ids == ['1', '2', '3', '1', '2', '3', '1']


def test_invoice_files_skip_blank_lines_and_comments_and_read_amounts(tmp_path):
    path = invoice_file(tmp_path, '# bills to pay\n\n3271010001007002701995  19536\n'
                                  '  3275010001007002701995 # no amount: inquire\n')
    assert read_invoice_file(path) == [Invoice('3271010001007002701995', 19536),
                                       Invoice('3275010001007002701995')]


@pytest.mark.parametrize('line, message', [
    ('3271 19.5', "amount '19.5' is not a positive whole number of rupiah"),
    ('3271 0', "amount '0' is not a positive whole number of rupiah"),
    ('3271 100 extra', 'expected an invoice id and an optional amount, got 3 fields'),
    ('32a71', "invoice id '32a71' is not all digits"),
])
def test_a_bad_invoice_file_line_is_reported_with_file_and_line_number(tmp_path, line, message):
    path = invoice_file(tmp_path, '# header\n3271\n%s\n' % line)
    with pytest.raises(InvoiceFileError, match='^%s$' % re.escape('%s:3: %s' % (path, message))):
        read_invoice_file(path)


def test_an_invoice_file_without_ids_is_an_error(tmp_path):
    path = invoice_file(tmp_path, '# nothing yet\n\n')
    with pytest.raises(InvoiceFileError, match='^%s: no invoice ids$' % re.escape(path)):
        read_invoice_file(path)


def test_a_missing_invoice_file_is_a_usage_error_naming_the_file(capsys, tmp_path):
    path = str(tmp_path / 'missing.txt')
    status, _, err = run(capsys, '--invoice-file', path)
    assert status == 2
    assert 'iso8583d-client: error: %s: No such file or directory' % path in err


def test_progress_writes_plain_lines_to_stderr_when_asked(capsys, fake_teller_face):
    fake_teller_face.behaviour = 'slow'
    fake_teller_face.delay = 1.5
    _, _, err = run(capsys, '--url', fake_teller_face.url, '--invoice-id=' + INVOICE,
                    '--progress')
    assert re.search(r'^\ds [01]/1 done, 0 failed, [\d.]+ tx/s$', err, re.M)


def test_python_dash_m_appliance_client_runs_a_seed_inquiry(fake_teller_face):
    done = subprocess.run(
        [sys.executable, '-m', 'appliance.client', '--url', fake_teller_face.url,
         '--invoice-id', INVOICE], capture_output=True, text=True, timeout=30)
    lines = [line[24:] for line in done.stdout.splitlines()]
    assert done.returncode == 0, done.stderr
    assert lines[0].startswith("Request: {'id': 1, 'method': 'inquiry'")
    assert lines[-1] == 'Tidak ada yang gagal'


def test_percentiles_use_the_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50, 95, 99)
    assert percentile([7], 99) == 7


def _serve(app):
    server = WSGIServer(('127.0.0.1', 0), app, log=None, error_log=None)
    server.start()
    return server


def test_the_http_client_reads_a_chunked_answer():
    def app(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return (part for part in (b'00:', b'UW**', b':16:'))

    server = _serve(app)
    try:
        connection = Connection('http://127.0.0.1:%d/' % server.server_port, 'text/plain', 5)
        assert connection.post(b'x').body == b'00:UW**:16:'
    finally:
        server.stop(timeout=1)


def test_the_http_client_reconnects_after_the_server_closes_the_connection():
    def app(environ, start_response):
        start_response('200 OK', [('Content-Length', '2'), ('Connection', 'close')])
        return [b'ok']

    server = _serve(app)
    try:
        connection = Connection('http://127.0.0.1:%d/' % server.server_port, 'text/plain', 5)
        assert [connection.post(b'x').status for _ in range(3)] == [200, 200, 200]
    finally:
        server.stop(timeout=1)


def test_a_run_longer_than_the_timeout_does_not_time_out_quick_requests(capsys,
                                                                       fake_teller_face):
    # Each request takes 0.05 s; the whole run about 2 s, twice the 1 s timeout.
    fake_teller_face.behaviour, fake_teller_face.delay = 'slow', 0.05
    code = main(['--url', fake_teller_face.url, '--invoice-id', '3271010001007002701995',
                 '--count', '5', '--requests', '200', '--timeout', '1', '--json'])
    report = json.loads(capsys.readouterr().out)
    assert (code, report['ok'], report['failed']) == (0, 200, 0)
    assert report['seconds'] > 1.5
