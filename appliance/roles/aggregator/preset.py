"""Role aggregator: offers LinkAja's HTTP format and talks ISO8583 to the bank.

With no configuration it runs the seed's test-agratek.ini: it connects to the
bank on 127.0.0.1:10001 and serves LinkAja on http://0.0.0.0:7001/linkaja,
recording its transactions in aggregator.db in the data dir.
"""
from types import MappingProxyType

from appliance.pbb.request import parse_request_bits

# The seed's request_bits: what an aggregator's requests carry besides the
# bits of each request (a host without request_bits sends these).
SEED_REQUEST_BITS_TEXT = """
    2:622011888888888888
    18:6025
    22:010
    32:015
    35:622011888888888888=9912?
    37:000000000000
    41:AGRATEK
    42:LINKAJA
    43:AGRATEK-LINKAJA
    49:360
    59:PAY
    60:123
    63:214
"""

PRESET = """
[web]
port = 7001
threads = 12

[web_linkaja]
route_path = /linkaja
module = iso8583_web.scripts.views.linkaja
host = bjb
timeout = 30
db_url = sqlite:///aggregator.db
allowed_ip =
    127.0.0.1
    10.8.30.1
notification_message =
    3271:PBB Kota Bogor
    3676:PBB Kota Tangerang Selatan
    3275:PBB Kota Bekasi

[host_bjb]
ip = 127.0.0.1
port = 10001
listen = false
timeout = 15
streamer = bjb
module = opensipkd.iso8583.bjb.pbb.agratek
request_bits =%s""" % SEED_REQUEST_BITS_TEXT.rstrip()

SEED_REQUEST_BITS = MappingProxyType(parse_request_bits(SEED_REQUEST_BITS_TEXT))
