"""Role bank: accepts the pemdas' links and serves tellers over JSON-RPC.

With no configuration it listens for Kota Bogor's pemda on 10002 and serves
the teller JSON-RPC API on http://0.0.0.0:7000/rpc to loopback only (the
seed's test-bank.ini without its allowed_ip: a route that names no callers
and has no API keys admits 127.0.0.1 and ::1);
it also listens for Kota Bekasi's pemda on 10003 and for the aggregator
(Agratek) on 10001, whose requests it forwards to the pemda of each invoice
prefix (the seed's LinkAja chain).
"""

PRESET = """
[host_kota_bogor]
ip = 127.0.0.1
port = 10002
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test

[host_kota_bekasi]
ip = 127.0.0.1
port = 10003
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test

[host_agratek]
ip = 127.0.0.1
port = 10001
listen = true
streamer = bjb
module = opensipkd.iso8583.bjb.pbb.test_aggregator
db_url = sqlite:///forwarder.db
host =
    3271:kota_bogor
    3275:kota_bekasi

[web]
port = 7000
threads = 12

[web_teller]
route_path = /rpc
host = kota_bogor
module = iso8583_web.scripts.views.jsonrpc
"""
