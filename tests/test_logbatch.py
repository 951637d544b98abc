"""Log lines formatted once and written once per event-loop turn
(appliance/runtime/logbatch.py), with the text byte for byte the same."""
import logging
import subprocess
import sys
import textwrap
import time

import gevent
import pytest

from appliance import loglines
from appliance.runtime import logbatch, logescape, logsetup
from appliance.runtime.config import ConfigError

FORMAT = '%(asctime)s %(levelname)s %(message)s'


@pytest.fixture
def logger(tmp_path):
    """A logger with the seed's two handlers (a file and a stream) made cheap;
    yields (logger, file path, stream handler's underlying stream)."""
    saved = logging._srcfile, logging.logThreads, logging.logProcesses
    path = tmp_path / 'bank.log'
    formatter = logging.Formatter(FORMAT)
    file_handler = logging.FileHandler(str(path))
    console = logging.StreamHandler(open(str(tmp_path / 'console.log'), 'w'))
    for handler in (file_handler, console):
        handler.setFormatter(formatter)
    log = logging.getLogger('test_logbatch.%s' % tmp_path.name)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(file_handler)
    log.addHandler(console)
    logbatch.install([file_handler, console])
    yield log, path, tmp_path / 'console.log'
    for handler in (file_handler, console):
        log.removeHandler(handler)
        handler.close()
    logging._srcfile, logging.logThreads, logging.logProcesses = saved


def test_lines_wait_for_the_end_of_the_loop_turn_then_leave_together(logger):
    log, path, _ = logger
    log.info('Receive [%r]', b'0800')
    log.info('Send [%r]', b'0810')
    assert path.read_text() == ''
    gevent.sleep(0)
    lines = path.read_text().splitlines()
    assert [line.split(' ', 3)[3] for line in lines] == ["Receive [b'0800']", "Send [b'0810']"]


def test_an_error_line_is_written_at_once_with_what_waited_before_it(logger):
    log, path, _ = logger
    log.info('Receive')
    log.error('the journal is away')
    assert [line.split(' ', 2)[2] for line in path.read_text().splitlines()] == [
        'INFO Receive', 'ERROR the journal is away']


def test_both_handlers_get_the_text_plain_logging_would_write(logger, tmp_path):
    log, path, console = logger
    record = log.makeRecord(log.name, logging.INFO, __file__, 1, 'Decode MTI %s Data %s',
                            ('0800', {7: '0718222751', 70: '301'}), None)
    expected = logging.Formatter(FORMAT).format(record)
    log.handle(record)
    gevent.sleep(0)
    assert path.read_text() == expected + '\n'
    assert console.read_text() == expected + '\n'


def test_the_timestamp_text_follows_the_clock_across_seconds():
    formatter = logbatch.OnceFormatter(FORMAT)
    plain = logging.Formatter(FORMAT)
    for created in (1_700_000_000.001, 1_700_000_000.999, 1_700_000_001.5, 1_700_000_061.25):
        record = logging.makeLogRecord({'msg': 'x', 'levelname': 'INFO', 'created': created,
                                        'msecs': (created % 1) * 1000})
        assert formatter.formatTime(record) == plain.formatTime(record)


def test_flush_interval_zero_writes_every_line_as_it_comes(tmp_path):
    handler = logging.FileHandler(str(tmp_path / 'x.log'))
    handler.set_name('file')
    handler.setFormatter(logging.Formatter(FORMAT))
    log = logging.getLogger('test_logbatch.zero')
    log.propagate = False
    log.addHandler(handler)
    try:
        logbatch.install([handler], {'file': 0.0})
        log.warning('no waiting')
        assert 'no waiting' in (tmp_path / 'x.log').read_text()
    finally:
        log.removeHandler(handler)
    

@pytest.mark.parametrize('value', ['-1', 'nan', 'inf', 'soon'])
def test_a_bad_flush_interval_names_its_section_and_key(value):
    import configparser
    parser = configparser.RawConfigParser()
    parser.read_string('[handler_file]\nclass = FileHandler\nflush_interval = %s\n' % value)
    with pytest.raises(ConfigError, match=r'\[handler_file\] flush_interval: '
                                          r'flush_interval must be a number of seconds >= 0'):
        logsetup._flush_intervals(parser)


def _run(script, tmp_path):
    path = tmp_path / 'out.log'
    code = textwrap.dedent('''
        from appliance import patch
        import logging, os, signal, sys
        from appliance.runtime import logbatch
        handler = logging.FileHandler(%r)
        handler.setFormatter(logging.Formatter('%%(levelname)s %%(message)s'))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        logbatch.install([handler])
    ''' % str(path)) + textwrap.dedent(script)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, timeout=60)
    return proc.returncode, path.read_text()


def test_a_clean_exit_writes_the_lines_still_waiting(tmp_path):
    code, text = _run('''
        logging.info('Stopping')
        sys.exit(0)
    ''', tmp_path)
    assert (code, text) == (0, 'INFO Stopping\n')


def test_an_error_line_survives_a_sigkill_right_after_it(tmp_path):
    code, text = _run('''
        logging.info('Receive')
        logging.error('cannot record the answer')
        os.kill(os.getpid(), signal.SIGKILL)
    ''', tmp_path)
    assert code == -9
    assert text == 'INFO Receive\nERROR cannot record the answer\n'


# -- appliance.loglines: the link's lines without a LogRecord -------------------

