"""The conf.d loader: drop-in order, the seed's files, errors that say where."""
import os

import pytest

from appliance.runtime import config
from appliance.runtime.config import ConfigError
from appliance.runtime.registry import ROLES
from fixtures.daemon import run_cli, seed_config


def write(dir_, name, text):
    os.makedirs(dir_, exist_ok=True)
    path = os.path.join(str(dir_), name)
    with open(path, 'w') as f:
        f.write(text)
    return path


HOST = """
[host_bjb]
ip = 127.0.0.1
port = 10002
module = opensipkd.iso8583.bjb.pbb.test
"""


def load(conf_dir, role='bank', tmp=None):
    return config.load(role, config.config_files(str(conf_dir)), str(tmp or conf_dir))


def test_drop_ins_are_read_in_byte_order_and_the_later_file_wins(tmp_path):
    write(tmp_path, '10-host.ini', HOST)
    write(tmp_path, '20-port.ini', '[host_bjb]\nport = 10005\n')
    write(tmp_path, 'Z-last.ini', '[host_bjb]\nport = 10004\n')    # b'Z' sorts after b'2'
    settings = load(tmp_path)
    assert settings.host('bjb').port == 10004
    assert settings.origin[('host_bjb', 'port')].endswith('Z-last.ini')


def test_dotfiles_and_files_not_ending_in_ini_are_skipped(tmp_path):
    write(tmp_path, '10-host.ini', HOST)
    write(tmp_path, '.hidden.ini', '[host_bjb]\nport = 1\n')
    write(tmp_path, '20-host.ini.dpkg-old', '[host_bjb]\nport = 2\n')
    assert load(tmp_path).host('bjb').port == 10002


def test_an_unreadable_file_is_an_error_not_skipped(tmp_path):
    path = write(tmp_path, '10-host.ini', HOST)
    os.chmod(path, 0)
    if os.access(path, os.R_OK):     # root reads anything; use a directory instead
        os.chmod(path, 0o644)
        os.remove(path)
        os.mkdir(path)
    with pytest.raises(ConfigError, match=r'10-host\.ini: cannot read'):
        load(tmp_path)


def test_an_unknown_key_names_file_section_and_key(tmp_path):
    write(tmp_path, '10-host.ini', HOST + 'colour = blue\n')
    with pytest.raises(ConfigError, match=r'10-host\.ini \[host_bjb\] colour: unknown key'):
        load(tmp_path)


def test_a_bad_port_shows_the_bad_value(tmp_path):
    write(tmp_path, '10-host.ini', HOST.replace('10002', 'ten'))
    with pytest.raises(ConfigError, match=r"\[host_bjb\] port: 'ten' is not a whole number"):
        load(tmp_path)


@pytest.mark.parametrize('role, text, section', [
    ('bank', HOST + 'db_url = bank.db\n', 'host_bjb'),        # a pemda link's journal
    ('bank', '[host_agratek]\nip = 127.0.0.1\nport = 10001\nlisten = true\n'
             'module = opensipkd.iso8583.bjb.pbb.test_aggregator\nhost = 3271:bjb\n'
             'db_url = bank.db\n' + HOST, 'host_agratek'),    # the forwarder's
    ('aggregator', '[host_bjb]\nip = 127.0.0.1\nport = 10001\n'
                   'module = opensipkd.iso8583.bjb.pbb.agratek\n'
                   '[web_linkaja]\nroute_path = /linkaja\n'
                   'module = iso8583_web.scripts.views.linkaja\nhost = bjb\n'
                   'db_url = bank.db\n', 'web_linkaja'),
])
def test_a_db_url_that_is_no_database_url_is_refused_at_load(tmp_path, role, text, section):
    # Found by --check-config, not by the daemon when it opens the database.
    write(tmp_path, '10-host.ini', text)
    with pytest.raises(ConfigError, match=r"\[%s\] db_url: database URL 'bank.db' has no "
                                          r"scheme; use sqlite:///" % section):
        load(tmp_path, role)


def test_a_missing_required_key_is_named(tmp_path):
    write(tmp_path, '10-host.ini', '[host_bjb]\nport = 1\n')
    with pytest.raises(ConfigError, match=r'\[host_bjb\] module: required key is missing'):
        load(tmp_path)


