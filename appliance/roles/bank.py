"""Role bank: accepts the pemdas' links and serves tellers over JSON-RPC.

With no configuration it listens for Kota Bogor's pemda on 10002 and serves
the teller JSON-RPC API on http://0.0.0.0:7000/rpc (the seed's test-bank.ini).
"""
from .module import HostModule

PRESET = """
[host_kota_bogor]
ip = 127.0.0.1
port = 10002
listen = true
streamer = bjb_with_suffix
module = opensipkd.iso8583.bjb.pbb.test

[web]
port = 7000
threads = 12

[web_teller]
route_path = /rpc
host = kota_bogor
module = iso8583_web.scripts.views.jsonrpc
"""


class PemdaPeer(HostModule):
    """The bank's side of a pemda link: it sends requests and answers echoes;
    financial requests from the pemda are not expected (answered 76)."""
