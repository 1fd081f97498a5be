# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The Client against a scripted fake Daraja on the loopback interface."""
import base64
import datetime as dt
import logging
import time
from decimal import Decimal

import pytest

from trytond.modules.account_mpesa.daraja import (
    DuplicateRequest, InvalidPhoneNumber, InvalidRequest, MemoryTokenStore,
    OutcomeUnknown, ParseError, Pending, Throttled, TokenError, Unavailable,
    stk_password)

from .conftest import (
    CONSUMER_KEY, CONSUMER_SECRET, OAUTH_PATH, Reply, load, make_client)

PUSH = '/mpesa/stkpush/v1/processrequest'
QUERY = '/mpesa/stkpushquery/v1/query'
B2C = '/mpesa/b2c/v3/paymentrequest'
STATUS = '/mpesa/transactionstatus/v1/query'
REVERSAL = '/mpesa/reversal/v1/request'
BALANCE = '/mpesa/accountbalance/v1/query'
PULL = '/pulltransactions/v1/query'

PASSKEY = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919'
CREDENTIAL = 'Q3JlZGVudGlhbC1zZWNyZXQtYmFzZTY0LXZhbHVl=='
PHONE = '0712345678'
MSISDN = '254712345678'
URL = 'https://erp.example.com/cb/abc'
ACCEPTED = load('b2c_response')


def push(client, **options):
    "Send an STK Push with test values, overridden by ``options``."
    values = dict(
        business_shortcode='174379', passkey=PASSKEY, amount=Decimal('10'),
        phone=PHONE, callback_url=URL, account_reference='SO-0042',
        description='Sale SO-0042')
    values.update(options)
    return client.stk_push(**values)


def query(client):
    return client.stk_query(
        business_shortcode='174379', passkey=PASSKEY,
        checkout_request_id='ws_CO_13012021093521236557')


def b2c(client, **options):
    values = dict(
        originator_conversation_id='pay-1', initiator_name='testapi',
        security_credential=CREDENTIAL, amount=100, party_a='600992',
        phone=PHONE, remarks='Refund SO-0042', queue_timeout_url=URL,
        result_url=URL)
    values.update(options)
    return client.b2c(**values)


def reversal(client):
    return client.reversal(
        initiator_name='testapi', security_credential=CREDENTIAL,
        transaction_id='PDU91HIVIT', amount=200, receiver_party='603021',
        result_url=URL, queue_timeout_url=URL, remarks='Payment reversal')


def status(client):
    return client.transaction_status(
        initiator_name='testapi', security_credential=CREDENTIAL,
        originator_conversation_id='pay-1', party_a='600992',
        result_url=URL, queue_timeout_url=URL, remarks='Check pay-1')


def balance(client):
    return client.account_balance(
        initiator_name='testapi', security_credential=CREDENTIAL,
        party_a='600992', result_url=URL, queue_timeout_url=URL,
        remarks='Balance')


def seeded(url, **options):
    "A client whose token store already holds a token (no OAuth needed)."
    store = MemoryTokenStore()
    store.renew(lambda: ('seeded-token', 3599))
    return make_client(url, token_store=store, **options)


def sent_payload(fake_daraja, client, path, send, answer=ACCEPTED):
    "Send a request answered with ``answer``; return the JSON it sent."
    fake_daraja.reply(path, answer)
    send(client)
    return fake_daraja.hits(path)[0].json


def envelope(code, message):
    return {'requestId': '1c5b-4ba8', 'errorCode': code,
        'errorMessage': message}


# Tokens

def test_token_is_fetched_once_and_cached(fake_daraja, client):
    fake_daraja.reply(QUERY, load('stk_query_success'), load(
            'stk_query_success'))
    assert query(client).succeeded
    assert query(client).succeeded
    (oauth,) = fake_daraja.hits(OAUTH_PATH)
    assert oauth.method == 'GET'
    assert oauth.args == {'grant_type': 'client_credentials'}
    basic = base64.b64encode(f'{CONSUMER_KEY}:{CONSUMER_SECRET}'.encode())
    assert oauth.headers['Authorization'] == f'Basic {basic.decode()}'
    assert [r.headers['Authorization'] for r in fake_daraja.hits(QUERY)] == [
        'Bearer token-1', 'Bearer token-1']