def test_an_unknown_module_lists_the_known_ones(tmp_path):
    write(tmp_path, '10-host.ini', HOST.replace('pbb.test', 'pbb.nowhere'))
    with pytest.raises(ConfigError, match=r"module: no module named "
                                          r"'opensipkd.iso8583.bjb.pbb.nowhere' \(known: "):
        load(tmp_path)


def test_an_unknown_streamer_is_an_error(tmp_path):
    write(tmp_path, '10-host.ini', HOST + 'streamer = morse\n')
    with pytest.raises(ConfigError, match=r'\[host_bjb\] streamer: .*morse'):
        load(tmp_path)


def test_an_unknown_section_is_an_error(tmp_path):
    write(tmp_path, '10-host.ini', HOST + '[hots_typo]\nport = 1\n')
    with pytest.raises(ConfigError, match=r'\[hots_typo\]: unknown section'):
        load(tmp_path)


def test_a_route_must_name_a_configured_host(tmp_path):
    write(tmp_path, '10-host.ini', HOST + '[web_teller]\nroute_path = /rpc\n'
          'host = kota_bekasi\nmodule = iso8583_web.scripts.views.jsonrpc\n')
    with pytest.raises(ConfigError, match=r'\[web_teller\] host: there is no \[host_kota_bekasi\]'):
        load(tmp_path)


def test_a_key_twice_in_one_section_is_an_error(tmp_path):
    write(tmp_path, '10-host.ini', HOST + 'port = 3\n')
    with pytest.raises(ConfigError, match=r'10-host\.ini \[host_bjb\] port: key appears twice'):
        load(tmp_path)


def test_a_biller_module_without_its_settings_section_is_an_error(tmp_path):
    write(tmp_path, '10-host.ini', HOST.replace('pbb.test', 'pbb.bogor_kota'))
    with pytest.raises(ConfigError, match=r'\[host_bjb\] module: module pemda.bogor_kota needs '
                                          r'a \[module_opensipkd.iso8583.bjb.pbb.bogor_kota\]'):
        load(tmp_path)


def test_the_preset_is_the_base_only_when_no_file_defines_a_host(tmp_path):
    write(tmp_path, '10-web.ini', '[web]\nport = 8000\n')
    files = config.config_files(str(tmp_path))
    presets = [('<preset bank>', ROLES['bank'].PRESET)]
    settings = config.load('bank', files, str(tmp_path), presets)
    assert [h.name for h in settings.hosts] == ['kota_bogor', 'kota_bekasi', 'agratek']
    assert settings.web.port == 8000
    write(tmp_path, '20-host.ini', HOST)
    settings = config.load('bank', config.config_files(str(tmp_path)), str(tmp_path), presets)
    assert [h.name for h in settings.hosts] == ['bjb']


@pytest.mark.parametrize('role', ['bank', 'pemda', 'aggregator'])
def test_every_role_preset_is_valid(role, tmp_path):
    settings = config.load(role, [], str(tmp_path), [('<preset>', ROLES[role].PRESET)])
    assert settings.hosts


@pytest.mark.parametrize('name', ['test-pemda.ini', 'test-bank.ini', 'test-agratek.ini'])
def test_the_seeds_files_load_unchanged_apart_from_log_paths(name, tmp_path):
    seed_config(name, tmp_path / 'conf.d', tmp_path)
    settings = load(tmp_path / 'conf.d', tmp=tmp_path)
    assert settings.hosts and settings.logging is not None


def test_the_seeds_bank_with_its_agratek_addition_and_a_kota_bekasi_loads(tmp_path):
    seed_config('test-bank.ini', tmp_path / 'conf.d', tmp_path)
    seed_config('bank-agratek.ini', tmp_path / 'conf.d', tmp_path)
    write(tmp_path / 'conf.d', 'kota-bekasi.ini', HOST.replace('[host_bjb]', '[host_kota_bekasi]')
          .replace('10002', '10003') + 'listen = true\n')
    settings = load(tmp_path / 'conf.d', tmp=tmp_path)
    agratek = settings.host('agratek')
    assert (agratek.module, agratek.port, agratek.streamer) == ('bank.forwarder', 10001, 'bjb')
    assert dict(agratek.options) == {'host': {'3271': ('kota_bogor',), '3275': ('kota_bekasi',)},
                                     'db_url': 'postgresql://user:pass@localhost/db',
                                     'forward_timeout': 20.0}
    assert {h.name for h in settings.hosts} == {'kota_bogor', 'kota_bekasi', 'agratek'}


