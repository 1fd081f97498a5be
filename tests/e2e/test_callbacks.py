# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The callback route over real HTTP: refusals, the inbox, duplicates,
early and mismatched callbacks."""
import json
import os
from decimal import Decimal

import pytest
import requests
from proteus import Model

from .scenario import (
    create_quotation, payment_settled, request_payment, wait_for)

pytestmark = pytest.mark.e2e


def callback_url(tryton_url, identifier, kind='stk'):
    return f"{tryton_url}/{os.environ['DB_NAME']}/daraja/{identifier}/{kind}"


def stk_callback(checkout_request_id, amount, code=0):
    "An STK callback as Daraja sends it"
    callback = {
        'MerchantRequestID': '29115-34620561-1',
        'CheckoutRequestID': checkout_request_id,
        'ResultCode': code,
        'ResultDesc': "The service request is processed successfully.",
        }
    if not code:
        callback['CallbackMetadata'] = {'Item': [
                {'Name': 'Amount', 'Value': amount},
                {'Name': 'MpesaReceiptNumber', 'Value': 'TKL1A2B3C4'},
                {'Name': 'TransactionDate', 'Value': 20261122101500},
                {'Name': 'PhoneNumber', 'Value': 254712345678},
                ]}
    return {'Body': {'stkCallback': callback}}


def events():
    Event = Model.get('account.payment.mpesa.event')
    return Event.find([])


def test_unknown_identifier(shop, tryton_url):
    response = requests.post(
        callback_url(tryton_url, 'f' * 32), json=stk_callback('ws_CO_1', 1))
    assert response.status_code == 404
    assert not events()


def test_unknown_kind(shop, tryton_url):
    response = requests.post(
        callback_url(
            tryton_url, shop.mpesa_account.callback_identifier, 'nothing'),
        json={})
    assert response.status_code == 404


def test_oversize(shop, tryton_url):
    body = json.dumps({'padding': 'x' * (64 * 1024)})
    response = requests.post(
        callback_url(tryton_url, shop.mpesa_account.callback_identifier),
        data=body, headers={'Content-Type': 'application/json'})
    assert response.status_code == 413
    assert not events()


@pytest.mark.parametrize('body', [
        'this is not JSON',
        '[1, 2]',
        json.dumps({'Body': {'nothing': 'here'}}),
        ])
def test_malformed(shop, tryton_url, body):
    "A malformed callback is refused and kept once as an invalid event"
    response = requests.post(
        callback_url(tryton_url, shop.mpesa_account.callback_identifier),
        data=body, headers={'Content-Type': 'application/json'})
    assert response.status_code == 400
    event, = events()
    assert event.state == 'invalid'
    assert event.body == body
    assert event.error


def test_ip_allow_list(shop, tryton_url):
    "Callbacks from outside the allow-list are refused"
    shop.mpesa_account.ip_allow_list = '10.1.0.0/16\n203.0.113.7'
    shop.mpesa_account.save()
    url = callback_url(tryton_url, shop.mpesa_account.callback_identifier)
    body = stk_callback('ws_CO_unknown', 1)

    assert requests.post(url, json=body).status_code == 404
    # X-Forwarded-For is believed only from a trusted proxy
    forwarded = {'X-Forwarded-For': '203.0.113.7'}
    assert requests.post(url, json=body, headers=forwarded).status_code == 404
    shop.mpesa_account.trusted_proxies = '127.0.0.0/8'
    shop.mpesa_account.save()
    assert requests.post(url, json=body, headers=forwarded).status_code == 200
    event, = events()
    assert event.remote_address == '203.0.113.7'


def test_not_stored_not_acknowledged(shop, tryton_url, monkeypatch):
    "A callback that cannot be stored is answered 503"
    from trytond.pool import Pool
    Event = Pool(os.environ['DB_NAME']).get('account.payment.mpesa.event')

    def receive(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(Event, 'receive', receive)
    response = requests.post(
        callback_url(tryton_url, shop.mpesa_account.callback_identifier),
        json=stk_callback('ws_CO_1', 1))
    assert response.status_code == 503
    monkeypatch.undo()
    assert not events()


def test_stored_after_a_conflict(shop, tryton_url, monkeypatch):
    """A callback whose transaction meets a database conflict is stored,
    with its body, when the route runs again"""
    from trytond import backend
    from trytond.pool import Pool
    Event = Pool(os.environ['DB_NAME']).get('account.payment.mpesa.event')
    receive = Event.receive
    conflicts = []

    def conflicting(*args, **kwargs):
        result = receive(*args, **kwargs)
        if not conflicts:
            conflicts.append(result)
            raise backend.DatabaseOperationalError("a concurrent update")
        return result
    monkeypatch.setattr(Event, 'receive', conflicting)
    body = stk_callback('ws_CO_1', 1)
    response = requests.post(
        callback_url(tryton_url, shop.mpesa_account.callback_identifier),
        json=body)
    assert response.status_code == 200
    assert conflicts
    monkeypatch.undo()
    event, = events()
    assert json.loads(event.body) == body
    assert event.state != 'invalid'


def test_duplicate_deliveries(shop, simulator):
    "Five deliveries of one callback settle the payment once"
    simulator.set_faults(duplicate_callbacks=5)
    sale = create_quotation(shop.customer, 1000)
    payment = request_payment(sale).form.payment
    assert wait_for(payment_settled(payment))
    assert wait_for(lambda: len(simulator.callbacks) == 5)
    assert all(c.get('status') == 200 for c in simulator.callbacks)
    assert wait_for(
        lambda: all(e.state == 'done' for e in events()) and events())

    assert payment.state == 'succeeded'
    assert len(events()) == 5
    Ledger = Model.get('account.payment.mpesa.transaction')
    assert len(Ledger.find([])) == 1
    Move = Model.get('account.move')
    assert len(Move.find([('origin', '=', str(payment))])) == 1


def test_callback_before_push_response(shop, simulator):
    "A callback that beats the push response settles the payment"
    simulator.set_faults(callback_before_response=True)
    sale = create_quotation(shop.customer, 1000)
    payment = request_payment(sale).form.payment
    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded'
    event, = events()
    assert event.state == 'done'
    assert event.payment == payment


def test_amount_mismatch(shop, simulator, tryton_url):
    """A success for another amount holds the payment for review (a
    hand-made callback: the account does not confirm callbacks)"""
    shop.mpesa_account.confirm_callbacks = False
    shop.mpesa_account.save()
    simulator.set_customer('254712345678', 'never')
    sale = create_quotation(shop.customer, 1000)
    payment = request_payment(sale).form.payment
    assert payment.mpesa_state == 'pending'

    response = requests.post(
        callback_url(tryton_url, shop.mpesa_account.callback_identifier),
        json=stk_callback(payment.mpesa_checkout_request_id, 10))
    assert response.status_code == 200
    assert response.json()['ResultCode'] == 0

    assert wait_for(payment_settled(payment))
    assert payment.state == 'processing'
    assert payment.mpesa_state == 'review'
    assert "10" in payment.mpesa_message
    assert "1000" in payment.mpesa_message
    assert not payment.clearing_move
    Ledger = Model.get('account.payment.mpesa.transaction')
    receipt, = Ledger.find([])
    assert receipt.amount == Decimal(10)
    assert receipt.payment == payment
    assert receipt.state == 'unsettled'
