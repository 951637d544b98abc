"""The LinkAja face (aggregator.linkaja) over HTTP, against a fake bank link."""
import datetime
import http.client
import io
import json
import re
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

from appliance.roles.aggregator import linkaja
from appliance.roles.bank.gateway import Gateway
from appliance.roles.bank import journal
from appliance.store.db import open_database
from appliance.iso.codec import Codec
from appliance.iso.framing import get_streamer
from appliance.iso.spec import get_spec
from appliance.net.link import AnswerLost, LinkDown, RequestTimeout
from appliance.roles.aggregator.linkaja import LinkAjaTransaction

INVOICE = '3271010001007002701995'
PROFILE = (INVOICE + 'UW** *****SNA'.ljust(35) + 'JL LINCAR I'.ljust(35)
           + 'TEGAL GUNDIL'.ljust(35) + 'BOGOR UTARA'.ljust(35) + 'JAWA BARAT'.ljust(35)
           + '000000000123' + '000000000072' + '19951130' + '000000019536'
           + '000000009378' + '000000028914' + '000000009378')
NOTIFICATIONS = {'3271': 'PBB Kota Bogor', '3275': 'PBB Kota Bekasi',
                 '32710100': 'PBB Bogor Utara'}
GOLDEN_AGGREGATOR_INQUIRY = (
    b'023102006238440128E0803A186220118888888888883410190719061717061717061717071960250100'
    b'301524622011888888888888=9912?000000000000AGRATEK LINKAJA        AGRATEK-LINKAJA   '
    b'                      360003PAY0031230223271010001007002701995003214')


class FakeBank:
    """The aggregator's bank link; `mode`: 'answer' (with `code`), 'down',
    'timeout', 'lost', 'crash'."""

    def __init__(self, db, journal=None):
        self.mode, self.code = 'answer', '00'
        self.sent = []
        self.stan = 61716
        self.profile = PROFILE
        self.module = SimpleNamespace(journal=journal)

    def next_stan(self):
        self.stan += 1
        return '%06d' % self.stan

    def send(self, msg, timeout):
        self.sent.append((msg, timeout))
        if self.mode == 'down':
            raise LinkDown('link bjb is down')
        if self.mode == 'timeout':
            raise RequestTimeout('no answer from bjb within %g s' % timeout)
        if self.mode == 'lost':
            raise AnswerLost('link bjb closed before the answer came')
        if self.mode == 'crash':
            raise RuntimeError('a bug')
        answer = msg.reply(copy=sorted(msg.bits))
        answer[39] = self.code
        if msg.get(3) == '341019':
            answer[4] = '000000019536'
            answer[62] = self.profile
        elif msg.mti == '0200' and self.code == '00':
            answer[47] = '010123882462'
        return answer


class Journal(journal.Journal):
    """The real journal in the LinkAja database; .queued lists (payment,
    reason) of each reversal it queued."""

    def __init__(self, db):
        journal.create_tables(db)
        super().__init__(db, 'bjb', owner='test:node')
        self.queued = []

    def _enqueue(self, journal_id, msg, reason, now, note=''):
        self.queued.append((msg, reason))
        return super()._enqueue(journal_id, msg, reason, now, note)


@pytest.fixture
def db(tmp_path):
    database = open_database('sqlite:///%s' % (tmp_path / 'aggregator.db'))
    linkaja.create_tables(database)
    yield database
    database.close()