def test_token_from_reference_sample(fake_daraja, client):
    fake_daraja.reply(OAUTH_PATH, load('oauth'))
    assert client.token() == 'c9SQxWWhmdVRlyh0zh8gZDTkubVF'
    assert client.token() == 'c9SQxWWhmdVRlyh0zh8gZDTkubVF'
    assert len(fake_daraja.hits(OAUTH_PATH)) == 1


@pytest.mark.parametrize('expires_in', ['3599', 3599, 3599.0])
def test_token_expiry_as_text_or_number(fake_daraja, client, expires_in):
    fake_daraja.reply(
        OAUTH_PATH, {'access_token': 'abc', 'expires_in': expires_in})
    assert client.token() == 'abc'
    assert client.token_store.get() == 'abc'


def test_token_with_short_life_is_fetched_again(fake_daraja, client):
    fake_daraja.reply(OAUTH_PATH, {'access_token': 'abc', 'expires_in': '0'})
    assert client.token() == 'abc'
    assert client.token() == 'token-1'


@pytest.mark.parametrize('refusal', [
        Reply(404, envelope('404.001.03', 'Invalid Access Token')),
        Reply(401, envelope('401.002.01',
                'Error Occurred - Invalid Access Token - token-1')),
        Reply(400, envelope('400.003.01', 'Invalid Access Token')),
        Reply(401, b''),
        ])
def test_token_refused_is_renewed_once(fake_daraja, client, refusal):
    fake_daraja.reply(PUSH, refusal, load('stk_push_response'))
    response = push(client)
    assert response.checkout_request_id == 'ws_CO_1007202409152617172396192'
    assert len(fake_daraja.hits(OAUTH_PATH)) == 2
    assert [r.headers['Authorization'] for r in fake_daraja.hits(PUSH)] == [
        'Bearer token-1', 'Bearer token-2']
    assert client.token_store.get() == 'token-2'


def test_token_refused_twice(fake_daraja, client):
    refusal = Reply(401, envelope(
            '401.002.01', 'Error Occurred - Invalid Access Token - token-2'))
    fake_daraja.reply(B2C, refusal, refusal)
    with pytest.raises(TokenError) as info:
        b2c(client)
    assert info.value.code == '401.002.01'
    assert info.value.http_status == 401
    assert 'token-2' not in str(info.value)
    assert len(fake_daraja.hits(B2C)) == 2
    assert len(fake_daraja.hits(OAUTH_PATH)) == 2


def test_oauth_refused(fake_daraja, client):
    fake_daraja.reply(OAUTH_PATH, Reply(400, envelope(
                '400.008.01', 'Invalid Authentication passed')))
    with pytest.raises(TokenError) as info:
        query(client)
    assert 'Invalid Authentication passed' in info.value.message
    assert info.value.code == '400.008.01'
    assert CONSUMER_SECRET not in str(info.value)
    assert fake_daraja.hits(QUERY) == []


def test_oauth_without_token(fake_daraja, client):
    fake_daraja.reply(OAUTH_PATH, {'expires_in': '3599'})
    with pytest.raises(TokenError, match='access_token'):
        client.token()


# STK Push and Query

def test_stk_push_payload(fake_daraja, client):
    fake_daraja.reply(PUSH, load('stk_push_response'))
    before = dt.datetime.now(dt.timezone.utc)
    response = push(client)
    assert response.response_code == '0'
    (request,) = fake_daraja.hits(PUSH)
    sent = request.json
    assert request.headers['Content-Type'] == 'application/json'
    timestamp = sent.pop('Timestamp')
    assert sent.pop('Password') == stk_password('174379', PASSKEY, timestamp)
    eat = dt.datetime.strptime(timestamp, '%Y%m%d%H%M%S')
    assert abs(eat - (before + dt.timedelta(hours=3)).replace(tzinfo=None)) \
        < dt.timedelta(minutes=1)
    assert sent == {
        'BusinessShortCode': '174379',
        'TransactionType': 'CustomerPayBillOnline',
        'Amount': 10,
        'PartyA': MSISDN,
        'PartyB': '174379',
        'PhoneNumber': MSISDN,
        'CallBackURL': URL,
        'AccountReference': 'SO-0042',
        'TransactionDesc': 'Sale SO-0042',
        }


def test_stk_push_till(fake_daraja, client):
    fake_daraja.reply(PUSH, load('stk_push_response'))
    push(client, business_shortcode='300100', party_b='5123456',
        transaction_type='CustomerBuyGoodsOnline')
    sent = fake_daraja.hits(PUSH)[0].json
    assert sent['BusinessShortCode'] == '300100'
    assert sent['PartyB'] == '5123456'
    assert sent['TransactionType'] == 'CustomerBuyGoodsOnline'


