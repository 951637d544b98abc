"""The bank's side of a pemda link (module bank.pemda, the seed's
opensipkd.iso8583.bjb.pbb.test)."""
import os

from appliance.net.module import Fatal, HostModule
from appliance.settings import types as t
from appliance.settings.schema import Schema, Setting


def orphan_after(host_config):
    """When the journal's sweep takes a `sending` entry for orphaned:
    saf_orphan_after, by default 2 x request_timeout + 30 s."""
    return (host_config.options.get('saf_orphan_after')
            or 2 * host_config.request_timeout + 30)


# Parsed journal entries the money view keeps (a day of a busy bank).
MONEY_MEMO_ENTRIES = 200000


class PemdaPeer(HostModule):
    """The bank's side of a pemda link: it sends requests and answers echoes;
    financial requests from the pemda are not expected (answered 76).

    It keeps the bank's request journal and the store-and-forward queue of
    reversals (appliance.roles.bank.journal, appliance.roles.bank.saf) in `db_url`, and runs the
    worker that delivers the queued reversals on this link."""

    OPTIONS = Schema(
        Setting('db_url', t.db_url, 'sqlite:///bank.db', 'the journal and the '
                'store-and-forward queue of reversals'),
        Setting('saf_max_attempts', t.positive_int, 100, 'attempts to deliver a reversal '
                'before it is expired for a person to settle'),
        Setting('saf_max_age', t.seconds, 86400.0, 'age at which an undelivered reversal '
                'is expired for a person to settle'),
        Setting('saf_retry_interval', t.seconds, 10.0, 'pause before a reversal is sent '
                'again, doubling with each attempt'),
        Setting('saf_retry_max', t.seconds, 300.0, 'longest pause between two attempts'),
        Setting('saf_orphan_after', t.seconds, None, 'a payment of this node still '
                '`sending` this long (its process died) is reversed',
                shown='2 x request_timeout + 30'),
    )

    def _option(self, key):
        value = self.config.options.get(key)
        return self.OPTIONS.default(key) if value is None else value

    def _database(self):
        from appliance.roles.bank.journal import create_tables
        return self.context.database(self._option('db_url'), init=create_tables)

    def start(self):
        from appliance.roles.bank.journal import Journal, create_tables
        from appliance.roles.bank.node import this_node
        from appliance.roles.bank.owed import OwedReversals
        from appliance.roles.bank.saf import SafQueue, SafSettings
        try:
            db = self._database()
            create_tables(db)
        except Exception as e:
            from appliance.store.db import mask_url
            raise Fatal('[host_%s] cannot open the journal database %s: %s' % (
                self.config.name, mask_url(self._option('db_url')), e)) from None
        owed = OwedReversals(os.path.join(self.context.data_dir,
                                          'reversals-owed-%s.jsonl' % self.config.name))
        self.journal = Journal(db, self.config.name, owner=this_node(self.context, db),
                               owed=owed, nodes=self.context.nodes)
        timeout = self.config.request_timeout
        settings = SafSettings(
            max_attempts=self._option('saf_max_attempts'),
            max_age=self._option('saf_max_age'),
            retry_interval=self._option('saf_retry_interval'),
            retry_max=self._option('saf_retry_max'),
            orphan_after=orphan_after(self.config),
            request_timeout=timeout)
        self.saf = SafQueue(self.journal, self.context.link, settings)
        self.saf.start()

    def money_source(self, modules):
        """Today's settled payments and reversals with this pemda
        (appliance.roles.bank.settlement), its forwarded ones included."""
        if self.journal is None:
            return None
        from appliance.roles.bank.forwarder import ForwarderModule
        from appliance.roles.bank.settlement import day_totals
        db, name = self.journal.db, self.config.name
        forwarders = [m.db for m in modules
                      if isinstance(m, ForwarderModule) and m.db is not None]
        # The journal entries the view parsed; an answered entry never changes.
        memo = getattr(self, '_money_memo', None)
        if memo is None or len(memo) > MONEY_MEMO_ENTRIES:
            memo = self._money_memo = {}
        return ('bank.pemda', name), lambda day: day_totals([(db, [name])], forwarders, day,
                                                            memo)

    def stop(self):
        if self.saf is not None:
            self.saf.stop()

    def initdb(self, demo):
        from appliance.store.db import mask_url
        from appliance.roles.bank.journal import create_tables
        create_tables(self._database())
        return 'journal and SAF tables ready in %s' % mask_url(self.context.db_url(
            self._option('db_url')))
