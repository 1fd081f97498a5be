# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Transaction Status, Reversal, Account Balance and Pull Transactions."""
import datetime as dt

import pytest

STATUS = '/mpesa/transactionstatus/v1/query'
REVERSAL = '/mpesa/reversal/v1/request'
BALANCE = '/mpesa/accountbalance/v1/query'
NAIROBI = dt.timezone(dt.timedelta(hours=3))


def _parameters(result):
    return {p['Key']: p.get('Value')
        for p in result['ResultParameters']['ResultParameter']}


def _result(daraja, path, body):
    "Post an initiator request; return its accepted answer and result."
    count = len(daraja.listener.received)
    response = daraja.post(path, daraja.initiator_body(**body))
    assert response.status_code == 200, response.text
    assert response.json()['ResponseDescription'] == (
        'Accept the service request successfully.')
    received = daraja.listener.wait(count + 1)[-1]
    assert received['path'] == '/hooks/result'
    return response.json(), received['json']['Result']


def _status(daraja, **body):
    return _result(daraja, STATUS, {'CommandID': 'TransactionStatusQuery',
            'PartyA': daraja.sim.shortcode, 'IdentifierType': '4',
            'Occasion': 'check'} | body)


def _reverse(daraja, receipt, amount=10):
    return _result(daraja, REVERSAL, {'CommandID': 'TransactionReversal',
            'TransactionID': receipt, 'Amount': amount,
            'ReceiverParty': daraja.sim.shortcode,
            'RecieverIdentifierType': '11'})[1]


def test_status_by_receipt(daraja):
    receipt = daraja.pay(amount=10)
    accepted, result = _status(daraja, TransactionID=receipt)
    assert result['ResultCode'] == 0
    assert result['ConversationID'] == accepted['ConversationID']
    parameters = _parameters(result)
    assert parameters['ReceiptNo'] == receipt
    assert parameters['TransactionStatus'] == 'Completed'
    assert parameters['Amount'] == '10'
    assert parameters['DebitPartyName'].startswith('254708374149 - ')
    assert parameters['CreditPartyName'].startswith('174379 - ')
    assert parameters['ReasonType'] == 'Pay Utility'
    assert 'Value' not in {p['Key']: p for p in result['ResultParameters'][
            'ResultParameter']}['TransactionReason']
    assert result['ReferenceData']['ReferenceItem'] == {
        'Key': 'Occasion', 'Value': 'check'}


def test_status_by_originator_conversation_id(daraja):
    body = daraja.b2c_body()
    daraja.post('/mpesa/b2c/v3/paymentrequest', body)
    b2c = daraja.listener.wait(1)[0]['json']['Result']
    _, result = _status(daraja,
        OriginalConversationID=body['OriginatorConversationID'])
    parameters = _parameters(result)
    assert parameters['ReceiptNo'] == b2c['TransactionID']
    assert parameters['ReasonType'] == 'Business Payment to Customer via API'


def test_status_unknown(daraja):
    _, result = _status(daraja, TransactionID='SKE52PAWR9')
    assert result['ResultCode'] != 0
    assert 'ResultParameters' not in result


def test_status_needs_an_id(daraja):
    response = daraja.post(STATUS, daraja.initiator_body(
            CommandID='TransactionStatusQuery', PartyA='174379',
            IdentifierType='4'))
    assert response.json()['errorMessage'] == (
        'Bad Request - Invalid TransactionID')


def test_status_wrong_credential(daraja):
    receipt = daraja.pay()
    _, result = _status(daraja, TransactionID=receipt,
        SecurityCredential=daraja.credential('nope'))
    assert result['ResultCode'] == 2001


def test_reversal(daraja):
    receipt = daraja.pay(amount=10)
    result = _reverse(daraja, receipt)
    assert result['ResultCode'] == 0
    parameters = _parameters(result)
    assert parameters['OriginalTransactionID'] == receipt
    assert parameters['Amount'] == 10.0
    assert parameters['DebitAccountBalance'] == (
        'Utility Account|KES|0.00|0.00|0.00|0.00')
    original, reversal = daraja.sim.ledger
    assert original['reversed'] is True
    assert (reversal['kind'], reversal['original'], reversal['receipt'],
        reversal['balance']) == (
        'reversal', receipt, result['TransactionID'], 0)
    again = _reverse(daraja, receipt)
    assert (again['ResultCode'], again['ResultDesc']) == (
        'R000001', 'The transaction is already reversed.')


def test_reversal_invalid_original(daraja):
    result = _reverse(daraja, 'SKE0000001')
    assert (result['ResultCode'], result['ResultDesc']) == (
        'R000002', 'The OriginalTransactionID is invalid.')
    assert result['TransactionID'].endswith('0000000')


def test_reversal_of_b2c_refused(daraja):
    daraja.post('/mpesa/b2c/v3/paymentrequest', daraja.b2c_body(Amount=10))
    receipt = daraja.listener.wait(1)[0]['json']['Result']['TransactionID']
    assert _reverse(daraja, receipt)['ResultCode'] == 'R000002'


