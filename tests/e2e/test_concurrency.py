# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Concurrent deliveries on PostgreSQL: many callbacks, each delivered
several times at once, settle every payment exactly once."""
import os
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from proteus import Model

from .scenario import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]

STORM_PAYMENTS = int(os.environ.get('MPESA_STORM_PAYMENTS', 200))
COPIES = 5


def phone(i):
    "A distinct number per payment whose simulated customer waits"
    return f'2547{20 + i // 100:02d}{i % 100:02d}9999'


def create_processing_payments(shop, count):
    "count receivable M-Pesa payments, submitted and processed at once"
    Payment = Model.get('account.payment')
    payments = []
    for i in range(count):
        payment = Payment(
            journal=shop.journal, kind='receivable', party=shop.customer,
            amount=Decimal(100 + i), mpesa_phone=phone(i))
        payments.append(payment)
    Payment.save(payments)
    Payment.click(payments, 'submit')
    Payment.click(payments, 'process_wizard')
    return payments


def test_duplicate_storm(shop, simulator):
    "Every callback delivered 5 times concurrently: each payment once"
    payments = create_processing_payments(shop, STORM_PAYMENTS)
    Payment = Model.get('account.payment')
    payments = Payment.find([('mpesa_state', '=', 'pending')])
    assert len(payments) == STORM_PAYMENTS
    simulator.set_faults(duplicate_callbacks=COPIES, concurrent_duplicates=True)

    with ThreadPoolExecutor(8) as executor:
        list(executor.map(
                lambda p: simulator.answer(
                    p.mpesa_checkout_request_id, 'success'),
                payments))
    assert wait_for(
        lambda: len(simulator.callbacks) == STORM_PAYMENTS * COPIES,
        timeout=300)
    statuses = {c.get("status") or c.get("error") for c in simulator.callbacks}
    assert statuses == {200}, statuses

    Event = Model.get('account.payment.mpesa.event')
    assert wait_for(
        lambda: not Event.find([('state', '!=', 'done')]), timeout=120)
    assert len(Event.find([])) == STORM_PAYMENTS * COPIES

    succeeded = Payment.find([('state', '=', 'succeeded')])
    assert len(succeeded) == STORM_PAYMENTS
    Ledger = Model.get('account.payment.mpesa.transaction')
    receipts = Ledger.find([])
    assert len(receipts) == STORM_PAYMENTS
    assert {r.payment for r in receipts} == set(succeeded)
    assert len({p.mpesa_receipt for p in succeeded}) == STORM_PAYMENTS
    Move = Model.get('account.move')
    moves = Move.find([('origin', 'like', 'account.payment,%')])
    assert len(moves) == STORM_PAYMENTS
