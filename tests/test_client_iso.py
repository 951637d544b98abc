"""iso8583d-client iso: the raw ISO8583 mode plays the bank toward a real
pemda daemon (the seed's test-pemda.ini pointed at the client's port), as a
user would run it: `iso8583d-client iso --listen --port N ...`."""
import json
import subprocess
import sys

import pytest

from fixtures.daemon import Daemon, free_port, run_cli, seed_config
from test_pemda_daemon import SEED_PROFILE, payment_rows

SEED_INVOICE = '3271010001007002701995'


class Pemda:
    """A pemda daemon that connects to `port` and reconnects within 0.5 s, so
    every client run of a test module finds it again."""

    def __init__(self, tmp, listen=False):
        self.port = free_port()
        self.conf, self.data = tmp / 'conf.d', tmp / 'data'
        replace = [('port = 10002', 'port = %d' % self.port),
                   ('postgresql://user:pass@localhost/db', 'sqlite:///demo.db'),
                   ('timeout = 60', 'timeout = 60\nreconnect_max = 0.5')]
        if listen:
            replace.append(('listen = false', 'listen = true'))
        seed_config('test-pemda.ini', self.conf, tmp, replace)
        self.args = ['--role', 'pemda', '--conf-dir', str(self.conf),
                     '--data-dir', str(self.data)]
        code, out = run_cli(self.args + ['--initdb', '--demo'])
        assert code == 0, out
        self.daemon = Daemon(self.args, name='pemda')
        if listen:
            self.daemon.wait_for('ISO8583 server listen at')
        self.db_url = 'sqlite:///%s' % (self.data / 'demo.db')

    def unpaid(self, count):
        code, out = run_cli(['invoices'] + self.args + ['--limit', str(count)])
        assert code == 0, out
        return out.split()

    def stop(self):
        code = self.daemon.stop()
        assert code == 0, self.daemon.output()[-3000:]


@pytest.fixture(scope='module')
def pemda(tmp_path_factory):
    p = Pemda(tmp_path_factory.mktemp('pemda'))
    yield p
    p.stop()