@pytest.mark.parametrize('options, error, field', [
        ({'amount': Decimal('10.5')}, InvalidRequest, 'Amount'),
        ({'amount': 0}, InvalidRequest, 'Amount'),
        ({'phone': '255712345678'}, InvalidPhoneNumber, 'phone number'),
        ({'account_reference': 'SO-0042-2024-X'}, InvalidRequest,
            'AccountReference'),
        ({'description': 'Payment for sale'}, InvalidRequest,
            'TransactionDesc'),
        ({'callback_url': URL + ' '}, InvalidRequest, 'CallBackURL'),
        ({'transaction_type': 'Pay'}, InvalidRequest, 'TransactionType'),
        ({'business_shortcode': 'abc'}, InvalidRequest, 'BusinessShortCode'),
        ({'passkey': ''}, InvalidRequest, 'passkey'),
        ])
def test_stk_push_checked_before_sending(
        fake_daraja, client, options, error, field):
    with pytest.raises(error) as info:
        push(client, **options)
    assert field in info.value.message
    assert fake_daraja.received == []


def test_stk_push_non_zero_response_code(fake_daraja, client):
    answer = dict(load('stk_push_response'), ResponseCode='1',
        ResponseDescription='Rejected')
    fake_daraja.reply(PUSH, answer)
    with pytest.raises(InvalidRequest) as info:
        push(client)
    assert info.value.code == '1'
    assert info.value.message == 'Rejected'


def test_stk_query(fake_daraja, client):
    fake_daraja.reply(QUERY, load('stk_query_success'))
    result = query(client)
    assert result.succeeded
    sent = fake_daraja.hits(QUERY)[0].json
    assert sent['CheckoutRequestID'] == 'ws_CO_13012021093521236557'
    assert sent['Password'] == stk_password(
        '174379', PASSKEY, sent['Timestamp'])


def test_stk_query_pending_envelope(fake_daraja, client):
    "HTTP 500 with 500.001.1001 'being processed' is Pending, not retried."
    fake_daraja.reply(QUERY, Reply(500, load('stk_query_pending')))
    with pytest.raises(Pending) as info:
        query(client)
    assert info.value.code == '500.001.1001'
    assert info.value.http_status == 500
    assert len(fake_daraja.hits(QUERY)) == 1


def test_stk_query_pending_is_not_a_warning(fake_daraja, client, caplog):
    """A prompt being processed is a normal state, asked about on every
    reconciliation run: logged at DEBUG; a 500 of the same query warns."""
    fake_daraja.reply(
        QUERY, Reply(500, load('stk_query_pending')),
        *[Reply(500, envelope('500.003.1001', 'Internal Server Error'))] * 3)
    logger = 'trytond.modules.account_mpesa.daraja'
    with caplog.at_level(logging.DEBUG, logger=logger):
        with pytest.raises(Pending):
            query(client)
    pending = [r for r in caplog.records if '500.001.1001' in r.getMessage()]
    assert [r.levelno for r in pending] == [logging.DEBUG]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=logger):
        with pytest.raises(Unavailable):
            query(client)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all('500.003.1001' in r.getMessage() for r in warnings)


def test_stk_query_pending_4999(fake_daraja, client):
    fake_daraja.reply(QUERY, dict(
            load('stk_query_success'), ResultCode='4999',
            ResultDesc='The transaction is still under processing'))
    with pytest.raises(Pending) as info:
        query(client)
    assert info.value.code == '4999'


def test_stk_query_unreadable_answer(fake_daraja, client):
    fake_daraja.reply(QUERY, Reply(200, b'<html>ok</html>'))
    with pytest.raises(ParseError):
        query(client)


# Errors

def test_invalid_request_carries_daraja_message(fake_daraja, client):
    fake_daraja.reply(PUSH, Reply(400, load('error_invalid_shortcode')))
    with pytest.raises(InvalidRequest) as info:
        push(client)
    assert info.value.message == 'Bad Request - Invalid BusinessShortCode'
    assert info.value.code == '400.002.02'
    assert info.value.http_status == 400
    assert len(fake_daraja.hits(PUSH)) == 1


@pytest.mark.parametrize('message, error', [
        ('Wrong credentials', InvalidRequest),
        ('Merchant does not exist', InvalidRequest),
        ('Unable to lock subscriber, a transaction is already in process for '
            'the current subscriber', Throttled),
        ])
