"""Issue 15 with real daemons: the bank and pemda of the seed's walkthrough,
a teller paying the seed bill, then reversing it with amount 1, the
payment's NTB and a STAN nobody used. That reversal undid the whole payment;
it must leave the bill paid."""
import sqlite3

from test_bank_daemon import SEED_INVOICE, chain, client, client_json, only_response  # noqa: F401


def pay(chain):
    """Inquiry, then payment of the seed bill; the payment's bits."""
    code, report, err = client_json('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE)
    assert only_response(report)['data']['39'] == '00', report
    code, report, err = client_json('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE,
                                    '--payment', '--amount=19536')
    answer = only_response(report)
    assert code == 0 and answer['data']['39'] == '00', report
    return answer['data']


def reverse(chain, amount, ntb, stan):
    code, report, err = client_json('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE,
                                    '--reversal', '--amount=%d' % amount, '--ntb=' + ntb,
                                    '--stan=' + stan)
    return only_response(report)


def bill_status(tmp_path):
    """sppt.status_pembayaran_sppt of the seed bill and its payments' states, read
    from the pemda's database."""
    db = sqlite3.connect(str(tmp_path / 'pemda-data' / 'demo.db'))
    try:
        (paid,) = db.execute(
            "SELECT status_pembayaran_sppt FROM sppt WHERE kd_propinsi || kd_dati2 || "
            "kd_kecamatan || kd_kelurahan || kd_blok || no_urut || kd_jns_op || "
            "thn_pajak_sppt = ?", (SEED_INVOICE,)).fetchone()
        states = [row[0] for row in db.execute(
            'SELECT status FROM iso8583d_payment WHERE invoice_id = ?', (SEED_INVOICE,))]
        return paid, states
    finally:
        db.close()


def test_a_reversal_of_amount_1_with_a_made_up_stan_leaves_the_bill_paid(chain, tmp_path):
    payment = pay(chain)
    answer = reverse(chain, 1, payment['48'], '999999')
    # Refused at the pemda (51), or already at the bank: never a success.
    assert answer['code'] != 0 or answer['data']['39'] != '00', answer
    assert bill_status(tmp_path) == ('1', ['live'])
    code, report, err = client_json('--url=' + chain.url, '--invoice-id=' + SEED_INVOICE)
    assert only_response(report)['data']['39'] == '54'       # still paid


def test_after_a_forged_reversal_the_right_one_still_reverses_the_payment(chain, tmp_path):
    payment = pay(chain)
    reverse(chain, 1, payment['48'], '999999')
    answer = reverse(chain, 19536, payment['48'], payment['11'])
    assert (answer['code'], answer['data']['39']) == (0, '00'), answer
    assert bill_status(tmp_path) == ('0', ['reversed'])
