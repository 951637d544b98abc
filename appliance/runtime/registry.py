"""The static registry of host and web modules, with the seed's names as aliases.

A seed configuration names modules by their old Python paths
(`opensipkd.iso8583.bjb.pbb.bogor_kota`, `iso8583_web.scripts.views.jsonrpc`,
...). Here each of those is an alias of one of our implementations, so an old
file works unchanged. Imports are static so PyInstaller sees every module.
"""
from dataclasses import dataclass, field

from appliance.settings.schema import Schema

from appliance.roles.bank import forwarder, teller
from appliance.roles.aggregator import linkaja
from appliance.roles.aggregator import banklink as aggregator
from appliance.roles.bank import peer as bank
from appliance.roles.pemda import module as pemda
from appliance.roles.aggregator import preset as aggregator_preset
from appliance.roles.bank import preset as bank_preset
from appliance.roles.pemda import preset as pemda_preset

# What `iso8583d --role NAME` runs with no configuration: each role's preset
# module (its PRESET text, and its docstring says what the preset does).
ROLES = {'bank': bank_preset, 'pemda': pemda_preset, 'aggregator': aggregator_preset}


@dataclass(frozen=True)
class ModuleEntry:
    name: str                  # canonical name
    kind: str                  # 'host' (a host_ section) or 'web' (a web_ section)
    factory: object            # host: HostModule subclass; web: view factory
    summary: str
    aliases: tuple = ()
    options: Schema = field(default_factory=Schema)    # extra keys of its section
    parse_section: object = None   # parses a [module_<name>] section
    section_keys: Schema = None    # the keys of that section
    section_defaults: dict = field(default_factory=dict)   # its defaults for them


def _host(name, cls, summary, aliases=(), parse_section=None, section_defaults=None):
    return ModuleEntry(name, 'host', cls, summary, aliases, cls.OPTIONS, parse_section,
                       pemda.SECTION_KEYS if parse_section else None,
                       dict(section_defaults or {}))


def _web(name, view, summary, aliases=()):
    return ModuleEntry(name, 'web', view, summary, aliases, view.OPTIONS)


ENTRIES = (
    _host('pemda.bogor_kota', pemda.BillerModule,
          'PBB biller of Kota Bogor (penalties waived for tax years before 2013)',
          ('opensipkd.iso8583.bjb.pbb.bogor_kota',),
          pemda.parse_section_bogor,
          pemda.MODULE_DEFAULTS['opensipkd.iso8583.bjb.pbb.bogor_kota']),
    _host('pemda', pemda.BillerModule, 'PBB biller on a SISMIOP database',
          ('opensipkd.iso8583.bjb.pbb',), pemda.parse_section),
    _host('bank.pemda', bank.PemdaPeer,
          "the bank's side of a pemda link: sends inquiry, payment, reversal",
          ('opensipkd.iso8583.bjb.pbb.test',)),
    _host('bank.forwarder', forwarder.ForwarderModule,
          "the bank's side of an aggregator link: routes its requests to the pemdas "
          'by invoice prefix', ('opensipkd.iso8583.bjb.pbb.test_aggregator',)),
    _host('aggregator.bank', aggregator.BankLink,
          "the aggregator's side of its bank link; request_bits for LinkAja",
          ('opensipkd.iso8583.bjb.pbb.agratek',)),
    _web('teller', teller, 'teller JSON-RPC: inquiry, payment, reversal',
         ('iso8583_web.scripts.views.jsonrpc',)),
    _web(linkaja.MODULE, linkaja, "LinkAja's one-line HTTP format: inquiry, payment, "
         'reversal', ('iso8583_web.scripts.views.linkaja',)),
)

_BY_NAME = {}
for _entry in ENTRIES:
    for _name in (_entry.name,) + _entry.aliases:
        _BY_NAME[_name] = _entry


def lookup(name):
    """The entry for a module name or alias; KeyError when unknown."""
    return _BY_NAME[name]


def names(kind):
    return sorted(n for n, e in _BY_NAME.items() if e.kind == kind)
