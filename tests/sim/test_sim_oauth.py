# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""OAuth and the access-token check."""
import pytest
import requests

GENERATE = '/oauth/v1/generate?grant_type=client_credentials'


def test_token(sim):
    response = requests.get(sim.url + GENERATE,
        auth=(sim.consumer_key, sim.consumer_secret))
    assert response.status_code == 200
    body = response.json()
    assert body['expires_in'] == '3599'
    assert len(body['access_token']) == 28


@pytest.mark.parametrize('path, auth, code, message', [
        (GENERATE, ('test-key', 'wrong'), '400.008.01',
            'Invalid Authentication passed'),
        (GENERATE, None, '400.008.01', 'Invalid authentication type'),
        ('/oauth/v1/generate?grant_type=password', ('test-key', 'test-secret'),
            '400.008.02', 'Invalid grant type passed'),
        ])
def test_token_refused(sim, path, auth, code, message):
    response = requests.get(sim.url + path, auth=auth)
    assert response.status_code == 400
    body = response.json()
    assert (body['errorCode'], body['errorMessage']) == (code, message)
    assert body['requestId']


def test_expires_in_number(sim):
    sim.set_faults(expires_in_number=True)
    response = requests.get(sim.url + GENERATE,
        auth=(sim.consumer_key, sim.consumer_secret))
    assert response.json()['expires_in'] == 3599


@pytest.mark.parametrize('path, status, code', [
        ('/mpesa/stkpush/v1/processrequest', 404, '404.001.03'),
        ('/mpesa/stkpushquery/v1/query', 404, '404.001.03'),
        ('/mpesa/reversal/v1/request', 404, '404.001.03'),
        ('/mpesa/b2c/v3/paymentrequest', 401, '401.002.01'),
        ('/mpesa/accountbalance/v1/query', 401, '401.002.01'),
        ('/mpesa/c2b/v2/registerurl', 400, '400.003.01'),
        ('/mpesa/transactionstatus/v1/query', 400, '400.003.01'),
        ])
def test_invalid_token_per_api(daraja, path, status, code):
    response = daraja.post(path, {}, token='not-a-token')
    assert response.status_code == status
    assert response.json()['errorCode'] == code
    assert 'Invalid Access Token' in response.json()['errorMessage']


def test_missing_authorization_header(sim):
    response = requests.post(sim.url + '/mpesa/stkpush/v1/processrequest',
        json={})
    assert response.status_code == 404
    assert response.json()['errorCode'] == '404.001.04'


def test_reissue_keeps_old_token_by_default(daraja):
    first = daraja.token()
    daraja.token()
    assert daraja.stk_push().status_code == 200
    response = daraja.post('/mpesa/stkpush/v1/processrequest',
        daraja.stk_body(phone='254708374150'), token=first)
    assert response.status_code == 200


def test_invalidate_token_on_reissue(daraja):
    daraja.sim.set_faults(invalidate_token_on_reissue=True)
    first = daraja.token()
    second = daraja.token()
    stale = daraja.post(
        '/mpesa/stkpush/v1/processrequest', daraja.stk_body(), token=first)
    assert stale.status_code == 404
    assert stale.json()['errorCode'] == '404.001.03'
    fresh = daraja.post(
        '/mpesa/stkpush/v1/processrequest', daraja.stk_body(), token=second)
    assert fresh.status_code == 200


def test_expired_token(make_daraja):
    daraja = make_daraja(token_lifetime=0)
    token = daraja.token()
    response = daraja.post('/mpesa/b2c/v3/paymentrequest', {}, token=token)
    assert response.status_code == 401
    assert response.json()['errorMessage'] == (
        f'Error Occurred - Invalid Access Token - {token}')


def test_invalidate_tokens(daraja):
    daraja.token()
    daraja.sim.invalidate_tokens()
    assert daraja.stk_push().status_code == 404
