"""A payment in two round trips on PostgreSQL instead of five.

The biller's general payment (any database) is one transaction: BEGIN, claim
the bill (a conditional UPDATE), read it, insert pembayaran_sppt, insert our
Payment record, COMMIT. On PostgreSQL a fresh payment takes two round trips,
neither inside an explicit transaction:

1. the bill's read, as the general path reads it (Biller._bill_row). The
   biller prices it in Python (appliance.roles.pemda.calc) and checks the
   request against it.
2. `pay`: one call of a server-side function, so one transaction by itself,
   that claims the bill, checks that what it was priced from is unchanged,
   inserts pembayaran_sppt under the next sequence number and the Payment
   record under it, and answers that sequence number.

The price rests on three values: the bill's amount and due date (the claim
returns them from the row it locked) and the principal its payments covered
(read after the claim, in a statement of its own: its snapshot is taken after
the claim's row lock was granted, so it sees what a concurrent winner
committed; one CTE statement would read the snapshot taken before the wait).
If any differs from what the biller priced, or the drawn NTP is taken, the
function raises and the server undoes all of it.

`pay` answers None where nothing was booked: the bill was paid already
(perhaps by this very request), it changed since the read, or the NTP was
taken. The biller then runs its general path, which gives each of those its
answer. A refusal found from the read (amount, inquiry) also goes that way,
so the codes and their order stay exactly those of the general path.

The function's body is the biller's own compiled SQL, so both paths say the
same thing; its name carries a hash of its text, so a changed body is a new
function and none is ever replaced under a running daemon. The pemda creates it at
start if missing (Biller.prepare; else at the first payment). Where it cannot
be created (CREATE refused on the schema, say, to a user another made the
tables for), the biller logs why and keeps the five round trips.
"""

import hashlib
import logging

from peewee import DatabaseError, IntegrityError, ProgrammingError, SQL, Tuple

from appliance.store.db import Prepared, connected, model_fields, numbered, param
from appliance.roles.pemda.tables import BILL_KEY, Payment, PembayaranSppt

log = logging.getLogger(__name__)

_SEQUENCE = PembayaranSppt.pembayaran_sppt_ke.column_name

# The server type of each named value the claim and the bill read compare to
# a column: the columns' own types, so the bill's key index serves them.
_TYPES = dict({column: 'character' for column in BILL_KEY}, paid='character',
              invoice_id='varchar', ntb='varchar', stan='varchar',
              # what the bill was priced from (see the module's docstring)
              pbb_yg_harus_dibayar_sppt='bigint', tgl_jatuh_tempo_sppt='date',
              paid_principal='numeric')

# The server type of a value inserted into a column of this peewee type.
_COLUMN_TYPES = {'CHAR': 'character', 'VARCHAR': 'varchar', 'TEXT': 'text',
                 'INT': 'integer', 'BIGINT': 'bigint', 'DATE': 'date',
                 'DATETIME': 'timestamp'}

# What the function raises when it books nothing; the server undoes the call.
BILL_CHANGED, NTP_TAKEN = 'ID001', 'ID002'

# The values a payment was priced from, as the function's arguments.
PRICED_FROM = ('pbb_yg_harus_dibayar_sppt', 'tgl_jatuh_tempo_sppt', 'paid_principal')


