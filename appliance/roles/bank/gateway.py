"""One host as the teller, LinkAja and the forwarder use it.

`appliance.runtime.app` builds one Gateway per host once the host modules have
started, from the host's link and what its module keeps (journal, SAF queue,
request bits), and hands it to the views and the forwarder: nobody reaches
through a link into its module.

It also holds the one policy for a request whose outcome is unknown (sent,
not answered): with a journal its reversal is queued in the host's
store-and-forward queue (appliance.roles.bank.saf); without one an ERROR line
asks a person to reverse it.
"""
import logging

from appliance.net.outcome import exchange

log = logging.getLogger('iso8583d.gateway')


class Gateway:
    def __init__(self, link, journal=None, saf=None, request_bits=None, name=None):
        self.link = link                  # appliance.net.hosts.Host (send, next_stan)
        self.name = name or link.name
        self.journal = journal            # appliance.roles.bank.journal.Journal or None
        self.saf = saf                    # appliance.roles.bank.saf.SafQueue or None
        self.request_bits = request_bits  # default request bits (aggregator.bank)

    def next_stan(self):
        return self.link.next_stan()

    @property
    def is_up(self):
        """Whether the link is up (a link that cannot tell counts as up)."""
        return getattr(self.link, 'is_up', True)

    def exchange(self, msg, timeout):
        """Send msg; its appliance.net.outcome.Outcome."""
        return exchange(self.link, msg, timeout)

    def reverse_unknown(self, msg, reason, entry=None, message=''):
        """`msg` (a payment or reversal) went out and its outcome is unknown
        (`reason`: timeout, lost, ...): queue its reversal, recording journal
        `entry` as `reason` in the same transaction when given. The SAF entry's
        id; None when this host queues no reversals (a person must) or another
        process settled the entry first. Database errors are raised."""
        if self.journal is None:
            log.error('[host_%s] %s of invoice %s NTB %s STAN %s has an unknown outcome (%s) '
                      'and this host queues no reversals: reverse it by hand', self.name,
                      'reversal' if msg.mti.startswith('04') else 'payment', msg.get(61),
                      msg.get(48), msg.get(11), reason)
            return None
        if entry is None:
            return self.journal.enqueue(msg, reason)
        return self.journal.unknown(entry, reason, message, msg)

    def reverse_row(self, kind, row_id, msg, reason):
        """Like reverse_unknown, for a row of another table (a LinkAja
        payment): the journal's settlers[kind] marks it `reason` in the
        transaction that queues the reversal; while the database fails, the
        reversal is kept in the owed file (Journal.reverse_row). Never raises
        for the database."""
        if self.journal is None:
            return self.reverse_unknown(msg, reason)
        return self.journal.reverse_row(kind, row_id, reason, msg)
