"""[admin]: where the status page and metrics are served, and who may read them."""
import pytest

from appliance.runtime import config
from appliance.runtime.config import AdminConfig, ConfigError
from appliance.runtime.registry import ROLES

HOST = '[host_bjb]\nport = 10002\nmodule = opensipkd.iso8583.bjb.pbb.test\n'
WEB = ('[web]\nport = 7000\n[web_teller]\nroute_path = /rpc\nhost = bjb\n'
       'module = iso8583_web.scripts.views.jsonrpc\n')


def load(tmp_path, *texts, role='bank'):
    files = []
    for n, text in enumerate(texts):
        path = tmp_path / ('%02d.ini' % n)
        path.write_text(text)
        files.append(str(path))
    return config.load(role, files, str(tmp_path))


def test_without_web_the_status_server_is_loopback_port_7002(tmp_path):
    admin = load(tmp_path, HOST).admin
    assert admin == AdminConfig(enabled=True, bind='127.0.0.1', port=7002, allowed_ip=(),
                                own_server=True, port_set=False)


def test_the_pemda_preset_gets_its_own_status_server(tmp_path):
    pemda = ROLES['pemda']
    settings = config.load('pemda', [], str(tmp_path),
                           [(config.PRESET_SOURCE % 'pemda', pemda.PRESET)])
    assert settings.web is None
    assert (settings.admin.own_server, settings.admin.bind, settings.admin.port) == (
        True, '127.0.0.1', 7002)


def test_with_web_the_status_page_rides_on_its_port(tmp_path):
    admin = load(tmp_path, HOST + WEB).admin
    assert admin.enabled and not admin.own_server


def test_a_port_in_admin_gives_a_server_of_its_own_even_with_web(tmp_path):
    admin = load(tmp_path, HOST + WEB, '[admin]\nport = 7100\nbind = 127.0.0.1\n').admin
    assert (admin.own_server, admin.port, admin.port_set) == (True, 7100, True)


def test_allowed_ip_lists_addresses_one_a_line(tmp_path):
    admin = load(tmp_path, HOST, '[admin]\nallowed_ip =\n    10.8.20.5\n    ::1\n').admin
    assert admin.allowed_ip == ('10.8.20.5', '::1')


def test_enabled_false_turns_the_endpoints_off(tmp_path):
    assert load(tmp_path, HOST, '[admin]\nenabled = false\n').admin.enabled is False


@pytest.mark.parametrize('texts, where, message', [
    ((HOST, '[admin]\nallowed_ip = 10.8.20.300\n'), '01.ini [admin] allowed_ip',
     "'10.8.20.300' is not an IP address or network (e.g. 10.8.20.1, 10.8.20.0/24, fd00::/8)"),
    ((HOST, '[admin]\nport = 70000\n'), '01.ini [admin] port',
     "'70000' is not a TCP port (0-65535)"),
    ((HOST, '[admin]\nthreads = 4\n'), '01.ini [admin] threads',
     'unknown key (known keys: allowed_ip, bind, enabled, port)'),
    ((HOST + WEB, '[admin]\nbind = 0.0.0.0\n'), '01.ini [admin] bind',
     "bind is for a status server of its own: set port too, or drop bind to serve "
     "/status on [web]'s port"),
    ((HOST + WEB.replace('/rpc', '/metrics'),), '00.ini [web_teller] route_path',
     "/metrics is the status page's path (set [admin] port to serve it elsewhere, or "
     "enabled = false)"),
    ((HOST + WEB, '[admin]\nport = 7000\n'), '01.ini [admin] port',
     'port 7000 is also the port of [web]'),
    ((HOST.replace('10002', '7002') + 'listen = true\n',), '[admin] port',
     'port 7002 is also the port of [host_bjb]'),
])
def test_bad_admin_settings_name_file_section_and_key(tmp_path, texts, where, message):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, *texts)
    text = str(raised.value)
    assert text.endswith('%s: %s' % (where, message)), text


def test_a_route_may_take_status_when_the_status_page_is_elsewhere(tmp_path):
    settings = load(tmp_path, HOST + WEB.replace('/rpc', '/status'), '[admin]\nport = 7100\n')
    assert settings.routes[0].route_path == '/status'