def test_stk_push_500_001_1001(fake_daraja, client, message, error):
    "Definite answers to a push: never OutcomeUnknown, never resent."
    fake_daraja.reply(PUSH, Reply(500, envelope('500.001.1001', message)))
    with pytest.raises(error) as info:
        push(client)
    assert type(info.value) is error
    assert info.value.message == message
    assert len(fake_daraja.hits(PUSH)) == 1


@pytest.mark.parametrize('reply', [
        Reply(500, envelope('500.003.02', 'Spike Arrest Violation')),
        Reply(500, envelope('500.003.03', 'Quota Violation')),
        Reply(429, b'Too Many Requests'),
        ])
def test_throttled(fake_daraja, client, reply):
    fake_daraja.reply(BALANCE, reply)
    with pytest.raises(Throttled):
        balance(client)
    assert len(fake_daraja.hits(BALANCE)) == 1


def test_unavailable_after_bounded_retries(fake_daraja, client):
    fake_daraja.reply(BALANCE, *[Reply(503, b'down')] * 3)
    with pytest.raises(Unavailable) as info:
        balance(client)
    assert info.value.http_status == 503
    assert len(fake_daraja.hits(BALANCE)) == 3


def test_unavailable_then_answer(fake_daraja, client):
    fake_daraja.reply(
        BALANCE, Reply(500, envelope('500.003.1001', 'Internal Server Error')),
        ACCEPTED)
    assert balance(client).conversation_id == ACCEPTED['ConversationID']
    assert len(fake_daraja.hits(BALANCE)) == 2


def test_money_5xx_with_envelope_is_definite(fake_daraja, client):
    "A Daraja error envelope says the push was not done: Unavailable."
    fake_daraja.reply(PUSH, Reply(
            500, envelope('500.003.1001', 'Internal Server Error')))
    with pytest.raises(Unavailable) as info:
        push(client)
    assert info.value.code == '500.003.1001'
    assert len(fake_daraja.hits(PUSH)) == 1


def test_money_5xx_without_envelope_is_unknown(fake_daraja, client):
    "A gateway error page does not say whether the payout was made."
    fake_daraja.reply(B2C, Reply(504, b'<html>Gateway Timeout</html>'))
    with pytest.raises(OutcomeUnknown) as info:
        b2c(client)
    assert info.value.http_status == 504
    assert len(fake_daraja.hits(B2C)) == 1


def test_money_unreadable_answer_is_unknown(fake_daraja, client):
    fake_daraja.reply(PUSH, {'ResponseCode': '0'})
    with pytest.raises(OutcomeUnknown):
        push(client)
    assert len(fake_daraja.hits(PUSH)) == 1


def test_connection_refused_is_unavailable(refused_url):
    "Nothing was sent: even a push is safely Unavailable."
    with pytest.raises(Unavailable, match='nothing was sent'):
        query(make_client(refused_url))
    with pytest.raises(Unavailable, match='nothing was sent'):
        push(seeded(refused_url))


@pytest.mark.parametrize('send, path', [
        (push, PUSH), (b2c, B2C), (reversal, REVERSAL)])
def test_read_timeout_is_outcome_unknown(fake_daraja, send, path):
    "A money-moving request without answer is never resent."
    client = make_client(fake_daraja.url, timeout=(1, 0.3))
    answer = load('stk_push_response') if path == PUSH else ACCEPTED
    fake_daraja.reply(path, Reply(body=answer, delay=1), answer, answer)
    with pytest.raises(OutcomeUnknown) as info:
        send(client)
    assert 'do not send it again' in info.value.message
    assert info.value.http_status is None
    assert len(fake_daraja.hits(path)) == 1


def test_read_timeout_of_query_is_retried(fake_daraja):
    "Requests that move no money are retried, then Unavailable."
    client = make_client(fake_daraja.url, timeout=(1, 0.2))
    fake_daraja.reply(STATUS, *[Reply(body=ACCEPTED, delay=0.5)] * 3)
    with pytest.raises(Unavailable, match='timed out'):
        status(client)
    assert len(fake_daraja.hits(STATUS)) == 3


def test_dropped_connection_is_outcome_unknown(dropping_url):
    url, received = dropping_url
    with pytest.raises(OutcomeUnknown):
        b2c(seeded(url))
    time.sleep(0.1)
    assert received == [b'POST /mpesa/b2c/v3/paymentrequest HTTP/1.1']


