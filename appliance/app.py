"""The running appliance: hosts, their links and modules, the web server,
databases; start-up order and a clean shutdown."""
import logging
import os
import signal

import gevent
from gevent.event import Event

from . import modules
from .config import resolve_db_url
from .hosts import Connector, Host, listeners_for
from .rlimit import raise_file_limit
from .roles.module import Fatal

log = logging.getLogger('iso8583d')

GRACE_SECONDS = 10
FILES_SPARE = 256     # databases, logs, and the links themselves


class Appliance:
    def __init__(self, settings):
        self.settings = settings
        self.hosts = {}
        for cfg in settings.hosts:
            host = Host(cfg)
            host.module = modules.lookup(cfg.module).factory(cfg, settings, self)
            self.hosts[cfg.name] = host
        self.listeners = listeners_for(self.hosts.values())
        self.connectors = [Connector(h) for h in self.hosts.values() if not h.config.listen]
        self.web_server = None
        self.databases = {}
        self.stopping = Event()
        self.exit_code = 0

    # -- services for modules ------------------------------------------------

    def module_section(self, module_name):
        return self.settings.module_sections[module_name]

    def database(self, url, init=None):
        """One open database per URL; `init(db)` runs when SQLite creates the file."""
        from .db import open_database
        url = resolve_db_url(url, self.settings.data_dir)
        if url not in self.databases:
            fresh = url.startswith('sqlite:///') and not os.path.exists(url[len('sqlite:///'):])
            db = open_database(url)
            if fresh and init is not None:
                log.info('Creating database %s', url)
                init(db)
            self.databases[url] = db
        return self.databases[url]

    # -- lifecycle -----------------------------------------------------------

    def initdb(self, demo):
        """--initdb: every module creates its tables; exit status."""
        for host in self.hosts.values():
            try:
                done = host.module.initdb(demo)
            except Exception as e:
                log.error('[host_%s] cannot create tables: %s', host.name, e)
                return 1
            if done:
                log.info('[host_%s] %s', host.name, done)
        for db in self.databases.values():
            db.close()
        return 0

    def start(self):
        web = self.settings.web
        raise_file_limit((web.max_connections if web else 0)
                         + 64 * len(self.hosts) + FILES_SPARE)
        for host in self.hosts.values():
            host.module.start()
        if self.settings.routes:
            self.web_server = self._start_web()
        for listener in self.listeners:
            try:
                listener.start()
            except OSError as e:
                raise Fatal('cannot listen on %s:%d: %s' % (listener.bind, listener.port,
                                                           e.strerror or e)) from None
        for connector in self.connectors:
            connector.start()
            connector.greenlet.link_exception(self._crashed)

    def _start_web(self):
        from .web import make_app, serve
        from .modules import lookup
        views = {r.module: lookup(r.module).factory for r in self.settings.routes}
        app = make_app(self.settings.web, self.settings.routes, views, self.hosts)
        try:
            return serve(self.settings.web, app)
        except OSError as e:
            raise Fatal('cannot listen on %s:%d for the web server: %s' % (
                self.settings.web.bind, self.settings.web.port, e.strerror or e)) from None

    def _crashed(self, greenlet):
        log.error('A service stopped unexpectedly: %r', greenlet.exception)
        self.exit_code = 1
        self.stopping.set()

    def request_stop(self, *_):
        if self.stopping.is_set():
            log.info('Already stopping')
        self.stopping.set()

    def run(self):
        """Start, wait for SIGTERM/SIGINT or a crash, stop; the exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(sig, self.request_stop)
        try:
            self.start()
        except (Fatal, OSError) as e:
            log.error('%s', e)
            self.stop()
            return 1
        self.stopping.wait()
        log.info('Stopping')
        self.stop()
        return self.exit_code

    def stop(self, grace=GRACE_SECONDS):
        for listener in self.listeners:
            listener.stop()
        if self.web_server is not None:
            self.web_server.stop(timeout=grace)
        for connector in self.connectors:
            connector.stopping = True
        links = [h.link for h in self.hosts.values() if h.link is not None]
        gevent.joinall([gevent.spawn(link.handlers.join, timeout=grace) for link in links])
        gevent.joinall([gevent.spawn(link.sign_off) for link in links if link.connecting],
                       timeout=3)
        for connector in self.connectors:
            connector.stop()
        for link in links:
            link.close('shutting down')
        for host in self.hosts.values():
            host.module.stop()
        for db in self.databases.values():
            db.close()
