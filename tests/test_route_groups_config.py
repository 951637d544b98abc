"""Route groups in the configuration: what a group may name, and errors that
say file, section and key (docs/operations.md, "Route groups")."""
import pytest

from appliance.runtime import config
from appliance.runtime.config import ConfigError
from fixtures.daemon import run_cli

BANK = """
[host_kota_bogor_1]
ip = 127.0.0.1
port = 10002
listen = true
module = opensipkd.iso8583.bjb.pbb.test

[host_kota_bogor_2]
ip = 127.0.0.2
port = 10002
listen = true
module = opensipkd.iso8583.bjb.pbb.test
request_timeout = 90
saf_orphan_after = 120

[host_agratek]
ip = 127.0.0.1
port = 10001
listen = true
module = opensipkd.iso8583.bjb.pbb.test_aggregator
host = 3271:kota_bogor_1,kota_bogor_2 3275:kota_bekasi

[web_teller]
route_path = /rpc
host = kota_bogor_1 kota_bogor_2
module = iso8583_web.scripts.views.jsonrpc
"""

AGGREGATOR = """
[host_bjb_1]
ip = 127.0.0.1
port = 10001
module = opensipkd.iso8583.bjb.pbb.agratek

[host_bjb_2]
ip = 127.0.0.2
port = 10001
module = opensipkd.iso8583.bjb.pbb.agratek

[web_linkaja]
route_path = /linkaja
host = bjb_1 bjb_2
module = iso8583_web.scripts.views.linkaja
"""


def load(tmp_path, text, role='bank'):
    path = tmp_path / '10-groups.ini'
    path.write_text(text)
    return config.load(role, [str(path)], str(tmp_path))


def test_a_teller_route_and_a_forwarder_prefix_name_a_group(tmp_path):
    settings = load(tmp_path, BANK)
    (route,) = settings.routes
    assert (route.hosts, route.host) == (('kota_bogor_1', 'kota_bogor_2'),
                                         'kota_bogor_1,kota_bogor_2')
    assert route.timeout == 90            # the longest request_timeout of the group
    assert settings.host('agratek').options['host'] == {
        '3271': ('kota_bogor_1', 'kota_bogor_2'), '3275': ('kota_bekasi',)}


def test_a_linkaja_route_names_a_group_of_bank_links(tmp_path):
    (route,) = load(tmp_path, AGGREGATOR, role='aggregator').routes
    assert route.hosts == ('bjb_1', 'bjb_2')


@pytest.mark.parametrize('old, new, where, problem', [
    ('host = kota_bogor_1 kota_bogor_2', 'host = kota_bogor_1 kota_bogor_1',
     r'\[web_teller\] host', "host kota_bogor_1 is named twice in 'kota_bogor_1 kota_bogor_1'"),
    ('host = kota_bogor_1 kota_bogor_2', 'host = kota_bogor_1 kota_bogor_3',
     r'\[web_teller\] host', r'there is no \[host_kota_bogor_3\] section'),
    ('host = kota_bogor_1 kota_bogor_2', 'host = kota_bogor_1 agratek',
     r'\[web_teller\] host', r'\[host_agratek\] is a bank.forwarder host; the hosts of a '
                             r'group here must be bank.pemda hosts'),
    ('host = kota_bogor_1 kota_bogor_2', 'host =', r'\[web_teller\] host',
     'required key is empty'),
    ('3271:kota_bogor_1,kota_bogor_2', '3271:kota_bogor_1,kota_bogor_1',
     r'\[host_agratek\] host', "prefix 3271: host kota_bogor_1 is named twice"),
    ('3271:kota_bogor_1,kota_bogor_2', '3271:kota_bogor_1,', r'\[host_agratek\] host',
     "prefix 3271: 'kota_bogor_1,' has an empty host name"),
    ('3271:kota_bogor_1,kota_bogor_2', '3271:kota_bogor_1,kota_bekasi',
     r'\[host_agratek\] host', r'there is no \[host_kota_bekasi\] section'),
    ('3271:kota_bogor_1,kota_bogor_2', '3271:kota_bogor_1,agratek', r'\[host_agratek\] host',
     r'\[host_agratek\] is a bank.forwarder host'),
    ('saf_orphan_after = 120', 'saf_orphan_after = 120\ndb_url = sqlite:///other.db',
     r'\[web_teller\] host', r'the hosts of a group must keep their journal in one '
                             r'database: \[host_kota_bogor_1\], \[host_kota_bogor_2\] have '
                             r'different db_url'),
])
def test_a_bad_group_is_a_configuration_error_naming_file_section_and_key(
        tmp_path, old, new, where, problem):
    assert old in BANK
    with pytest.raises(ConfigError, match=r'10-groups\.ini %s: %s' % (where, problem)):
        load(tmp_path, BANK.replace(old, new))


def test_a_linkaja_group_takes_only_the_aggregators_bank_links(tmp_path):
    text = AGGREGATOR.replace('[host_bjb_2]\nip = 127.0.0.2\nport = 10001\nmodule = '
                              'opensipkd.iso8583.bjb.pbb.agratek',
                              '[host_bjb_2]\nip = 127.0.0.2\nport = 10001\nmodule = '
                              'opensipkd.iso8583.bjb.pbb.test')
    with pytest.raises(ConfigError, match=r'\[web_linkaja\] host: \[host_bjb_2\] is a '
                                          r'bank.pemda host; the hosts of a group here must '
                                          r'be aggregator.bank hosts'):
        load(tmp_path, text, role='aggregator')


def test_a_group_longer_than_a_host_may_wait_is_checked_against_the_orphan_sweep(tmp_path):
    # kota_bogor_1 waits up to 90 s on the route (its group's longest); its
    # default saf_orphan_after (2 x 60 + 30) covers that, 20 s does not.
    text = BANK.replace('module = opensipkd.iso8583.bjb.pbb.test\n\n[host_kota_bogor_2]',
                        'module = opensipkd.iso8583.bjb.pbb.test\nrequest_timeout = 5\n'
                        'saf_orphan_after = 20\n\n[host_kota_bogor_2]')
    with pytest.raises(ConfigError, match=r'saf_orphan_after of \[host_kota_bogor_1\] '
                                          r'\(20 s\) must be at least \[web_teller\] timeout '
                                          r'\(90 s\)'):
        load(tmp_path, text)


def test_check_config_refuses_a_bad_group_with_exit_78(tmp_path):
    (tmp_path / 'conf.d').mkdir()
    (tmp_path / 'conf.d' / 'bank.ini').write_text(BANK.replace(
        'host = kota_bogor_1 kota_bogor_2', 'host = kota_bogor_1 kota_bogor_1'))
    code, out = run_cli(['--role', 'bank', '--conf-dir', str(tmp_path / 'conf.d'),
                         '--check-config'])
    assert code == 78
    assert '[web_teller] host: host kota_bogor_1 is named twice' in out
    assert 'Traceback' not in out
