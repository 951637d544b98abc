"""/status in a real browser: headless Chromium loads the page of a running
bank, lets its script refresh it, and the DOM it ends with is checked.

Chromium is Debian's `chromium` package, installed by .ci/run (tests install
nothing). Missing: these tests fail when CI=true, else they are skipped.
"""
import os
import re
import subprocess

import pytest

from fixtures.waiting import until
from test_ops_daemon import LINK_TIMEOUT, OpsChain, link, status

CHROMIUM = '/usr/bin/chromium'
FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync')


@pytest.fixture
def browser(tmp_path):
    """dump(url, seconds) -> the DOM after `seconds` of (virtual) time."""
    if not os.access(CHROMIUM, os.X_OK):
        reason = '%s is missing (apt-get install chromium)' % CHROMIUM
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(reason)
        pytest.skip(reason)

    def dump(url, seconds):
        # Virtual time: the page's timers run `seconds` ahead at once, and a
        # fetch in progress holds the clock until its answer is in.
        proc = subprocess.run(
            [CHROMIUM, *FLAGS, '--user-data-dir=%s' % (tmp_path / 'chromium'),
             '--virtual-time-budget=%d' % (seconds * 1000), '--dump-dom', url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=90)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout
    return dump


@pytest.fixture
def chain(tmp_path):
    c = OpsChain(tmp_path)
    yield c
    c.stop()


def refreshes(dom):
    return int(re.search(r'<main data-refreshes="(\d+)"', dom).group(1))


def test_headless_chromium_shows_the_links_and_their_states_as_the_page_refreshes(
        chain, browser):
    url = 'http://127.0.0.1:%d/status' % chain.web
    dom = browser(url, 12)
    assert refreshes(dom) >= 2                  # the script fetched and swapped it in
    assert '<tr data-link="kota_bogor" data-state="up">' in dom
    assert '<span class="badge up">up</span>' in dom
    assert re.search(r'<svg [^>]*data-series="throughput"', dom)
    assert re.search(r'<svg [^>]*data-series="latency"', dom)
    assert '<p id="stale" hidden=""></p>' in dom    # no failed refresh

    assert chain.pemda.stop() == 0
    until(lambda: link(status(chain.web), 'kota_bogor')['state'] == 'down',
          'the link shown down', LINK_TIMEOUT)
    dom = browser(url, 6)
    assert '<tr data-link="kota_bogor" data-state="down">' in dom
    assert '<span class="badge down">down</span>' in dom
    chain.start_pemda()


def test_headless_chromium_shows_the_pemdas_link_and_database_on_its_admin_port(
        chain, browser):
    dom = browser('http://127.0.0.1:%d/status' % chain.admin, 6)
    assert refreshes(dom) >= 1
    assert '<tr data-link="bjb" data-state="up">' in dom
    assert re.search(r'<tr data-database="sqlite:///[^"]*demo\.db"><td>[^<]*</td><td>'
                     r'<span class="badge up">up</span>', dom)
    assert '<title>iso8583d pemda: 1/1 links up</title>' in dom


def test_a_page_that_cannot_refresh_says_so_in_a_banner(chain, browser, tmp_path):
    """The page saved to a file: its script's fetch fails as it would with
    the daemon gone, and the stale data is flagged instead of looking live."""
    from test_ops_daemon import get
    code, _, page = get(chain.web, '/status')
    saved = tmp_path / 'status.html'
    saved.write_text(page)
    dom = browser(saved.as_uri(), 6)
    assert re.search(r'<p id="stale">Cannot refresh \([^)]*\): what is shown is from '
                     r'[^<]*\. Is the daemon running\?</p>', dom), dom[:2000]
    assert refreshes(dom) == 0