def test_the_seeds_agratek_file_gives_linkaja_route_and_request_bits(tmp_path):
    seed_config('test-agratek.ini', tmp_path / 'conf.d', tmp_path)
    settings = load(tmp_path / 'conf.d', role='aggregator', tmp=tmp_path)
    bjb = settings.host('bjb')
    assert (bjb.module, bjb.port, bjb.listen, bjb.timeout) == ('aggregator.bank', 10001,
                                                              False, 15.0)
    assert bjb.options['request_bits'][35] == '622011888888888888=9912?'
    (route,) = settings.routes
    assert (route.module, route.route_path, route.host, route.timeout) == (
        'aggregator.linkaja', '/linkaja', 'bjb', 30.0)
    assert route.options['notification_message'] == {
        '3271': 'PBB Kota Bogor', '3676': 'PBB Kota Tangerang Selatan',
        '3275': 'PBB Kota Bekasi'}
    assert settings.web.port == 7001


def test_a_seed_agratek_file_given_as_argument_runs_as_the_aggregator(tmp_path):
    path = seed_config('test-agratek.ini', tmp_path / 'x', tmp_path)
    code, out = run_cli([path, '--check-config'])
    assert code == 0, out
    assert 'role aggregator' in out


def test_seed_bank_file_gives_the_seeds_listen_host_and_route(tmp_path):
    seed_config('test-bank.ini', tmp_path / 'conf.d', tmp_path)
    settings = load(tmp_path / 'conf.d', tmp=tmp_path)
    host = settings.host('kota_bogor')
    assert (host.listen, host.port, host.streamer) == (True, 10002, 'bjb_with_suffix')
    (route,) = settings.routes
    assert (route.route_path, route.host, route.allowed_ip) == (
        '/rpc', 'kota_bogor', ('127.0.0.1', '10.8.20.1'))
    assert (settings.web.port, settings.web.threads) == (7000, 12)


def test_relative_sqlite_paths_live_in_the_data_dir(tmp_path):
    assert config.resolve_db_url('sqlite:///pemda.db', str(tmp_path)) == \
        'sqlite:///' + str(tmp_path / 'pemda.db')
    assert config.resolve_db_url('sqlite:////abs/x.db', str(tmp_path)) == 'sqlite:////abs/x.db'
    assert config.resolve_db_url('postgresql://h/db', str(tmp_path)) == 'postgresql://h/db'


# -- the command line ---------------------------------------------------------

def test_check_config_exits_78_and_names_the_problem(tmp_path):
    write(tmp_path, '10-host.ini', HOST + 'listen = maybe\n')
    code, out = run_cli(['--role', 'bank', '--conf-dir', str(tmp_path), '--check-config'])
    assert code == 78
    assert "10-host.ini [host_bjb] listen: 'maybe' is not a boolean" in out
    assert 'Traceback' not in out


def test_check_config_of_a_good_directory_exits_0(tmp_path):
    write(tmp_path, '10-host.ini', HOST)
    code, out = run_cli(['--role', 'bank', '--conf-dir', str(tmp_path), '--check-config'])
    assert code == 0, out
    assert 'configuration OK: role bank, 1 host(s)' in out


def test_the_conf_dir_can_come_from_the_environment(tmp_path):
    write(tmp_path, '10-host.ini', HOST.replace('10002', '10009'))
    code, out = run_cli(['--role', 'bank', '--print-config'],
                        env={'ISO8583D_CONF_DIR': str(tmp_path)})
    assert code == 0, out
    assert 'port = 10009    ; %s' % os.path.join(str(tmp_path), '10-host.ini') in out


