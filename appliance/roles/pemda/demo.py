"""Demo SISMIOP data: the seed README's bill plus thousands of deterministic
bills for Kota Bogor (3271) and Kota Bekasi (3275), for trials and stress tests."""

import random
from datetime import date, datetime, timedelta

from peewee import chunked

from appliance.roles.pemda.tables import (
    BILL_KEY, PAID, RECORD_MODELS, SISMIOP_MODELS, UNPAID, PembayaranSppt, RefDati2,
    RefKecamatan, RefKelurahan, RefPropinsi, Sppt)
from appliance.store.schema import create

SEED_INVOICE = '3271010001007002701995'
RANDOM_SEED = 8583
BATCH = 200

PROVINCE = ('32', 'JAWA BARAT')
REGENCIES = {'71': 'KOTA BOGOR', '75': 'KOTA BEKASI'}
# district code -> (name, villages); 3271 010 001 is the seed's.
DISTRICTS = {
    '71': {
        '010': ('BOGOR UTARA', ('TEGAL GUNDIL', 'BANTARJATI', 'TANAH BARU', 'CIMAHPAR')),
        '020': ('BOGOR TIMUR', ('BARANANGSIANG', 'SINDANGSARI', 'KATULAMPA')),
        '030': ('BOGOR SELATAN', ('BATUTULIS', 'LAWANGGINTUNG', 'EMPANG')),
        '040': ('BOGOR TENGAH', ('PALEDANG', 'GUDANG', 'SEMPUR')),
        '050': ('BOGOR BARAT', ('MENTENG', 'CILENDEK BARAT', 'SINDANGBARANG')),
        '060': ('TANAH SAREAL', ('KEBON PEDES', 'KEDUNG BADAK', 'SUKARESMI')),
    },
    '75': {
        '010': ('BEKASI TIMUR', ('MARGAHAYU', 'BEKASI JAYA', 'DUREN JAYA')),
        '020': ('BEKASI BARAT', ('BINTARA', 'KRANJI', 'KOTA BARU')),
        '030': ('BEKASI UTARA', ('HARAPAN JAYA', 'KALIABANG TENGAH', 'TELUK PUCUNG')),
        '040': ('BEKASI SELATAN', ('PEKAYON JAYA', 'JAKASETIA', 'MARGAJAYA')),
    },
}

SEED_BILL = dict(
    kd_propinsi='32', kd_dati2='71', kd_kecamatan='010', kd_kelurahan='001',
    kd_blok='007', no_urut='0027', kd_jns_op='0', thn_pajak_sppt='1995',
    nm_wp_sppt='UW** *****SNA', jln_wp_sppt='JL LINCAR I', luas_bumi_sppt=123,
    luas_bng_sppt=72, tgl_jatuh_tempo_sppt=date(1995, 11, 30),
    pbb_yg_harus_dibayar_sppt=19536, status_pembayaran_sppt=UNPAID)

_NAMES = ('ASEP', 'BUDI', 'CUCU', 'DEDE', 'EUIS', 'HENDRA', 'IWAN', 'NENG',
          'SITI', 'UJANG', 'YAYAT', 'RINA', 'AGUS', 'DEWI', 'TATANG', 'LILIS')
_SURNAMES = ('SUPRIATNA', 'HIDAYAT', 'KURNIAWAN', 'RAHAYU', 'SETIAWAN',
             'NURHAYATI', 'SAEPUDIN', 'MULYANA', 'PERMANA', 'SUHENDAR')
_STREETS = ('JL PAJAJARAN', 'JL SUDIRMAN', 'JL AHMAD YANI', 'JL SILIWANGI',
            'JL PEMUDA', 'JL JUANDA', 'JL CIDENG', 'JL LINCAR I', 'JL RAYA')

# Bill kinds by share of ten: unpaid after 2013 (penalty, no waiver) dominate.
_KINDS = ('recent', 'recent', 'recent', 'recent', 'old', 'old', 'paid', 'paid',
          'not_due', 'zero')
NOT_DUE_YEARS = (2040, 2045)


def create_tables(db):
    """The SISMIOP subset and the biller's records, where missing."""
    create(db, SISMIOP_MODELS + RECORD_MODELS)


def load_demo(db, bills=10000):
    """Insert the seed bill and `bills` more, with their place names, in one
    transaction; rows already there are left as they are."""
    bills_rows, payment_rows = _generate(bills)
    with db.connection_context(), db.write_transaction():
        _insert(db, RefPropinsi, [dict(kd_propinsi=PROVINCE[0], nm_propinsi=PROVINCE[1])])
        _insert(db, RefDati2, _regency_rows())
        _insert(db, RefKecamatan, _district_rows())
        _insert(db, RefKelurahan, _village_rows())
        _insert(db, Sppt, [SEED_BILL] + bills_rows)
        _insert(db, PembayaranSppt, payment_rows)


