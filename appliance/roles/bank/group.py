"""A route's hosts: one link, or a group of links to the same peer.

A teller route, a LinkAja route and a forwarder's invoice prefix name one
host or several (`host = kota_bogor_1 kota_bogor_2`): several links to the
same pemda (or bank), e.g. one to each of its servers. A request goes to the
links that are up in turn (round robin), so they share the load and a link
that is down is skipped. A reversal goes through the link that carried its
payment while that one is up, else through another live one: every member
reaches the same peer. When no link is up, the request is tried on one
member anyway, whose send answers "link down" at once, as a lone host's does.
"""
import itertools


class Group:
    """The Gateways (appliance.roles.bank.gateway) of a route's hosts."""

    def __init__(self, names, gateways):
        self.names = tuple(names)
        self.members = tuple(gateways[name] for name in self.names)
        self.name = ','.join(self.names)
        self._turn = itertools.count()

    def __len__(self):
        return len(self.members)

    @property
    def journal(self):
        """Where payments of the group are looked up: the members keep their
        journals in one database (runtime.promises.check_groups)."""
        return self.members[0].journal

    def member(self, name):
        """The member named `name`, or None."""
        for gateway in self.members:
            if gateway.name == name:
                return gateway
        return None

    def candidates(self, preferred=None):
        """The members to try, in order: the live ones from the next turn on,
        `preferred` (a name) first when it is up. None up: one member alone
        (`preferred`, else the next in turn), whose send says the link is down."""
        turn = next(self._turn)
        live = [g for g in self.members if g.is_up]
        chosen = self.member(preferred)
        if not live:
            return [chosen or self.members[turn % len(self.members)]]
        start = turn % len(live)
        order = live[start:] + live[:start]
        if chosen in order:
            order.remove(chosen)
            order.insert(0, chosen)
        return order

    def down_message(self):
        """What a request is answered when no link of the group took it."""
        if len(self.members) == 1:
            return 'link %s is down' % self.name
        return 'every link of group %s is down' % ', '.join(self.names)
