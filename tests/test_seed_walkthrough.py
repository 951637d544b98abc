"""The seed README's walkthrough (iso8583-web), its command lines typed as
written, against the console scripts the package installs in .venv/bin.

Changed from the README, and nothing else: the ports (free ones), the log
paths, the db_url (one SQLite file per terminal, or one PostgreSQL schema for
all as the README's one URL), the NTB/STAN/bill ref/trx id the README tells
the reader to copy from an earlier answer, and `:7000/linkaja` (see
LINKAJA_TYPO). Each terminal of the README is a directory of its own; the
SISMIOP bills a real site already has are the demo bills
(`iso8583_bjb_pbb_initdb --demo`)."""
import ast
import os
import re
import shlex
import subprocess
import sys

import pytest

from fixtures.daemon import SEED_DIR, Daemon, free_port

BIN = os.path.dirname(sys.executable)       # .venv/bin: the installed console scripts
SEED_DB_URL = 'postgresql://user:pass@localhost/db'
INVOICE = '3271010001007002701995'
# The README's LinkAja payment and reversal go to http://127.0.0.1:7000/linkaja,
# the bank's teller port, where the seed served no /linkaja either (test-bank.ini
# has only [web_teller]); its own answers there ('00:010123882462:16:', a pemda's
# NTP) can only have come through Agratek, which the diagram puts on 7001. A typo:
# those two lines are run against the aggregator, as the inquiry before them.
LINKAJA_TYPO = (':7000/linkaja', ':7001/linkaja')

PBB_INI = """\
[main]
module = opensipkd.iso8583.bjb.pbb.bogor_kota
db_url = postgresql://user:pass@localhost/db
"""


class Walkthrough:
    """The README's terminals as directories; its ports mapped to free ones."""

    def __init__(self, tmp, db_urls):
        self.tmp = tmp
        self.db_urls = db_urls          # terminal -> db_url of its files
        self.ports = {seed: str(free_port()) for seed in ('10001', '10002', '7000', '7001')}
        self.daemons = []
        (tmp / 'log').mkdir()

    def terminal(self, name):
        path = self.tmp / name
        path.mkdir(exist_ok=True)
        return path

    def env(self, terminal):
        return dict(os.environ, ISO8583D_DATA_DIR=str(self.tmp / terminal / 'data'),
                    ISO8583D_CONF_DIR=str(self.tmp / terminal))

    def write(self, terminal, name, text, mode='w'):
        """A config file of the README into a terminal's directory."""
        text = text.replace('/home/sugiana/log/', '%s/' % (self.tmp / 'log'))
        text = text.replace(SEED_DB_URL, self.db_urls[terminal])
        text = re.sub(r'^port = (\d+)$', lambda m: 'port = ' + self.ports[m.group(1)],
                      text, flags=re.M)
        with open(self.terminal(terminal) / name, mode) as f:
            f.write(text)

    def argv(self, line):
        line = line.replace(*LINKAJA_TYPO)
        line = re.sub(r':(7000|7001)/', lambda m: ':%s/' % self.ports[m.group(1)], line)
        words = shlex.split(line)
        assert words[0].startswith('~/env/bin/'), line
        return [os.path.join(BIN, words[0][len('~/env/bin/'):])] + words[1:]

    def run(self, terminal, line):
        """One README command line to its end; (exit status, output)."""
        proc = subprocess.run(self.argv(line), cwd=self.terminal(terminal),
                              env=self.env(terminal), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)
        return proc.returncode, proc.stdout

    def start(self, terminal, line):
        argv = self.argv(line)
        daemon = Daemon(argv[1:], command=argv[:1], cwd=self.terminal(terminal),
                        env=self.env(terminal), name=terminal)
        self.daemons.append(daemon)
        return daemon

    def stop(self):
        codes = [d.stop() for d in self.daemons if d.proc.poll() is None]
        assert set(codes) <= {0}, '\n'.join(d.output()[-2000:] for d in self.daemons)


def seed_text(name):
    with open(os.path.join(SEED_DIR, name)) as f:
        return f.read()


def response_data(output):
    """The `data` of the JSON-RPC Response line the client printed."""
    line = next(x for x in output.splitlines() if ' Response: ' in x)
    return ast.literal_eval(line.split(' Response: ', 1)[1])['result']['data']


def request_of(output):
    line = next(x for x in output.splitlines() if ' Request: ' in x)
    return ast.literal_eval(line.split(' Request: ', 1)[1])


def answer_line(output):
    """The LinkAja answer line of `Response 200: ['...'] -> {...}`."""
    match = re.search(r" Response 200: \['([^']*)'\]", output)
    assert match, output
    return match.group(1)


def no_failure(code, output):
    assert code == 0 and output.rstrip().endswith('Tidak ada yang gagal'), output


def signed_on(daemon, host, start=0):
    """The bank answered an echo or sign-on of `host`: the link is up."""
    daemon.wait_for(r' %s \d+ -> \d+ Encode MTI 0810 ' % host, timeout=30, start=start)


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.pg)])
def walk(request, tmp_path):
    if request.param == 'sqlite':
        urls = {t: 'sqlite:///%s' % (tmp_path / ('%s.db' % t))
                for t in ('pemda', 'bank', 'agratek')}
    else:
        url = request.getfixturevalue('pg_schema_url')
        urls = dict.fromkeys(('pemda', 'bank', 'agratek'), url)
    w = Walkthrough(tmp_path, urls)
    yield w
    w.stop()