class PostgresPayment:
    """The paying function for one database: `claim` sets the bill paid
    (Biller's conditional UPDATE), `paid_principal` reads what its payments
    covered, `insert_next_pembayaran` and `record_fields` book it."""

    def __init__(self, db, claim, paid_principal, insert_next_pembayaran, record_fields):
        self.db = db
        values = dict(record_fields)
        values[Payment.pembayaran_sppt_ke] = SQL('(SELECT "%s" FROM "booked")' % _SEQUENCE)
        record = Prepared(db, Payment.insert(values), model_fields(Payment))
        priced = Prepared(db, Tuple(*[param(name) for name in PRICED_FROM]))
        parts = (claim, priced, paid_principal, insert_next_pembayaran, record)
        types = (_types(claim, {}) + _types(priced, {}) + _types(paid_principal, {})
                 + _types(insert_next_pembayaran, model_fields(PembayaranSppt))
                 + _types(record, model_fields(Payment)))
        self.function_sql, self.name = _function(*parts, types)
        # The server takes each value as the signature's type (no casts here:
        # '::character' would mean char(1)).
        self.call = Prepared.joined(db, 'SELECT %s(%s)' % (self.name, ', '.join(
            ['%s'] * len(types))), parts)
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
                log.warning('PBB payments take five PostgreSQL round trips, not two: '
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

    def pay(self, values):
        """The new payment's pembayaran_sppt_ke, or None when nothing was
        booked (not claimed, the bill changed since it was priced from
        values[PRICED_FROM...], the NTP taken)."""
        try:
            return self.call.execute(self.db, values).fetchone()[0]
        except DatabaseError as error:
            if getattr(getattr(error, 'orig', None), 'pgcode', None) in (BILL_CHANGED,
                                                                          NTP_TAKEN):
                log.info('PBB payment of invoice %s takes the general path: %s',
                         values['invoice_id'], str(error).strip().splitlines()[0])
                return None
            raise


def _types(prepared, fields):
    """The server type of each placeholder of `prepared`; `fields` names the
    columns its named values are inserted into (name -> peewee Field)."""
    types = []
    for name, fixed in prepared.placeholders:
        if name is None:
            types.append('bigint' if isinstance(fixed, int) else 'varchar')
        elif name in fields:
            types.append(_COLUMN_TYPES[fields[name].field_type])
        else:
            types.append(_TYPES[name])
    return types


def _function(claim, priced, paid_principal, insert_next_pembayaran, record, types):
    """(CREATE FUNCTION text, function name) for the claim, the check and the booking."""
    first = iter(_positions([claim, priced, paid_principal, insert_next_pembayaran, record]))
    claimed = numbered(claim.sql, next(first))
    expected = numbered(priced.sql, next(first))
    body = ('DECLARE owed bigint; due date; covered numeric; booked bigint; recorded boolean;\n'
            'BEGIN\n'
            '    %s\n'
            '        RETURNING "pbb_yg_harus_dibayar_sppt", "tgl_jatuh_tempo_sppt" INTO owed, due;\n'
            '    IF NOT FOUND THEN\n'
            '        RETURN NULL;\n'
            '    END IF;\n'
            '    -- A statement of its own: a snapshot taken after the claim\'s lock.\n'
            '    SELECT (%s) INTO covered;\n'
            '    IF (owed, due, covered) IS DISTINCT FROM %s THEN\n'
            '        RAISE EXCEPTION \'bill changed since it was priced\' USING ERRCODE = \'%s\';\n'
            '    END IF;\n'
            '    WITH "booked" AS (%s), "recorded" AS (%s ON CONFLICT ("%s") DO NOTHING RETURNING 1)\n'
            '    SELECT (SELECT "%s" FROM "booked"), EXISTS (SELECT 1 FROM "recorded")\n'
            '        INTO booked, recorded;\n'
            '    IF NOT recorded THEN\n'
            '        RAISE EXCEPTION \'NTP taken\' USING ERRCODE = \'%s\';\n'
            '    END IF;\n'
            '    RETURN booked;\n'
            'END' % (claimed, numbered(paid_principal.sql, next(first)), expected, BILL_CHANGED,
                     numbered(insert_next_pembayaran.sql, next(first)),
                     numbered(record.sql, next(first)), Payment.ntp.column_name, _SEQUENCE,
                     NTP_TAKEN))
    signature = ', '.join(types)
    digest = hashlib.sha1(('%s\n%s' % (signature, body)).encode()).hexdigest()[:12]
    name = 'iso8583d_pay_%s' % digest
    return ('CREATE FUNCTION %s(%s) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $body$\n%s\n'
            '$body$' % (name, signature, body)), name


def _positions(parts):
    """The number of the first placeholder of each part, parts in order."""
    first = 1
    for part in parts:
        yield first
        first += len(part.placeholders)
