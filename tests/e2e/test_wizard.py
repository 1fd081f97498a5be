# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The Request M-Pesa Payment wizard refuses bad input with a clear
message and creates nothing."""
from decimal import Decimal

import pytest
from proteus import Model, Wizard

from trytond.exceptions import UserError

from .scenario import (
    create_quotation, payment_settled, request_payment, sale_confirmed,
    wait_for)

pytestmark = pytest.mark.e2e


def assert_refused(sale, message, simulator, **values):
    Payment = Model.get('account.payment')
    with pytest.raises(UserError) as info:
        request_payment(sale, **values)
    assert message in info.value.message
    assert not Payment.find([])
    assert not simulator.requests


@pytest.mark.parametrize('phone', ['0200 123 456', '255712345678', '123456'])
def test_bad_phone(shop, simulator, phone):
    sale = create_quotation(shop.customer, 1000)
    assert_refused(
        sale, f'"{phone}" cannot receive M-Pesa prompts', simulator,
        phone=phone)


def test_not_whole_shillings(shop, simulator):
    sale = create_quotation(shop.customer, 1000)
    assert_refused(
        sale, "whole", simulator, amount=Decimal('100.50'))


def test_above_account_limit(shop, simulator):
    shop.mpesa_account.stk_maximum = Decimal(500)
    shop.mpesa_account.save()
    sale = create_quotation(shop.customer, 1000)
    assert_refused(
        sale, "must be between 1 and 500 KES", simulator)


def test_above_amount_due(shop, simulator):
    sale = create_quotation(shop.customer, 1000)
    assert_refused(
        sale, "more than the 1000.00 still due", simulator,
        amount=Decimal(1200))


def test_nothing_due(shop, simulator):
    "A wizard opened while something was due refuses once it is paid"
    sale = create_quotation(shop.customer, 1000)
    wizard = Wizard('account.payment.mpesa.request', [sale])
    payment = request_payment(sale).form.payment
    assert wait_for(payment_settled(payment))
    # Queued tasks confirm the sale: the wizard would lock it meanwhile (a
    # client's call is retried on that conflict, proteus's is not)
    assert wait_for(sale_confirmed(sale))
    assert sale.mpesa_amount_due == 0

    wizard.form.journal = shop.journal
    wizard.form.phone = '0712345678'
    wizard.form.amount = Decimal(10)
    wizard.form.account_reference = sale.number
    with pytest.raises(UserError) as info:
        wizard.execute('request')
    assert "Nothing is left to pay" in info.value.message
    Payment = Model.get('account.payment')
    assert len(Payment.find([])) == 1
