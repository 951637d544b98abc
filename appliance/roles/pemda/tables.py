"""Peewee models: the SISMIOP subset the PBB biller reads and writes, under
their real table and column names so the daemon can work on a pemda's existing
database, and the daemon's own inquiry, payment and reversal records.

The models are bound to no database. Every query names its database
(`query.execute(db)`, `.first(db)`, `create(db, models)`), so one process can
use several databases with the same models.
"""

from functools import reduce
from operator import and_

from peewee import (AutoField, BigIntegerField, CharField, CompositeKey,
                    DateField, DateTimeField, FixedCharField, ForeignKeyField,
                    IntegerField, Model, TextField)

# The NOP: province, regency, district, village, block, number, object kind.
NOP_COLUMNS = ('kd_propinsi', 'kd_dati2', 'kd_kecamatan', 'kd_kelurahan',
               'kd_blok', 'no_urut', 'kd_jns_op')
BILL_KEY = NOP_COLUMNS + ('thn_pajak_sppt',)

PAID = '1'
UNPAID = '0'
LIVE = 'live'
REVERSED = 'reversed'


def key_matches(model, values):
    """WHERE expression: each column named in `values` equals its value."""
    return reduce(and_, [getattr(model, column) == value
                         for column, value in values.items()])


# SISMIOP ----------------------------------------------------------------


class RefPropinsi(Model):
    kd_propinsi = FixedCharField(2, primary_key=True)
    nm_propinsi = CharField(30)

    class Meta:
        table_name = 'ref_propinsi'


class RefDati2(Model):
    kd_propinsi = FixedCharField(2)
    kd_dati2 = FixedCharField(2)
    nm_dati2 = CharField(30)

    class Meta:
        table_name = 'ref_dati2'
        primary_key = CompositeKey('kd_propinsi', 'kd_dati2')


class RefKecamatan(Model):
    kd_propinsi = FixedCharField(2)
    kd_dati2 = FixedCharField(2)
    kd_kecamatan = FixedCharField(3)
    nm_kecamatan = CharField(30)

    class Meta:
        table_name = 'ref_kecamatan'
        primary_key = CompositeKey('kd_propinsi', 'kd_dati2', 'kd_kecamatan')


class RefKelurahan(Model):
    kd_propinsi = FixedCharField(2)
    kd_dati2 = FixedCharField(2)
    kd_kecamatan = FixedCharField(3)
    kd_kelurahan = FixedCharField(3)
    nm_kelurahan = CharField(30)

    class Meta:
        table_name = 'ref_kelurahan'
        primary_key = CompositeKey('kd_propinsi', 'kd_dati2', 'kd_kecamatan',
                                   'kd_kelurahan')


class Sppt(Model):
    """One tax bill: a NOP in a tax year."""
    kd_propinsi = FixedCharField(2)
    kd_dati2 = FixedCharField(2)
    kd_kecamatan = FixedCharField(3)
    kd_kelurahan = FixedCharField(3)
    kd_blok = FixedCharField(3)
    no_urut = FixedCharField(4)
    kd_jns_op = FixedCharField(1)
    thn_pajak_sppt = FixedCharField(4)
    nm_wp_sppt = CharField(30, null=True)
    jln_wp_sppt = CharField(30, null=True)
    luas_bumi_sppt = BigIntegerField(default=0)
    luas_bng_sppt = BigIntegerField(default=0)
    tgl_jatuh_tempo_sppt = DateField(null=True)
    pbb_yg_harus_dibayar_sppt = BigIntegerField(default=0)
    status_pembayaran_sppt = FixedCharField(1, default=UNPAID)

    class Meta:
        table_name = 'sppt'
        primary_key = CompositeKey(*BILL_KEY)


class PembayaranSppt(Model):
    """One payment of a bill; a reversal zeroes its amounts, never deletes it."""
    kd_propinsi = FixedCharField(2)
    kd_dati2 = FixedCharField(2)
    kd_kecamatan = FixedCharField(3)
    kd_kelurahan = FixedCharField(3)
    kd_blok = FixedCharField(3)
    no_urut = FixedCharField(4)
    kd_jns_op = FixedCharField(1)
    thn_pajak_sppt = FixedCharField(4)
    pembayaran_sppt_ke = IntegerField()
    kd_kanwil = FixedCharField(2)
    kd_kantor = FixedCharField(2)
    kd_tp = FixedCharField(2)
    denda_sppt = BigIntegerField(default=0)
    jml_sppt_yg_dibayar = BigIntegerField(default=0)
    tgl_pembayaran_sppt = DateField()
    tgl_rekam_byr_sppt = DateTimeField()
    nip_rekam_byr_sppt = CharField(18)

    class Meta:
        table_name = 'pembayaran_sppt'
        primary_key = CompositeKey(*BILL_KEY, 'pembayaran_sppt_ke')


SISMIOP_MODELS = (RefPropinsi, RefDati2, RefKecamatan, RefKelurahan, Sppt,
                  PembayaranSppt)


# The daemon's own records -----------------------------------------------


class Inquiry(Model):
    id = AutoField()
    invoice_id = CharField(22, index=True)
    stan = CharField(6, default='')
    channel = CharField(4, default='')
    amount = BigIntegerField()
    created_at = DateTimeField()

    class Meta:
        table_name = 'iso8583d_inquiry'


class Payment(Model):
    """What we booked for the bank. The unique (invoice, NTB, STAN) makes the
    database itself refuse a retransmission booked twice."""
    id = AutoField()
    invoice_id = CharField(22)
    pembayaran_sppt_ke = IntegerField()
    ntp = CharField(16, unique=True)
    ntb = CharField(64, default='')
    stan = CharField(6, default='')
    channel = CharField(4, default='')
    bank = CharField(11, default='')
    kd_tp = CharField(2)
    amount = BigIntegerField()
    profile = TextField()
    request = TextField()
    status = CharField(8, default=LIVE)
    created_at = DateTimeField()
    reversed_at = DateTimeField(null=True)

    class Meta:
        table_name = 'iso8583d_payment'
        indexes = ((('invoice_id', 'ntb', 'stan'), True),)


class Reversal(Model):
    """The undoing of one payment; unique, so a repeated reversal is not recorded twice."""
    id = AutoField()
    payment = ForeignKeyField(Payment, unique=True, column_name='payment_id')
    stan = CharField(6, default='')
    mti = CharField(4)
    request = TextField()
    created_at = DateTimeField()

    class Meta:
        table_name = 'iso8583d_reversal'


class Resend(Model):
    """A payment sent again (a forwarder resends under a new STAN) and
    answered with its NTP once more. The newest STAN that heard 00 is the
    attempt the bank stands by: a reversal of an earlier one is refused."""
    id = AutoField()
    payment = ForeignKeyField(Payment, column_name='payment_id', index=True)
    stan = CharField(6, default='')
    created_at = DateTimeField()

    class Meta:
        table_name = 'iso8583d_payment_resend'


RECORD_MODELS = (Inquiry, Payment, Reversal, Resend)
