"""Start real iso8583d daemons as subprocesses and watch their logs."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import gevent

SEED_DIR = os.path.join(os.path.dirname(__file__), 'seed')


def free_port(host='127.0.0.1'):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def seed_config(name, conf_dir, log_dir, replace=()):
    """Copy a seed .ini into conf_dir with its log path (and more) changed."""
    with open(os.path.join(SEED_DIR, name)) as f:
        text = f.read()
    text = text.replace('/home/sugiana/log/', str(log_dir).rstrip('/') + '/')
    for old, new in replace:
        assert old in text, '%r is not in %s' % (old, name)
        text = text.replace(old, new)
    os.makedirs(conf_dir, exist_ok=True)
    path = os.path.join(conf_dir, name)
    with open(path, 'w') as f:
        f.write(text)
    return path


class Daemon:
    """One `python -m appliance` process (or `command`, e.g. an installed
    console script); its output lines are collected."""

    def __init__(self, args, env=None, name='iso8583d', command=None, cwd=None):
        self.name = name
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault('PYTHONUNBUFFERED', '1')
        command = list(command or [sys.executable, '-m', 'appliance'])
        self.proc = subprocess.Popen(
            command + list(args), env=full_env, cwd=cwd,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self._reader = gevent.spawn(self._read)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip('\n'))

    def output(self):
        return '\n'.join(self.lines)

    def wait_for(self, pattern, timeout=15, start=0):
        """The first line from index `start` matching the regex; fails on timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                if regex.search(line):
                    return line
            if self.proc.poll() is not None and not self._reader.dead:
                gevent.sleep(0.05)
            elif self.proc.poll() is not None:
                break
            gevent.sleep(0.05)
        raise AssertionError('%s: no line matching %r within %g s; output:\n%s' % (
            self.name, pattern, timeout, self.output()[-6000:]))

    def count(self, pattern):
        regex = re.compile(pattern)
        return sum(1 for line in self.lines if regex.search(line))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            raise AssertionError('%s did not stop within %g s' % (self.name, timeout))
        self._reader.join(timeout=5)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)


def run_cli(args, env=None, timeout=60):
    """Run iso8583d to completion; (exit code, combined output)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, '-m', 'appliance'] + list(args), env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout


def copy_tree(src, dst):
    shutil.copytree(src, dst, dirs_exist_ok=True)
