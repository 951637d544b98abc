"""A payment in three round trips on PostgreSQL instead of five.

The biller's payment is: claim the bill (a conditional UPDATE), read it (its
amounts are reckoned in Python, appliance.roles.pemda.calc), insert
pembayaran_sppt, insert our Payment record, COMMIT. Here:

1. `BEGIN; SELECT claim(...)`: a server-side function runs the claim, then
   reads the bill in a statement of its own. That second statement takes a
   fresh snapshot after the claim's row lock was granted, so it sees what a
   concurrent winner committed, exactly as two statements did. One CTE
   statement would not: all of it reads the snapshot taken before the wait.
2. `book`: one statement whose CTEs insert pembayaran_sppt under the next
   sequence number and the Payment record under it (ON CONFLICT (ntp) DO
   NOTHING, as before: a taken NTP is told, and the biller draws another).
3. COMMIT.

The function's body is the biller's own compiled SQL, so both paths say the
same thing; its name carries a hash of its text, so a changed body is a new
function and none is ever replaced under a running daemon. The pemda creates it at
start if missing (Biller.prepare; else at the first payment). Where it cannot
be created (CREATE refused on the schema, say, to a user another made the
tables for), the biller logs why and keeps the five round trips.
"""

import hashlib
import logging

from peewee import IntegrityError, ProgrammingError, SQL

from appliance.store.db import Prepared, connected, model_fields, numbered
from appliance.roles.pemda.tables import BILL_KEY, Payment, PembayaranSppt

log = logging.getLogger(__name__)

_SEQUENCE = PembayaranSppt.pembayaran_sppt_ke.column_name

# The server type of each named value the claim and the bill read compare to
# a column: the columns' own types, so the bill's key index serves them.
_TYPES = dict({column: 'character' for column in BILL_KEY}, paid='character',
              invoice_id='varchar', ntb='varchar', stan='varchar')


class PostgresPayment:
    """The claim-and-read function and the booking statement for one database."""

    def __init__(self, db, claim, bill_paying, insert_next_pembayaran, record_fields):
        self.db = db
        types = [_server_type(name, fixed)
                 for part in (claim, bill_paying) for name, fixed in part.placeholders]
        self.function_sql, self.name = _function(claim, bill_paying, types)
        # The server takes each value as the signature's type (no casts here:
        # '::character' would mean char(1)).
        self.call = Prepared.joined(db, 'SELECT %s(%s)' % (self.name, ', '.join(
            ['%s'] * len(types))), (claim, bill_paying))
        values = dict(record_fields)
        values[Payment.pembayaran_sppt_ke] = SQL('(SELECT "%s" FROM "booked")' % _SEQUENCE)
        record = Prepared(db, Payment.insert(values), model_fields(Payment),
                          suffix=' ON CONFLICT ("%s") DO NOTHING RETURNING 1'
                          % Payment.ntp.column_name)
        self.booking = Prepared.joined(
            db, 'WITH "booked" AS (%s), "recorded" AS (%s) SELECT (SELECT "%s" FROM '
            '"booked"), EXISTS (SELECT 1 FROM "recorded")'
            % (insert_next_pembayaran.sql, record.sql, _SEQUENCE),
            (insert_next_pembayaran, record))
        self.ready = None           # None: not yet tried; then True or False

    def available(self):
        """Whether the function is there (created now if need be); False,
        once and for all in this process, when it cannot be created."""
        if self.ready is None:
            try:
                with connected(self.db):
                    self._create()
                self.ready = True
            except Exception as error:
                log.warning('PBB payments take five PostgreSQL round trips, not three: '
                            'function %s could not be created (%s)',
                            self.name, str(error).strip().splitlines()[0])
                self.ready = False
        return self.ready

    def _create(self):
        if self._exists():
            return
        try:
            with self.db.atomic():
                self.db.execute_sql(self.function_sql)
        except (ProgrammingError, IntegrityError):
            # Two daemons starting at once: the loser's CREATE fails on the
            # catalogue's unique name (or "already exists"); the function is there.
            if not self._exists():
                raise

    def _exists(self):
        row = self.db.execute_sql(
            'SELECT 1 FROM pg_proc JOIN pg_namespace ON pg_namespace.oid = pronamespace '
            'WHERE proname = %s AND nspname = current_schema()', (self.name,)).fetchone()
        return row is not None

    def claim(self, values):
        """(claimed, the bill's columns by name or None when there is none)."""
        answer = self.call.execute(self.db, values).fetchone()[0]
        return answer['claimed'], answer['bill']

    def book(self, values):
        """(pembayaran_sppt_ke, whether the record went in under values['ntp'])."""
        return tuple(self.booking.execute(self.db, values).fetchone())


def _server_type(name, fixed):
    if name is not None:
        return _TYPES[name]
    return 'bigint' if isinstance(fixed, int) else 'varchar'


def _function(claim, bill, types):
    """(CREATE FUNCTION text, function name) for the claim then the bill read."""
    body = ('DECLARE claimed boolean; bill json;\n'
            'BEGIN\n'
            '    %s;\n'
            '    claimed := FOUND;\n'
            '    -- A statement of its own: a snapshot taken after the claim\'s lock.\n'
            '    SELECT row_to_json(b) INTO bill FROM (%s) AS b;\n'
            '    RETURN json_build_object(\'claimed\', claimed, \'bill\', bill);\n'
            'END' % (numbered(claim.sql), numbered(bill.sql, len(claim.placeholders) + 1)))
    signature = ', '.join(types)
    digest = hashlib.sha1(('%s\n%s' % (signature, body)).encode()).hexdigest()[:12]
    name = 'iso8583d_pay_claim_%s' % digest
    return ('CREATE FUNCTION %s(%s) RETURNS json LANGUAGE plpgsql VOLATILE AS $body$\n%s\n'
            '$body$' % (name, signature, body)), name
