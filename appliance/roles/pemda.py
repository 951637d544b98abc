"""Role pemda: the PBB biller next to the pemda's SISMIOP database.

With no configuration it connects to a bank on 127.0.0.1:10002 (the seed's
test-pemda.ini) and bills from a demo SQLite database in the data dir.
"""
import logging
from collections import namedtuple

from ..datatypes import SettingError, boolean
from .module import HostModule

log = logging.getLogger('iso8583d.pemda')

PRESET = """
[host_bjb]
ip = 127.0.0.1
port = 10002
listen = false
streamer = bjb_with_suffix
timeout = 60
module = opensipkd.iso8583.bjb.pbb.bogor_kota

[module_opensipkd.iso8583.bjb.pbb.bogor_kota]
db_url = sqlite:///pemda.db
demo = true
persen_denda = 2
nip_pencatat = 999999999
kd_kanwil = 01
kd_kantor = 01
kd_tp =
    bit42:TOKOPEDIA:46
    bit42:BUKALAPAK:47
    bit43:INDOMARET:48
    bit43:ALFAMART:49
    bit18:6010:69
    bit18:6011:71
    bit18:6012:72
    bit18:6013:73
    bit18:6014:74
    bit18:6015:75
    bit18:6016:76
    bit18:6017:77
    bit0:default:20
"""


class PemdaSection(namedtuple('PemdaSection', 'biller demo')):
    """A [module_...] section of a biller: BillerSettings plus `demo`, which
    loads demo bills into an empty database (the zero-config preset)."""


def parse_section(raw, defaults=None):
    from ..pbb.settings import BillerSettings
    raw = dict(raw)
    try:
        demo = boolean(raw.pop('demo', 'false'))
    except ValueError as e:
        raise SettingError('demo', str(e)) from None
    return PemdaSection(BillerSettings.from_section(raw, defaults=defaults), demo)


def parse_section_bogor(raw):
    """Kota Bogor waives penalties on tax years before 2013."""
    return parse_section(raw, defaults={'denda_waiver_before_year': '2013'})


class BillerModule(HostModule):
    """Answers inquiry, payment and reversal from the bank's link."""

    def start(self):
        from ..pbb.biller import Biller
        section = self.appliance.module_section(self.config.module)
        self.database = self.appliance.database(section.biller.db_url,
                                                init=_init_biller_db(section.demo))
        self.biller = Biller(section.biller, self.database)

    def handle(self, request):
        return self.biller.handle(request)


def _init_biller_db(with_demo):
    def init(database):
        from ..pbb import demo
        demo.create_tables(database)
        if with_demo:
            demo.load_demo(database)
    return init
