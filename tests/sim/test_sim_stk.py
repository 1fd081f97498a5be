# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""STK Push, the virtual customer, the callback and STK Query."""
import re
import time

import pytest
import requests

from daraja_sim.stk import password

PASSKEY = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919'
PHONE = '254708374149'

PUSH = '/mpesa/stkpush/v1/processrequest'


def test_password_vector():
    "The reference's verified sample (DOCS3 MpesaExpressSimulate)."
    assert password('174379', PASSKEY, '20210628092408') == (
        'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5Yj'
        'EwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4')


def test_push_accepted(daraja):
    response = daraja.stk_push(amount='1')
    assert response.status_code == 200
    body = response.json()
    assert body['ResponseCode'] == '0'
    assert body['ResponseDescription'] == (
        'Success. Request accepted for processing')
    assert body['CustomerMessage'] == body['ResponseDescription']
    assert re.fullmatch(r'ws_CO_\d{17}708374149', body['CheckoutRequestID'])
    assert re.fullmatch(r'[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d+',
        body['MerchantRequestID'])


@pytest.mark.parametrize('overrides, message', [
        ({'BusinessShortCode': '600001'}, 'Merchant does not exist'),
        ({'Password': 'd3Jvbmc='}, 'Wrong credentials'),
        ({'Timestamp': '20210628092408'}, 'Wrong credentials'),
        ])
def test_push_merchant_errors(daraja, overrides, message):
    response = daraja.stk_push(**overrides)
    assert response.status_code == 500
    assert response.json()['errorCode'] == '500.001.1001'
    assert response.json()['errorMessage'] == message


@pytest.mark.parametrize('field, value', [
        ('Timestamp', '2021-06-28'), ('TransactionType', 'PayBill'),
        ('Amount', '100.00'), ('Amount', 1.5), ('Amount', 0),
        ('Amount', 250001), ('PartyA', '0708374149'),
        ('PhoneNumber', '+254708374149'), ('PhoneNumber', '254208374149'),
        ('CallBackURL', 'ftp://example.com/x'),
        ('CallBackURL', ' https://example.com/x'),
        ('AccountReference', 'A' * 13), ('TransactionDesc', 'D' * 14),
        ])
def test_push_invalid_field(daraja, field, value):
    response = daraja.stk_push(**{field: value})
    assert response.status_code == 400
    assert response.json()['errorCode'] == '400.002.02'
    assert response.json()['errorMessage'] == f'Bad Request - Invalid {field}'
    assert not daraja.sim.pending


def test_push_numbers_accepted(daraja):
    "Numbers may come as JSON numbers (reference §1.2)."
    response = daraja.stk_push(BusinessShortCode=174379, PartyA=254708374149,
        PhoneNumber=254708374149, phone='254708374149', Amount=10)
    assert response.status_code == 200


def test_wrong_content_type(daraja):
    response = requests.post(daraja.sim.url + PUSH,
        data='BusinessShortCode=174379', headers={
            'Authorization': f'Bearer {daraja.token()}',
            'Content-Type': 'application/x-www-form-urlencoded'})
    assert response.status_code == 400
    assert response.json()['errorMessage'] == (
        'Bad Request - Invalid BusinessShortCode')


def test_invalid_json(daraja):
    response = requests.post(daraja.sim.url + PUSH, data='{nope', headers={
            'Authorization': f'Bearer {daraja.token()}',
            'Content-Type': 'application/json'})
    assert response.status_code == 400
    assert response.json()['errorCode'] == '400.002.05'


def test_unknown_path_and_method(daraja):
    response = daraja.post('/mpesa/nothing/v1/here', {})
    assert (response.status_code, response.json()['errorCode']) == (
        404, '404.001.01')
    response = requests.get(daraja.sim.url + PUSH)
    assert (response.status_code, response.json()['errorCode']) == (
        405, '405.001')


def test_timestamp_freshness(make_daraja):
    daraja = make_daraja(check_timestamp_minutes=5)
    assert daraja.stk_push().status_code == 200
    stale = '20210628092408'
    response = daraja.stk_push(phone='254708374150', Timestamp=stale,
        Password=password('174379', PASSKEY, stale))
    assert response.json()['errorMessage'] == (
        'Bad Request - Invalid Timestamp')


@pytest.mark.parametrize('phone, code, description', [
        ('254708374149', 0, 'The service request is processed successfully.'),
        ('254708371032', 1032, 'Request cancelled by user'),
        ('254708370001', 1,
            'The balance is insufficient for the transaction.'),
        ('254708372001', 2001, 'The initiator information is invalid.'),
        ('254708371037', 1037, 'DS timeout user cannot be reached'),
        ])
