"""The aggregator's side of its bank link (module aggregator.bank, the seed's
opensipkd.iso8583.bjb.pbb.agratek)."""

import os

from appliance.pbb.request import parse_request_bits
from appliance.roles.aggregator.preset import SEED_REQUEST_BITS
from appliance.net.module import Fatal, HostModule
from appliance.settings.schema import Schema, Setting


class BankLink(HostModule):
    """The aggregator's side of its link to the bank (seed module
    opensipkd.iso8583.bjb.pbb.agratek). It carries `request_bits`, the default
    bits of every request the LinkAja face sends on it; requests from the
    bank are not expected (answered 76).

    When a LinkAja route uses this host, the host keeps a store-and-forward
    queue of reversals (appliance.roles.bank.saf) in that route's database: a payment
    whose outcome is unknown (no answer in time, link closed first, left
    `sent` by a run that died) is reversed toward the bank, 0400 then 0401
    repeats, until the bank answers. A reversal the database could not take
    is kept in `reversals-owed-<host>.jsonl` in the data directory until it
    can (appliance.roles.bank.owed).
    `--initdb` creates the tables of those routes."""

    OPTIONS = Schema(
        Setting('request_bits', parse_request_bits, SEED_REQUEST_BITS, 'default bits of '
                "every request LinkAja sends: one BIT:VALUE a line", shown="the seed's list"),
    )

    @property
    def request_bits(self):
        return dict(self.config.options.get('request_bits') or SEED_REQUEST_BITS)

    def _routes(self):
        from appliance.roles.aggregator import linkaja
        return [r for r in self.context.routes if r.module == linkaja.MODULE]

    def _tables(self, db):
        from appliance.roles.bank import journal
        from appliance.roles.aggregator import linkaja
        linkaja.create_tables(db)
        journal.create_tables(db)

    def start(self):
        from appliance.roles.aggregator import linkaja
        from appliance.roles.bank.journal import Journal
        from appliance.roles.bank.saf import SafQueue, SafSettings
        from appliance.roles.bank.owed import OwedReversals
        from appliance.roles.bank.node import this_node
        from appliance.roles.bank.peer import PemdaPeer, orphan_after
        routes = self._routes()
        if not routes:
            return
        db = self.context.database(linkaja.db_url(routes[0]), init=self._tables)
        self._tables(db)
        defaults = PemdaPeer.OPTIONS.defaults()
        timeout = self.config.request_timeout
        owed = OwedReversals(os.path.join(self.context.data_dir,
                                          'reversals-owed-%s.jsonl' % self.config.name))
        self.journal = Journal(db, self.config.name, owner=this_node(self.context, db),
                               owed=owed, nodes=self.context.nodes)
        self.saf = SafQueue(self.journal, self.context.link, SafSettings(
            max_attempts=defaults['saf_max_attempts'], max_age=defaults['saf_max_age'],
            retry_interval=defaults['saf_retry_interval'],
            retry_max=defaults['saf_retry_max'], orphan_after=orphan_after(self.config),
            request_timeout=timeout))
        self.saf.start()

    def stop(self):
        if self.saf is not None:
            self.saf.stop()

    def initdb(self, demo):
        from appliance.roles.aggregator import linkaja
        from appliance.store.db import mask_url
        done = []
        for route in self._routes():
            url = linkaja.db_url(route)
            where = mask_url(self.context.db_url(url))
            try:
                self._tables(self.context.database(url))
            except Exception as e:
                raise Fatal('[web_%s] %s: %s' % (route.name, where, e)) from None
            done.append('[web_%s] LinkAja tables ready in %s' % (route.name, where))
        return '; '.join(done) or None
