#!/usr/bin/python3
"""Smoke test of the frozen iso8583d binaries (`make smoke`).

Runs build/dist/iso8583d and build/dist/iso8583d-client -- not the venv --
with a clean environment (only PATH=/usr/bin:/bin) and checks:

  1. --version (timed), and the name dispatch of the one binary
     (iso8583d-client, `iso8583d client`);
  2. --check-config of the shipped conf.d for every role (all-commented
     files: the role's preset runs), and of each role example uncommented;
  3. the EBCDIC codec inside the frozen build: a host with
     spec = bjb_pbb_ebcdic passes --check-config, an unknown spec fails (78);
  4. per spec (bjb_pbb, then bjb_pbb_ebcdic): a bank and a pemda on loopback
     on ports reserved by tests/fixtures/ports.py (demo bills by
     `iso8583d --initdb --demo`), an inquiry / payment / reversal round
     through the frozen iso8583d-client, idle RSS of the bootloader and of the Python process,
     then SIGTERM to the bootloader and a clean exit (0) within seconds.

Standard library only; run it with the system python3 (pytest does not
collect it: the file name has no test_ prefix). Every wait is bounded, and every daemon is killed on every exit
path. Exit status 0 when everything passed.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CLEAN_ENV = {'PATH': '/usr/bin:/bin'}
INVOICE = '3271010001007002701995'     # a demo bill of the pemda preset
EXPECTED_AMOUNT = 19536
ROLES = ('pemda', 'bank', 'aggregator')
# How the digits of an MTI look on the wire. bjb_pbb_ebcdic is cp1047, which
# the standard library lacks; digits are 0xF0-0xF9 in every EBCDIC code page.
WIRE_CHARSET = {'bjb_pbb': 'ascii', 'bjb_pbb_ebcdic': 'cp500'}
EXIT_CONFIG = 78
TMP = '/tmp'        # where the bootloader unpacks: CLEAN_ENV sets no TMPDIR

sys.path.insert(0, os.path.join(ROOT, 'tests'))
from fixtures.ports import reserve_port  # noqa: E402  (standard library only, as this file)

BANK_CONF = """\
[host_pemda]
ip = 127.0.0.1
bind = 127.0.0.1
port = {iso_port}
listen = true
streamer = bjb_with_suffix
spec = {spec}
module = opensipkd.iso8583.bjb.pbb.test

[web]
bind = 127.0.0.1
port = {web_port}
threads = 4

[web_teller]
route_path = /rpc
host = pemda
module = iso8583_web.scripts.views.jsonrpc
allowed_ip = 127.0.0.1
"""

PEMDA_CONF = """\
[host_bjb]
ip = 127.0.0.1
port = {iso_port}
listen = false
streamer = bjb_with_suffix
spec = {spec}
timeout = 60
module = opensipkd.iso8583.bjb.pbb.bogor_kota

[module_opensipkd.iso8583.bjb.pbb.bogor_kota]
db_url = sqlite:///pemda.db
demo = false
persen_denda = 2
nip_pencatat = 999999999
kd_kanwil = 01
kd_kantor = 01
kd_tp =
    bit18:6010:69
    bit0:default:20
"""


class Failed(Exception):
    """A check failed; the message says which and shows the evidence."""


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout('the whole smoke test took longer than its --timeout')


def _terminated(signum, frame):
    sys.exit(128 + signum)      # runs the finally blocks: daemons are stopped




def version_of_package():
    with open(os.path.join(ROOT, 'appliance', '__init__.py')) as f:
        return re.search(r"__version__\s*=\s*['\"]([^'\"]+)", f.read()).group(1)


def rss_kb(pid):
    """VmRSS of a process in kB (None when it is gone)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def extraction_dir(pid):
    """The onefile bootloader's _MEIxxxxxx directory the Python process runs from."""
    try:
        with open('/proc/%d/maps' % pid) as f:
            for line in f:
                m = re.search(r'(/\S*/_MEI[^/\s]+)/', line)
                if m:
                    return m.group(1)
    except OSError:
        pass
    return None


