"""Relations between settings that the bank's journal and its reversal queue
rely on. Each value may be fine alone and still break a promise together
with another (a payment reversed while its answer may still come, a reversal
given up before it could be confirmed); such a pair is a configuration error,
found by --check-config (exit 78), not by a customer.

Each check takes the loaded hosts and routes and `where(section, key)`, the
file a key came from, and raises ConfigError naming file, section and key.
"""
from appliance.errors import ConfigError
from appliance.roles.bank.peer import PemdaPeer, orphan_after

# Time a request's outcome may take to reach the journal after its deadline:
# the deadline fires up to a tick (0.05 s) late, the database write follows.
RECORD_MARGIN = 1.0


def _longest_wait(host, routes):
    """The longest a journalled request on the host waits for its answer,
    and the (section, key) that sets it."""
    wait, where = host.request_timeout, ('host_' + host.name, 'request_timeout')
    for route in routes:
        if host.name in route.hosts and route.module == 'teller' and route.timeout > wait:
            wait, where = route.timeout, ('web_' + route.name, 'timeout')
    return wait, where


def check_orphans(hosts, routes, where):
    """`saf_orphan_after` of a `bank.pemda` host is at least 1 s
    longer than the longest a request on it may wait: its
    `request_timeout`, or the `timeout` of a teller route on it. A payment
    still `sending` that long is reversed; its answer must not still come."""
    for host in hosts.values():
        if host.module != 'bank.pemda':
            continue
        wait, (section, key) = _longest_wait(host, routes)
        after = orphan_after(host)
        if after >= wait + RECORD_MARGIN:
            continue
        why = ('a payment could be reversed while its answer may still come: '
               'saf_orphan_after of [host_%s] (%g s) must be at least [%s] %s (%g s) '
               '+ %g s' % (host.name, after, section, key, wait, RECORD_MARGIN))
        own = 'host_' + host.name
        if host.options['saf_orphan_after'] is not None:
            raise ConfigError(why, where(own, 'saf_orphan_after'), own, 'saf_orphan_after')
        raise ConfigError(why + ' (set saf_orphan_after, by default 2 x request_timeout '
                          '+ 30)', where(section, key), section, key)


def check_saf(hosts, where):
    """On a `bank.pemda` host, `saf_max_attempts` is at least 2, `saf_retry_max`
    at least `saf_retry_interval`, and `saf_max_age` more than
    `saf_retry_interval` + 2 x `request_timeout`: a reversal the pemda
    answers 54 or 55 (nothing to reverse) is done only when a second attempt,
    `saf_retry_interval` later, says so again."""
    for host in hosts.values():
        if host.module != 'bank.pemda':
            continue
        o, section = host.options, 'host_' + host.name

        def fail(key, message):
            raise ConfigError(message, where(section, key), section, key)

        if o['saf_max_attempts'] < 2:
            fail('saf_max_attempts', 'must be at least 2: a reversal answered 54 or 55 '
                 'is confirmed by a second attempt')
        if o['saf_retry_max'] < o['saf_retry_interval']:
            fail('saf_retry_max', 'saf_retry_max (%g s) is shorter than saf_retry_interval '
                 '(%g s), where the pauses between attempts start'
                 % (o['saf_retry_max'], o['saf_retry_interval']))
        second = o['saf_retry_interval'] + 2 * host.request_timeout
        if o['saf_max_age'] <= second:
            fail('saf_max_age', 'saf_max_age (%g s) leaves no time for a second attempt: '
                 'it must be more than saf_retry_interval + 2 x request_timeout (%g s)'
                 % (o['saf_max_age'], second))


def check_forwarders(hosts, where):
    """`forward_timeout` of a `bank.forwarder` host is shorter than the host's
    `request_timeout`, taken as the time the aggregator waits on that link:
    a forwarder that waits longer for the pemda may see a payment booked
    that the aggregator has given up on (and reverses)."""
    for host in hosts.values():
        if host.module != 'bank.forwarder':
            continue
        forward = host.options['forward_timeout']
        if forward >= host.request_timeout:
            section = 'host_' + host.name
            raise ConfigError(
                'forward_timeout (%g s) must be shorter than the %g s the aggregator '
                'waits on this link (its request_timeout), or the pemda may book a '
                'payment the aggregator has given up on' % (forward, host.request_timeout),
                where(section, 'forward_timeout'), section, 'forward_timeout')


# The module every host of a group must have, by the module using the group:
# the teller and the forwarder look a reversal's payment up in the members'
# journals; LinkAja queues its reversals on the aggregator's bank links.
GROUP_MODULES = {'teller': 'bank.pemda', 'aggregator.linkaja': 'aggregator.bank',
                 'bank.forwarder': 'bank.pemda'}


def groups(hosts, routes):
    """(section, key, module using it, names) of every group of two or more
    hosts: a web route's `host`, a forwarder's prefix."""
    for route in routes:
        if len(route.hosts) > 1:
            yield 'web_' + route.name, 'host', route.module, route.hosts
    for host in hosts.values():
        if host.module == 'bank.forwarder':
            for names in host.options['host'].values():
                if len(names) > 1:
                    yield 'host_' + host.name, 'host', host.module, names


def check_groups(hosts, routes, where):
    """Every host of a group is a `[host_<name>]` of the module its user
    needs (GROUP_MODULES); the `bank.pemda` hosts of a group keep their
    journal in one database (`db_url`), where a payment's NTB names one
    payment whichever link carried it and its reversal finds it."""
    for section, key, user, names in groups(hosts, routes):
        def fail(message):
            raise ConfigError(message, where(section, key), section, key)

        wanted = GROUP_MODULES.get(user)
        for name in names:
            if name not in hosts:
                fail('there is no [host_%s] section' % name)
            if wanted is not None and hosts[name].module != wanted:
                fail('[host_%s] is a %s host; the hosts of a group here must be %s hosts'
                     % (name, hosts[name].module, wanted))
        if wanted == 'bank.pemda':
            urls = {hosts[n].options.get('db_url') or PemdaPeer.OPTIONS.default('db_url')
                    for n in names}
            if len(urls) > 1:
                fail('the hosts of a group must keep their journal in one database: '
                     '%s have different db_url' % ', '.join('[host_%s]' % n for n in names))


def check(hosts, routes, where):
    check_groups(hosts, routes, where)
    check_orphans(hosts, routes, where)
    check_saf(hosts, where)
    check_forwarders(hosts, where)