def client(*args, timeout=120):
    """(exit status, stdout, stderr) of `iso8583d-client iso ARGS`."""
    proc = subprocess.run([sys.executable, '-m', 'appliance.client', 'iso'] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def listen(pemda, *args, **kw):
    return client('--listen', '--port', str(pemda.port), '--wait', '20', *args, **kw)


def listen_json(pemda, *args, **kw):
    code, out, err = listen(pemda, '--json', *args, **kw)
    assert out, err
    return code, json.loads(out), err


def only(report):
    (result,) = report['results']
    return result


def test_an_inquiry_of_the_seed_bill_is_answered_by_a_real_pemda(pemda):
    code, out, err = listen(pemda, '--invoice-id', SEED_INVOICE)
    assert code == 0, out + err
    assert "Request: {'mti': '0200', 'bits': {'3': '341019'" in out
    assert "'39': '00'" in out and "'4': '000000019536'" in out
    assert 'detik stan' in out and 'Tidak ada yang gagal' in out


def test_the_json_report_holds_the_request_and_the_answer_by_bit(pemda):
    code, report, err = listen_json(pemda, '--invoice-id', SEED_INVOICE)
    result = only(report)
    assert (code, report['count'], report['ok'], report['failed']) == (0, 1, 1, 0)
    assert result['request']['mti'] == '0200'
    assert result['request']['bits']['61'] == SEED_INVOICE
    answer = result['response']
    assert answer['mti'] == '0210' and answer['bits']['62'] == SEED_PROFILE
    assert answer['bits']['11'] == result['request']['bits']['11']


def test_a_payment_inquires_first_and_a_reversal_with_its_ntb_and_stan_undoes_it(pemda):
    invoice = pemda.unpaid(3)[-1]
    code, report, err = listen_json(pemda, '--invoice-id', invoice, '--payment')
    paid = only(report)
    assert code == 0, paid
    assert paid['inquiry']['response']['bits']['39'] == '00'
    amount = paid['inquiry']['response']['bits']['4']
    bits = paid['response']['bits']
    assert (bits['39'], bits['4'], bits['3']) == ('00', amount, '541019')
    assert len(bits['47']) == 12 and bits['48'] == paid['request']['bits']['48']
    assert payment_rows(pemda.db_url, [invoice]) == {invoice: 1}

    code, report, err = listen_json(pemda, '--invoice-id', invoice, '--reversal',
                                    '--amount', str(int(amount)), '--ntb', bits['48'],
                                    '--stan', bits['11'])
    undone = only(report)
    assert code == 0, undone
    assert (undone['response']['mti'], undone['response']['bits']['39']) == ('0410', '00')
    assert payment_rows(pemda.db_url, [invoice]) == {}


def test_a_stress_run_over_an_invoice_file_has_no_failures(pemda, tmp_path):
    invoices = tmp_path / 'invoices.txt'
    invoices.write_text('\n'.join(pemda.unpaid(200)) + '\n')
    code, report, err = listen_json(pemda, '--invoice-file', str(invoices),
                                    '--count', '50', '--requests', '1000')
    reasons = {r.get('reason') for r in report['results'] if not r['ok']}
    assert (report['count'], report['ok'], report['failed']) == (1000, 1000, 0), reasons
    assert code == 0
    assert report['tps'] > 0 and report['latency_ms']['p99'] is not None


def test_payments_from_a_file_with_amounts_book_each_bill_once(pemda, tmp_path):
    ids = pemda.unpaid(60)[10:60]
    asked = tmp_path / 'ask.txt'
    asked.write_text('\n'.join(ids) + '\n')
    code, report, err = listen_json(pemda, '--invoice-file', str(asked), '--count', '10',
                                    '--requests', str(len(ids)))
    assert code == 0, err
    due = {r['response']['bits']['61']: int(r['response']['bits']['4'])
           for r in report['results']}
    paying = tmp_path / 'pay.txt'
    paying.write_text(''.join('%s %d\n' % (i, due[i]) for i in ids))
    code, report, err = listen_json(pemda, '--invoice-file', str(paying), '--payment',
                                    '--count', '25', '--requests', str(len(ids)))
    assert (code, report['ok'], report['failed']) == (0, 50, 0), report['results'][:2]
    assert not any('inquiry' in r for r in report['results'])   # amounts were given
    assert payment_rows(pemda.db_url, ids) == {i: 1 for i in ids}


def test_echoes_are_answered_00(pemda):
    code, out, err = listen(pemda, '--echo', '--count', '5', '--requests', '50')
    assert code == 0, out + err
    assert 'Tidak ada yang gagal' in out and 'Throughput' in out


def test_a_refused_request_fails_the_run_with_its_response_code(pemda):
    code, out, err = listen(pemda, '--invoice-id', '3271010001999999990001')
    assert code == 1
    assert 'Gagal thread 1: 39=55' in out


def test_without_a_pemda_every_request_fails_as_link_down_and_the_exit_is_1():
    port = free_port()
    code, out, err = client('--listen', '--port', str(port), '--wait', '0.5',
                            '--invoice-id', SEED_INVOICE, '--count', '2')
    assert code == 1
    assert 'Failed 2 of 2: link down: no pemda connected to 0.0.0.0:%d within 0.5 s' % port \
        in out


def test_connecting_to_a_listening_pemda_works_too(tmp_path):
    listening = Pemda(tmp_path, listen=True)
    try:
        code, out, err = client('--port', str(listening.port), '--invoice-id', SEED_INVOICE,
                                '--wait', '10')
        assert code == 0, out + err
        assert "'39': '00'" in out
    finally:
        listening.stop()


@pytest.mark.parametrize('args, message', [
    (['--invoice-id', SEED_INVOICE, '--reversal', '--amount', '1', '--ntb', 'X'],
     '--reversal needs --amount, --ntb and --stan; missing: --stan'),
    (['--echo', '--invoice-id', SEED_INVOICE],
     '--invoice-id and --invoice-file do not apply to --echo'),
    ([], 'one of the arguments --invoice-id --invoice-file is required'),
    (['--invoice-id', SEED_INVOICE, '--ntb', 'X'],
     '--ntb only applies to --payment and --reversal'),
    (['--invoice-id', SEED_INVOICE, '--stan', '12345'], 'is not a 6-digit STAN'),
])
def test_usage_errors_exit_2_with_a_message(args, message):
    code, out, err = client(*args)
    assert code == 2
    assert message in err