def send(port, method, path, body=None, headers=None):
    """One request -> namespace(status, headers, text)."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        conn.request(method, path, body, headers or {})
        reply = conn.getresponse()
        return SimpleNamespace(status=reply.status, headers=reply.headers,
                               text=reply.read().decode())
    finally:
        conn.close()


@pytest.fixture
def face(serve_web, make_route, db):
    """A served LinkAja route on /linkaja; .post(fields) -> the answer line."""
    bank = FakeBank(db, journal=Journal(db))
    route = make_route(name='linkaja', path='/linkaja', host='bjb', module=linkaja.MODULE,
                       timeout=30.0, options={'notification_message': NOTIFICATIONS})
    server = serve_web([route], {linkaja.MODULE: linkaja},
                       {'bjb': Gateway(bank, journal=bank.module.journal, name='bjb')},
                       open_database=lambda url, init=None: db)

    def post(**fields):
        reply = send(server.server_port, 'POST', '/linkaja', urlencode(fields),
                     {'Content-Type': 'application/x-www-form-urlencoded'})
        assert reply.status == 200 and reply.headers['Content-Type'].startswith('text/plain')
        return reply.text

    return SimpleNamespace(bank=bank, post=post, port=server.server_port, db=db)


def inquiry(**more):
    fields = dict(merchant='ldmjakarta1', terminal='Terminal Name', pwd='secret',
                  msisdn='628111234567', acc_no=INVOICE, trx_date='20200719061717',
                  trx_type='021')
    fields.update(more)
    return fields


def payment(bill_ref, trx_id='0719062100', amount=19536, trx_type='022', **more):
    return inquiry(trx_type=trx_type, amount=amount, bill_ref=bill_ref, trx_id=trx_id,
                   **more)


def bill_ref(face):
    return face.post(**inquiry()).split(':')[3]


def records(db):
    with db.connection_context():
        return list(LinkAjaTransaction.select().order_by(LinkAjaTransaction.id).execute(db))


# -- the seed's three answers -----------------------------------------------------

def test_an_inquiry_answers_name_amount_bill_ref_and_the_prefixs_notification(face):
    assert face.post(**inquiry()) == '00:UW** *****SNA:19536:1:PBB Bogor Utara'


def test_bill_ref_is_the_id_of_the_inquirys_record(face):
    refs = [bill_ref(face) for _ in range(3)]
    assert refs == ['1', '2', '3']
    row = records(face.db)[2]
    assert (row.trx_type, row.acc_no, row.response_code, row.amount, row.biller_name,
            row.msisdn, row.merchant, row.trx_date) == (
        '021', INVOICE, '00', 19536, 'UW** *****SNA', '628111234567', 'ldmjakarta1',
        '20200719061717')


def test_the_password_is_never_recorded(face):
    face.post(**inquiry(pwd='ldmsecretss'))
    with face.db.connection_context():
        dump = json.dumps(list(LinkAjaTransaction.select().dicts().execute(face.db)),
                          default=str)
    assert 'ldmsecretss' not in dump


def test_a_payment_sends_trx_id_as_the_ntb_and_answers_the_ntp(face):
    ref = bill_ref(face)
    assert face.post(**payment(ref)) == '00:010123882462:1:PBB Bogor Utara'
    msg, timeout = face.bank.sent[-1]
    assert (msg.mti, msg[3], msg[4], msg[48], msg[61], msg[18], timeout) == (
        '0200', '541019', '000000019536', '0719062100', INVOICE, '6025', 30.0)


def test_a_reversal_goes_as_0400_with_the_payments_ntb_and_stan(face):
    ref = bill_ref(face)
    face.post(**payment(ref))
    paid, _ = face.bank.sent[-1]
    assert face.post(**payment(ref, trx_type='023')) == '00::1:PBB Bogor Utara'
    msg, _ = face.bank.sent[-1]
    assert (msg.mti, msg[3], msg[4], msg[11], msg[48]) == (
        '0400', '541019', '000000019536', paid[11], '0719062100')
    assert records(face.db)[1].reversed_at is not None


def test_the_seed_request_bits_make_the_golden_aggregator_inquiry_frame(db):
    bank = FakeBank(db)
    route = SimpleNamespace(name='linkaja', host='bjb', timeout=30.0, options={})
    sent_at = datetime.datetime(2020, 7, 19, 6, 17, 17)
    view = linkaja.make_view(route, {'bjb': Gateway(bank, name='bjb')}, database=db,
                             clock=lambda: sent_at)
    request = SimpleNamespace(query_string='',
                              content_type='application/x-www-form-urlencoded',
                              body=io.BytesIO(urlencode(inquiry()).encode()))
    view.handle(request)
    ((msg, _),) = bank.sent
    frame = get_streamer('bjb').frame(Codec(get_spec('bjb_pbb')).encode(msg))
    assert frame == GOLDEN_AGGREGATOR_INQUIRY


# -- refusals -----------------------------------------------------------------------

def test_a_payment_must_quote_an_answered_inquiry_of_the_same_acc_no(face):
    ref = bill_ref(face)
    other = INVOICE[:-4] + '2001'
    assert face.post(**payment('99')).startswith('55::99:bill_ref 99 is not an answered')
    assert face.post(**payment(ref, acc_no=other)).startswith('55::1:')
    face.bank.code = '54'
    refused = face.post(**inquiry())
    assert refused.startswith('54:UW** *****SNA::2:')
    assert face.post(**payment('2')).startswith('55::2:')
    assert [m.mti for m, _ in face.bank.sent] == ['0200', '0200']       # inquiries only


def test_a_payment_of_another_amount_than_the_inquirys_is_answered_51_and_not_sent(face):
    ref = bill_ref(face)
    assert face.post(**payment(ref, amount=19535)) == \
        '51::1:amount 19535 is not the amount of bill_ref 1'
    assert len(face.bank.sent) == 1


def test_a_repeated_trx_id_gets_the_first_answer_without_a_second_payment(face):
    ref = bill_ref(face)
    first = face.post(**payment(ref))
    assert face.post(**payment(ref)) == first
    assert len(face.bank.sent) == 2


def test_a_reversal_of_an_unknown_trx_id_is_answered_55_and_not_sent(face):
    ref = bill_ref(face)
    face.post(**payment(ref))
    assert face.post(**payment(ref, trx_id='OTHER', trx_type='023')) == \
        '55::1:no payment of %s with trx_id OTHER' % INVOICE
    assert face.post(**payment('7', trx_type='023')).startswith('55::7:bill_ref 7 is not')
    assert face.post(**payment(ref, amount=1, trx_type='023')).startswith('51::1:')
    assert len(face.bank.sent) == 2


def test_the_banks_refusal_keeps_the_line_format_with_its_code(face):
    face.bank.code = '55'
    assert face.post(**inquiry()) == '55:UW** *****SNA::1:bill or payment not found'
    face.bank.code = '00'
    ref = bill_ref(face)
    face.bank.code = '54'
    assert face.post(**payment(ref)) == '54::2:already paid, or nothing to reverse'


@pytest.mark.parametrize('fields, line', [
    ({'acc_no': INVOICE}, '76:::trx_type is required (021, 022 or 023)'),
    (inquiry(trx_type='21'), "76:::trx_type '21' is not 021, 022 or 023"),
    (inquiry(acc_no=''), '76::::acc_no is required'),
    (inquiry(acc_no='3271'), "33::::acc_no '3271' is not 22 digits"),
    (inquiry(trx_date='2020-07-19'), "76::::trx_date '2020-07-19' is not YYYYmmddHHMMSS"),
    (inquiry(msisdn='6' * 65), '76::::msisdn is longer than 64 characters'),
    (payment('1', amount='19.536'), "76::1:amount '19.536' is not a whole number of rupiah "
                                    "up to 999999999999"),
    (payment('1', amount=''), '76::1:amount is required'),
    (payment('x'), "76:::bill_ref 'x' is not a number"),
    (payment('1', trx_id=''), '76::1:trx_id is required'),
    (payment('1', trx_id='é'), '76::1:trx_id must be 1 to 64 printable ASCII characters'),
])
def test_malformed_fields_are_answered_on_one_line_and_nothing_is_sent(face, fields, line):
    assert face.post(**fields) == line
    assert face.bank.sent == []


def test_a_colon_in_the_biller_name_cannot_shift_the_fields(face):
    face.bank.profile = PROFILE.replace('UW** *****SNA', 'PT A:B        ')
    assert face.post(**inquiry()) == '00:PT A B:19536:1:PBB Bogor Utara'


def test_a_prefix_without_a_notification_message_leaves_the_field_empty(face):
    assert face.post(**inquiry(acc_no='3676010001007002701995')).endswith(':1:')


# -- the link -------------------------------------------------------------------------

def test_the_bank_link_down_is_answered_91_at_once(face):
    face.bank.mode = 'down'
    assert face.post(**inquiry()) == '91:::1:the link to the bank is down'
    assert records(face.db)[0].state == 'link down'


@pytest.mark.parametrize('mode, reason', [
    ('timeout', 'no answer from the bank within 30 s'),
    ('lost', 'the link to the bank closed before the answer came')])
def test_a_payment_with_an_unknown_outcome_is_answered_91_and_queued_for_reversal(
        face, mode, reason):
    ref = bill_ref(face)
    face.bank.mode = mode
    assert face.post(**payment(ref)) == '91::1:%s; the payment is being reversed' % reason
    ((msg, why),) = face.bank.module.journal.queued
    assert (msg.mti, msg[48], why) == ('0200', '0719062100', mode)


def test_an_inquiry_timeout_is_answered_91_and_nothing_is_reversed(face):
    face.bank.mode = 'timeout'
    assert face.post(**inquiry()).startswith('91:::1:no answer from the bank')
    assert face.bank.module.journal.queued == []


def test_an_internal_error_is_still_a_one_line_answer(face):
    face.bank.mode = 'crash'
    assert face.post(**inquiry()) == '76::::internal error'


# -- how the fields come --------------------------------------------------------------

def test_fields_come_as_a_query_string_a_form_or_a_json_object(face):
    by_get = send(face.port, 'GET', '/linkaja?' + urlencode(inquiry())).text
    by_query = send(face.port, 'POST', '/linkaja?' + urlencode(inquiry())).text
    body = dict(inquiry(), msisdn=628111234567)
    by_json = send(face.port, 'POST', '/linkaja', json.dumps(body),
                   {'Content-Type': 'application/json'}).text
    by_multipart = send(face.port, 'POST', '/linkaja', *multipart(inquiry())).text
    for number, line in enumerate((by_get, by_query, by_json, by_multipart), 1):
        assert line == '00:UW** *****SNA:19536:%d:PBB Bogor Utara' % number


def test_the_body_wins_over_the_query_string(face):
    line = send(face.port, 'POST', '/linkaja?trx_type=023', urlencode(inquiry()),
                {'Content-Type': 'application/x-www-form-urlencoded'}).text
    assert line.startswith('00:UW** *****SNA:19536:')


def multipart(fields):
    boundary = 'XyZ'
    parts = ''.join('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                    % (boundary, k, v) for k, v in fields.items())
    body = parts + '--%s--\r\n' % boundary
    return body, {'Content-Type': 'multipart/form-data; boundary=%s' % boundary}


def test_the_notification_message_setting_keeps_spaces_and_colons():
    from appliance.settings.types import prefix_texts
    assert prefix_texts('\n3271:PBB Kota Bogor\n 3275 : PBB: Bekasi \n') == {
        '3271': 'PBB Kota Bogor', '3275': 'PBB: Bekasi'}
    for bad in ('Kota Bogor', 'x271:PBB', '3271:a\n3271:b'):
        with pytest.raises(ValueError, match=re.escape('PREFIX:TEXT') + '|given twice'):
            prefix_texts(bad)


def test_a_payment_answered_without_bit_39_is_answered_91_and_reversed(face):
    ref = bill_ref(face)
    send_ = face.bank.send

    def without_39(msg, timeout):
        answer = send_(msg, timeout)
        del answer.bits[39]
        return answer
    face.bank.send = without_39
    assert face.post(**payment(ref)) == \
        '91::1:the answer could not be taken; the payment is being reversed'
    ((msg, why),) = face.bank.module.journal.queued
    assert (msg.mti, msg[48], why) == ('0200', '0719062100', 'malformed')


def test_an_answer_to_a_payment_another_node_took_over_meanwhile_is_answered_91(face):
    ref = bill_ref(face)
    send_ = face.bank.send
    journal = face.bank.module.journal

    def taken_over_meanwhile(msg, timeout):      # this node looked dead to another
        row = records(face.db)[-1]
        assert journal.take_over_row('linkaja_linkaja', row.id, 'cut', msg, same_db=True)
        return send_(msg, timeout)
    face.bank.send = taken_over_meanwhile
    assert face.post(**payment(ref)) == \
        '91::1:the answer could not be taken; the payment is being reversed'
    ((msg, why),) = journal.queued                   # the other node's reversal only
    assert (msg.mti, msg[48], why) == ('0200', '0719062100', 'cut')
    assert records(face.db)[-1].state == 'cut'
