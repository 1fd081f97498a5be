# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Callbacks processed in batches, as the task queue does: stored by the
route's own code, then processed by batches in transactions of their own,
with no HTTP: one bad callback holds up only itself, repeated deliveries
settle once."""
import json
import logging
from decimal import Decimal
from itertools import count
from types import SimpleNamespace

import pytest

from test_settlement import database  # noqa: F401 (the module's database)

IDS = count(1)


@pytest.fixture
def shop(database):  # noqa: F811
    """Start committed transactions on the shop's database; the account's
    Confirm Callbacks is off: the callbacks are applied as they come"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    def transaction(**kwargs):
        return Transaction().start(database, 0, **kwargs)

    with transaction() as tx:
        pool = Pool()
        Account = pool.get('account.payment.mpesa.account')
        account, = Account.search([])
        Account.write([account], {'confirm_callbacks': False})
        shop = SimpleNamespace(
            transaction=transaction, pool=pool, account=account.id,
            company=account.company.id)
        tx.commit()
    return shop


def pending_payments(shop, number):
    "Receivable payments whose STK Push Daraja accepted; their ids"
    with shop.transaction(context={'company': shop.company}) as tx:
        Payment = shop.pool.get('account.payment')
        Journal = shop.pool.get('account.payment.journal')
        Party = shop.pool.get('party.party')
        journal, = Journal.search([('process_method', '=', 'mpesa')])
        customer, = Party.search([('name', '=', "Wanjiku Kamau")])
        payments = Payment.create([{
                    'company': shop.company, 'journal': journal.id,
                    'kind': 'receivable', 'party': customer.id,
                    'amount': Decimal(100 + i), 'mpesa_phone': '0712345678',
                    } for i in range(number)])
        for payment in payments:
            Payment.write([payment], {
                    'state': 'processing', 'mpesa_state': 'pending',
                    'mpesa_checkout_request_id': f'ws_CO_B{next(IDS)}'})
        ids = [p.id for p in payments]
        tx.commit()
    return ids


def receive(shop, payment_ids, receipts=None):
    """Store a successful STK callback for each payment (its receipt from
    receipts when given) as the route does; return the events' ids"""
    Event = shop.pool.get('account.payment.mpesa.event')
    Payment = shop.pool.get('account.payment')
    gate = SimpleNamespace(account=shop.account, company=shop.company)
    receipts = receipts or {}
    ids = []
    with shop.transaction() as tx:
        for payment in Payment.browse(payment_ids):
            body = {'Body': {'stkCallback': {
                        'MerchantRequestID': 'm',
                        'CheckoutRequestID': (
                            payment.mpesa_checkout_request_id),
                        'ResultCode': 0,
                        'ResultDesc': "Processed successfully.",
                        'CallbackMetadata': {'Item': [
                                {'Name': 'Amount',
                                    'Value': int(payment.amount)},
                                {'Name': 'MpesaReceiptNumber',
                                    'Value': receipts.get(
                                        payment.id,
                                        f'TKB{payment.id:07d}')},
                                {'Name': 'TransactionDate',
                                    'Value': 20261206101500},
                                {'Name': 'PhoneNumber',
                                    'Value': 254712345678},
                                ]}}}}
            event_id, state = Event.receive(
                gate, 'stk', json.dumps(body), '127.0.0.1')
            assert state == 'pending'
            ids.append(event_id)
        tx.commit()
    return ids


def process(shop, event_ids, size):
    "Process the events by batches of size, as the queued task does"
    Event = shop.pool.get('account.payment.mpesa.event')
    with shop.transaction(readonly=True):
        Event.process_in_batches(Event.browse(event_ids), size)


def read(shop, payment_ids, event_ids):
    "The payments and the events, as committed"
    with shop.transaction(readonly=True):
        Payment = shop.pool.get('account.payment')
        Event = shop.pool.get('account.payment.mpesa.event')
        Move = shop.pool.get('account.move')
        payments = [SimpleNamespace(
                id=p.id, rec_name=p.rec_name, state=p.state,
                mpesa_state=p.mpesa_state, message=p.mpesa_message,
                receipts=[r.receipt for r in p.mpesa_transactions],
                moves=Move.search_count([('origin', '=', str(p))]))
            for p in Payment.browse(payment_ids)]
        events = [SimpleNamespace(
                id=e.id, state=e.state, error=e.error,
                payment=e.payment.id if e.payment else None)
            for e in Event.browse(event_ids)]
        return payments, events


def settled_once(payment):
    return (payment.state, payment.mpesa_state, len(payment.receipts),
        payment.moves) == ('succeeded', 'done', 1, 1)


def test_poisoned_batch(shop):
    """A callback whose receipt settles another payment holds only its own
    payment for review, with the reason; the batch settles the others"""
    held_by, = pending_payments(shop, 1)
    process(shop, receive(shop, [held_by]), 1)
    payments = pending_payments(shop, 5)
    poisoned = payments[2]
    events = receive(shop, payments, {poisoned: f'TKB{held_by:07d}'})
    process(shop, events, 10)
    (holder,), _ = read(shop, [held_by], [])
    payments, events = read(shop, payments, events)
    assert all(e.state == 'done' for e in events)
    assert [e.payment for e in events] == [p.id for p in payments]
    for payment in payments[:2] + payments[3:]:
        assert settled_once(payment)
    poisoned = payments[2]
    assert (poisoned.state, poisoned.mpesa_state) == ('processing', 'review')
    assert holder.rec_name in poisoned.message
    assert not poisoned.receipts and not poisoned.moves
    assert settled_once(holder)


def test_failing_callback_alone(shop, monkeypatch, caplog):
    """A callback whose processing fails fails the batch, which is then
    processed one callback at a time: the others settle, it is in error
    with the reason"""
    Event = shop.pool.get('account.payment.mpesa.event')
    payments = pending_payments(shop, 4)
    events = receive(shop, payments)
    bad = events[1]
    handle = Event._handle

    def failing(self, outcome, answer, batch):
        if self.id == bad:
            raise RuntimeError("the bad one")
        return handle(self, outcome, answer, batch)
    monkeypatch.setattr(Event, '_handle', failing)
    with caplog.at_level(logging.WARNING):
        process(shop, events, 10)
    assert "batch of 4 callbacks failed" in caplog.text
    payments, events = read(shop, payments, events)
    assert [e.state for e in events] == ['done', 'error', 'done', 'done']
    assert events[1].error == "the bad one"
    assert [settled_once(p) for p in payments] == [True, False, True, True]
    assert payments[1].state == 'processing'


def test_repeated_deliveries_in_one_batch(shop):
    "Each callback delivered three times in one batch settles once"
    payments = pending_payments(shop, 3)
    events = receive(shop, payments * 3)
    process(shop, events, 50)
    payments, events = read(shop, payments, events)
    assert all(settled_once(p) for p in payments)
    assert all(e.state == 'done' for e in events)