def test_duplicate_originator_conversation_id(fake_daraja, client):
    fake_daraja.reply(B2C, Reply(500, envelope(
                '500.002.1001', 'Duplicate OriginatorConversationID.')))
    with pytest.raises(DuplicateRequest) as info:
        b2c(client)
    assert isinstance(info.value, InvalidRequest)
    assert len(fake_daraja.hits(B2C)) == 1


# Initiator APIs, C2B and Pull

def test_b2c_payload(fake_daraja, client):
    sent = sent_payload(
        fake_daraja, client, B2C, lambda c: b2c(c, occasion='Refund'))
    assert sent == {
        'OriginatorConversationID': 'pay-1',
        'InitiatorName': 'testapi',
        'SecurityCredential': CREDENTIAL,
        'CommandID': 'BusinessPayment',
        'Amount': 100,
        'PartyA': '600992',
        'PartyB': MSISDN,
        'Remarks': 'Refund SO-0042',
        'QueueTimeOutURL': URL,
        'ResultURL': URL,
        'Occassion': 'Refund',
        }


def test_b2c_not_accepted(fake_daraja, client):
    fake_daraja.reply(B2C, dict(ACCEPTED, ResponseCode='2001',
            ResponseDescription=''))
    with pytest.raises(InvalidRequest) as info:
        b2c(client)
    assert info.value.code == '2001'
    assert 'initiator' in info.value.message


def test_reversal_payload(fake_daraja, client):
    sent = sent_payload(fake_daraja, client, REVERSAL, reversal)
    assert sent['CommandID'] == 'TransactionReversal'
    assert sent['RecieverIdentifierType'] == '11'
    assert sent['ReceiverParty'] == '603021'
    assert sent['Initiator'] == 'testapi'
    assert sent['Amount'] == 200
    assert 'Occasion' not in sent


def test_transaction_status_payload(fake_daraja, client):
    sent = sent_payload(fake_daraja, client, STATUS, status)
    assert sent['CommandID'] == 'TransactionStatusQuery'
    assert sent['OriginalConversationID'] == 'pay-1'
    assert sent['IdentifierType'] == '4'
    assert 'TransactionID' not in sent
    with pytest.raises(InvalidRequest, match='TransactionID'):
        client.transaction_status(
            initiator_name='testapi', security_credential=CREDENTIAL,
            party_a='600992', result_url=URL, queue_timeout_url=URL,
            remarks='Check')


def test_account_balance_payload(fake_daraja, client):
    sent = sent_payload(fake_daraja, client, BALANCE, balance)
    assert sent == {
        'Initiator': 'testapi', 'SecurityCredential': CREDENTIAL,
        'CommandID': 'AccountBalance', 'PartyA': '600992',
        'IdentifierType': '4', 'Remarks': 'Balance',
        'QueueTimeOutURL': URL, 'ResultURL': URL}


def test_account_balance_answer(fake_daraja, client):
    "The ids of the request, which its result and time-out carry"
    fake_daraja.reply(BALANCE, ACCEPTED)
    answer = balance(client)
    assert answer.originator_conversation_id == (
        ACCEPTED['OriginatorConversationID'])
    assert answer.conversation_id == ACCEPTED['ConversationID']


def test_account_balance_refused(fake_daraja, client):
    "A non-zero ResponseCode is a refusal, in Daraja's words"
    fake_daraja.reply(BALANCE, {**ACCEPTED, 'ResponseCode': '1',
            'ResponseDescription': 'Rejected'})
    with pytest.raises(InvalidRequest, match='Rejected'):
        balance(client)


def test_account_balance_checks_fields(fake_daraja, client):
    with pytest.raises(InvalidRequest):
        client.account_balance(
            initiator_name='testapi', security_credential=CREDENTIAL,
            party_a='600992', identifier_type='11', result_url=URL,
            queue_timeout_url=URL, remarks='Balance')
    assert not fake_daraja.hits(BALANCE)


@pytest.mark.parametrize('version', [1, 2])
def test_register_c2b_urls(fake_daraja, client, version):
    path = f'/mpesa/c2b/v{version}/registerurl'
    fake_daraja.reply(path, load('c2b_register_response'))
    answer = client.register_c2b_urls(
        shortcode='600984', confirmation_url=URL + '/c',
        validation_url=URL + '/v', version=version)
    assert answer.originator_conversation_id == (
        '6e86-45dd-91ac-fd5d4178ab523408729')
    assert fake_daraja.hits(path)[0].json == {
        'ShortCode': '600984', 'ResponseType': 'Completed',
        'ConfirmationURL': URL + '/c', 'ValidationURL': URL + '/v'}


