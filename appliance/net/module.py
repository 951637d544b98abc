"""The interface of a host module: what one host_<name> link does with requests.

A host_ section names its module with `module = ...`; the registry
(appliance.runtime.registry) maps that name, the seed's dotted names included, to a
subclass of HostModule.
"""
import logging

from appliance.iso import netmgmt
from appliance.settings.schema import Schema
from appliance.errors import Fatal  # noqa: F401

log = logging.getLogger('iso8583d.module')


class HostModule:
    """Answers the financial requests that arrive on one host's link."""

    # Extra keys its host_ section accepts (docs/configuration.md lists them).
    OPTIONS = Schema()

    def __init__(self, host_config, settings, appliance):
        self.config = host_config
        self.settings = settings
        self.appliance = appliance

    def start(self):
        """Open what the module needs (databases); called before any link runs."""

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