def test_reversal_identifier_type(daraja):
    response = daraja.post(REVERSAL, daraja.initiator_body(
            CommandID='TransactionReversal', TransactionID='SKE0000001',
            Amount=1, ReceiverParty='174379', RecieverIdentifierType='4'))
    assert response.json()['errorMessage'] == (
        'Bad Request - Invalid RecieverIdentifierType')


@pytest.mark.parametrize('party, utility', [
        ('174379', '25.00'), ('600000', '1000000.00')])
def test_balance(daraja, party, utility):
    daraja.pay(amount=25)
    _, result = _result(daraja, BALANCE, {'CommandID': 'AccountBalance',
            'PartyA': party, 'IdentifierType': '4'})
    assert (result['ResultType'], result['ResultCode']) == ('0', '0')
    parameters = _parameters(result)
    accounts = [a.split('|') for a in parameters['AccountBalance'].split('&')]
    assert [a[0] for a in accounts] == ['Working Account', 'Float Account',
        'Utility Account', 'Charges Paid Account',
        'Organization Settlement Account']
    assert accounts[2] == [
        'Utility Account', 'KES', utility, utility, '0.00', '0.00']
    assert len(parameters['BOCompletedTime']) == 14


def test_balance_answers_the_request(daraja):
    "The result carries the ids of the accepted request, after payments"
    daraja.pay(amount=25)
    daraja.pay(amount=40)
    accepted, result = _result(daraja, BALANCE, {
            'CommandID': 'AccountBalance', 'PartyA': daraja.sim.shortcode,
            'IdentifierType': '4'})
    assert result['OriginatorConversationID'] == (
        accepted['OriginatorConversationID'])
    assert result['ConversationID'] == accepted['ConversationID']
    utility = _parameters(result)['AccountBalance'].split('&')[2]
    assert utility.split('|')[2] == '65.00'
    assert daraja.sim.wait_callbacks(3)[-1]['kind'] == 'balance'


def test_balance_wrong_credential(daraja):
    "A wrong initiator password gives the 2001 result, without balances"
    _, result = _result(daraja, BALANCE, {
            'CommandID': 'AccountBalance', 'PartyA': daraja.sim.shortcode,
            'IdentifierType': '4',
            'SecurityCredential': daraja.credential('wrong-password')})
    assert result['ResultCode'] == 2001
    assert 'ResultParameters' not in result


def test_balance_queue_timeout(daraja):
    "With the fault, a time-out to the QueueTimeOutURL and no result"
    daraja.sim.set_faults(balance_queue_timeout=True)
    response = daraja.post(BALANCE, daraja.initiator_body(
            CommandID='AccountBalance', PartyA=daraja.sim.shortcode,
            IdentifierType='4'))
    accepted = response.json()
    received, = daraja.listener.wait(1)
    assert received['path'] == '/hooks/timeout'
    result = received['json']['Result']
    assert (result['ResultType'], result['ResultCode']) == (1, 26)
    assert result['OriginatorConversationID'] == (
        accepted['OriginatorConversationID'])
    assert 'ResultParameters' not in result
    assert daraja.sim.wait_callbacks(1)[0]['kind'] == 'balance_timeout'


def test_balance_of_another_shortcode(daraja):
    response = daraja.post(BALANCE, daraja.initiator_body(
            CommandID='AccountBalance', PartyA='600999', IdentifierType='4'))
    assert response.json()['errorMessage'] == 'Bad Request - Invalid PartyA'


def test_pull_transactions(daraja):
    window = {'ShortCode': '174379', 'StartDate': '2020-01-01 00:00:00',
        'EndDate': (dt.datetime.now(NAIROBI) + dt.timedelta(hours=1)
            ).strftime('%Y-%m-%d %H:%M:%S'), 'OffSetValue': '0'}
    unregistered = daraja.post('/pulltransactions/v1/query', window).json()
    assert unregistered['ResponseCode'] == '1001'
    registered = daraja.post('/pulltransactions/v1/register', {
            'ShortCode': '174379', 'RequestType': 'Pull',
            'NominatedNumber': '0722000000',
            'CallBackURL': daraja.listener.url('/hooks/pull')}).json()
    assert registered['ResponseStatus'] == '1000'
    empty = daraja.post('/pulltransactions/v1/query', window).json()
    assert (empty['ResponseCode'], empty['ResponseMessage']) == (
        '1001', 'No records found')
    receipt = daraja.pay(amount=7)
    pulled = daraja.post('/pulltransactions/v1/query', window).json()
    assert pulled['ResponseCode'] == '1000'
    row, = pulled['Response'][0]
    assert (row['transactionId'], row['amount'], row['msisdn'],
        row['billreference']) == (receipt, '7.00', 254708374149, 'INV-0001')
    bad = daraja.post('/pulltransactions/v1/query',
        window | {'StartDate': '01-01-2020'})
    assert bad.json()['errorMessage'] == 'Bad Request - Invalid StartDate'
