# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""C2B: registration, validation and confirmation."""
import hashlib

import pytest

REGISTER = '/mpesa/c2b/v2/registerurl'
SIMULATE = '/mpesa/c2b/v2/simulate'


def _register(daraja, validation=True, response_type='Completed', **extra):
    body = {
        'ShortCode': daraja.sim.shortcode,
        'ResponseType': response_type,
        'ConfirmationURL': daraja.listener.url('/hooks/confirmation'),
        }
    if validation:
        body['ValidationURL'] = daraja.listener.url('/hooks/validation')
    return daraja.post(REGISTER, body | extra)


def _simulate(daraja, version='v2', **extra):
    return daraja.post(f'/mpesa/c2b/{version}/simulate', {
            'ShortCode': int(daraja.sim.shortcode),
            'CommandID': 'CustomerPayBillOnline', 'Amount': 1200,
            'Msisdn': 254708374149, 'BillRefNumber': 'SO-42'} | extra)


def test_register(daraja):
    response = _register(daraja)
    assert response.status_code == 200
    body = response.json()
    assert body['ResponseCode'] == '0'
    assert body['ResponseDescription'] == 'Success'
    assert body['OriginatorCoversationID']


@pytest.mark.parametrize('path, word', [
        ('/mpesa/confirm', 'MPESA'), ('/M-Pesa/confirm', 'M-PESA'),
        ('/safaricom', 'SAFARICOM'), ('/run.exe', 'EXE'),
        ('/exec', 'EXEC'), ('/cmd', 'CMD'), ('/SQL', 'SQL'),
        ('/query', 'QUERY'),
        ])
def test_register_forbidden_words(daraja, path, word):
    response = _register(daraja, ValidationURL=daraja.listener.url(path))
    assert response.status_code == 400
    assert response.json()['errorCode'] == '400.003.02'
    assert response.json()['errorMessage'] == (
        f'Bad Request - Invalid ValidationURL - URL has the word {word}')


def test_register_refused_fields(daraja):
    response = _register(daraja, response_type='completed')
    assert response.json()['errorMessage'] == (
        'Bad Request - Invalid ResponseType')
    response = _register(daraja, ShortCode='600999')
    assert response.json()['errorMessage'] == 'Bad Request - Invalid ShortCode'


def test_register_once(daraja):
    assert _register(daraja).status_code == 200
    assert _register(daraja).status_code == 200
    daraja.sim.set_faults(c2b_register_once=True)
    response = _register(daraja)
    assert response.status_code == 500
    assert response.json()['errorMessage'] == 'Urls are already registered.'


def test_simulate_validation_then_confirmation(daraja, listener):
    _register(daraja)
    listener.replies['/hooks/validation'] = {
        'ResultCode': '0', 'ResultDesc': 'Accepted',
        'ThirdPartyTransID': 'T-77'}
    response = _simulate(daraja)
    assert response.status_code == 200
    assert response.json()['ResponseDescription'] == (
        'Accept the service request successfully.')
    assert 'ConversationID' not in response.json()
    validation, confirmation = listener.wait(2)
    assert (validation['path'], confirmation['path']) == (
        '/hooks/validation', '/hooks/confirmation')
    validation, confirmation = validation['json'], confirmation['json']
    assert validation['TransID'] == confirmation['TransID']
    assert validation['OrgAccountBalance'] == ''
    expected = {
        'OrgAccountBalance': '1200.00', 'ThirdPartyTransID': 'T-77',
        'TransactionType': 'Pay Bill', 'TransAmount': '1200.00',
        'BusinessShortCode': '174379', 'BillRefNumber': 'SO-42',
        'MSISDN': hashlib.sha256(b'254708374149').hexdigest(),
        }
    assert {k: confirmation[k] for k in expected} == expected
    assert all(isinstance(v, str) for v in confirmation.values())
    entry, = daraja.sim.ledger
    assert (entry['receipt'], entry['kind'], entry['account']) == (
        confirmation['TransID'], 'c2b', 'SO-42')


def test_validation_rejects(daraja, listener):
    _register(daraja)
    listener.replies['/hooks/validation'] = {
        'ResultCode': 'C2B00012', 'ResultDesc': 'Rejected'}
    _simulate(daraja)
    listener.wait(1)
    daraja.sim.wait_callbacks(1)
    assert listener.on('/hooks/confirmation') == []
    assert daraja.sim.ledger == []


@pytest.mark.parametrize('response_type, paid', [
        ('Completed', True), ('Cancelled', False)])
def test_validation_unreachable(daraja, listener, response_type, paid):
    _register(daraja, response_type=response_type,
        ValidationURL='http://127.0.0.1:9/validation')
    _simulate(daraja)
    callbacks = daraja.sim.wait_callbacks(1 + paid)
    assert 'error' in callbacks[0]
    assert bool(daraja.sim.ledger) == paid


def test_no_validation_when_not_registered(daraja, listener):
    _register(daraja, validation=False)
    _simulate(daraja, version='v1', Msisdn='254708374149')
    received, = listener.wait(1)
    assert received['path'] == '/hooks/confirmation'


@pytest.mark.parametrize('form, msisdn', [
        ('plain', '254708374149'), ('masked', '2547 ***** 149')])
def test_msisdn_forms(daraja, listener, form, msisdn):
    daraja.sim.set_faults(c2b_msisdn=form)
    _register(daraja, validation=False)
    _simulate(daraja)
    assert listener.wait(1)[0]['json']['MSISDN'] == msisdn


def test_v1_answer_has_conversation_id(daraja):
    _register(daraja)
    assert _simulate(daraja, version='v1').json()['ConversationID']


def test_simulate_refused(daraja):
    response = _simulate(daraja, Amount='5.00')
    assert response.json()['errorMessage'] == 'Bad Request - Invalid Amount'
    response = _simulate(daraja, CommandID='BusinessPayment')
    assert response.json()['errorMessage'] == (
        'Bad Request - Invalid CommandID')


def test_no_urls_registered(daraja, eventually):
    "The payment completes with no notification."
    _simulate(daraja)
    eventually(lambda: len(daraja.sim.ledger) == 1)
    entry = daraja.sim.c2b_payment('0708374149', 5, 'X')
    assert entry['amount'] == 5
    assert len(daraja.sim.ledger) == 2
    assert daraja.sim.callbacks == []


def test_stk_also_fires_confirmation(daraja, listener):
    daraja.sim.set_faults(stk_c2b_confirmation=True)
    _register(daraja, validation=False)
    receipt = daraja.pay()
    listener.wait(2)
    confirmation, = listener.on('/hooks/confirmation')
    assert confirmation['TransID'] == receipt
    assert confirmation['BillRefNumber'] == 'INV-0001'
