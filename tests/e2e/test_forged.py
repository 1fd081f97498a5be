# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Forged callbacks over real HTTP: with Confirm Callbacks on, Daraja's
answers decide and a forged claim changes no payment; with it off, every
real result still lands in the ledger."""
import datetime as dt

import pytest
import requests
from proteus import Model

from .scenario import (
    create_quotation, payment_settled, request_payment, wait_for)
from .test_callbacks import callback_url, stk_callback
from .test_refund import (  # noqa: F401 (fixture)
    approve_and_process, collect, payouts, refund)

pytestmark = pytest.mark.e2e

PHONE = '254712345678'


def forge(tryton_url, account, body, kind='stk'):
    response = requests.post(
        callback_url(tryton_url, account.callback_identifier, kind),
        json=body)
    assert response.status_code == 200
    Event = Model.get('account.payment.mpesa.event')
    event, = Event.find([('kind', '=', kind)], order=[('id', 'DESC')],
        limit=1)
    return event


def pending_payment(shop, simulator):
    "A sale's STK Push whose customer has not answered yet"
    simulator.set_customer(PHONE, 'never')
    sale = create_quotation(shop.customer, 1000)
    payment = request_payment(sale).form.payment
    assert payment.mpesa_state == 'pending'
    return payment


def process_again(event):
    event.click('process')
    event.reload()
    return event


def events_of(payment):
    Event = Model.get('account.payment.mpesa.event')
    return Event.find([('reference', '=', payment.mpesa_checkout_request_id)])


def test_forged_stk_success(shop, simulator, tryton_url):
    "A forged success waits for Daraja, which contradicts it"
    payment = pending_payment(shop, simulator)
    forged = forge(tryton_url, shop.mpesa_account,
        stk_callback(payment.mpesa_checkout_request_id, 1000))
    assert wait_for(lambda: forged.reload() or forged.attempts >= 1)
    assert forged.state == 'pending'
    assert "confirm" in forged.error
    payment.reload()
    assert (payment.state, payment.mpesa_state) == ('processing', 'pending')

    simulator.answer(payment.mpesa_checkout_request_id, 'cancelled')
    assert wait_for(payment_settled(payment))
    assert payment.state == 'failed'
    assert payment.mpesa_result_code == '1032'
    assert process_again(forged).state == 'rejected'
    assert "1032" in forged.error
    payment.reload()
    assert payment.state == 'failed'
    assert not payment.mpesa_transactions
    assert not Model.get('account.payment.mpesa.transaction').find([])


def test_forged_stk_failure(shop, simulator, tryton_url):
    "A forged failure does not fail a payment the customer then pays"
    payment = pending_payment(shop, simulator)
    forged = forge(tryton_url, shop.mpesa_account,
        stk_callback(payment.mpesa_checkout_request_id, 1000, code=1032))
    assert wait_for(lambda: forged.reload() or forged.attempts >= 1)
    assert forged.state == 'pending'
    payment.reload()
    assert payment.state == 'processing'

    simulator.answer(payment.mpesa_checkout_request_id, 'success')
    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded'
    assert process_again(forged).state == 'rejected'
    payment.reload()
    assert payment.state == 'succeeded'
    receipt, = payment.mpesa_transactions
    assert receipt.state == 'matched'


def test_other_account_url(shop, simulator, tryton_url):
    "A callback on another account's URL never touches this payment"
    Account = Model.get('account.payment.mpesa.account')
    other = Account(
        name="Other Till", environment='custom', base_url=simulator.url,
        shortcode_type='paybill', business_shortcode='600000',
        consumer_key='k', consumer_secret='s', passkey='p',
        callback_base_url=tryton_url)
    other.save()
    payment = pending_payment(shop, simulator)
    event = forge(tryton_url, other,
        stk_callback(payment.mpesa_checkout_request_id, 1000))
    assert wait_for(lambda: event.reload() or event.processed_at)
    assert event.state == 'pending'
    assert event.account == other
    assert not event.payment
    payment.reload()
    assert (payment.state, payment.mpesa_state) == ('processing', 'pending')

    simulator.answer(payment.mpesa_checkout_request_id, 'success')
    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded'


def test_confirmation_off_keeps_real_result(shop, simulator, tryton_url):
    """Without confirmation a forged success settles the payment, but the
    real result that follows is kept in the ledger and held for review"""
    shop.mpesa_account.confirm_callbacks = False
    shop.mpesa_account.save()
    payment = pending_payment(shop, simulator)
    forge(tryton_url, shop.mpesa_account,
        stk_callback(payment.mpesa_checkout_request_id, 1000))
    assert wait_for(payment_settled(payment))
    assert payment.mpesa_receipt == 'TKL1A2B3C4'

    simulator.answer(payment.mpesa_checkout_request_id, 'success')
    Ledger = Model.get('account.payment.mpesa.transaction')
    assert wait_for(lambda: len(Ledger.find([])) == 2)
    real, = Ledger.find([('receipt', '!=', 'TKL1A2B3C4')])
    assert real.state == 'unsettled'
    assert real.payment == payment
    payment.reload()
    assert payment.mpesa_state == 'review'
    assert real.receipt in payment.mpesa_message


def result_callback(refund_, code, receipt, amount):
    "A B2C result as Daraja sends it"
    body = {
        'ResultType': 0, 'ResultCode': code,
        'ResultDesc': "Forged",
        'OriginatorConversationID': refund_.mpesa_originator_conversation_id,
        'ConversationID': 'AG_20261201_forged',
        'TransactionID': receipt,
        }
    if not code:
        body['ResultParameters'] = {'ResultParameter': [
                {'Key': 'TransactionAmount', 'Value': amount},
                {'Key': 'TransactionReceipt', 'Value': receipt},
                {'Key': 'ReceiverPartyPublicName',
                    'Value': '254712345678 - Forger'},
                ]}
    return {'Result': body}


@pytest.mark.parametrize('code', [0, 2040])
def test_forged_payout_result(payouts, simulator, tryton_url, code):
    """A forged B2C success or failure for a payout waiting in M-Pesa's
    queue is judged by Transaction Status, which settles the payout as it
    really went"""
    simulator.set_faults(b2c_queue_timeout=True, late_result_after_timeout=60)
    payment = collect(payouts)
    refund_ = approve_and_process(payouts, refund(payment, reason="Return"))
    assert wait_for(lambda: refund_.reload() or (
            refund_.mpesa_state == 'unknown'))
    payouts.mpesa_account.query_delay = dt.timedelta(0)
    payouts.mpesa_account.save()

    forged = forge(tryton_url, payouts.mpesa_account,
        result_callback(refund_, code, 'TKLFORGED1', 5), kind='b2c/result')
    assert wait_for(payment_settled(refund_))
    assert refund_.state == 'succeeded'
    real = simulator.ledger[-1]
    assert refund_.mpesa_receipt == real['receipt']
    assert wait_for(lambda: forged.reload() or forged.state != 'pending')
    assert forged.state == 'rejected'
    Ledger = Model.get('account.payment.mpesa.transaction')
    assert not Ledger.find([('receipt', '=', 'TKLFORGED1')])
    payment.reload()
    assert payment.mpesa_refundable == payment.amount - refund_.amount
