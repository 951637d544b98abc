"""Whether this process can serve its web routes now: what a load balancer
in front of several nodes asks /status.json (docs/two-nodes.md).

A bank node whose pemda link is down still answers HTTP, but every teller
request gets 91; a balancer that only sees a 200 keeps sending tellers there.
So /status.json answers 503 while the process cannot serve, and says why:

- it is stopping (SIGTERM: in-flight requests are drained, new ones should go
  to another node), or
- it has web routes and not one of them has a link up to a host it names.

One route down among several that are up (a bank serving two pemdas, one of
them unreachable) keeps the 200: taking the node out would also take out the
pemdas it still reaches. A process without web routes (the pemda) serves no
HTTP traffic to balance, so it is always "serving".
"""


def serving(routes, hosts, stopping=False):
    """(True, '') or (False, why). `routes`: the RouteConfigs of [web_<name>];
    `hosts`: host name -> appliance.net.hosts.Host."""
    if stopping:
        return False, 'stopping'
    down = []
    for route in routes:
        names = route.hosts          # one host, or a group of links to one peer
        if any(name in hosts and hosts[name].is_up for name in names):
            return True, ''
        down.append('[web_%s] %s' % (route.name, ', '.join(names)))
    if not down:
        return True, ''
    return False, 'no web route has a link up: %s' % '; '.join(down)
