"""The HTTP ceiling: a minimal gevent.pywsgi JSON handler with TCP_NODELAY.

`python tests/bench/ceiling.py PORT` reads each request body and answers a
fixed JSON-RPC result shaped like the teller's inquiry answer (code 0,
bit 39 "00"), so wrk and iso8583d-client both count it as a success. No
Bottle, no JSON parsing, no ISO8583: what one gevent process can serve.
"""
from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402

BODY = json.dumps({'jsonrpc': '2.0', 'id': 1, 'result': {
    'code': 0, 'message': 'OK', 'data': {
        '3': '341019', '4': '000000019536', '7': '0718235304', '11': '235069',
        '12': '235303', '13': '0718', '18': '6010', '33': '00110', '39': '00',
        '61': '3271010001007002701995', '62': '3271010001007002701995' + 'x' * 255}}}
                  ).encode()
HEADERS = [('Content-Type', 'application/json'), ('Content-Length', str(len(BODY)))]


class Handler(WSGIHandler):
    def __init__(self, sock, address, server, rfile=None):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server, rfile)


def app(environ, start_response):
    environ['wsgi.input'].read()
    start_response('200 OK', HEADERS)
    return [BODY]


def main(port):
    from appliance.net.rlimit import raise_file_limit
    raise_file_limit(4096)
    WSGIServer(('127.0.0.1', port), app, handler_class=Handler, log=None,
               backlog=2048).serve_forever()


if __name__ == '__main__':
    main(int(sys.argv[1]))