def test_print_config_shows_each_value_with_its_source(tmp_path):
    write(tmp_path, '10-web.ini', '[web]\nport = 8000\n')
    code, out = run_cli(['--role', 'bank', '--conf-dir', str(tmp_path), '--print-config'])
    assert code == 0, out
    assert 'port = 8000    ; %s' % os.path.join(str(tmp_path), '10-web.ini') in out
    assert 'port = 10002    ; <preset bank>' in out


def test_a_seed_file_given_as_argument_runs_without_role(tmp_path):
    path = seed_config('test-bank.ini', tmp_path / 'x', tmp_path)
    code, out = run_cli([path, '--check-config'])
    assert code == 0, out
    assert 'role bank' in out


def test_version_prints_the_package_version():
    from appliance import __version__
    code, out = run_cli(['--version'])
    assert (code, out.strip()) == (0, 'iso8583d ' + __version__)



def test_two_listen_hosts_on_one_port_need_different_peer_addresses(tmp_path):
    write(tmp_path, '10-host.ini', HOST + 'listen = true\n' + HOST.replace('host_bjb', 'host_two')
          + 'listen = true\n')
    with pytest.raises(ConfigError, match=r'\[host_two\] ip: \[host_bjb\] already listens on '
                                          r'port 10002 for 127.0.0.1'):
        load(tmp_path)


# -- numbers and the relations the journal relies on ------------------------

FORWARDER = ('[host_agratek]\nip = 127.0.0.1\nport = 10001\nlisten = true\n'
             'module = opensipkd.iso8583.bjb.pbb.test_aggregator\nhost = 3271:bjb\n')
TELLER = ('[web_teller]\nroute_path = /rpc\nhost = bjb\n'
          'module = iso8583_web.scripts.views.jsonrpc\n')
# Every duration, in a section where it is valid.
DURATIONS = [
    (HOST, 'host_bjb', 'timeout'),
    (HOST, 'host_bjb', 'request_timeout'),
    (HOST, 'host_bjb', 'reconnect_max'),
    (HOST, 'host_bjb', 'saf_max_age'),
    (HOST, 'host_bjb', 'saf_retry_interval'),
    (HOST, 'host_bjb', 'saf_retry_max'),
    (HOST, 'host_bjb', 'saf_orphan_after'),
    (HOST + FORWARDER, 'host_agratek', 'forward_timeout'),
    (HOST + '[web]\n', 'web', 'idle_timeout'),
    (HOST + TELLER, 'web_teller', 'timeout'),
]


def load_with(tmp_path, text, section, key, value):
    """`text` with `key = value` added to its [section]."""
    header = '[%s]\n' % section
    write(tmp_path, '10-x.ini', text.replace(header, header + '%s = %s\n' % (key, value)))
    return load(tmp_path)


@pytest.mark.parametrize('value, problem', [
    ('nan', "'nan' is not a finite number of seconds"),
    ('inf', "'inf' is not a finite number of seconds"),
    ('-5', "'-5' must be more than 0 seconds"),
    ('0', "'0' must be more than 0 seconds"),
    ('31536001', "'31536001' is more than a year"),
])
@pytest.mark.parametrize('text, section, key', DURATIONS)
def test_every_duration_refuses_nan_inf_negative_zero_and_more_than_a_year(
        tmp_path, text, section, key, value, problem):
    with pytest.raises(ConfigError, match=r'10-x\.ini \[%s\] %s: %s' % (section, key, problem)):
        load_with(tmp_path, text, section, key, value)


@pytest.mark.parametrize('listen', ['true', 'false'])
def test_a_host_refuses_port_0(tmp_path, listen):
    write(tmp_path, '10-x.ini', HOST.replace('10002', '0') + 'listen = %s\n' % listen)
    with pytest.raises(ConfigError, match=r'\[host_bjb\] port: a host needs a port from 1 '
                                          r'to 65535'):
        load(tmp_path)


