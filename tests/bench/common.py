"""What every part of the benchmark shares: processes, /proc readings,
percentiles and the machine's other load.

Everything here runs under gevent's monkey-patching (run.py patches first).
"""
import json
import math
import os
import socket
import subprocess
import sys
import time

import gevent

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
PYTHON = sys.executable
TICK = os.sysconf('SC_CLK_TCK')
PAGE_KB = os.sysconf('SC_PAGE_SIZE') // 1024

sys.path.insert(0, TESTS)
from fixtures.ports import reserve_port  # noqa: E402


def free_port():
    """A port reserved for this run: tests/fixtures/ports.py (a bench beside
    a pytest run never meets its daemons' ports)."""
    return reserve_port()


def percentile(ordered, p):
    """Nearest-rank percentile `p` of an ascending non-empty list (the
    client's own definition, appliance.client.stats)."""
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def latency_ms(seconds):
    """p50/p95/p99/max in ms of a list of latencies in seconds."""
    if not seconds:
        return {'p50': None, 'p95': None, 'p99': None, 'max': None}
    ordered = sorted(seconds)
    return {'p50': round(percentile(ordered, 50) * 1000, 3),
            'p95': round(percentile(ordered, 95) * 1000, 3),
            'p99': round(percentile(ordered, 99) * 1000, 3),
            'max': round(ordered[-1] * 1000, 3)}


# -- /proc --------------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of a process (its threads included), in seconds."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid):
    """Resident set size (VmRSS) in MB."""
    try:
        with open('/proc/%d/statm' % pid) as f:
            return int(f.read().split()[1]) * PAGE_KB / 1024
    except OSError:
        return None


def machine_busy_seconds():
    """CPU seconds all cores spent not idle since boot."""
    with open('/proc/stat') as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]          # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def processes_named(comm):
    """pids of the processes whose command name is `comm` (e.g. 'postgres')."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/comm' % entry) as f:
                    if f.read().strip() == comm:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def group_cpu(comm):
    """pid -> CPU seconds of every process named `comm`."""
    return {pid: cpu_seconds(pid) or 0.0 for pid in processes_named(comm)}


class Usage:
    """CPU seconds of some processes over a stretch of time, the peak RSS they
    reached, and the CPU the rest of the machine used meanwhile (other
    people's work on a shared machine shows up there). `groups` maps a name
    to a command name whose processes count together, those started during
    the stretch too (the PostgreSQL server's backends)."""

    def __init__(self, pids, sample=0.2, groups=None):
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.groups = dict(groups or {})
        self.sample = sample

    def __enter__(self):
        self.started = time.perf_counter()
        self.machine0 = machine_busy_seconds()
        self.group0 = {n: group_cpu(comm) for n, comm in self.groups.items()}
        self.cpu0 = {n: cpu_seconds(p) for n, p in self.pids.items()}
        self.peak = {n: rss_mb(p) for n, p in self.pids.items()}
        self._sampler = gevent.spawn(self._sample)
        return self

    def _sample(self):
        while True:
            gevent.sleep(self.sample)
            for name, pid in self.pids.items():
                value = rss_mb(pid)
                if value is not None and (self.peak[name] or 0) < value:
                    self.peak[name] = value

    def __exit__(self, *exc):
        self._sampler.kill()
        self.seconds = time.perf_counter() - self.started
        cpu1 = {n: cpu_seconds(p) for n, p in self.pids.items()}
        self.cpu = {n: round(cpu1[n] - self.cpu0[n], 3)
                    for n in self.pids if cpu1[n] is not None and self.cpu0[n] is not None}
        for name, comm in self.groups.items():
            before = self.group0[name]
            self.cpu[name] = round(sum(now - before.get(pid, 0.0)
                                       for pid, now in group_cpu(comm).items()), 3)
        machine = machine_busy_seconds() - self.machine0
        self.other_cores = round(max(0.0, machine - sum(self.cpu.values())) / self.seconds, 2)
        return False

    def report(self, transactions):
        """cpu_ms_per_tx: CPU ms per transaction per process (= CPU s per 1,000)."""
        per = {n: round(1000 * c / transactions, 3) if transactions else None
               for n, c in self.cpu.items()}
        return {'cpu_s_per_1000': per,
                'rss_peak_mb': {n: round(v, 1) for n, v in self.peak.items() if v},
                'other_cores': self.other_cores}


# -- processes ----------------------------------------------------------------

class Process:
    """A child process whose output goes to a log file."""

    def __init__(self, name, args, logdir, env=None, cwd=None):
        self.name = name
        os.makedirs(logdir, exist_ok=True)
        self.log_path = os.path.join(logdir, name + '.log')
        self.log = open(self.log_path, 'w')
        full_env = dict(os.environ)
        full_env.setdefault('PYTHONUNBUFFERED', '1')
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env, cwd=cwd or ROOT)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def tail(self, size=3000):
        with open(self.log_path, errors='replace') as f:
            return f.read()[-size:]

    def stop(self, timeout=15):
        """SIGTERM, then the exit code (killed after `timeout` s: None)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.log.close()
        return code


def started_in(tree):
    """Process arguments that make a child import `appliance` from another
    checkout (ab.py): it starts in that tree's root, which also comes first
    on PYTHONPATH. None: this checkout."""
    return {} if tree is None else {'cwd': tree, 'env': {'PYTHONPATH': tree}}


def wait_port(port, timeout=20, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(('127.0.0.1', port)) == 0:
                return
        if proc is not None and not proc.alive():
            raise RuntimeError('%s exited: %s' % (proc.name, proc.tail()))
        gevent.sleep(0.05)
    raise RuntimeError('nothing listens on port %d after %g s' % (port, timeout))


def run_json(args, timeout, env=None):
    """Run a command that prints one JSON document last; that document."""
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, **(env or {})))
    if proc.returncode != 0:
        raise RuntimeError('%s failed (%d): %s %s' % (args[:3], proc.returncode,
                                                       proc.stdout[-2000:], proc.stderr[-2000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def say(text):
    print(time.strftime('%H:%M:%S ') + text, file=sys.stderr, flush=True)
