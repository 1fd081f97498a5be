# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The ``/__sim__/`` control API over HTTP, and the statement export."""
import csv
import datetime as dt
import io

import openpyxl
import requests
from cryptography import x509

from daraja_sim import Simulator

NAIROBI = dt.timezone(dt.timedelta(hours=3))
B2C = '/mpesa/b2c/v3/paymentrequest'

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


def _statement(sim, query=''):
    "The statement over HTTP: (response, preamble rows, rows as dicts)"
    response = _control(sim, f'statement.csv{query}')
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[6] == COLUMNS
    return response, rows[:6], [dict(zip(COLUMNS, r)) for r in rows[7:]]


def test_statement_csv(daraja, listener):
    """What the APIs did is on the statement: STK and C2B receipts with
    their charges, a reversal, and on the B2C shortcode's a payout"""
    first = daraja.pay(amount=1500)
    second = daraja.pay(phone='254708374150', amount=20)
    result = daraja.post('/mpesa/reversal/v1/request', daraja.initiator_body(
            CommandID='TransactionReversal', TransactionID=second,
            Amount=20, ReceiverParty='174379', RecieverIdentifierType='11'))
    assert result.status_code == 200
    listener.wait(3)
    paid = _control(daraja.sim, 'c2b', {'phone': '0708374149',
            'amount': 300, 'bill_ref_number': 'ACC-1'}).json()['entry']
    daraja.post(B2C, daraja.b2c_body(Amount=150))
    listener.wait(4)
    response, preamble, rows = _statement(daraja.sim)
    assert response.headers['Content-Type'].startswith('text/csv')
    disposition = response.headers['Content-Disposition']
    assert disposition.startswith(
        'attachment; filename="ORG_174379_Utility Account_Completed_')
    assert disposition.endswith('.csv"')
    assert preamble[1] == ['Short Code:', '174379']
    assert preamble[5][:4] == ['Opening Balance:', '0.00',
        'Closing Balance:', '1,780.00']
    c2b_charge, c2b, reversal, paid_second, charge, paid_first = rows
    assert (paid_first['Receipt No.'], paid_first['Paid In'],
        paid_first['Reason Type'], paid_first['A/C No.']) == (
        first, '1,500.00', 'Pay Utility', 'INV-0001')
    assert paid_first['Other Party Info'].startswith('25470****149 - ')
    assert (charge['Linked Transaction ID'], charge['Withdrawn']) == (
        first, '-15.00')
    assert paid_second['Balance'] == '1,505.00'
    assert (reversal['Linked Transaction ID'], reversal['Withdrawn'],
        reversal['Balance']) == (second, '-20.00', '1,485.00')
    assert (c2b['Receipt No.'], c2b['Reason Type'], c2b['Balance']) == (
        paid['receipt'], 'Pay Bill Online', '1,785.00')
    assert c2b_charge['Withdrawn'] == '-5.00'
    _, preamble, (payout_charge, payout) = _statement(
        daraja.sim, '?shortcode=600000&minus=0')
    assert (payout['Withdrawn'], payout_charge['Withdrawn']) == (
        '150.00', '5.00')
    assert payout['Reason Type'] == 'Business Payment to Customer via API'
    assert preamble[5][3] == '999,845.00'


def test_statement_parameters(daraja):
    "The period, the forms and the XLSX file; a wrong parameter is a 400"
    sim = daraja.sim
    sim.book([{'kind': 'c2b', 'amount': 700, 'phone': '254708374149',
                'time': '2026-11-02 10:00:00'},
            {'kind': 'c2b', 'amount': 90, 'phone': '254708374149',
                'time': '2026-11-03 10:00:00'}])
    _, preamble, rows = _statement(sim,
        '?from=2026-11-03&to=03-11-2026 23:59:59&mask=0')
    assert preamble[3][2:] == ['03-11-2026 00:00:00', 'To',
        '03-11-2026 23:59:59']
    assert preamble[5][1] == '690.00'
    row, = rows
    assert row['Other Party Info'].startswith('254708374149 - ')
    response = _control(sim, 'statement.xlsx?date_cells=1&to=2026-11-30')
    assert response.status_code == 200
    assert response.headers['Content-Type'] == (
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
    assert response.headers['Content-Disposition'].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet['A7'].value == 'Receipt No.'
    assert sheet['B8'].value == dt.datetime(2026, 11, 3, 10)
    for query, words in [
            ('?mask=perhaps', 'mask must be 1 or 0'),
            ('?masked=0', 'unknown parameters: masked'),
            ('?date_cells=1', 'date_cells is for statement.xlsx'),
            ('?shortcode=123', 'not a shortcode'),
            ('?from=yesterday', 'is not a time'),
            ('?charge_receipt=both', 'charge_receipt must be one of'),
            ('?account=Float Account', 'account must be one of')]:
        response = _control(sim, f'statement.csv{query}')
        assert response.status_code == 400, query
        assert words in response.json()['error']


def test_clock(daraja):
    """The clock control moves the simulator's time: transactions and
    receipts take it; reset goes back to real time"""
    sim = daraja.sim
    moved = _control(sim, 'clock', {'now': '2026-11-15 10:00:00'}).json()
    assert moved['now'].startswith('2026-11-15T10:00:0')
    receipt = daraja.pay(amount=5)
    entry, = sim.ledger
    assert entry['receipt'] == receipt and receipt.startswith('UKF')
    assert (entry['time'] - dt.datetime(2026, 11, 15, 10, tzinfo=NAIROBI)
        ) < dt.timedelta(minutes=1)
    assert _control(sim, 'clock', {'offset': -86_400}).json()['offset'] == (
        -86_400)
    for body in [{'offset': 'x'}, {'now': 'soon'},
            {'now': '2026-11-15', 'offset': 1}, {'then': 1}]:
        assert _control(sim, 'clock', body).status_code == 400
    _control(sim, 'reset', {})
    assert _control(sim, 'clock').json()['offset'] == 0


def test_settings_sweep_and_transactions(sim):
    """Charges off, bookings at chosen times (all or none), a sweep"""
    assert _control(sim, 'settings').json() == {'charges': True}
    assert _control(sim, 'settings', {'charges': False}).json() == {
        'charges': False}
    assert _control(sim, 'settings', {'charges': 'no'}).status_code == 400
    bookings = [{'kind': 'stk', 'amount': 5000, 'phone': '0708374149',
            'account': 'INV-7', 'time': '2026-11-01 08:00:00'},
        {'kind': 'c2b', 'amount': 3000, 'phone': '254708374149',
            'time': '2026-11-02 08:00:00'}]
    refused = _control(sim, 'transactions', {'transactions': bookings + [
                {'kind': 'c2b', 'amount': 0, 'phone': '254708374149'}]})
    assert refused.status_code == 400
    assert refused.json()['error'] == (
        'booking 2: Bad Request - Invalid amount')
    assert sim.ledger == []
    booked = _control(sim, 'transactions', {'transactions': bookings})
    assert len(booked.json()['receipts']) == 2
    swept = _control(sim, 'sweep', {'time': '2026-11-01 20:00:00'}).json()
    assert swept['amount'] == 5000
    assert _control(sim, 'sweep', {'amount': 3000.01}).status_code == 400
    assert _control(sim, 'sweep', {'amount': 'all'}).status_code == 400
    _, _, rows = _statement(sim)
    assert [r['Receipt No.'] for r in rows] == [
        booked.json()['receipts'][1], swept['receipt'],
        booked.json()['receipts'][0]]


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