@pytest.mark.parametrize('fmt, datefmt', [
    (FORMAT, None),
    ('%(asctime)s %(name)s %(levelname)-8s %(message)s', None),
    ('%(asctime)s [%(levelno)d] %(message)s', '%Y-%m-%d %H:%M:%S'),
])
def test_the_fast_lines_are_the_text_logging_writes(file_logger, monkeypatch, fmt, datefmt):
    monkeypatch.setattr(logging, '_logRecordFactory', logescape.EscapedRecord)
    log, path, _ = file_logger(logging.Formatter(fmt, datefmt))
    lines = loglines.Lines(log)
    for created in (1_700_000_000.001, 1_700_000_000.9995, 1_700_000_061.25):
        monkeypatch.setattr(time, 'time', lambda: created)
        for args in (('Receive', b'\x00\x0a0800\n'), ('Decode', {7: '0718222751', 70: '301'}),
                     ('Injected\nERROR forged', 'x')):
            record = log.makeRecord(log.name, logging.INFO, __file__, 1, '%s [%r]', args, None)
            record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
            expected = logging.Formatter(fmt, datefmt).format(record)
            lines.log('%s [%r]', *args)
            gevent.sleep(0)
            assert path.read_text().splitlines()[-1] == expected
    assert lines._plan is not None, 'the lines did not take the fast path'
    assert '\\nERROR forged' in path.read_text()


def test_a_format_printing_the_caller_goes_through_logging_from_the_callers_line(file_logger):
    log, path, _ = file_logger(logging.Formatter('%(funcName)s:%(lineno)d %(message)s'))
    lines = loglines.Lines(log)
    lines.log('%s', 'Decode'); line = sys._getframe().f_lineno  # noqa: E702
    gevent.sleep(0)
    assert lines._plan is None
    assert path.read_text() == '%s:%d Decode\n' % (sys._getframe().f_code.co_name, line)


def test_a_brace_style_format_goes_through_logging(file_logger):
    log, path, _ = file_logger(logging.Formatter('{levelname} {message}', style='{'))
    lines = loglines.Lines(log)
    lines.log('%s', 'Decode')
    gevent.sleep(0)
    assert lines._plan is None
    assert path.read_text() == 'INFO Decode\n'


def test_a_filter_in_the_chain_is_honoured(file_logger):
    log, path, handler = file_logger(logging.Formatter(FORMAT))
    lines = loglines.Lines(log)
    lines.log('%s', 'first')
    secret = logging.Filter('somewhere.else')      # passes no record of this logger
    handler.addFilter(secret)
    lines.log('%s', 'filtered out')
    handler.removeFilter(secret)
    log.addFilter(secret)
    lines.log('%s', 'filtered out too')
    log.removeFilter(secret)
    lines.log('%s', 'last')
    gevent.sleep(0)
    assert [line.split(' ', 3)[3] for line in path.read_text().splitlines()] == ['first', 'last']


def test_pytests_capture_still_sees_the_lines(file_logger, caplog):
    log, path, _ = file_logger(logging.Formatter(FORMAT))
    log.propagate = True
    lines = loglines.Lines(log)
    with caplog.at_level(logging.INFO, logger=log.name):
        lines.log('%s %s', 'Send', '0200')
    gevent.sleep(0)
    assert 'Send 0200' in caplog.text
    assert path.read_text().endswith('INFO Send 0200\n')


@pytest.fixture
def file_logger(tmp_path):
    """make(formatter) -> (logger, its file, its handler): one batched file
    handler, no propagation; logging's globals restored afterwards."""
    saved = logging._srcfile, logging.logThreads, logging.logProcesses
    handlers = []

    def make(formatter):
        path = tmp_path / ('%d.log' % len(handlers))
        handler = logging.FileHandler(str(path))
        handler.setFormatter(formatter)
        log = logging.getLogger('test_logbatch.fast.%s.%d' % (tmp_path.name, len(handlers)))
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        logbatch.install([handler])
        handlers.append((log, handler))
        return log, path, handler
    yield make
    for log, handler in handlers:
        log.removeHandler(handler)
        handler.close()
    logging._srcfile, logging.logThreads, logging.logProcesses = saved


@pytest.mark.parametrize('fmt', [FORMAT, '%(asctime)s [%(name)s] %(levelname)-8s %(message)s |',
                                 '%(levelno)d %%s %(message)s%%', '%(asctime)s no message',
                                 '%(message)s and again %(message)s'])
def test_a_line_is_the_text_logging_formats_across_milliseconds_levels_and_names(fmt):
    formatter = logbatch.OnceFormatter(fmt)
    plain = logging.Formatter(fmt)
    base = 1_700_000_000.0
    for created, level, name, message in [
            (base + 0.0011, logging.INFO, 'a', 'Receive'),
            (base + 0.0013, logging.INFO, 'a', 'Send %s'),            # the same millisecond
            (base + 0.0014, logging.WARNING, 'a', 'down'),            # another level
            (base + 0.0015, logging.INFO, 'b', 'Decode'),             # another logger
            (base + 0.0021, logging.INFO, 'b', 'Encode'),             # the next millisecond
            (base + 0.0022, logging.INFO, 'a', 'Send'),               # back to the first
            (base + 0.0023, logging.WARNING, 'a', 'up'),
            (base + 1.0021, logging.INFO, 'b', 'Encode')]:            # the next second
        record = logging.makeLogRecord({
            'msg': message, 'levelno': level, 'levelname': logging.getLevelName(level),
            'name': name, 'created': created,
            'msecs': int((created - int(created)) * 1000)})
        assert formatter.line(created, level, record.levelname, name, message) \
            == plain.format(record)