def stop_group(proc, grace=5.0):
    """Stop a process started in its own session (bootloader and Python child):
    SIGTERM to the group, SIGKILL after `grace` s; then remove the bootloader's
    _MEI directory if a SIGKILL left it behind."""
    if proc.poll() is not None:
        return
    kids = children(proc.pid)
    mei = extraction_dir(kids[0]) if kids else None
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # A bootloader killed while still unpacking leaves a partial directory; its
    # name starts with _MEI and the bootloader's pid in 8 hex digits.
    leftovers = glob.glob(os.path.join(TMP, '_MEI%08x*' % proc.pid))
    for path in ([mei] if mei else []) + leftovers:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)


class Smoke:
    def __init__(self, args):
        self.args = args
        self.bin_dir = os.path.abspath(args.bin_dir)
        self.daemon_bin = os.path.join(self.bin_dir, 'iso8583d')
        self.client_bin = os.path.join(self.bin_dir, 'iso8583d-client')
        self.tmp = tempfile.mkdtemp(prefix='iso8583d-smoke-')
        try:
            with open(self.daemon_bin, 'rb') as f:
                self.frozen = f.read(4) == b'\x7fELF'   # else e.g. the venv's console script
        except OSError:
            self.frozen = False
        self.procs = []             # every daemon started, for the cleanup
        self.results = {'bin_dir': self.bin_dir}
        self.passed = 0

    # -- helpers -------------------------------------------------------------

    def ok(self, text):
        self.passed += 1
        print('ok   %s' % text, flush=True)

    def note(self, text):
        print('     %s' % text, flush=True)

    def run(self, argv, timeout=30, name=None):
        """Run to completion with the clean environment; (code, stdout, stderr, seconds)."""
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=CLEAN_ENV, cwd=self.tmp, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            raise Failed('%s did not finish within %g s' % (' '.join(argv), timeout)) from None
        except BaseException:
            stop_group(proc)
            raise
        return proc.returncode, out, err, time.monotonic() - started

    def write_conf(self, name, files):
        conf_dir = os.path.join(self.tmp, name)
        os.makedirs(conf_dir, exist_ok=True)
        for filename, text in files.items():
            with open(os.path.join(conf_dir, filename), 'w') as f:
                f.write(text)
        return conf_dir

    def check_config(self, role, conf_dir, expect=0):
        argv = [self.daemon_bin, '--role', role, '--conf-dir', conf_dir,
                '--data-dir', os.path.join(self.tmp, 'data-check'), '--check-config']
        code, out, err, _ = self.run(argv)
        if code != expect:
            raise Failed('%s: exit %d, expected %d\nstdout: %s\nstderr: %s'
                         % (' '.join(argv), code, expect, out, err))
        return out, err

    # -- 1. version and name dispatch -----------------------------------------

    def test_version(self):
        want = 'iso8583d %s' % version_of_package()
        times = []
        for _ in range(self.args.repeat):
            code, out, err, seconds = self.run([self.daemon_bin, '--version'])
            if code != 0 or out.strip() != want:
                raise Failed('iso8583d --version: exit %d, %r (want %r); stderr: %s'
                             % (code, out.strip(), want, err))
            times.append(seconds)
        self.results['version_seconds'] = {'min': round(min(times), 3),
                                           'median': round(statistics.median(times), 3),
                                           'max': round(max(times), 3)}
        self.ok('iso8583d --version prints %r; %d runs: min %.2f s, median %.2f s, max %.2f s'
                % (want, len(times), min(times), statistics.median(times), max(times)))
        if statistics.median(times) >= 2.0:
            raise Failed('--version takes %.2f s (median), the budget is 2 s'
                         % statistics.median(times))
        if self.frozen:
            self.test_pie()
        checks = [[self.client_bin, '--help']]
        if self.frozen:     # `iso8583d client` is build/entry.py's, not the venv script's
            checks.append([self.daemon_bin, 'client', '--help'])
        for argv in checks:
            code, out, err, _ = self.run(argv)
            if code != 0 or 'usage: iso8583d-client' not in out:
                raise Failed('%s: exit %d, no client usage\nstdout: %s\nstderr: %s'
                             % (' '.join(argv), code, out[:500], err[-2000:]))
            self.ok('`%s %s` is the client' % (os.path.basename(argv[0]), ' '.join(argv[1:])))

    # -- 2. the shipped conf.d ------------------------------------------------

    def test_shipped_conf(self):
        conf_d = os.path.abspath(self.args.conf_d)
        shipped = sorted(n for n in os.listdir(conf_d) if n.endswith('.ini'))
        if not shipped:
            raise Failed('no *.ini in %s' % conf_d)
        for role in ROLES:
            out, _ = self.check_config(role, conf_d)
            if not out.startswith('configuration OK: role %s' % role) or \
                    'the preset' in out or not all(n in out for n in shipped):
                raise Failed('%s --check-config of %s: %r' % (role, conf_d, out))
            self.ok('shipped conf.d (%s) is valid for --role %s: %s'
                    % (', '.join(shipped), role, out.strip().split(': ', 1)[1].split(', from')[0]))
        # What an admin gets by uncommenting a role's example: a valid config.
        for filename, role, hosts in (('10-pemda.ini', 'pemda', 1), ('20-bank.ini', 'bank', 3),
                                      ('30-aggregator.ini', 'aggregator', 1)):
            with open(os.path.join(conf_d, filename)) as f:
                text = uncomment(f.read())
            conf_dir = self.write_conf('uncommented-' + role, {filename: text})
            out, _ = self.check_config(role, conf_dir)
            if '%d host(s)' % hosts not in out or 'the preset' in out:
                raise Failed('%s uncommented: %r' % (filename, out))
            self.ok('%s uncommented is valid: %s' % (filename, out.strip().split(', from')[0]))

    # -- 3. EBCDIC in the frozen build ----------------------------------------

    def test_ebcdic_config(self):
        conf = BANK_CONF.format(iso_port=10002, web_port=7000, spec='bjb_pbb_ebcdic')
        out, _ = self.check_config('bank', self.write_conf('ebcdic', {'50-ebcdic.ini': conf}))
        self.ok('spec = bjb_pbb_ebcdic passes --check-config (%s)' % out.strip().split(', from')[0])
        bad = conf.replace('bjb_pbb_ebcdic', 'bjb_pbb_nosuch')
        _, err = self.check_config('bank', self.write_conf('ebcdic-bad', {'50-bad.ini': bad}),
                                   expect=EXIT_CONFIG)
        if 'bjb_pbb_ebcdic' not in err:
            raise Failed('unknown spec error does not list bjb_pbb_ebcdic: %r' % err)
        self.ok('an unknown spec exits 78 and lists the valid ones: %s' % err.strip())

    # -- 4. the daemons and the client ----------------------------------------

    def start(self, name, argv):
        log_path = os.path.join(self.tmp, '%s.log' % name)
        log = open(log_path, 'w')
        proc = subprocess.Popen(argv, env=CLEAN_ENV, cwd=self.tmp, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        proc.log_path = log_path
        proc.name = name
        proc.started = time.monotonic()
        self.procs.append(proc)
        return proc

    def log_text(self, proc):
        with open(proc.log_path, errors='replace') as f:
            return f.read()

    def wait_log(self, proc, pattern, timeout):
        """Seconds from the daemon's start until a log line matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if regex.search(self.log_text(proc)):
                return time.monotonic() - proc.started
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        raise Failed('%s: no log line matching %r within %g s (exit code %s); log:\n%s'
                     % (proc.name, pattern, timeout, proc.poll(), self.log_text(proc)[-4000:]))

    def client(self, url, *options):
        argv = [self.client_bin, '--url=%s' % url, '--invoice-id=%s' % INVOICE] + list(options)
        code, out, err, seconds = self.run(argv, timeout=60)
        return argv, code, out, err

    def client_json(self, url, what, *options):
        argv, code, out, err = self.client(url, '--json', *options)
        try:
            doc = json.loads(out)
            result = doc['results'][0]
            data = result['response']['result']['data']
        except (ValueError, KeyError, IndexError, TypeError):
            raise Failed('%s: exit %d, no JSON result\nstdout: %s\nstderr: %s'
                         % (' '.join(argv), code, out[-3000:], err[-3000:])) from None
        if code != 0 or doc.get('failed') != 0 or data.get('39') != '00':
            raise Failed('%s: exit %d, failed %s, bit 39 %r, reason %r'
                         % (what, code, doc.get('failed'), data.get('39'), result.get('reason')))
        return data

    def test_round(self, spec):
        iso_port, web_port = reserve_port(), reserve_port()
        data_dir = os.path.join(self.tmp, 'data-' + spec)
        os.makedirs(data_dir)
        bank_dir = self.write_conf('bank-' + spec, {'50-smoke.ini': BANK_CONF.format(
            iso_port=iso_port, web_port=web_port, spec=spec)})
        pemda_dir = self.write_conf('pemda-' + spec, {'50-smoke.ini': PEMDA_CONF.format(
            iso_port=iso_port, spec=spec)})
        url = 'http://127.0.0.1:%d/rpc' % web_port
        measured = self.results.setdefault('rounds', {}).setdefault(spec, {})

        bank = self.start('bank-' + spec, [self.daemon_bin, '--role', 'bank', '--conf-dir',
                                           bank_dir, '--data-dir', data_dir])
        listen = self.wait_log(bank, r'ISO8583 server listen at 127\.0\.0\.1:%d' % iso_port, 20)
        measured['bank_listen_seconds'] = round(listen, 3)
        self.ok('[%s] bank: "ISO8583 server listen at 127.0.0.1:%d" %.2f s after exec'
                % (spec, iso_port, listen))
        if listen >= 2.0:
            raise Failed('the bank took %.2f s to listen; the budget is 2 s' % listen)
        # The demo bills: --initdb --demo (the conf says demo = false, so the
        # round below depends on it).
        argv = [self.daemon_bin, '--role', 'pemda', '--conf-dir', pemda_dir,
                '--data-dir', data_dir, '--initdb', '--demo']
        code, out, err, seconds = self.run(argv, timeout=60)
        if code != 0 or not os.path.exists(os.path.join(data_dir, 'pemda.db')):
            raise Failed('%s: exit %d\nstdout: %s\nstderr: %s'
                         % (' '.join(argv), code, out[-2000:], err[-3000:]))
        self.ok('[%s] pemda --initdb --demo: exit 0 in %.2f s, %s'
                % (spec, seconds, (err.strip().splitlines() or [''])[-1].split(' INFO ')[-1]))
        pemda = self.start('pemda-' + spec, [self.daemon_bin, '--role', 'pemda', '--conf-dir',
                                             pemda_dir, '--data-dir', data_dir])
        self.wait_log(bank, r'127\.0\.0\.1 pemda connected', 20)
        signed_on = self.wait_log(pemda, r"Decode MTI 0810 Data .*70: '001'", 20)
        measured['pemda_signed_on_seconds'] = round(signed_on, 3)
        self.ok('[%s] pemda connected and signed on %.2f s after exec' % (spec, signed_on))

        # Inquiry, the seed's text output.
        argv, code, out, err = self.client(url)
        if code != 0 or 'Tidak ada yang gagal' not in out:
            raise Failed('%s: exit %d\nstdout: %s\nstderr: %s'
                         % (' '.join(argv), code, out[-3000:], err[-3000:]))
        self.ok("[%s] inquiry: exit 0, 'Tidak ada yang gagal'" % spec)
        data = self.client_json(url, 'inquiry')
        amount = int(data['4'])
        if amount != EXPECTED_AMOUNT:
            self.note('inquiry amount %d differs from the %d of the demo bill; paying %d'
                      % (amount, EXPECTED_AMOUNT, amount))
        self.ok('[%s] inquiry --json: 39=00, amount %d' % (spec, amount))
        data = self.client_json(url, 'payment', '--payment', '--amount=%d' % amount)
        ntb, stan = data.get('48'), data.get('11')
        if not ntb or not stan:
            raise Failed('payment answer lacks bit 48 or 11: %r' % data)
        self.ok('[%s] payment --amount=%d: 39=00, ntb %s, stan %s' % (spec, amount, ntb, stan))
        argv, code, out, err = self.client(url, '--reversal', '--amount=%d' % amount,
                                           '--ntb=%s' % ntb, '--stan=%s' % stan)
        if code != 0 or 'Tidak ada yang gagal' not in out or "'39': '00'" not in out:
            raise Failed('%s: exit %d\nstdout: %s\nstderr: %s'
                         % (' '.join(argv), code, out[-3000:], err[-3000:]))
        self.ok("[%s] reversal --ntb=%s --stan=%s: exit 0, 39=00, 'Tidak ada yang gagal'"
                % (spec, ntb, stan))
        # The bytes on the wire are in the spec's charset: MTI 0200 as the pemda received it.
        mti = repr('0200'.encode(WIRE_CHARSET[spec]))[2:-1]
        if not re.search(r"Receive \[b'\d{4}" + re.escape(mti), self.log_text(pemda)):
            raise Failed('the pemda log shows no 0200 received as %s (%s)' % (mti, spec))
        self.ok('[%s] the pemda received MTI 0200 as %s on the wire' % (spec, mti))

        # Idle memory: the onefile bootloader and its Python child.
        time.sleep(self.args.idle)
        for proc in (bank, pemda):
            kids = children(proc.pid)
            python_pid = kids[0] if kids else proc.pid
            mem = {'bootloader_kb': rss_kb(proc.pid) if kids else None,
                   'python_kb': rss_kb(python_pid)}
            proc.python_pid = python_pid
            proc.mei = extraction_dir(python_pid) if kids else None
            measured[proc.name.split('-')[0] + '_rss'] = mem
            boot = ('bootloader (pid %d) %s kB, ' % (proc.pid, mem['bootloader_kb'])
                    if kids else 'no bootloader, ')
            self.ok('[%s] %s idle VmRSS: %sPython (pid %d) %s kB'
                    % (spec, proc.name.split('-')[0], boot, python_pid, mem['python_kb']))

        # SIGTERM to the bootloader, as systemd's KillMode=mixed does.
        for proc in (pemda, bank):
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=self.args.stop_timeout)
            except subprocess.TimeoutExpired:
                raise Failed('%s did not exit within %g s of SIGTERM; log:\n%s' % (
                    proc.name, self.args.stop_timeout, self.log_text(proc)[-3000:])) from None
            seconds = time.monotonic() - started
            measured[proc.name.split('-')[0] + '_stop_seconds'] = round(seconds, 3)
            if code != 0:
                raise Failed('%s exited %d after SIGTERM (want 0); log:\n%s'
                             % (proc.name, code, self.log_text(proc)[-3000:]))
            if os.path.exists('/proc/%d' % proc.python_pid) and proc.python_pid != proc.pid:
                raise Failed('%s: the Python process %d outlived the bootloader'
                             % (proc.name, proc.python_pid))
            if proc.mei and os.path.exists(proc.mei):
                raise Failed('%s: the bootloader left %s behind' % (proc.name, proc.mei))
            self.ok('[%s] %s: SIGTERM -> exit 0 in %.2f s%s' % (
                spec, proc.name.split('-')[0], seconds,
                ', %s removed' % proc.mei if proc.mei else ''))
            for line in self.log_text(proc).splitlines():
                if ' ERROR ' in line or 'Traceback' in line:
                    raise Failed('%s logged an error: %s' % (proc.name, line))

    # -- driver ----------------------------------------------------------------

    def cleanup(self):
        for proc in self.procs:
            stop_group(proc)
        if self.args.keep:
            print('kept %s' % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_pie(self):
        """The bootloader (the executable's ELF part) is position independent:
        ELF type ET_DYN, so the kernel loads it at a random address."""
        with open(self.daemon_bin, 'rb') as f:
            header = f.read(18)
        if header[:4] != b'\x7fELF':
            raise Failed('%s is not an ELF executable' % self.daemon_bin)
        order = 'little' if header[5] == 1 else 'big'
        kind = int.from_bytes(header[16:18], order)
        if kind != 3:
            raise Failed('%s has ELF type %d, not 3 (ET_DYN): the bootloader is not a PIE; '
                         'rebuild PyInstaller with make binary from a clean venv'
                         % (self.daemon_bin, kind))
        self.ok('iso8583d is a position-independent executable (ELF type ET_DYN)')

    def main(self):
        for path in (self.daemon_bin, self.client_bin):
            if not os.access(path, os.X_OK):
                raise Failed('%s is missing: run `make binary` first' % path)
        self.test_version()
        self.test_shipped_conf()
        self.test_ebcdic_config()
        for spec in self.args.spec:
            self.test_round(spec)


def uncomment(text):
    """A drop-in as an admin would uncomment it: `#key = value`, `#[section]`
    and the indented continuation lines after them lose their `#`; prose
    comments (`# text`) stay."""
    out, in_value = [], False
    for line in text.splitlines():
        if re.match(r'#[^\s#]', line):
            out.append(line[1:])
            in_value = True
        elif in_value and re.match(r'#\s{4}\S', line):
            out.append(line[1:])
        else:
            out.append(line)
            in_value = False
    return '\n'.join(out) + '\n'


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--bin-dir', default=os.path.join(ROOT, 'build', 'dist'),
                   help='directory holding iso8583d and iso8583d-client (default '
                        '%(default)s; .venv/bin runs the same checks on the venv)')
    p.add_argument('--conf-d', default=os.path.join(ROOT, 'conf.d'),
                   help='the shipped drop-ins to check (default %(default)s)')
    p.add_argument('--spec', action='append', choices=('bjb_pbb', 'bjb_pbb_ebcdic'),
                   help='run the daemon round with this spec (repeatable; '
                        'default: bjb_pbb, then bjb_pbb_ebcdic)')
    p.add_argument('--repeat', type=int, default=5, help='--version runs to time')
    p.add_argument('--idle', type=float, default=2.0,
                   help='seconds idle before reading VmRSS (default %(default)s)')
    p.add_argument('--stop-timeout', type=float, default=10.0,
                   help='seconds a daemon may take to exit after SIGTERM')
    p.add_argument('--timeout', type=int, default=240,
                   help='bound of the whole run in seconds (default %(default)s)')
    p.add_argument('--report', metavar='FILE.json', help='write the measurements here')
    p.add_argument('--keep', action='store_true', help='keep the temporary directory and logs')
    args = p.parse_args(argv)
    args.spec = args.spec or ['bjb_pbb', 'bjb_pbb_ebcdic']
    return args


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(args.timeout)
    smoke = Smoke(args)
    status = 1
    try:
        smoke.main()
        status = 0
    except (Failed, Timeout) as e:
        print('FAIL %s' % e, flush=True)
        args.keep = True
    finally:
        signal.alarm(0)
        smoke.cleanup()
    smoke.results['passed_checks'] = smoke.passed
    smoke.results['ok'] = status == 0
    if args.report:
        with open(args.report, 'w') as f:
            json.dump(smoke.results, f, indent=2)
            f.write('\n')
    print('%s: %d checks passed%s' % ('PASS' if status == 0 else 'FAIL', smoke.passed,
                                     '' if status == 0 else ', then one failed'))
    print(json.dumps(smoke.results, indent=2))
    return status


if __name__ == '__main__':
    sys.exit(main())
