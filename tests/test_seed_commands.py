"""The seed's table commands and the [main] section, one behaviour each, run
as the installed console scripts (.venv/bin) and iso8583d."""
import os
import subprocess
import sys

from appliance.roles.pemda.tables import Sppt
from appliance.store.db import open_database
from fixtures.daemon import SEED_DIR, Daemon, free_port, run_cli, seed_config

BIN = os.path.dirname(sys.executable)
BILLER = 'opensipkd.iso8583.bjb.pbb.bogor_kota'


def command(name, *args, cwd, data_dir):
    """(exit status, stdout, stderr) of an installed console script."""
    proc = subprocess.run([os.path.join(BIN, name)] + list(args), cwd=cwd,
                          env=dict(os.environ, ISO8583D_DATA_DIR=str(data_dir)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def pbb_ini(path, db_url, module=BILLER, extra=''):
    path.write_text('[main]\nmodule = %s\ndb_url = %s\n%s' % (module, db_url, extra))
    return str(path)


def bills(url):
    """Rows of the SISMIOP bill table at `url`; None when it has no such table."""
    db = open_database(url)
    try:
        with db.connection_context():
            if not db.table_exists(Sppt._meta.table_name):
                return None
            return Sppt.select().count(db)
    finally:
        db.close()


def test_pbb_initdb_creates_the_tables_at_the_files_db_url_and_no_other_database(
        db_url, tmp_path):
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini', db_url)
    code, out, err = command('iso8583_bjb_pbb_initdb', ini, cwd=tmp_path,
                             data_dir=tmp_path / 'data')
    assert code == 0, err
    assert out.startswith('[main] pemda.bogor_kota: SISMIOP and record tables ready in '), out
    assert bills(db_url) == 0
    # the SQLite test.db (and its -wal, -shm) is the file's db_url
    assert [n for n in os.listdir(tmp_path) if not n.startswith('test.db')] == [
        'iso8583-pbb.ini']


def test_pbb_initdb_loads_the_demo_bills_when_asked_with_demo(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'pbb.db')
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini', url)
    code, out, err = command('iso8583_bjb_pbb_initdb', '--demo', ini, cwd=tmp_path,
                             data_dir=tmp_path)
    assert code == 0 and 'SISMIOP and record tables and demo bills ready in' in out, err
    assert bills(url) > 1000


def test_pbb_initdb_with_a_database_it_cannot_open_says_so_in_one_line_and_exits_1(
        pg_url, tmp_path):
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini',
                  'postgresql://nobody:s3cret@127.0.0.1:5432/no_such_db')
    code, out, err = command('iso8583_bjb_pbb_initdb', ini, cwd=tmp_path, data_dir=tmp_path)
    assert code == 1 and out == ''
    assert err.count('\n') == 1, err
    assert err.startswith('iso8583_bjb_pbb_initdb: cannot create tables in '
                          'postgresql://nobody:***@127.0.0.1:5432/no_such_db: '), err
    assert 's3cret' not in err


def test_pbb_initdb_refuses_a_module_that_keeps_no_biller_tables(tmp_path):
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini', 'sqlite:///x.db',
                  module='opensipkd.iso8583.bjb.pbb.test')
    code, out, err = command('iso8583_bjb_pbb_initdb', ini, cwd=tmp_path, data_dir=tmp_path)
    assert code == 78, err
    assert err == ('iso8583_bjb_pbb_initdb: configuration error: %s [main] module: module '
                   'bank.pemda keeps no biller tables; [main] names a biller module '
                   '(opensipkd.iso8583.bjb.pbb.bogor_kota, opensipkd.iso8583.bjb.pbb)\n' % ini)
    assert os.listdir(tmp_path) == ['iso8583-pbb.ini']


def test_a_main_section_with_an_unknown_key_is_a_configuration_error(tmp_path):
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini', 'sqlite:///x.db', extra='dburl = typo\n')
    code, out, err = command('iso8583_bjb_pbb_initdb', ini, cwd=tmp_path, data_dir=tmp_path)
    assert code == 78
    assert err.startswith('iso8583_bjb_pbb_initdb: configuration error: %s [main] dburl: '
                          'unknown key' % ini), err


def test_iso8583d_initdb_creates_the_main_sections_tables_at_its_db_url(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'pbb.db')
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini', url)
    code, out = run_cli(['--initdb', '--data-dir', str(tmp_path / 'data'), ini])
    assert code == 0, out
    assert 'INFO [main] pemda.bogor_kota: SISMIOP and record tables ready in %s' % url in out
    assert bills(url) == 0


def test_iso8583d_initdb_with_role_pemda_leaves_the_preset_out_of_a_main_file(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'pbb.db')
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini', url)
    code, out = run_cli(['--role', 'pemda', '--initdb', '--data-dir', str(tmp_path / 'data'),
                         ini])
    assert code == 0, out
    assert 'host_' not in out
    assert not os.path.exists(tmp_path / 'data' / 'pemda.db')
    assert bills(url) == 0


def test_iso8583d_does_not_run_a_daemon_from_a_main_only_file(tmp_path):
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini', 'sqlite:///pbb.db')
    code, out = run_cli(['--data-dir', str(tmp_path / 'data'), ini])
    assert code == 78
    assert out == ("iso8583d: configuration error: %s [main]: names only a database, for "
                   "--initdb (the seed's iso8583-pbb.ini); a daemon needs host_ sections\n"
                   % ini)