def test_the_seed_readme_walkthrough_runs_as_written(walk):
    # -- Sebagai Pemda: the tables, then the daemon --------------------------------
    walk.write('pemda', 'test-pemda.ini', seed_text('test-pemda.ini'))
    walk.write('pemda', 'iso8583-pbb.ini', PBB_INI)
    code, out = walk.run('pemda', '~/env/bin/iso8583_bjb_pbb_initdb iso8583-pbb.ini')
    assert code == 0 and 'SISMIOP and record tables ready in' in out, out
    assert 'demo bills' not in out
    code, out = walk.run('pemda', '~/env/bin/iso8583_bjb_pbb_initdb --demo iso8583-pbb.ini')
    assert code == 0 and 'tables and demo bills ready in' in out, out
    pemda = walk.start('pemda', '~/env/bin/iso8583 test-pemda.ini')
    pemda.wait_for('Connect to 127.0.0.1 port %s' % walk.ports['10002'])

    # -- Sebagai Bank: the teller's inquiry, payment, reversal, stress ---------------
    walk.write('bank', 'test-bank.ini', seed_text('test-bank.ini'))
    bank = walk.start('bank', '~/env/bin/iso8583 test-bank.ini')
    bank.wait_for('Web server JSON-RPC route path /rpc')
    bank.wait_for('Web server listen at 0.0.0.0:%s with 12 workers' % walk.ports['7000'])
    bank.wait_for('ISO8583 server listen at 0.0.0.0:%s' % walk.ports['10002'])
    signed_on(bank, 'kota_bogor')

    code, out = walk.run('teller', '~/env/bin/iso8583_web_client --url=http://127.0.0.1:7000/rpc '
                                   '--invoice-id=3271010001007002701995')
    no_failure(code, out)
    data = response_data(out)
    assert (data['39'], data['4'], data['61']) == ('00', '000000019536', INVOICE), out

    code, out = walk.run('teller', '~/env/bin/iso8583_web_client --url=http://127.0.0.1:7000/rpc '
                                   '--invoice-id=3271010001007002701995 --payment --amount=19536')
    no_failure(code, out)
    paid = response_data(out)
    assert paid['39'] == '00', out

    # "--stan dan --ntb yang diperoleh saat payment request yaitu bit 11 dan bit 48"
    line = ('~/env/bin/iso8583_web_client --url=http://127.0.0.1:7000/rpc '
            '--invoice-id=3271010001007002701995 --reversal --amount=19536 '
            '--ntb=0719054951 --stan=054237')
    line = line.replace('0719054951', paid['48']).replace('054237', paid['11'])
    code, out = walk.run('teller', line)
    no_failure(code, out)
    assert response_data(out)['39'] == '00', out

    code, out = walk.run('teller', '~/env/bin/iso8583_web_client --url=http://127.0.0.1:7000/rpc '
                                   '--invoice-id=3271010001007002701995 --count=12')
    no_failure(code, out)
    assert re.search(r' Tercepat thread \d+ .* detik', out) and ' Rerata ' in out, out

    # -- LinkAja: the bank becomes a forwarder ---------------------------------------
    assert bank.stop() == 0, bank.output()[-3000:]
    walk.write('bank', 'test-bank.ini', seed_text('bank-agratek.ini'), mode='a')
    code, out = walk.run('bank', '~/env/bin/iso8583_bjb_pbb_test_aggregator_initdb')
    assert code == 0 and '[host_agratek] forwarder tables ready in' in out, out
    mark = len(pemda.lines)
    bank = walk.start('bank', '~/env/bin/iso8583 test-bank.ini')
    pemda.wait_for('Connect to 127.0.0.1 port', start=mark)
    signed_on(bank, 'kota_bogor')

    # -- Aggregator ------------------------------------------------------------------
    walk.write('agratek', 'test-agratek.ini', seed_text('test-agratek.ini'))
    code, out = walk.run('agratek', '~/env/bin/init_db_linkaja test-agratek.ini')
    assert code == 0 and '[host_bjb] [web_linkaja] LinkAja tables ready in' in out, out
    agratek = walk.start('agratek', '~/env/bin/iso8583 test-agratek.ini')
    agratek.wait_for('Web server listen at 0.0.0.0:%s' % walk.ports['7001'])
    signed_on(bank, 'agratek')

    code, out = walk.run('linkaja', '~/env/bin/iso8583_web_client_linkaja '
                                    '--url=http://127.0.0.1:7001/linkaja '
                                    '--invoice-id=3271010001007002701995')
    no_failure(code, out)
    match = re.fullmatch(r'00:UW\*\* \*\*\*\*\*SNA:19536:(\d+):PBB Kota Bogor', answer_line(out))
    assert match, out
    bill_ref = match.group(1)

    # "kali ini sertakan --bill-ref dan --amount yang diperoleh dari inquiry response"
    code, out = walk.run('linkaja', '~/env/bin/iso8583_web_client_linkaja '
                                    '--url=http://127.0.0.1:7000/linkaja '
                                    '--invoice-id=3271010001007002701995 --payment '
                                    '--bill-ref=16 --amount=19536'.replace('=16 ', '=%s ' % bill_ref))
    no_failure(code, out)
    assert re.fullmatch(r'00:\d{12}:%s:PBB Kota Bogor' % bill_ref, answer_line(out)), out
    trx_id = request_of(out)['trx_id']

    # "sertakan --trx-id yang diperoleh dari payment request"
    code, out = walk.run('linkaja', '~/env/bin/iso8583_web_client_linkaja '
                                    '--url=http://127.0.0.1:7000/linkaja '
                                    '--invoice-id=3271010001007002701995 --reversal '
                                    '--bill-ref=16 --amount=19536 --trx-id=0719062100'
                         .replace('=16 ', '=%s ' % bill_ref).replace('0719062100', trx_id))
    no_failure(code, out)
    assert answer_line(out) == '00::%s:PBB Kota Bogor' % bill_ref, out
