"""The shipped systemd unit keeps its hardening: `systemd-analyze security`
rates it 2.5 or below ("OK" starts there).

The score is computed offline from the unit file alone, as the template's
bank instance (the template itself cannot be assessed). `--offline=yes` came
with systemd 250 (Debian bookworm's systemd package has it). `make
systemd-test` checks the installed unit under a running systemd as well.
"""
import os
import re
import shutil
import subprocess

UNIT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    'packaging', 'debian', 'iso8583d@.service')
THRESHOLD = 2.5


def exposure(unit_path, tmp_path, instance='bank'):
    """(score, full report) of systemd-analyze security for one instance."""
    analyze = shutil.which('systemd-analyze')
    assert analyze, 'systemd-analyze is missing: apt-get install systemd (>= 250 for --offline)'
    instance_path = tmp_path / os.path.basename(unit_path).replace('@.', '@%s.' % instance)
    shutil.copyfile(unit_path, instance_path)
    run = subprocess.run([analyze, 'security', '--offline=yes', '--no-pager', str(instance_path)],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=dict(os.environ, SYSTEMD_COLORS='0'))
    m = re.search(r'Overall exposure level for \S+: (\d+\.\d+)', run.stdout)
    assert m, 'systemd-analyze security printed no score (exit %d):\n%s' % (
        run.returncode, run.stdout)
    return float(m.group(1)), run.stdout


def test_the_shipped_unit_is_rated_at_most_2_5_by_systemd_analyze_security(tmp_path):
    score, report = exposure(UNIT, tmp_path)
    exposed = '\n'.join(line for line in report.splitlines() if line.startswith('✗'))
    assert score <= THRESHOLD, (
        'systemd-analyze security rates packaging/debian/iso8583d@.service %.1f, above %.1f; '
        'what it counts against the unit:\n%s' % (score, THRESHOLD, exposed))
