"""The running appliance: hosts, their links and modules, the web server,
databases; start-up order and a clean shutdown."""
import logging
import os
import signal

import gevent
from gevent.event import Event

from appliance.runtime import registry as modules
from appliance.ops import notify
from appliance.ops.status import OPS_PATHS
from appliance.runtime.config import WebConfig, resolve_db_url
from appliance.runtime.promises import groups
from appliance.net.hosts import Connector, Host, listeners_for
from appliance.net.rlimit import raise_file_limit
from appliance.net.module import Fatal, ModuleContext
from appliance.roles.bank.gateway import Gateway

log = logging.getLogger('iso8583d')

GRACE_SECONDS = 10
FILES_SPARE = 256     # databases, logs, and the links themselves
# The status server of a role without [web] (the pemda): a few browsers and a
# Prometheus scraper, never the load of the teller API.
ADMIN_WEB = dict(threads=4, max_body=4096, max_connections=64)


def _heartbeat(settings):
    """This process's node (appliance.roles.bank.heartbeat); Fatal when
    ISO8583D_NODE is no node id."""
    from appliance.roles.bank.heartbeat import Heartbeat
    from appliance.roles.bank.node import node_id
    try:
        node = node_id(settings.data_dir, configured=settings.node.id)
    except ValueError as e:
        raise Fatal(str(e)) from None
    return Heartbeat(node, settings.role, settings.node.heartbeat_interval,
                     settings.node.expire_after)


