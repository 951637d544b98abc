"""The bank's side of a pemda link (module bank.pemda, the seed's
opensipkd.iso8583.bjb.pbb.test)."""
import os

from appliance.net.module import Fatal, HostModule


class PemdaPeer(HostModule):
    """The bank's side of a pemda link: it sends requests and answers echoes;
    financial requests from the pemda are not expected (answered 76).

    It keeps the bank's request journal and the store-and-forward queue of
    reversals (appliance.roles.bank.journal, appliance.roles.bank.saf) in `db_url`, and runs the
    worker that delivers the queued reversals on this link."""

    from appliance.settings.types import (
        db_url as _db_url, positive_int as _positive_int, seconds as _seconds)

    OPTIONS = {
        'db_url': (_db_url, 'sqlite:///bank.db'),
        'saf_max_attempts': (_positive_int, 100),
        'saf_max_age': (_seconds, 86400.0),
        'saf_retry_interval': (_seconds, 10.0),
        'saf_retry_max': (_seconds, 300.0),
        'saf_orphan_after': (_seconds, None),   # None: 2 x request_timeout + 30 s
    }

    def _option(self, key):
        value = self.config.options.get(key)
        return self.OPTIONS[key][1] if value is None else value

    def _database(self):
        from appliance.roles.bank.journal import create_tables
        return self.context.database(self._option('db_url'), init=create_tables)

    def start(self):
        from appliance.roles.bank.journal import Journal, create_tables
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
        self.journal = Journal(db, self.config.name, owed=owed)
        timeout = self.config.request_timeout
        settings = SafSettings(
            max_attempts=self._option('saf_max_attempts'),
            max_age=self._option('saf_max_age'),
            retry_interval=self._option('saf_retry_interval'),
            retry_max=self._option('saf_retry_max'),
            orphan_after=self._option('saf_orphan_after') or 2 * timeout + 30,
            request_timeout=timeout)
        self.saf = SafQueue(self.journal, self.context.link, settings)
        self.saf.start()

    def stop(self):
        if self.saf is not None:
            self.saf.stop()

    def initdb(self, demo):
        from appliance.store.db import mask_url
        from appliance.roles.bank.journal import create_tables
        create_tables(self._database())
        return 'journal and SAF tables ready in %s' % mask_url(self._option('db_url'))
