# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""B2C payouts: result, wrong initiator, duplicates, queue timeout."""
import re

import pytest

B2C = '/mpesa/b2c/v3/paymentrequest'


def _parameters(result):
    return {p['Key']: p.get('Value')
        for p in result['ResultParameters']['ResultParameter']}


def test_success(daraja, listener):
    body = daraja.b2c_body(Amount='150')
    response = daraja.post(B2C, body)
    assert response.status_code == 200
    accepted = response.json()
    assert accepted['OriginatorConversationID'] == (
        body['OriginatorConversationID'])
    assert accepted['ResponseCode'] == '0'
    assert accepted['ResponseDescription'] == (
        'Accept the service request successfully.')
    assert re.fullmatch(r'AG_\d{8}_[0-9a-f]{20}', accepted['ConversationID'])
    received, = listener.wait(1)
    assert received['path'] == '/hooks/result'
    result = received['json']['Result']
    assert (result['ResultType'], result['ResultCode']) == (0, 0)
    assert result['ConversationID'] == accepted['ConversationID']
    parameters = _parameters(result)
    assert parameters['TransactionAmount'] == 150
    assert parameters['TransactionReceipt'] == result['TransactionID']
    assert parameters['ReceiverPartyPublicName'].startswith(
        '254708374149 - ')
    assert re.fullmatch(r'\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d',
        parameters['TransactionCompletedDateTime'])
    assert parameters['B2CUtilityAccountAvailableFunds'] == 999850.0
    assert parameters['B2CRecipientIsRegisteredCustomer'] == 'Y'
    assert result['ReferenceData']['ReferenceItem']['Key'] == (
        'QueueTimeoutURL')
    entry, = daraja.sim.ledger
    assert (entry['kind'], entry['amount'], entry['receipt'],
        entry['originator_conversation_id']) == ('b2c', 150,
        result['TransactionID'], body['OriginatorConversationID'])


@pytest.mark.parametrize('overrides', [
        {'SecurityCredential': 'wrong'},
        {'InitiatorName': 'someone'},
        ])
def test_wrong_initiator(daraja, listener, overrides):
    assert daraja.post(B2C, daraja.b2c_body(**overrides)).status_code == 200
    result = listener.wait(1)[0]['json']['Result']
    assert result['ResultCode'] == 2001
    assert result['ResultDesc'] == 'The initiator information is invalid.'
    assert 'ResultParameters' not in result
    assert result['TransactionID'].endswith('0000000')
    assert daraja.sim.ledger == []


def test_wrong_password(daraja, listener):
    body = daraja.b2c_body(
        SecurityCredential=daraja.credential('Safaricom133!'))
    daraja.post(B2C, body)
    assert listener.wait(1)[0]['json']['Result']['ResultCode'] == 2001


def test_duplicate_originator_conversation_id(daraja, listener):
    body = daraja.b2c_body()
    assert daraja.post(B2C, body).status_code == 200
    duplicate = daraja.post(B2C, body)
    assert duplicate.status_code == 500
    assert duplicate.json()['errorCode'] == '500.002.1001'
    assert duplicate.json()['errorMessage'] == (
        'Duplicate OriginatorConversationID.')


@pytest.mark.parametrize('field, value', [
        ('Amount', '10.50'), ('PartyB', '0708374149'), ('CommandID', 'Pay'),
        ('PartyA', '600999'), ('Remarks', 'x'), ('ResultURL', 'nope'),
        ('OriginatorConversationID', ''),
        ])
def test_refused(daraja, field, value):
    response = daraja.post(B2C, daraja.b2c_body(**{field: value}))
    assert response.status_code == 400
    assert response.json()['errorMessage'] == f'Bad Request - Invalid {field}'


@pytest.mark.parametrize('amount, code', [(9, 2), (250001, 3)])
def test_limits(daraja, listener, amount, code):
    daraja.post(B2C, daraja.b2c_body(Amount=amount))
    assert listener.wait(1)[0]['json']['Result']['ResultCode'] == code


def test_insufficient_float(make_daraja, listener):
    daraja = make_daraja(b2c_float=50)
    daraja.post(B2C, daraja.b2c_body(Amount=100))
    assert listener.wait(1)[0]['json']['Result']['ResultCode'] == 1


def test_v1_generates_originator_conversation_id(daraja, listener):
    body = daraja.b2c_body()
    del body['OriginatorConversationID']
    response = daraja.post('/mpesa/b2c/v1/paymentrequest', body)
    assert response.json()['OriginatorConversationID']
    assert listener.wait(1)[0]['json']['Result']['ResultCode'] == 0


def test_queue_timeout(daraja, listener):
    daraja.sim.set_faults(b2c_queue_timeout=True)
    body = daraja.b2c_body()
    daraja.post(B2C, body)
    received, = listener.wait(1)
    assert received['path'] == '/hooks/timeout'
    result = received['json']['Result']
    assert result['ResultType'] == 1
    assert result['ResultCode'] != 0
    assert result['OriginatorConversationID'] == (
        body['OriginatorConversationID'])
    assert daraja.sim.ledger == []


def test_late_result_after_timeout(daraja, listener):
    daraja.sim.set_faults(b2c_queue_timeout=True,
        late_result_after_timeout=0.2)
    daraja.post(B2C, daraja.b2c_body())
    timeout, late = listener.wait(2)
    assert (timeout['path'], late['path']) == (
        '/hooks/timeout', '/hooks/result')
    assert late['arrived'] - timeout['arrived'] >= 0.15
    assert late['json']['Result']['ResultCode'] == 0
    assert len(daraja.sim.ledger) == 1
