# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The ``/__sim__/`` control API over HTTP, and the statement export."""
import csv
import io

import requests
from cryptography import x509

from daraja_sim import Simulator

COLUMNS = ['Receipt No.', 'Completion Time', 'Initiation Time', 'Details',
    'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
    'Balance Confirmed', 'Reason Type', 'Other Party Info',
    'Linked Transaction ID', 'A/C No.']


def _control(sim, path, body=None):
    url = f'{sim.url}/__sim__/{path}'
    if body is None:
        return requests.get(url)
    return requests.post(url, json=body)


def test_state(daraja):
    receipt = daraja.pay(amount=5)
    state = _control(daraja.sim, 'state').json()
    assert [r['path'] for r in state['requests']] == [
        '/oauth/v1/generate', '/mpesa/stkpush/v1/processrequest']
    assert state['callbacks'][0]['status'] == 200
    assert state['ledger'][0]['receipt'] == receipt
    assert state['pending'] == []
    assert state['faults']['duplicate_callbacks'] == 1
    assert state['config']['shortcode'] == '174379'


def test_reset(daraja):
    daraja.pay()
    _control(daraja.sim, 'faults', {'spike_arrest': True})
    assert _control(daraja.sim, 'reset', {}).status_code == 200
    state = _control(daraja.sim, 'state').json()
    assert (state['requests'], state['ledger'], state['faults']['spike_arrest']
        ) == ([], [], False)
    assert daraja.sim.consumer_key == 'test-key'


def test_faults(sim):
    response = _control(sim, 'faults', {'duplicate_callbacks': 2,
            'drop_callbacks': 0.25})
    assert response.status_code == 200
    assert response.json()['duplicate_callbacks'] == 2
    assert _control(sim, 'faults').json()['drop_callbacks'] == 0.25
    assert _control(sim, 'faults', {'nope': 1}).status_code == 400
    assert _control(sim, 'faults', {'drop_callbacks': 2}).status_code == 400


def test_customers_and_answer(daraja, listener):
    response = _control(daraja.sim, 'customers',
        {'phone': '254708374149', 'outcome': 'never'})
    assert response.status_code == 200
    assert _control(daraja.sim, 'customers',
        {'phone': '254708374149', 'outcome': 'bored'}).status_code == 400
    checkout_request_id = daraja.stk_push().json()['CheckoutRequestID']
    pending, = _control(daraja.sim, 'state').json()['pending']
    assert pending['checkout_request_id'] == checkout_request_id
    answer = f'stk/{checkout_request_id}/answer'
    assert _control(daraja.sim, answer,
        {'outcome': 'insufficient'}).status_code == 200
    received, = listener.wait(1)
    assert received['json']['Body']['stkCallback']['ResultCode'] == 1
    assert _control(daraja.sim, answer,
        {'outcome': 'success'}).status_code == 400
    assert _control(daraja.sim, 'stk/ws_CO_x/answer',
        {'outcome': 'success'}).status_code == 404
    assert _control(daraja.sim, answer, {}).status_code == 400


def test_certificate(sim):
    response = _control(sim, 'certificate')
    assert response.headers['Content-Type'] == 'application/x-pem-file'
    certificate = x509.load_pem_x509_certificate(response.content)
    assert certificate.public_key().key_size == 2048
    assert response.content == sim.certificate_pem


def test_statement_csv(daraja):
    first = daraja.pay(amount=1500)
    second = daraja.pay(phone='254708374150', amount=20)
    result = daraja.post('/mpesa/reversal/v1/request', daraja.initiator_body(
            CommandID='TransactionReversal', TransactionID=second,
            Amount=20, ReceiverParty='174379', RecieverIdentifierType='11'))
    assert result.status_code == 200
    daraja.listener.wait(3)
    response = _control(daraja.sim, 'statement.csv')
    assert response.headers['Content-Type'].startswith('text/csv')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == COLUMNS
    reversal, paid_second, paid_first = [dict(zip(COLUMNS, r))
        for r in rows[1:]]
    expected = {
        'Receipt No.': first, 'Paid In': '1,500.00', 'Withdrawn': '',
        'Balance': '1,500.00', 'A/C No.': 'INV-0001',
        'Transaction Status': 'Completed', 'Reason Type': 'Pay Utility',
        }
    assert {k: paid_first[k] for k in expected} == expected
    assert paid_first['Other Party Info'].startswith('25470****149 - ')
    assert 'Acc. INV-0001' in paid_first['Details']
    assert len(paid_first['Completion Time']) == 19
    assert paid_second['Balance'] == '1,520.00'
    assert reversal['Withdrawn'] == '-20.00'
    assert reversal['Linked Transaction ID'] == second
    assert reversal['Balance'] == '1,500.00'
    b2c = _control(daraja.sim, 'statement.csv?shortcode=600000').text
    assert b2c.splitlines() == [','.join(COLUMNS)]


def test_c2b_payment_and_tokens(daraja, listener):
    daraja.post('/mpesa/c2b/v1/registerurl', {'ShortCode': '174379',
            'ResponseType': 'Completed',
            'ConfirmationURL': listener.url('/hooks/confirmation')})
    response = _control(daraja.sim, 'c2b', {'phone': '0708374149',
            'amount': 300, 'bill_ref_number': 'ACC-1'})
    assert response.json()['paid'] is True
    confirmation, = listener.on('/hooks/confirmation')
    assert confirmation['TransID'] == response.json()['entry']['receipt']
    refused = _control(daraja.sim, 'c2b', {'phone': '254708370001',
            'amount': 300})
    assert refused.json() == {'paid': False, 'entry': None}
    spaced = _control(daraja.sim, 'c2b', {'phone': '+254 708-374 149',
            'amount': 40})
    assert spaced.json()['entry']['phone'] == '254708374149'
    assert _control(daraja.sim, 'c2b', {'phone': '0708 37A 149',
            'amount': 40}).status_code == 400
    assert _control(daraja.sim, 'tokens/invalidate', {}).status_code == 200
    assert daraja.stk_push().status_code == 404


def test_control_errors(sim):
    assert _control(sim, 'nothing').status_code == 404
    assert requests.post(f'{sim.url}/__sim__/customers',
        data='nope').status_code == 400
    assert _control(sim, 'customers', {'phone': '254708374149'}
        ).status_code == 400


def test_key_file_keeps_the_key_pair(tmp_path):
    path = tmp_path / 'daraja-sim.pem'
    first = Simulator(key_file=str(path))
    assert oct(path.stat().st_mode & 0o777) == '0o600'
    again = Simulator(key_file=str(path))
    assert first.certificate_pem == again.certificate_pem
    assert first.certificate_pem != Simulator().certificate_pem
