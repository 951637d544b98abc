"""Role pemda: the PBB biller next to the pemda's SISMIOP database.

With no configuration it connects to a bank on 127.0.0.1:10002 (the seed's
test-pemda.ini) and bills from a demo SQLite database in the data dir. A
second link, to 127.0.0.1:10003, stands in for Kota Bekasi's pemda: the plain
biller (no penalty waiver) on the same demo database, which holds bills of
both cities (3271 and 3275).
"""

# The seed's test-pemda.ini settings, for both demo billers.
_DEMO_BILLER = """db_url = sqlite:///pemda.db
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

PRESET = """
[host_bjb]
ip = 127.0.0.1
port = 10002
listen = false
streamer = bjb_with_suffix
timeout = 60
module = opensipkd.iso8583.bjb.pbb.bogor_kota

[host_bjb_bekasi]
ip = 127.0.0.1
port = 10003
listen = false
streamer = bjb_with_suffix
timeout = 60
module = opensipkd.iso8583.bjb.pbb

[module_opensipkd.iso8583.bjb.pbb.bogor_kota]
%s
[module_opensipkd.iso8583.bjb.pbb]
%s""" % (_DEMO_BILLER, _DEMO_BILLER)