def test_iso8583d_warns_of_a_module_section_no_host_uses(tmp_path):
    with open(os.path.join(SEED_DIR, 'test-pemda.ini')) as f:
        section = f.read().split('[module_', 1)[1].split('[host_bjb]')[0]
    ini = pbb_ini(tmp_path / 'iso8583-pbb.ini', 'sqlite:///pbb.db', extra='[module_' + section)
    code, out = run_cli(['--initdb', '--data-dir', str(tmp_path / 'data'), ini])
    assert code == 0, out
    assert ('iso8583d: warning: %s: [module_%s] is ignored: no host_ '
            'section uses this module' % (ini, BILLER)) in out.splitlines()


def test_forwarder_initdb_names_the_module_a_file_without_a_forwarder_lacks(tmp_path):
    ini = seed_config('test-bank.ini', tmp_path, tmp_path)
    code, out, err = command('iso8583_bjb_pbb_test_aggregator_initdb', ini, cwd=tmp_path,
                             data_dir=tmp_path / 'data')
    assert code == 78
    assert err == ('iso8583_bjb_pbb_test_aggregator_initdb: configuration error: %s: no host_ '
                   'section with module bank.forwarder '
                   '(opensipkd.iso8583.bjb.pbb.test_aggregator)\n' % ini)


def test_forwarder_initdb_without_a_file_uses_the_banks_preset(tmp_path):
    env = dict(os.environ, ISO8583D_DATA_DIR=str(tmp_path / 'data'),
               ISO8583D_CONF_DIR=str(tmp_path / 'empty'))
    proc = subprocess.run([os.path.join(BIN, 'iso8583_bjb_pbb_test_aggregator_initdb')],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '[host_agratek] forwarder tables ready in sqlite:///%s\n' % (
        tmp_path / 'data' / 'forwarder.db')


def test_init_db_linkaja_creates_the_records_at_the_linkaja_routes_db_url(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'linkaja.db')
    ini = seed_config('test-agratek.ini', tmp_path, tmp_path,
                      [('postgresql://user:pass@localhost/db', url)])
    code, out, err = command('init_db_linkaja', ini, cwd=tmp_path, data_dir=tmp_path / 'data')
    assert code == 0, err
    assert out == '[host_bjb] [web_linkaja] LinkAja tables ready in %s\n' % url
    assert not os.path.exists(tmp_path / 'data')


def test_linkaja_client_at_the_banks_port_as_the_seed_readme_typed_it_says_where_linkaja_is(
        tmp_path):
    port, web = free_port(), free_port()
    seed_config('test-bank.ini', tmp_path, tmp_path, [('port = 10002', 'port = %d' % port),
                                                      ('port = 7000', 'port = %d' % web)])
    bank = Daemon([str(tmp_path / 'test-bank.ini'), '--data-dir', str(tmp_path / 'data')],
                  command=[os.path.join(BIN, 'iso8583')], name='bank')
    try:
        bank.wait_for('Web server listen at 0.0.0.0:%d' % web)
        url = 'http://127.0.0.1:%d/linkaja' % web
        code, out, err = command('iso8583_web_client_linkaja', '--url=' + url,
                                 '--invoice-id=3271010001007002701995', '--payment',
                                 '--bill-ref=16', '--amount=19536', cwd=tmp_path,
                                 data_dir=tmp_path)
    finally:
        assert bank.stop() == 0, bank.output()
    assert code == 1
    assert ("Gagal thread 1: HTTP 404: nothing serves %s; LinkAja is the aggregator's "
            "[web_linkaja] route (port 7001 in the seed's test-agratek.ini, not the bank's "
            "7000)" % url) in out, out


def test_iso8583d_warns_that_a_daemon_leaves_a_main_section_beside_its_hosts_alone(tmp_path):
    ini = seed_config('test-pemda.ini', tmp_path, tmp_path)
    with open(ini, 'a') as f:
        f.write('\n[main]\nmodule = %s\ndb_url = sqlite:///pbb.db\n' % BILLER)
    code, out = run_cli(['--check-config', '--data-dir', str(tmp_path / 'data'), ini])
    assert code == 0, out
    assert out.splitlines()[0] == (
        'iso8583d: warning: %s: [main] is ignored: only iso8583d --initdb and '
        'iso8583_bjb_pbb_initdb read it (to create the tables at its db_url)' % ini)


def test_init_db_linkaja_with_a_database_it_cannot_open_names_it_in_one_line(pg_url, tmp_path):
    ini = seed_config('test-agratek.ini', tmp_path, tmp_path, [
        ('postgresql://user:pass@localhost/db', 'postgresql://nobody:s3cret@127.0.0.1/no_db')])
    code, out, err = command('init_db_linkaja', ini, cwd=tmp_path, data_dir=tmp_path)
    assert code == 1 and out == ''
    assert err.count('\n') == 1, err
    assert err.startswith('init_db_linkaja: [host_bjb] cannot create tables: [web_linkaja] '
                          'postgresql://nobody:***@127.0.0.1/no_db: '), err
    assert 's3cret' not in err
