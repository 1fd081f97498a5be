# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Refunds by B2C and by Reversal: the wizard, the four-eyes approval, the
result and time-out callbacks over HTTP, Transaction Status, the books."""
import datetime as dt
from decimal import Decimal

import pytest
from proteus import Model

from trytond.exceptions import UserError
from trytond.modules.account_mpesa import daraja
from trytond.tests.tools import set_user

from .scenario import (
    create_quotation, payment_settled, reconcile, request_payment,
    sale_confirmed, wait_for)

pytestmark = pytest.mark.e2e


@pytest.fixture
def payouts(shop, simulator):
    "The shop with B2C set up, and an approver who is not the submitter"
    account = shop.mpesa_account
    account.b2c_shortcode = simulator.b2c_shortcode
    account.initiator_name = simulator.initiator_name
    account.initiator_password = simulator.initiator_password
    account.certificate = simulator.certificate_pem
    account.save()
    User = Model.get('res.user')
    Group = Model.get('res.group')
    approver = User(name="Approver", login='approver')
    approver.groups.extend(Group.find([
                ('name', 'in', ['Payment', 'Payment Approval', 'Accounting']),
                ]))
    approver.save()
    shop.approver = approver
    return shop


def collect(shop, amount=1000):
    "A sale paid by STK Push; returns its payment"
    sale = create_quotation(shop.customer, amount)
    payment = request_payment(sale).form.payment
    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded'
    return payment


def refund(payment, **values):
    "Run the Refund wizard; returns the refund payment, submitted"
    wizard = payment.click('mpesa_refund')
    for name, value in values.items():
        setattr(wizard.form, name, value)
    wizard.execute('create_')
    Payment = Model.get('account.payment')
    refund, = Payment.find([
            ('mpesa_refund_of', '=', payment.id),
            ('state', '=', 'submitted'),
            ])
    return refund


def approve_and_process(shop, refund):
    "The approver approves the refund and processes it"
    set_user(shop.approver)
    try:
        refund.click('approve')
        refund.click('process_wizard')
    finally:
        set_user(1)
    refund.reload()
    return refund


def b2c_requests(simulator):
    return [r for r in simulator.requests
        if r['path'].endswith('/b2c/v3/paymentrequest')]


def test_full_refund_by_b2c(payouts, simulator):
    payment = collect(payouts)
    wizard = payment.click('mpesa_refund')
    assert wizard.form.amount == Decimal(1000)
    assert wizard.form.refundable == Decimal(1000)
    assert wizard.form.phone == '254712345678'
    assert wizard.form.method == 'b2c'
    wizard.form.reason = "Goods returned"
    wizard.execute('create_')
    Payment = Model.get('account.payment')
    refund_, = Payment.find([('mpesa_refund_of', '=', payment.id)])
    assert refund_.kind == 'payable'
    assert refund_.state == 'submitted'

    refund_ = approve_and_process(payouts, refund_)
    assert wait_for(payment_settled(refund_))
    assert refund_.state == 'succeeded', refund_.mpesa_message
    request, = b2c_requests(simulator)
    assert request['json']['OriginatorConversationID'] == (
        refund_.mpesa_originator_conversation_id)
    assert request['json']['Remarks'] == "Goods returned"
    assert request['json']['PartyB'] == '254712345678'

    Ledger = Model.get('account.payment.mpesa.transaction')
    payout, = Ledger.find([('kind', '=', 'b2c')])
    assert payout.receipt == refund_.mpesa_receipt
    assert payout.amount == Decimal(1000)
    assert payout.payment == refund_
    move = refund_.clearing_move
    debit, = [l for l in move.lines if l.debit]
    credit, = [l for l in move.lines if l.credit]
    assert debit.account.type.payable and debit.party == payouts.customer
    assert credit.account == payouts.journal.clearing_account
    payment.reload()
    assert payment.mpesa_refundable == 0


def test_refund_by_reversal(payouts, simulator):
    payouts.mpesa_account.reversal_enabled = True
    payouts.mpesa_account.save()
    payment = collect(payouts, 800)
    refund_ = refund(payment, reason="Wrong customer", method='reversal')
    refund_ = approve_and_process(payouts, refund_)
    assert wait_for(payment_settled(refund_))
    assert refund_.state == 'succeeded', refund_.mpesa_message
    request, = [r for r in simulator.requests
        if r['path'].endswith('/reversal/v1/request')]
    assert request['json']['TransactionID'] == payment.mpesa_receipt
    Ledger = Model.get('account.payment.mpesa.transaction')
    original, = Ledger.find([('receipt', '=', payment.mpesa_receipt)])
    assert original.state == 'reversed'
    reversal, = Ledger.find([('kind', '=', 'reversal')])
    assert reversal.payment == refund_


def test_reversal_of_part_refused(payouts):
    payouts.mpesa_account.reversal_enabled = True
    payouts.mpesa_account.save()
    payment = collect(payouts, 800)
    with pytest.raises(UserError) as info:
        refund(payment, reason="Part", method='reversal', amount=Decimal(300))
    assert "A reversal gives back the whole receipt" in info.value.message


def test_partial_refunds(payouts, simulator):
    payment = collect(payouts)
    for amount in [400, 500]:
        refund_ = refund(payment, reason="Partial", amount=Decimal(amount))
        refund_ = approve_and_process(payouts, refund_)
        assert wait_for(payment_settled(refund_))
        assert refund_.state == 'succeeded'
    payment.reload()
    assert payment.mpesa_refundable == Decimal(100)
    with pytest.raises(UserError) as info:
        refund(payment, reason="Too much", amount=Decimal(200))
    assert "more than the 100" in info.value.message
    Payment = Model.get('account.payment')
    assert len(Payment.find([('mpesa_refund_of', '=', payment.id)])) == 2
    assert len(b2c_requests(simulator)) == 2


def test_wrong_initiator_password(payouts, simulator):
    # Transaction Status cannot confirm a result with a refused initiator:
    # with confirmation on, the payout would wait for its review deadline
    payouts.mpesa_account.confirm_callbacks = False
    payouts.mpesa_account.initiator_password = 'not the password'
    payouts.mpesa_account.save()
    payment = collect(payouts)
    refund_ = approve_and_process(payouts, refund(payment, reason="Return"))
    assert wait_for(payment_settled(refund_))
    assert refund_.state == 'failed'
    assert refund_.mpesa_result_code == '2001'
    assert refund_.mpesa_message == daraja.result_message('2001', api='b2c')
    assert not refund_.clearing_move


def test_missing_setup_refused(payouts, simulator):
    payouts.mpesa_account.certificate = None
    payouts.mpesa_account.save()
    payment = collect(payouts)
    refund_ = refund(payment, reason="Return")
    with pytest.raises(UserError) as info:
        approve_and_process(payouts, refund_)
    assert "has no Certificate" in info.value.message
    assert not b2c_requests(simulator)


def test_submitter_cannot_approve(payouts):
    payment = collect(payouts)
    refund_ = refund(payment, reason="Return")
    with pytest.raises(UserError) as info:
        refund_.click('approve')
    assert "another user must approve it" in info.value.message
    refund_.reload()
    assert refund_.state == 'submitted'


def test_queue_timeout_then_late_result(payouts, simulator):
    simulator.set_faults(b2c_queue_timeout=True, late_result_after_timeout=1)
    payment = collect(payouts)
    refund_ = approve_and_process(payouts, refund(payment, reason="Return"))
    assert wait_for(lambda: refund_.reload() or (
            refund_.mpesa_state != 'pending'))
    assert refund_.state in {'processing', 'succeeded'}
    assert wait_for(payment_settled(refund_))
    assert refund_.state == 'succeeded'
    assert len(b2c_requests(simulator)) == 1


def test_queue_timeout_resolved_by_status(payouts, simulator):
    simulator.set_faults(b2c_queue_timeout=True, late_result_after_timeout=60)
    payment = collect(payouts)
    refund_ = approve_and_process(payouts, refund(payment, reason="Return"))
    assert wait_for(lambda: refund_.reload() or (
            refund_.mpesa_state == 'unknown'))
    assert "do not pay again" in refund_.mpesa_message
    payouts.mpesa_account.query_delay = dt.timedelta(0)
    payouts.mpesa_account.save()
    reconcile()
    assert wait_for(payment_settled(refund_))
    assert refund_.state == 'succeeded'
    assert refund_.mpesa_receipt == simulator.ledger[-1]['receipt']
    assert len(b2c_requests(simulator)) == 1


def test_duplicate_results(payouts, simulator):
    simulator.set_faults(duplicate_callbacks=3)
    payment = collect(payouts)
    refund_ = approve_and_process(payouts, refund(payment, reason="Return"))
    assert wait_for(payment_settled(refund_))
    Event = Model.get('account.payment.mpesa.event')
    assert wait_for(lambda: len(Event.find([
                    ('kind', '=', 'b2c/result'), ('state', '=', 'done')])) == 3)
    Ledger = Model.get('account.payment.mpesa.transaction')
    assert len(Ledger.find([('kind', '=', 'b2c')])) == 1
    Move = Model.get('account.move')
    assert len(Move.find([('origin', '=', str(refund_))])) == 1


def test_books_after_refund(payouts):
    "Sale paid 1,000, refunded 400: what the accountant sees"
    payment = collect(payouts)
    sale = payment.origin
    assert wait_for(sale_confirmed(sale))
    invoice, = sale.invoices
    invoice.click('post')
    refund_ = approve_and_process(
        payouts, refund(payment, reason="Two bags", amount=Decimal(400)))
    assert wait_for(payment_settled(refund_))

    Line = Model.get('account.move.line')

    def balance(account, party=None):
        domain = [('account', '=', account.id)]
        if party:
            domain.append(('party', '=', party.id))
        return sum((l.debit - l.credit for l in Line.find(domain)),
            Decimal(0))
    clearing = payouts.journal.clearing_account
    debit, = [l for l in refund_.clearing_move.lines if l.debit]
    payable = debit.account
    # M-Pesa holds what came in less what went back
    assert balance(clearing) == Decimal(600)
    # The invoice is paid by the collection: nothing left receivable
    assert invoice.state == 'paid'
    assert balance(invoice.account, payouts.customer) == Decimal(0)
    # The 400 given back is a debit on the customer's payable account,
    # to be matched with the credit note of the returned goods
    assert payable.type.payable
    assert balance(payable, payouts.customer) == Decimal(400)


def payout(shop, amount, phone='0712345678', remarks="Transport June"):
    "A payable M-Pesa payment to a supplier, submitted by the admin"
    Party = Model.get('party.party')
    Payment = Model.get('account.payment')
    supplier = Party(name="Kamau Transporters")
    supplier.save()
    payment = Payment(
        journal=shop.journal, kind='payable', party=supplier,
        amount=Decimal(amount), mpesa_phone=phone,
        mpesa_payout_method='b2c', mpesa_remarks=remarks)
    payment.click('submit')
    return payment


def test_supplier_payout(payouts, simulator):
    "Any payable payment on an M-Pesa journal is paid by B2C once approved"
    payment = approve_and_process(payouts, payout(payouts, 2500))
    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded', payment.mpesa_message
    request, = b2c_requests(simulator)
    assert request['json']['Amount'] == 2500
    assert request['json']['PartyA'] == simulator.b2c_shortcode
    assert request['json']['Remarks'] == "Transport June"
    debit, = [l for l in payment.clearing_move.lines if l.debit]
    assert debit.account.type.payable
    assert debit.party.name == "Kamau Transporters"


def test_payout_remarks_checked_before_approval(payouts, simulator):
    with pytest.raises(UserError) as info:
        payout(payouts, 100, remarks="Transport, June")
    assert "Remarks may only hold" in info.value.message


@pytest.mark.parametrize('amount', [5, 250001])
def test_payout_outside_limits(payouts, simulator, amount):
    with pytest.raises(UserError) as info:
        payout(payouts, amount)
    assert "must be between 10 and 250000 KES" in info.value.message
    assert not b2c_requests(simulator)


def test_unreadable_certificate(payouts, simulator):
    payouts.mpesa_account.certificate = b'not a certificate'
    payouts.mpesa_account.save()
    payment = payout(payouts, 100)
    with pytest.raises(UserError) as info:
        approve_and_process(payouts, payment)
    assert "cannot be used" in info.value.message
    assert not b2c_requests(simulator)
