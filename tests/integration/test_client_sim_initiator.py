# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The initiator APIs through the client against the simulator: B2C,
Transaction Status, Reversal and Account Balance, with their results
POSTed to the local listener."""
import base64
import datetime as dt
import re
from decimal import Decimal

import pytest

from daraja_sim.keys import KeyPair
from trytond.modules.account_mpesa.daraja import (
    DuplicateRequest, InvalidRequest, parse_result, parse_stk_callback,
    result_message, security_credential)

from .conftest import (
    B2C, B2C_SHORTCODE, BALANCE, INITIATOR_PASSWORD, MSISDN, REVERSAL,
    SHORTCODE, STATUS, TIMEOUT_HOOK, Api, make_client, new_id)

UTC = dt.timezone.utc


def test_b2c_success(api, sim):
    "A payout with a SecurityCredential made from the certificate"
    ocid = new_id()
    accepted = api.b2c(amount=150, originator_conversation_id=ocid,
        occasion='Refund INV-0042')
    assert accepted.accepted
    assert accepted.response_code == '0'
    assert accepted.originator_conversation_id == ocid
    assert accepted.conversation_id.startswith('AG_')

    body = api.requests(B2C)[0]['json']
    assert body['OriginatorConversationID'] == ocid
    assert body['PartyA'] == B2C_SHORTCODE
    assert body['PartyB'] == MSISDN
    assert body['Occassion'] == 'Refund INV-0042'
    assert INITIATOR_PASSWORD not in body['SecurityCredential']
    assert len(base64.b64decode(body['SecurityCredential'])) == 256

    result = parse_result(api.result(accepted.conversation_id))
    entry, = sim.ledger
    assert result.succeeded
    assert result.result_code == '0'
    assert result.originator_conversation_id == ocid
    assert result.amount == Decimal('150')
    assert result.receipt == entry['receipt'] == result.transaction_id
    assert result.recipient.startswith(MSISDN + ' - ')
    assert result.recipient_name
    assert result.completed_at.utcoffset() == dt.timedelta(0)
    assert result.completed_at == entry['time'].replace(microsecond=0)
    assert entry['kind'] == 'b2c'
    assert entry['amount'] == 150
    assert entry['phone'] == MSISDN


@pytest.mark.parametrize('password, name', [
        ('Wrong#Pass1', None),
        (None, 'someone-else'),
        ])
def test_b2c_wrong_initiator(api, sim, password, name):
    "A wrong initiator password or name is accepted, then fails with 2001"
    options = {'security_credential': api.credential(password)}
    if name:
        options['initiator_name'] = name
    accepted = api.b2c(**options)
    assert accepted.accepted
    result = parse_result(api.result(accepted.conversation_id))
    assert result.result_code == '2001'
    assert not result.succeeded
    assert result.receipt == ''
    assert result.amount is None
    assert result.recipient == ''
    assert 'initiator' in result_message(result.result_code, 'b2c')
    assert sim.ledger == []


def test_b2c_duplicate(api, sim):
    "Reusing an OriginatorConversationID is DuplicateRequest"
    ocid = new_id()
    api.b2c(originator_conversation_id=ocid)
    with pytest.raises(DuplicateRequest) as info:
        api.b2c(originator_conversation_id=ocid)
    assert info.value.code == '500.002.1001'
    assert 'Duplicate' in info.value.message
    assert len(api.requests(B2C)) == 2


def test_b2c_invalid_field(api, sim):
    "A field Daraja refuses is InvalidRequest with its message"
    with pytest.raises(InvalidRequest) as info:
        api.b2c(party_a='600999')
    assert info.value.message == 'Bad Request - Invalid PartyA'
    assert info.value.code == '400.002.02'
    assert info.value.http_status == 400


def test_b2c_queue_timeout(api, sim, listener):
    "A queue timeout is not a final failure: no payout, status says so"
    sim.set_faults(b2c_queue_timeout=True)
    ocid = new_id()
    accepted = api.b2c(originator_conversation_id=ocid)
    timeout = parse_result(listener.wait(TIMEOUT_HOOK)[0])
    assert timeout.conversation_id == accepted.conversation_id
    assert timeout.originator_conversation_id == ocid
    assert timeout.result_type == '1'
    assert not timeout.succeeded
    assert timeout.receipt == ''
    assert sim.ledger == []

    # Transaction Status by the OriginatorConversationID: no such payout
    query = api.status(originator_conversation_id=ocid,
        party_a=B2C_SHORTCODE)
    status = parse_result(api.result(query.conversation_id))
    assert not status.succeeded
    assert status.receipt == ''


def test_b2c_late_result_after_timeout(api, sim, listener):
    "The payout may still happen after a queue timeout"
    sim.set_faults(b2c_queue_timeout=True, late_result_after_timeout=0.1)
    ocid = new_id()
    accepted = api.b2c(amount=300, originator_conversation_id=ocid)
    listener.wait(TIMEOUT_HOOK)
    late = parse_result(api.result(accepted.conversation_id))
    entry, = sim.ledger
    assert late.succeeded
    assert late.receipt == entry['receipt']

    query = api.status(originator_conversation_id=ocid,
        party_a=B2C_SHORTCODE)
    status = parse_result(api.result(query.conversation_id))
    assert status.succeeded
    assert status.transaction_status == 'Completed'
    assert status.receipt == entry['receipt']
    assert status.amount == 300
    assert status.parameter('OriginatorConversationID') == ocid


def test_transaction_status_of_stk_payment(api, sim):
    "Transaction Status by receipt of an STK payment"
    push, raw = api.pay(amount=42)
    receipt = parse_stk_callback(raw).receipt
    accepted = api.status(transaction_id=receipt, occasion='Check')
    assert accepted.accepted
    body = api.requests(STATUS)[0]['json']
    assert body['TransactionID'] == receipt
    assert body['CommandID'] == 'TransactionStatusQuery'
    assert body['IdentifierType'] == '4'
    result = parse_result(api.result(accepted.conversation_id))
    entry, = sim.ledger
    assert result.succeeded
    assert result.transaction_status == 'Completed'
    assert result.receipt == receipt
    assert result.amount == 42
    assert result.completed_at == entry['time'].replace(microsecond=0)
    # the zero-filled TransactionID of a status result is no receipt
    assert re.fullmatch(r'[A-Z0-9]{3}0{7}', result.transaction_id)


def test_transaction_status_unknown(api, sim):
    "Transaction Status of a receipt M-Pesa does not know"
    accepted = api.status(transaction_id='SAB1234567')
    result = parse_result(api.result(accepted.conversation_id))
    assert not result.succeeded
    assert result.receipt == ''


def test_reversal(api, sim):
    "Reverse an STK payment, then again (R000001), then a bad one (R000002)"
    push, raw = api.pay(amount=80)
    receipt = parse_stk_callback(raw).receipt

    accepted = api.reversal(receipt, 80, occasion='Wrong order')
    assert accepted.accepted
    body = api.requests(REVERSAL)[0]['json']
    assert body['TransactionID'] == receipt
    assert body['ReceiverParty'] == SHORTCODE
    assert body['RecieverIdentifierType'] == '11'
    assert body['Amount'] == 80
    result = parse_result(api.result(accepted.conversation_id))
    original, reversal = sim.ledger
    assert result.succeeded
    assert result.amount == 80
    assert result.receipt == reversal['receipt'] != receipt
    assert result.parameter('OriginalTransactionID') == receipt
    assert result.recipient.startswith(MSISDN)
    assert result.completed_at == reversal['time'].replace(microsecond=0)
    assert reversal['kind'] == 'reversal'
    assert reversal['original'] == receipt

    again = api.reversal(receipt, 80)
    result = parse_result(api.result(again.conversation_id))
    assert result.result_code == 'R000001'
    assert not result.succeeded
    assert result.receipt == ''
    assert 'already been reversed' in result_message(
        result.result_code, 'reversal')

    unknown = api.reversal('SAB1234567', 80)
    result = parse_result(api.result(unknown.conversation_id))
    assert result.result_code == 'R000002'
    assert 'invalid' in result_message(result.result_code, 'reversal')

    wrong_amount = api.reversal(receipt, 81)
    result = parse_result(api.result(wrong_amount.conversation_id))
    assert result.result_code == 'R000002'
    assert len(sim.ledger) == 2

    # B2C payouts cannot be reversed through the API
    payout = api.b2c(amount=20)
    paid = parse_result(api.result(payout.conversation_id))
    assert paid.succeeded
    refused = api.reversal(paid.receipt, 20)
    result = parse_result(api.result(refused.conversation_id))
    assert result.result_code == 'R000002'
    assert [e['kind'] for e in sim.ledger] == ['stk', 'reversal', 'b2c']


def test_account_balance(api, sim):
    "Account Balance of the B2C shortcode, after a payout"
    payout = api.b2c(amount=250)
    api.result(payout.conversation_id)
    accepted = api.balance()
    assert accepted.accepted
    body = api.requests(BALANCE)[0]['json']
    assert body['PartyA'] == B2C_SHORTCODE
    assert body['CommandID'] == 'AccountBalance'
    result = parse_result(api.result(accepted.conversation_id))
    assert result.succeeded
    balances = {b.account: b for b in result.balances}
    assert list(balances) == [
        'Working Account', 'Float Account', 'Utility Account',
        'Charges Paid Account', 'Organization Settlement Account']
    utility = balances['Utility Account']
    assert utility.currency == 'KES'
    # less the B2C Payment Charge the simulator took (its tariff)
    charge, = [e['charge'] for e in sim.ledger if e['kind'] == 'b2c']
    assert utility.current == utility.available == (
        sim.b2c_float - 250 - charge)
    assert utility.reserved == utility.uncleared == 0
    assert balances['Working Account'].current == 0
    assert result.completed_at.utcoffset() == dt.timedelta(0)
    assert abs(result.completed_at - dt.datetime.now(UTC)) \
        < dt.timedelta(minutes=1)


def test_account_balance_paybill(api, sim):
    "Account Balance of the paybill after a payment"
    api.pay(amount=64)
    accepted = api.balance(party_a=SHORTCODE)
    result = parse_result(api.result(accepted.conversation_id))
    utility, = [b for b in result.balances if b.account == 'Utility Account']
    assert utility.current == 64


def test_wrong_certificate(make_sim, listener):
    "A credential for another certificate reads as a wrong password"
    sim = make_sim()
    api = Api(make_client(sim.url), sim, listener)
    other = KeyPair.generate().certificate_pem
    accepted = api.balance(security_credential=security_credential(
            INITIATOR_PASSWORD, other))
    result = parse_result(api.result(accepted.conversation_id))
    assert result.result_code == '2001'


@pytest.mark.parametrize('settings, amount, code, words', [
        ({}, 5, '2', 'below the minimum'),
        ({}, 250_001, '3', 'above the maximum'),
        ({'b2c_float': 50}, 100, '1', 'balance is insufficient'),
        ])
def test_b2c_declined(make_sim, listener, settings, amount, code, words):
    "Limits and float are checked by M-Pesa: the result says why"
    sim = make_sim(**settings)
    api = Api(make_client(sim.url), sim, listener)
    accepted = api.b2c(amount=amount)
    result = parse_result(api.result(accepted.conversation_id))
    assert result.result_code == code
    assert not result.succeeded
    assert words in result_message(result.result_code, 'b2c')
    assert sim.ledger == []