def test_register_c2b_urls_forbidden_word(fake_daraja, client):
    with pytest.raises(InvalidRequest, match='mpesa'):
        client.register_c2b_urls(
            shortcode='600984', confirmation_url=URL + '/mpesa',
            validation_url=URL)
    assert fake_daraja.received == []


def test_register_c2b_urls_already_registered(fake_daraja, client):
    path = '/mpesa/c2b/v2/registerurl'
    fake_daraja.reply(path, Reply(500, envelope(
                '500.003.1001', 'Urls are already registered.')))
    with pytest.raises(InvalidRequest) as info:
        client.register_c2b_urls(
            shortcode='600984', confirmation_url=URL, validation_url=URL)
    assert info.value.code == '500.003.1001'
    assert len(fake_daraja.hits(path)) == 1


def test_simulate_c2b(fake_daraja, client):
    path = '/mpesa/c2b/v2/simulate'
    fake_daraja.reply(path, load('c2b_simulate_v1_response'))
    client.simulate_c2b(
        shortcode='600984', amount=5, msisdn='0708374149',
        bill_ref_number='SO-1')
    assert fake_daraja.hits(path)[0].json == {
        'ShortCode': '600984', 'CommandID': 'CustomerPayBillOnline',
        'Amount': 5, 'Msisdn': '254708374149', 'BillRefNumber': 'SO-1'}


def test_pull_transactions(fake_daraja, client, caplog):
    fake_daraja.reply(PULL, load('pull_response'), {
            'ResponseRefID': 'x', 'ResponseCode': '1001',
            'ResponseMessage': 'No records found'})
    start = dt.datetime(2025, 1, 24, 5, 0)
    end = dt.datetime(2025, 1, 24, 7, 0, tzinfo=dt.timezone.utc)
    result = client.pull_transactions(shortcode='600000', start=start, end=end)
    assert result.ok and len(result.transactions) == 1
    assert fake_daraja.hits(PULL)[0].json == {
        'ShortCode': '600000', 'StartDate': '2025-01-24 08:00:00',
        'EndDate': '2025-01-24 10:00:00', 'OffSetValue': '0'}
    with caplog.at_level(logging.INFO):
        empty = client.pull_transactions(
            shortcode='600000', start=start, end=end, offset=0)
    assert not empty.ok
    assert empty.response_code == '1001'
    # Said by the caller (the Pull cron says it once), not per call
    assert '1001' not in caplog.text


def test_pull_registration(fake_daraja, client):
    path = '/pulltransactions/v1/register'
    fake_daraja.reply(path, {
            'ResponseRefID': 'ref', 'ResponseStatus': '1001',
            'ResponseDescription': 'ShortCode already Registered'})
    answer = client.register_pull(
        shortcode='600000', nominated_number=PHONE, callback_url=URL)
    assert answer.registered
    assert fake_daraja.hits(path)[0].json['NominatedNumber'] == '0712345678'


# Secrets and phone numbers stay out of logs and errors

def test_no_secret_nor_phone_in_logs(fake_daraja, caplog):
    client = make_client(fake_daraja.url, timeout=(1, 0.3))
    leak = f'Invalid Access Token - token-1 for {MSISDN} {PASSKEY}'
    fake_daraja.reply(PUSH, Reply(401, envelope('401.002.01', leak)),
        load('stk_push_response'),
        Reply(400, envelope('400.002.02', f'Invalid PhoneNumber {MSISDN}')))
    fake_daraja.reply(B2C, Reply(body=ACCEPTED, delay=1))
    errors = []
    with caplog.at_level(logging.DEBUG):
        push(client)
        for call in (push, b2c, lambda c: push(c, phone='255712345678')):
            try:
                call(client)
            except Exception as exc:
                errors.append(str(exc))
    assert len(errors) == 3
    text = caplog.text + '\n'.join(errors)
    password = fake_daraja.hits(PUSH)[0].json['Password']
    for secret in (CONSUMER_KEY, CONSUMER_SECRET, 'token-1', 'token-2',
            PASSKEY, password, CREDENTIAL, MSISDN, PHONE, '255712345678'):
        assert secret not in text
    assert '2547*****678' in text  # masked phones are fine
    assert 'Invalid Access Token' in caplog.text


def test_repr_hides_credentials(client):
    assert CONSUMER_SECRET not in repr(client)
    assert CONSUMER_KEY not in repr(client)
