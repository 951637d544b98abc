"""The biller host module (pemda, pemda.bogor_kota; the seed's
opensipkd.iso8583.bjb.pbb and ...pbb.bogor_kota) and its [module_...] section."""
import logging
from collections import namedtuple
from functools import partial

from appliance.settings import types as t
from appliance.settings.schema import Schema, Setting
from appliance.net.module import Fatal, HostModule
from appliance.roles.pemda.settings import BILLER_KEYS, MODULE_DEFAULTS, BillerSettings

log = logging.getLogger('iso8583d.pemda')

# The keys of a biller's [module_<name>] section.
SECTION_KEYS = BILLER_KEYS + Schema(
    Setting('demo', t.boolean, False, 'load the demo bills into an empty database at start'),
)


class PemdaSection(namedtuple('PemdaSection', 'biller demo')):
    """A [module_...] section of a biller: BillerSettings plus `demo`, which
    loads demo bills into an empty database (the zero-config preset)."""


def parse_section(raw, defaults=None):
    """The section's settings; `defaults` fill keys it leaves out."""
    values = SECTION_KEYS.parse(dict(defaults or {}, **raw))
    demo = values.pop('demo')
    return PemdaSection(BillerSettings(**values), demo)


def parse_section_bogor(raw):
    """Kota Bogor waives penalties on tax years before 2013."""
    return parse_section(raw, defaults=MODULE_DEFAULTS['opensipkd.iso8583.bjb.pbb.bogor_kota'])


class BillerModule(HostModule):
    """Answers inquiry, payment and reversal from the bank's link."""

    def start(self):
        from appliance.roles.pemda.biller import Biller
        section = self.context.module_section(self.config.module)
        url = section.biller.db_url
        try:
            self.database = self.context.database(url, init=partial(init_tables,
                                                                      demo=section.demo))
            _check_tables(self.database, url)
        except Fatal:
            raise
        except Exception as e:        # e.g. the server is down: exit 1, systemd retries
            from appliance.store.db import mask_url
            raise Fatal('[host_%s] cannot open the biller database %s: %s' % (
                self.config.name, mask_url(url), e)) from None
        # A payment answered 00 is the taxpayer's receipt: on SQLite its
        # commit must survive a power cut (docs/protocol.md, SQLite).
        self.database.require_durable()
        self.biller = Biller(section.biller, self.database)
        self.biller.prepare()

    def handle(self, request):
        return self.biller.handle(request)

    def money_source(self, modules):
        """Today's payments and reversals in the biller's records; billers
        sharing a database share the source."""
        if getattr(self, 'database', None) is None:
            return None
        from appliance.roles.pemda.rekon import day_totals
        database = self.database
        return ('biller', id(database)), lambda day: day_totals(database, day)

    def initdb(self, demo):
        """Create the tables (and demo bills); a line saying what was done."""
        from appliance.store.db import mask_url
        section = self.context.module_section(self.config.module)
        database = self.context.database(section.biller.db_url)
        demo = demo or section.demo
        what = 'tables%s ready in %s' % (' and demo bills' if demo else '',
                                         mask_url(self.context.db_url(
                                             section.biller.db_url)))
        # Billers sharing one database (the preset's two) initialise it once.
        done = self.context.initialized
        earlier = done.get(id(database))
        if earlier is not None and earlier[1] >= demo:
            return '%s (with host_%s)' % (what, earlier[0])
        init_tables(database, demo)
        done[id(database)] = (self.config.name, demo)
        return what


def init_tables(database, demo):
    """The SISMIOP tables and the biller's records (and the demo bills when
    `demo`): what --initdb and iso8583_bjb_pbb_initdb create."""
    from appliance.roles.pemda import demo as demo_data
    demo_data.create_tables(database)
    if demo:
        demo_data.load_demo(database)


def _check_tables(database, url):
    """The SISMIOP tables must exist; the biller's own records are created."""
    from appliance.store.db import mask_url
    from appliance.roles.pemda.tables import RECORD_MODELS, SISMIOP_MODELS
    from appliance.store.schema import create
    with database.connection_context():
        missing = [m._meta.table_name for m in SISMIOP_MODELS
                   if not database.table_exists(m._meta.table_name)]
    if missing:
        raise Fatal('%s has no table %s: point db_url at the SISMIOP database, or '
                    'create empty tables with --initdb' % (mask_url(url), ', '.join(missing)))
    create(database, RECORD_MODELS)