def invoice_ids(db, unpaid=True, prefix=None, limit=None):
    """Invoice ids in key order: unpaid=True those with something to pay,
    False the paid ones, None all. prefix: '32' or '3271'-style digits."""
    query = Sppt.select(*[getattr(Sppt, c) for c in BILL_KEY]).order_by(
        *[getattr(Sppt, c) for c in BILL_KEY])
    if unpaid is True:
        query = query.where((Sppt.status_pembayaran_sppt != PAID)
                            & (Sppt.pbb_yg_harus_dibayar_sppt > 0))
    elif unpaid is False:
        query = query.where(Sppt.status_pembayaran_sppt == PAID)
    if prefix:
        query = query.where(_prefix_matches(prefix))
    if limit is not None:
        query = query.limit(limit)
    with db.connection_context():
        return [''.join(row) for row in query.tuples().execute(db)]



def _prefix_matches(prefix):
    if len(prefix) not in (2, 4) or not prefix.isdigit():
        raise ValueError('invoice prefix %r is not 2 or 4 digits' % prefix)
    condition = Sppt.kd_propinsi == prefix[:2]
    if len(prefix) == 4:
        condition &= Sppt.kd_dati2 == prefix[2:]
    return condition


def _insert(db, model, rows):
    for batch in chunked(rows, BATCH):
        model.insert_many(batch).on_conflict_ignore().execute(db)


def _regency_rows():
    return [dict(kd_propinsi=PROVINCE[0], kd_dati2=code, nm_dati2=name)
            for code, name in REGENCIES.items()]


def _district_rows():
    return [dict(kd_propinsi=PROVINCE[0], kd_dati2=regency, kd_kecamatan=code,
                 nm_kecamatan=name)
            for regency, districts in DISTRICTS.items()
            for code, (name, _) in districts.items()]


def _village_rows():
    return [dict(kd_propinsi=PROVINCE[0], kd_dati2=regency, kd_kecamatan=code,
                 kd_kelurahan='%03d' % number, nm_kelurahan=village)
            for regency, districts in DISTRICTS.items()
            for code, (_, villages) in districts.items()
            for number, village in enumerate(villages, 1)]


def _generate(count):
    """(sppt rows, pembayaran_sppt rows); the same for the same count."""
    rng = random.Random(RANDOM_SEED)
    bills, payments = [], []
    for index in range(count):
        bill = _bill(rng, index)
        bills.append(bill)
        if bill['status_pembayaran_sppt'] == PAID:
            payments.append(_payment_of(bill))
    return bills, payments


def _bill(rng, index):
    regency = '71' if index % 2 == 0 else '75'
    district = rng.choice(sorted(DISTRICTS[regency]))
    village = rng.randrange(len(DISTRICTS[regency][district][1])) + 1
    # Blocks from 100 up keep clear of the seed's block 007; the index makes
    # every generated NOP distinct.
    serial = index // 2
    kind = _KINDS[rng.randrange(len(_KINDS))]
    year = _tax_year(rng, kind)
    return dict(
        kd_propinsi=PROVINCE[0], kd_dati2=regency, kd_kecamatan=district,
        kd_kelurahan='%03d' % village, kd_blok='%03d' % (100 + serial // 9999),
        no_urut='%04d' % (1 + serial % 9999), kd_jns_op='0',
        thn_pajak_sppt=str(year),
        nm_wp_sppt='%s %s' % (rng.choice(_NAMES), rng.choice(_SURNAMES)),
        jln_wp_sppt='%s NO %d' % (rng.choice(_STREETS), rng.randrange(1, 200)),
        luas_bumi_sppt=rng.randrange(60, 2000), luas_bng_sppt=rng.choice((0, rng.randrange(21, 600))),
        tgl_jatuh_tempo_sppt=date(year, 8, 31),
        pbb_yg_harus_dibayar_sppt=0 if kind == 'zero' else rng.randrange(10, 5000) * 1000 + rng.randrange(1000),
        status_pembayaran_sppt=PAID if kind == 'paid' else UNPAID)


def _tax_year(rng, kind):
    if kind == 'old':
        return rng.randrange(2000, 2013)
    if kind == 'not_due':
        return rng.randrange(*NOT_DUE_YEARS)
    return rng.randrange(2013, 2025)


def _payment_of(bill):
    """A full, on-time payment of a paid demo bill."""
    paid_on = bill['tgl_jatuh_tempo_sppt'] - timedelta(days=10)
    return dict(
        {column: bill[column] for column in BILL_KEY},
        pembayaran_sppt_ke=1, kd_kanwil='01', kd_kantor='01', kd_tp='20',
        denda_sppt=0, jml_sppt_yg_dibayar=bill['pbb_yg_harus_dibayar_sppt'],
        tgl_pembayaran_sppt=paid_on,
        tgl_rekam_byr_sppt=datetime.combine(paid_on, datetime.min.time()),
        nip_rekam_byr_sppt='999999999')
