"""The interface of a host module: what one host_<name> link does with requests.

A host_ section names its module with `module = ...`; the registry
(appliance.runtime.registry) maps that name, the seed's dotted names included, to a
subclass of HostModule.

A module gets a ModuleContext, not the whole appliance: its own link, its
[module_...] section, the data directory, the shared database opener and the
web routes that use its host. What it keeps for its host (journal, SAF
queue, request bits) appliance.runtime.app hands on to the views and the
forwarder (appliance.roles.bank.gateway).
"""
import logging
from dataclasses import dataclass, field

from appliance.iso import netmgmt
from appliance.settings.schema import Schema
from appliance.errors import Fatal  # noqa: F401

log = logging.getLogger('iso8583d.module')


@dataclass
class ModuleContext:
    """What a host module may use besides its host_ section."""
    link: object = None               # its appliance.net.hosts.Host
    section: object = None            # its parsed [module_...] section, or None
    data_dir: str = '.'
    open_database: object = None      # open_database(url, init=None) -> Database
    resolve_url: object = None        # resolve_url(url) -> the URL as opened
    routes: tuple = ()                # the web routes on this host
    nodes: object = None              # appliance.roles.bank.heartbeat.Heartbeat of this node
    # --initdb: id(database) -> (host name, demo loaded), shared by every
    # module so that billers sharing one database initialise it once.
    initialized: dict = field(default_factory=dict)

    def database(self, url, init=None):
        return self.open_database(url, init=init)

    def db_url(self, url):
        """`url` as it is opened (a relative SQLite path lands in the data dir)."""
        return self.resolve_url(url) if self.resolve_url else url

    def module_section(self, module_name=None):
        """Its own [module_...] section (the name is the seed's way of asking)."""
        return self.section


class HostModule:
    """Answers the financial requests that arrive on one host's link."""

    # Extra keys its host_ section accepts (docs/configuration.md lists them).
    OPTIONS = Schema()

    # What the module keeps for its host, set by start() (None: it keeps none).
    journal = None
    saf = None
    request_bits = None

    def __init__(self, host_config, context=None):
        self.config = host_config
        self.context = context if context is not None else ModuleContext()

    def start(self):
        """Open what the module needs (databases); called before any link runs."""

    def connect(self, gateways):
        """Called once after every module started, with every host's gateway
        ({name: appliance.roles.bank.gateway.Gateway}), before any link runs."""

    def stop(self):
        """Close what start() opened."""

    def initdb(self, demo):
        """Create this module's tables (`--initdb`); a line saying what was done,
        or None when the module keeps no tables."""
        return None

    def money_source(self, modules):
        """(key, totals(date)) when this module keeps money records, for the
        status page's money view (appliance.ops.money; `modules`: every host
        module of the process); None here."""
        return None

    def handle(self, request):
        """The answer to an incoming 0200/0400 (None: no answer)."""
        log.warning('%s: module %s does not take MTI %s requests; answered 76',
                    self.config.name, self.config.module, request.mti)
        return netmgmt.error_reply(request)
