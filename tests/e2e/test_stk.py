# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A sale paid by STK Push, end to end: the wizard, the simulator's
customer, the callback over HTTP, the ledger, the clearing move, the sale."""
from decimal import Decimal

import pytest
from proteus import Model

from trytond.modules.account_mpesa import daraja

from .scenario import (
    create_quotation, payment_settled, post_clearing_moves, request_payment,
    sale_confirmed, today_in_nairobi, wait_for)

pytestmark = pytest.mark.e2e


def test_sale_paid_by_stk_push(shop, simulator):
    "The customer pays the whole sale; the books and the sale follow"
    sale = create_quotation(shop.customer, 1000)

    wizard = sale.click('mpesa_request_payment')
    assert wizard.form.journal == shop.journal
    assert wizard.form.phone == '254712345678'
    assert wizard.form.amount == Decimal(1000)
    assert wizard.form.account_reference == sale.number
    wizard.execute('request')
    # The simulated customer answers at once: the prompt may already be paid
    message = wizard.form.message
    assert ("sent to 2547*****678" in message
        or "paid 1000 KES from 2547*****678" in message), message
    payment = wizard.form.payment

    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded'
    assert payment.mpesa_state == 'done'
    assert payment.origin == sale
    push, = [r for r in simulator.requests
        if r['path'].endswith('/stkpush/v1/processrequest')]
    assert push['json']['AccountReference'] == sale.number
    assert push['json']['PhoneNumber'] == '254712345678'

    entry, = simulator.ledger
    assert payment.mpesa_receipt == entry['receipt']
    Ledger = Model.get('account.payment.mpesa.transaction')
    receipt, = Ledger.find([])
    assert receipt.receipt == payment.mpesa_receipt
    assert receipt.amount == Decimal(1000)
    assert receipt.payment == payment
    assert receipt.state == 'matched'
    assert receipt.phone == '254712345678'

    move = payment.clearing_move
    assert move.date == today_in_nairobi()
    assert move.origin == payment
    debit, = [l for l in move.lines if l.debit]
    credit, = [l for l in move.lines if l.credit]
    assert debit.account == shop.journal.clearing_account
    assert debit.debit == Decimal(1000)
    assert credit.account.type.receivable
    assert credit.party == shop.customer
    assert credit.credit == Decimal(1000)
    assert receipt.clearing_move == move

    assert wait_for(sale_confirmed(sale))

    assert move.state == 'draft'
    post_clearing_moves()
    move.reload()
    assert move.state == 'posted'

    invoice, = sale.invoices
    invoice.click('post')
    assert invoice.state == 'paid'


@pytest.mark.parametrize('suffix, code', [
        ('1032', '1032'),
        ('0001', '1'),
        ('2001', '2001'),
        ('1037', '1037'),
        ])
def test_customer_does_not_pay(shop, simulator, suffix, code):
    "A prompt the customer cancels or cannot pay fails with the reason"
    sale = create_quotation(shop.customer, 500, phone='+254 712 34' + suffix)
    payment = request_payment(sale).form.payment

    assert wait_for(payment_settled(payment))
    assert payment.state == 'failed'
    assert payment.mpesa_result_code == code
    assert payment.mpesa_message == daraja.result_message(code, api='stk')
    assert not payment.clearing_move
    assert not payment.mpesa_receipt
    Ledger = Model.get('account.payment.mpesa.transaction')
    assert not Ledger.find([])
    sale.reload()
    assert sale.state == 'quotation'


def test_partial_payments(shop, simulator):
    "Two prompts cover the sale; it is confirmed after the second"
    sale = create_quotation(shop.customer, 1000)
    first = request_payment(sale, amount=Decimal(600)).form.payment
    assert wait_for(payment_settled(first))
    assert first.state == 'succeeded'
    sale.reload()
    assert sale.state == 'quotation'
    assert sale.mpesa_amount_due == Decimal(400)

    wizard = sale.click('mpesa_request_payment')
    assert wizard.form.amount == Decimal(400)
    wizard.execute('request')
    second = wizard.form.payment
    assert wait_for(payment_settled(second))
    assert second.state == 'succeeded'
    assert wait_for(sale_confirmed(sale))
    assert len(simulator.ledger) == 2


def test_check_status_button(shop, simulator):
    "Check status asks Daraja when the callback does not come"
    sale = create_quotation(shop.customer, 300)
    simulator.set_customer('254712345678', 'never')
    simulator.set_faults(drop_callbacks=1.0)
    payment = request_payment(sale).form.payment
    assert payment.mpesa_state == 'pending'

    payment.click('mpesa_check_status')
    assert payment.state == 'processing'
    assert payment.mpesa_message == "M-Pesa is still waiting for the customer."

    simulator.answer(payment.mpesa_checkout_request_id, 'cancelled')
    payment.click('mpesa_check_status')
    assert payment.state == 'failed'
    assert payment.mpesa_result_code == '1032'
    assert payment.mpesa_message == daraja.result_message('1032', api='stk')


def test_connection_button(shop, simulator):
    "Test Connection gets a token, or says why Daraja refused it"
    from trytond.exceptions import UserError

    account = shop.mpesa_account
    account.click('test_connection')
    Notification = Model.get('res.notification')
    notification, = Notification.find([])
    assert notification.label == (
        f'M-Pesa account "{account.rec_name}" connected: Daraja issued a '
        'token.')
    oauth = [r for r in simulator.requests if r['path'].startswith('/oauth/')]
    assert len(oauth) == 1

    account.consumer_secret = 'wrong-secret'
    account.save()
    with pytest.raises(UserError) as info:
        account.click('test_connection')
    assert f'M-Pesa refused the connection of account "{account.rec_name}"' \
        in str(info.value)
    assert 'wrong-secret' not in str(info.value)