class Appliance:
    def __init__(self, settings):
        self.settings = settings
        self.hosts = {}
        self.nodes = _heartbeat(settings)   # this node; beats once a module joins a database
        self.initialized = {}     # --initdb: id(database) -> (host name, demo loaded)
        for cfg in settings.hosts:
            host = Host(cfg)
            host.module = modules.lookup(cfg.module).factory(cfg, self._context(host))
            self.hosts[cfg.name] = host
        self.gateways = {}        # host name -> Gateway, once the modules started
        self.listeners = listeners_for(self.hosts.values())
        self.connectors = [Connector(h) for h in self.hosts.values() if not h.config.listen]
        self.web_server = None
        self.admin_server = None
        self.ops = None               # status.Ops: /status, /status.json, /metrics
        for host in self.hosts.values():
            host.listeners.append(self._link_changed)
        self.databases = {}
        self.stopping = Event()
        self.exit_code = 0

    # -- wiring ----------------------------------------------------------------

    def _context(self, host):
        """What the host's module may use: its link, its section, the data
        directory, the databases, the web routes on its host."""
        cfg = host.config
        return ModuleContext(
            link=host, section=self.settings.module_sections.get(cfg.module),
            data_dir=self.settings.data_dir, open_database=self.database,
            resolve_url=self.db_url,
            routes=tuple(r for r in self.settings.routes if cfg.name in r.hosts),
            initialized=self.initialized, nodes=self.nodes)

    def _wire(self):
        """Each host's Gateway from its link and what its started module
        keeps; handed to every module (the forwarder routes to them)."""
        for name, host in self.hosts.items():
            module = host.module
            self.gateways[name] = Gateway(host, journal=module.journal, saf=module.saf,
                                          request_bits=module.request_bits)
        for host in self.hosts.values():
            host.module.connect(self.gateways)
        self._share_links()

    def _share_links(self):
        """A host's queued reversals may leave through another link of a
        group it is in while its own is down (appliance.roles.bank.saf): the
        members of a group, of one module, reach the same peer."""
        configs = {name: host.config for name, host in self.hosts.items()}
        for _, _, _, names in groups(configs, self.settings.routes):
            members = [self.hosts[name] for name in names]
            for host in members:
                saf = host.module.saf
                if saf is not None:
                    saf.fellows += tuple(
                        other for other in members
                        if other is not host and other not in saf.fellows
                        and other.config.module == host.config.module)

    def db_url(self, url):
        """`url` as opened: a relative SQLite path is in the data dir."""
        return resolve_db_url(url, self.settings.data_dir)

    def database(self, url, init=None):
        """One open database per URL; `init(db)` runs when SQLite creates the file."""
        from appliance.store.db import open_database
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

    def initdb(self, demo, only=None, report=None):
        """--initdb: every module (or those whose canonical name is in `only`)
        creates its tables; each outcome goes to report(level, line), by
        default the log. The exit status."""
        report = report or log.log
        try:
            for host in self.hosts.values():
                if only is not None and host.config.module not in only:
                    continue
                try:
                    done = host.module.initdb(demo)
                except Exception as e:
                    report(logging.ERROR, '[host_%s] cannot create tables: %s' % (
                        host.name, ' '.join(str(e).split())))
                    return 1
                if done:
                    report(logging.INFO, '[host_%s] %s' % (host.name, done))
            return 0
        finally:
            for db in self.databases.values():
                db.close()

    def start(self):
        web, admin = self.settings.web, self.settings.admin
        raise_file_limit((web.max_connections if web else 0)
                         + (ADMIN_WEB['max_connections'] if admin.own_server else 0)
                         + 64 * len(self.hosts) + FILES_SPARE)
        for host in self.hosts.values():
            host.module.start()
        self._wire()
        self.nodes.start()
        self.nodes.greenlet.link_exception(self._crashed)
        if admin.enabled:
            from appliance.ops.status import Ops
            self.ops = Ops(self)
        if self.settings.routes or (self.ops and not admin.own_server):
            self.web_server = self._start_web()
        if self.ops and admin.own_server:
            self.admin_server = self._start_admin()
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
        from appliance.http.server import make_app, serve
        from appliance.runtime.registry import lookup
        views = {r.module: lookup(r.module).factory for r in self.settings.routes}
        ops = self.ops if self.ops and not self.settings.admin.own_server else None
        app = make_app(self.settings.web, self.settings.routes, views, self.gateways, ops,
                       open_database=self.database)
        try:
            return serve(self.settings.web, app, self.ops and self.ops.http,
                         OPS_PATHS if ops else ())
        except OSError as e:
            raise Fatal('cannot listen on %s:%d for the web server: %s' % (
                self.settings.web.bind, self.settings.web.port, e.strerror or e)) from None

    def _start_admin(self):
        """The status server of its own ([admin] bind and port). A port left
        at its default that is taken (a second role on this machine) only
        costs the status page: logged, not fatal. A configured one is fatal."""
        from appliance.http.server import make_app, serve
        admin = self.settings.admin
        cfg = WebConfig(bind=admin.bind, port=admin.port, **ADMIN_WEB)
        try:
            return serve(cfg, make_app(cfg, (), {}, ops=self.ops), self.ops.http, OPS_PATHS)
        except OSError as e:
            problem = 'cannot listen on %s:%d for the status page: %s' % (
                admin.bind, admin.port, os.strerror(e.errno) if e.errno else e)
            if admin.port_set:
                raise Fatal(problem) from None
            log.warning('%s; /status and /metrics are not served (set [admin] port to a '
                        'free one)', problem)
            return None

    def _link_changed(self, host, up):
        """systemd's STATUS= follows the links (until stopping says it all)."""
        if not self.stopping.is_set():
            from appliance.ops.status import summary_line
            notify.notify('STATUS=' + summary_line(self.hosts.values()))

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
        from appliance.ops.status import summary_line
        notify.notify('READY=1', 'STATUS=' + summary_line(self.hosts.values()))
        self.stopping.wait()
        log.info('Stopping')
        self.stop()
        return self.exit_code

    def stop(self, grace=GRACE_SECONDS):
        notify.notify('STOPPING=1', 'STATUS=stopping')
        for listener in self.listeners:
            listener.stop()
        if self.web_server is not None:
            self.web_server.stop(timeout=grace)
        if self.admin_server is not None:
            self.admin_server.stop(timeout=1)
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
        self.nodes.stop()
        for db in self.databases.values():
            db.close()
