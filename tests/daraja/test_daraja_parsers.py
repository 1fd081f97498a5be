# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The parsers against the literal sample payloads of the Daraja reference
(``data/*.json``) and against the variants the real API sends."""
import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from trytond.modules.account_mpesa.daraja import (
    ParseError, parse_accepted, parse_account_balance, parse_c2b,
    parse_pull_transactions, parse_result, parse_stk_callback,
    parse_stk_push_response, parse_stk_query)

UTC = dt.timezone.utc


def test_stk_callback_success(sample):
    "A success callback gives the receipt, amount, EAT time as UTC, phone."
    callback = parse_stk_callback(sample('stk_callback_success'))
    assert callback.succeeded
    assert callback.result_code == '0'
    assert callback.checkout_request_id == 'ws_CO_191220191020363925'
    assert callback.merchant_request_id == '29115-34620561-1'
    assert callback.amount == Decimal('1')
    assert isinstance(callback.amount, Decimal)
    assert callback.receipt == 'NLJ7RT61SV'
    # 20191219102115 is Nairobi time (UTC+3)
    assert callback.transaction_time == dt.datetime(
        2019, 12, 19, 7, 21, 15, tzinfo=UTC)
    assert callback.phone == '254708374149'
    assert callback.balance is None


def test_stk_callback_balance_without_value(sample):
    "The 2019 callback's Balance item has no Value: it is tolerated."
    callback = parse_stk_callback(sample('stk_callback_success_balance'))
    assert callback.succeeded
    assert callback.receipt == 'NCB9FJNAIT'
    assert callback.balance is None
    assert 'Balance' in callback.metadata
    assert callback.phone == '254719748260'
    assert callback.transaction_time == dt.datetime(
        2019, 3, 11, 9, 21, 21, tzinfo=UTC)


def test_stk_callback_failure_without_metadata(sample):
    "A failure has no CallbackMetadata at all."
    callback = parse_stk_callback(sample('stk_callback_cancelled'))
    assert not callback.succeeded
    assert callback.result_code == '1032'
    assert callback.result_desc == 'Request cancelled by user'
    assert callback.amount is None
    assert callback.receipt == ''
    assert callback.transaction_time is None
    assert callback.phone is None


def test_stk_callback_variants(sample):
    "String codes, string values and a single Item object are accepted."
    data = sample('stk_callback_success')
    callback = data['Body']['stkCallback']
    callback['ResultCode'] = '0'
    items = callback['CallbackMetadata']['Item']
    callback['CallbackMetadata']['Item'] = [
        {'Name': i['Name'], 'Value': str(i['Value'])} for i in items]
    parsed = parse_stk_callback(data)
    assert parsed.succeeded
    assert parsed.amount == Decimal('1.0')
    assert parsed.phone == '254708374149'
    callback['CallbackMetadata']['Item'] = items[1]
    assert parse_stk_callback(data).receipt == 'NLJ7RT61SV'


@pytest.mark.parametrize('data', [
        {}, {'Body': {}}, {'Body': {'stkCallback': []}},
        {'Body': {'stkCallback': {'CheckoutRequestID': 'ws_CO_1'}}},
        {'Body': {'stkCallback': {
                    'CheckoutRequestID': 'ws_CO_1', 'ResultCode': True}}},
        {'Body': {'stkCallback': {
                    'CheckoutRequestID': 'ws_CO_1', 'ResultCode': 0,
                    'CallbackMetadata': {'Item': [{'Value': 1}]}}}},
        {'Body': {'stkCallback': {
                    'CheckoutRequestID': 'ws_CO_1', 'ResultCode': 0,
                    'CallbackMetadata': {'Item': [
                            {'Name': 'TransactionDate', 'Value': 2019}]}}}},
        ])
def test_stk_callback_wrong_shape(data):
    "Payloads of the wrong shape raise ParseError."
    with pytest.raises(ParseError):
        parse_stk_callback(data)


def test_stk_push_response(sample):
    response = parse_stk_push_response(sample('stk_push_response'))
    assert response.checkout_request_id == 'ws_CO_1007202409152617172396192'
    assert response.merchant_request_id == '2654-4b64-97ff-b827b542881d3130'
    assert response.response_code == '0'
    assert response.customer_message.startswith('Success')


def test_stk_query_with_typo(sample):
    "The real query answer (with 'successsfully') parses; codes are text."
    result = parse_stk_query(sample('stk_query_success'))
    assert result.succeeded
    assert not result.pending
    assert result.result_code == '0'
    assert result.checkout_request_id == 'ws_CO_13012021093521236557'
    assert result.merchant_request_id == '22205-34066-1'


def test_stk_query_cancelled_with_success_text(sample):
    "Only the code counts, even when ResultDesc says success."
    data = sample('stk_query_success')
    data['ResultCode'] = '1032'
    result = parse_stk_query(data)
    assert not result.succeeded
    assert result.result_code == '1032'


def test_stk_query_pending_4999(sample):
    data = sample('stk_query_success')
    data['ResultCode'] = 4999
    assert parse_stk_query(data).pending


def test_stk_query_error_envelope_is_not_a_result(sample):
    "The pending error envelope has no ResultCode: not a query result."
    with pytest.raises(ParseError):
        parse_stk_query(sample('stk_query_pending'))


def test_b2c_result_success(sample):
    result = parse_result(sample('b2c_result_success'))
    assert result.succeeded
    assert result.result_code == '0'
    assert result.result_type == '0'
    assert result.conversation_id == 'AG_20240706_2010364430d9bbdaf872'
    assert result.originator_conversation_id == (
        '53e3-4aa8-9fe0-8fb5e4092cdd3533373')
    assert result.amount == Decimal('10')
    assert result.receipt == 'SG632NMUAB'
    assert result.recipient == '254705912645 - NICHOLAS JOHN SONGOK'
    assert result.recipient_name == 'NICHOLAS JOHN SONGOK'
    # "06.07.2024 22:48:52" is Nairobi time
    assert result.completed_at == dt.datetime(
        2024, 7, 6, 19, 48, 52, tzinfo=UTC)
    assert result.parameter('B2CRecipientIsRegisteredCustomer') == 'Y'
    assert result.reference_data == {
        'QueueTimeoutURL':
        'https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit'}


def test_b2c_result_failure(sample):
    "A failure has no ResultParameters."
    result = parse_result(sample('b2c_result_failure'))
    assert not result.succeeded
    assert result.result_code == '2001'
    assert result.parameters == {}
    assert result.amount is None
    assert result.receipt == ''
    assert result.completed_at is None


def test_transaction_status_result(sample):
    "Receipt comes from ReceiptNo, not the placeholder TransactionID."
    result = parse_result(sample('transaction_status_result'))
    assert result.succeeded
    assert result.transaction_id == 'MBN0000000'
    assert result.receipt == 'MBN31H462N'
    assert result.amount == Decimal('300')
    assert result.transaction_status == 'Completed'
    assert result.recipient_name == 'John Doe'
    assert result.completed_at == dt.datetime(
        2018, 2, 23, 2, 41, 12, tzinfo=UTC)
    assert result.parameters['TransactionReason'] is None
    assert result.reference_data == {'Occasion': None}


def test_transaction_status_keys_with_spaces(sample):
    "ERPNext's fixture spells keys with spaces: parameter() finds them."
    data = sample('transaction_status_result')
    data['Result']['ResultParameters']['ResultParameter'].append(
        {'Key': 'Originator Conversation ID', 'Value': '19455-773836-1'})
    data['Result']['ResultParameters']['ResultParameter'] = [
        p for p in data['Result']['ResultParameters']['ResultParameter']
        if p['Key'] != 'OriginatorConversationID']
    result = parse_result(data)
    assert result.parameter('OriginatorConversationID') == '19455-773836-1'


def test_reversal_results(sample):
    success = parse_result(sample('reversal_result_success'))
    assert success.succeeded
    assert success.amount == Decimal('1')
    assert success.receipt == 'SKE52PAWR9'
    assert success.completed_at == dt.datetime(
        2021, 11, 14, 10, 27, 11, tzinfo=UTC)
    failure = parse_result(sample('reversal_result_failure'))
    assert not failure.succeeded
    assert failure.result_code == 'R000002'
    assert failure.receipt == ''


def test_account_balance_result(sample):
    result = parse_result(sample('account_balance_result'))
    assert result.succeeded
    balances = {b.account: b for b in result.balances}
    assert len(balances) == 5
    utility = balances['Utility Account']
    assert utility.currency == 'KES'
    assert utility.current == utility.available == Decimal('228037.00')
    assert balances['Charges Paid Account'].current == Decimal('-1540.00')
    assert result.completed_at == dt.datetime(
        2020, 1, 9, 9, 57, 10, tzinfo=UTC)


def test_account_balance_lookup(sample):
    "An account by its name, case and spaces ignored; None when absent"
    result = parse_result(sample('account_balance_result'))
    assert result.balance('Working Account').available == Decimal('700000.00')
    assert result.balance('utility  account').current == Decimal('228037.00')
    assert result.balance('Charges Paid Account').available < 0
    assert result.balance('MMF Account') is None


def test_account_balance_result_variants(sample):
    """BOCompletedTime as a number (ERPNEXT), ResultCode as a number, and
    accounts with fewer columns or JSON numbers"""
    data = sample('account_balance_result')
    inner = data['Result']
    inner['ResultCode'] = 0
    inner['ResultParameters']['ResultParameter'] = [
        {'Key': 'AccountBalance',
            'Value': 'Working Account|KES|-5.50&Utility Account|KES|12|12'},
        {'Key': 'BOCompletedTime', 'Value': 20200109125710}]
    result = parse_result(data)
    assert result.succeeded
    working = result.balance('Working Account')
    assert (working.current, working.available) == (Decimal('-5.50'), None)
    assert result.balance('Utility Account').available == Decimal(12)
    assert result.completed_at == dt.datetime(
        2020, 1, 9, 9, 57, 10, tzinfo=UTC)


def test_account_balance_failure(sample):
    "A failure carries no parameters: no balances, no time"
    data = sample('account_balance_result')
    inner = data['Result']
    inner.update(ResultCode=2001,
        ResultDesc='The initiator information is invalid.')
    del inner['ResultParameters']
    result = parse_result(data)
    assert not result.succeeded
    assert result.balances == ()
    assert result.balance('Working Account') is None
    assert result.completed_at is None


def test_parse_account_balance_wrong_shape():
    assert parse_account_balance('') == ()
    with pytest.raises(ParseError):
        parse_account_balance('Working Account')
    with pytest.raises(ParseError):
        parse_account_balance('Working Account|KES|abc|0|0|0')


def test_result_variants(sample):
    """ResultParameter as an object, ReferenceItem as a list, the misspelt
    OriginatorCoversationID and a ResultCode as text are all accepted."""
    data = sample('reversal_result_success')
    inner = data['Result']
    inner['OriginatorCoversationID'] = inner.pop('OriginatorConversationID')
    inner['ResultCode'] = '00000000'
    inner['ResultParameters']['ResultParameter'] = {
        'Key': 'Amount', 'Value': '5.00'}
    inner['ReferenceData']['ReferenceItem'] = [
        {'Key': 'QueueTimeoutURL', 'Value': 'x'}, {'Key': 'Occasion'}]
    result = parse_result(data)
    assert result.succeeded
    assert result.originator_conversation_id == (
        'dad6-4c34-8787-c8cb963a496d1268232')
    assert result.amount == Decimal('5.00')
    assert result.reference_data == {'QueueTimeoutURL': 'x', 'Occasion': None}


@pytest.mark.parametrize('data', [
        None, [], {}, {'Result': None}, {'Result': {'ResultDesc': 'x'}},
        {'Result': {'ResultCode': 0, 'ResultParameters': []}},
        {'Result': {'ResultCode': 0, 'ResultParameters': {
                    'ResultParameter': [{'Value': 1}]}}},
        {'Result': {'ResultCode': 0, 'ResultParameters': {
                    'ResultParameter': 'text'}}},
        ])
def test_result_wrong_shape(data):
    with pytest.raises(ParseError):
        parse_result(data)


def test_c2b_plain(sample):
    payment = parse_c2b(sample('c2b_plain'))
    assert payment.msisdn_kind == 'plain'
    assert payment.msisdn == '254708374149'
    assert payment.trans_id == 'RKTQDM7W6S'
    assert payment.amount == Decimal('10')
    assert payment.org_account_balance == Decimal('49197.00')
    assert payment.middle_name == 'J.'
    assert payment.matches_phone('0708 374 149')
    assert not payment.matches_phone('0712345678')


def test_c2b_masked(sample):
    payment = parse_c2b(sample('c2b_masked'))
    assert payment.msisdn_kind == 'masked'
    assert payment.msisdn == '2547 ***** 126'
    assert payment.transaction_type == 'Pay Bill'
    assert payment.amount == Decimal('5.00')
    assert payment.business_shortcode == '600966'
    assert payment.bill_ref_number == 'Sample Transaction'
    assert payment.trans_time == dt.datetime(
        2023, 11, 21, 9, 13, 25, tzinfo=UTC)
    assert not payment.matches_phone('254712345126')


def test_c2b_hashed(sample):
    "The 2025 sandbox hash is sha256 of 254705912645."
    payment = parse_c2b(sample('c2b_hashed'))
    assert payment.msisdn_kind == 'hashed'
    assert payment.msisdn == hashlib.sha256(b'254705912645').hexdigest()
    assert payment.matches_phone('0705912645')
    assert not payment.matches_phone('0705912646')
    assert payment.invoice_number == 'ThisInvoice'
    assert payment.org_account_balance == Decimal('41880264.80')
    assert (payment.first_name, payment.middle_name, payment.last_name) == (
        'NICHOLAS', 'JOHN', 'SONGOK')


def test_c2b_validation_has_blank_balance(sample):
    data = sample('c2b_masked')
    data['OrgAccountBalance'] = ''
    assert parse_c2b(data).org_account_balance is None


@pytest.mark.parametrize('field, value', [
        ('TransID', ''), ('TransAmount', 'five'), ('TransTime', '2023'),
        ('TransAmount', None), ('BusinessShortCode', {}), ('MSISDN', []),
        ])
def test_c2b_wrong_shape(sample, field, value):
    data = sample('c2b_masked')
    data[field] = value
    with pytest.raises(ParseError):
        parse_c2b(data)


def test_accepted_with_misspelt_originator(sample):
    "C2B answers spell OriginatorCoversationID; v1 had no ResponseCode."
    answer = parse_accepted(sample('c2b_register_response'))
    assert answer.originator_conversation_id == (
        '6e86-45dd-91ac-fd5d4178ab523408729')
    assert answer.accepted
    old = parse_accepted(sample('c2b_simulate_v1_response'))
    assert old.accepted
    assert old.conversation_id == 'AG_20180324_000066530b914eee3f85'
    b2c = parse_accepted(sample('b2c_response'))
    assert b2c.conversation_id == 'AG_20240706_20106e9209f64bebd05b'
    assert b2c.response_code == '0'


def test_pull_transactions(sample):
    result = parse_pull_transactions(sample('pull_response'))
    assert result.ok
    (row,) = result.transactions
    assert row.transaction_id == 'TKO9ABCDEF'
    assert row.amount == Decimal('2697.0')
    assert row.time == dt.datetime(2025, 1, 24, 7, 56, 11, tzinfo=UTC)
    assert row.msisdn == '254712345678'


def test_pull_no_records():
    "1001 with no Response is an empty, not-ok result."
    result = parse_pull_transactions(
        {'ResponseCode': '1001', 'ResponseMessage': 'No records found'})
    assert not result.ok
    assert result.transactions == ()