def test_saf_orphan_after_shorter_than_request_timeout_is_an_error(tmp_path):
    # The sweep would reverse a payment whose answer may still come.
    write(tmp_path, '10-x.ini', HOST + 'request_timeout = 60\nsaf_orphan_after = 30\n')
    with pytest.raises(ConfigError, match=r'10-x\.ini \[host_bjb\] saf_orphan_after: a payment '
                                          r'could be reversed while its answer may still come: '
                                          r'saf_orphan_after of \[host_bjb\] \(30 s\) must be at '
                                          r'least \[host_bjb\] request_timeout \(60 s\) \+ 1 s'):
        load(tmp_path)


def test_a_teller_timeout_beyond_the_default_orphan_time_is_an_error(tmp_path):
    # request_timeout 20: orphaned after 2 x 20 + 30 = 70 s, but the teller waits 75.
    write(tmp_path, '10-x.ini', HOST + 'timeout = 20\n' + TELLER + 'timeout = 75\n')
    with pytest.raises(ConfigError, match=r'10-x\.ini \[web_teller\] timeout: .*\(70 s\) must '
                                          r'be at least \[web_teller\] timeout \(75 s\) \+ 1 s '
                                          r'\(set saf_orphan_after'):
        load(tmp_path)


def test_forward_timeout_as_long_as_the_aggregators_wait_is_an_error(tmp_path):
    write(tmp_path, '10-x.ini', HOST + FORWARDER + 'timeout = 30\nforward_timeout = 30\n')
    with pytest.raises(ConfigError, match=r'\[host_agratek\] forward_timeout: forward_timeout '
                                          r'\(30 s\) must be shorter than the 30 s the '
                                          r'aggregator waits'):
        load(tmp_path)


def test_saf_retry_max_shorter_than_saf_retry_interval_is_an_error(tmp_path):
    write(tmp_path, '10-x.ini', HOST + 'saf_retry_interval = 60\nsaf_retry_max = 30\n')
    with pytest.raises(ConfigError, match=r'\[host_bjb\] saf_retry_max: saf_retry_max \(30 s\) '
                                          r'is shorter than saf_retry_interval \(60 s\)'):
        load(tmp_path)


def test_saf_max_age_without_time_for_a_second_attempt_is_an_error(tmp_path):
    # A reversal answered 54 is done only when an attempt 10 s later says so again.
    write(tmp_path, '10-x.ini', HOST + 'timeout = 20\nsaf_max_age = 50\n')
    with pytest.raises(ConfigError, match=r'\[host_bjb\] saf_max_age: saf_max_age \(50 s\) '
                                          r'leaves no time for a second attempt: it must be more '
                                          r'than saf_retry_interval \+ 2 x request_timeout \(50 s\)'):
        load(tmp_path)


def test_a_single_saf_attempt_is_an_error(tmp_path):
    write(tmp_path, '10-x.ini', HOST + 'saf_max_attempts = 1\n')
    with pytest.raises(ConfigError, match=r'\[host_bjb\] saf_max_attempts: must be at least 2'):
        load(tmp_path)


def test_check_config_exits_78_when_saf_orphan_after_is_too_short(tmp_path):
    write(tmp_path, '10-x.ini', HOST + 'saf_orphan_after = 5\n')
    code, out = run_cli(['--role', 'bank', '--conf-dir', str(tmp_path), '--check-config'])
    assert code == 78, out
    assert ('10-x.ini [host_bjb] saf_orphan_after: a payment could be reversed while its '
            'answer may still come' in out)
    assert 'Traceback' not in out


# -- the configuration reference ----------------------------------------------

def test_docs_configuration_md_is_what_config_reference_prints():
    code, out = run_cli(['config-reference'])
    assert code == 0, out
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'docs', 'configuration.md')
    with open(path, encoding='utf-8') as f:
        assert f.read() == out, 'docs/configuration.md is out of date: run `make docs`'


def test_the_reference_lists_every_key_the_loader_accepts():
    from appliance.cli.reference import render
    from appliance.runtime.registry import ENTRIES
    text = render()
    schemas = [config.HOST_KEYS, config.WEB_KEYS, config.ROUTE_KEYS, config.ADMIN_KEYS]
    schemas += [e.options for e in ENTRIES] + [e.section_keys for e in ENTRIES
                                               if e.section_keys is not None]
    missing = [key for schema in schemas for key in schema if '| `%s` |' % key not in text]
    assert missing == []