def test_round_trip(daraja, listener, phone, code, description):
    checkout_request_id = daraja.stk_push(
        phone=phone, amount=25).json()['CheckoutRequestID']
    received, = listener.wait(1)
    assert received['path'] == '/hooks/stk'
    callback = received['json']['Body']['stkCallback']
    assert callback['CheckoutRequestID'] == checkout_request_id
    assert callback['ResultCode'] == code
    assert callback['ResultDesc'] == description
    query = daraja.stk_query(checkout_request_id)
    assert query.status_code == 200
    assert query.json()['ResultCode'] == str(code)
    assert query.json()['ResponseDescription'] == (
        'The service request has been accepted successsfully')
    if code:
        assert 'CallbackMetadata' not in callback
        assert daraja.sim.ledger == []
        return
    items = {i['Name']: i['Value']
        for i in callback['CallbackMetadata']['Item']}
    assert items['Amount'] == 25
    assert re.fullmatch(r'[A-Z][A-L][1-9A-V][0-9A-Z]{7}',
        items['MpesaReceiptNumber'])
    assert isinstance(items['TransactionDate'], int)
    assert re.fullmatch(r'20\d{12}', str(items['TransactionDate']))
    assert items['PhoneNumber'] == 254708374149
    entry, = daraja.sim.ledger
    assert (entry['receipt'], entry['kind'], entry['amount'], entry['phone'],
        entry['account'], entry['balance']) == (
        items['MpesaReceiptNumber'], 'stk', 25, phone, 'INV-0001', 25)


def test_query_pending_then_final(daraja, listener):
    daraja.sim.set_customer(PHONE, 'never')
    checkout_request_id = daraja.stk_push().json()['CheckoutRequestID']
    pending = daraja.stk_query(checkout_request_id)
    assert pending.status_code == 500
    assert pending.json() == {'requestId': checkout_request_id,
        'errorCode': '500.001.1001',
        'errorMessage': 'The transaction is being processed'}
    assert [p['checkout_request_id'] for p in daraja.sim.pending] == [
        checkout_request_id]
    time.sleep(0.1)
    assert listener.received == []
    daraja.sim.answer(checkout_request_id, 'cancelled')
    listener.wait(1)
    final = daraja.stk_query(checkout_request_id)
    assert final.json()['ResultCode'] == '1032'
    with pytest.raises(ValueError):
        daraja.sim.answer(checkout_request_id, 'success')
    with pytest.raises(LookupError):
        daraja.sim.answer('ws_CO_unknown', 'success')
    with pytest.raises(ValueError):
        daraja.sim.answer(checkout_request_id, 'maybe')


def test_never_suffix_and_unknown_query(daraja):
    checkout_request_id = daraja.stk_push(
        phone='254708379999').json()['CheckoutRequestID']
    assert daraja.stk_query(checkout_request_id).status_code == 500
    unknown = daraja.stk_query('ws_CO_00000000000000000000000000')
    assert unknown.json()['errorMessage'] == (
        'Bad Request - Invalid CheckoutRequestID')


def test_unable_to_lock_subscriber(daraja, listener):
    daraja.sim.set_customer(PHONE, 'never')
    first = daraja.stk_push().json()['CheckoutRequestID']
    second = daraja.stk_push()
    assert second.status_code == 500
    assert second.json()['errorMessage'] == ('Unable to lock subscriber, a '
        'transaction is already in process for the current subscriber')
    daraja.sim.answer(first, 'success')
    listener.wait(1)
    assert daraja.stk_push().status_code == 200


def test_set_customer_overrides_suffix(daraja, listener):
    daraja.sim.set_customer('0708371032', 'success')
    daraja.stk_push(phone='254708371032')
    received, = listener.wait(1)
    assert received['json']['Body']['stkCallback']['ResultCode'] == 0


def test_answer_delay(make_daraja, listener):
    daraja = make_daraja(answer_delay=0.3)
    checkout_request_id = daraja.stk_push().json()['CheckoutRequestID']
    assert daraja.stk_query(checkout_request_id).status_code == 500
    listener.wait(1)
    assert daraja.stk_query(checkout_request_id).status_code == 200


def test_till_buy_goods(make_daraja, listener):
    daraja = make_daraja(till_number='5123456')
    daraja.stk_push(TransactionType='CustomerBuyGoodsOnline',
        PartyB='5123456')
    daraja.stk_push(phone='254708374150',
        TransactionType='CustomerPayBillOnline', PartyB='5123456')
    callbacks = [r['json']['Body']['stkCallback'] for r in listener.wait(2)]
    assert sorted(c['ResultCode'] for c in callbacks) == [0, 2028]
    assert daraja.sim.ledger[0]['party'] == '5123456'


def test_buy_goods_without_till_is_not_permitted(daraja, listener):
    daraja.stk_push(TransactionType='CustomerBuyGoodsOnline')
    received, = listener.wait(1)
    callback = received['json']['Body']['stkCallback']
    assert callback['ResultCode'] == 2028
    assert 'product assignment' in callback['ResultDesc']


def test_request_log(daraja):
    daraja.stk_push()
    oauth, push = daraja.sim.requests
    assert oauth['path'] == '/oauth/v1/generate'
    assert (push['method'], push['path'], push['status']) == (
        'POST', PUSH, 200)
    assert push['json']['PhoneNumber'] == PHONE
