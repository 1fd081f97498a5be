# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Request M-Pesa Payment on a posted customer invoice, end to end: an
accountant runs the wizard over JSON-RPC, the simulated customer answers,
the callback settles the payment and the invoice is paid or partly paid."""
import os
from decimal import Decimal

import pytest
from proteus import Model

from .jsonrpc import Client, Refused
from .scenario import payment_settled, wait_for
from .test_c2b import posted_invoice

pytestmark = pytest.mark.e2e

PASSWORD = 'Kx7-mpesa-invoice-test'
PHONE = '254712345678'
WIZARD = 'account.payment.mpesa.request'
INVOICE = 'account.invoice'


def user(tryton_url, login, groups):
    "A user of the shop's company in the groups, logged in over JSON-RPC"
    User = Model.get('res.user')
    Group = Model.get('res.group')
    Company = Model.get('company.company')
    company, = Company.find([])
    record = User(name=login, login=login, password=PASSWORD)
    record.companies.append(Company(company.id))
    record.company = company
    record.groups.extend(Group.find([('name', 'in', groups)]))
    record.save()
    return Client(tryton_url, os.environ['DB_NAME'], login, PASSWORD)


@pytest.fixture
def accountant(shop, tryton_url):
    return user(tryton_url, 'accountant', ["Accounting", "Payment"])


def defaults(client, invoice):
    "What the wizard's start form shows for the invoice"
    answer = client.wizard(WIZARD, INVOICE, invoice.id, [('start', {})])
    # Without the rec_names of the relations the client shows
    return {
        k: v for k, v in answer['view']['defaults'].items() if '.' not in k}


def request(client, invoice, start=None, **values):
    """Press Request in the wizard on the invoice with values over start
    (its defaults unless given); returns the payment"""
    if start is None:
        start = defaults(client, invoice)
    answer = client.wizard(
        WIZARD, INVOICE, invoice.id,
        [('request', {'start': {**start, **values}})])
    Payment = Model.get('account.payment')
    return Payment(answer['view']['defaults']['payment'])


def requestable(client, invoice):
    value, = client.read(INVOICE, [invoice.id], ['mpesa_requestable'])
    return value['mpesa_requestable']


def test_invoice_paid(shop, simulator, accountant):
    "The whole amount to pay: the line is the invoice's, the invoice paid"
    invoice = posted_invoice(shop.customer, 1000)
    assert requestable(accountant, invoice)
    start = defaults(accountant, invoice)
    assert start['journal'] == shop.journal.id
    assert start['phone'] == PHONE
    assert start['amount'] == start['amount_due'] == Decimal(1000)
    assert start['account_reference'] == invoice.number

    payment = request(accountant, invoice)
    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded'
    line, = invoice.lines_to_pay
    assert (payment.origin, payment.line) == (invoice, line)
    assert (payment.party, payment.kind) == (invoice.party, 'receivable')
    push, = [
        r for r in simulator.requests
        if r['path'].endswith('/stkpush/v1/processrequest')]
    assert push['json']['AccountReference'] == invoice.number
    assert wait_for(lambda: invoice.reload() or invoice.state == 'paid')
    line.reload()
    credit, = [m for m in payment.clearing_move.lines if m.credit]
    assert line.reconciliation == credit.reconciliation != None  # noqa: E711
    assert not requestable(accountant, invoice)


def test_invoice_partly_paid(shop, simulator, accountant):
    """A part of the amount to pay: what waits for the customer is not due
    again, the invoice is partly paid, then paid by the rest"""
    invoice = posted_invoice(shop.customer, 1000)
    simulator.set_customer(PHONE, 'never')
    first = request(accountant, invoice, amount=Decimal(400))
    assert first.line is None
    assert first.mpesa_state == 'pending'
    invoice.reload()
    assert (invoice.amount_to_pay, invoice.mpesa_amount_due) == (
        Decimal(1000), Decimal(600))
    with pytest.raises(Refused, match="more than the 600.00 still due"):
        request(accountant, invoice, amount=Decimal(601))

    simulator.answer(first.mpesa_checkout_request_id, 'success')
    assert wait_for(payment_settled(first))
    assert first.state == 'succeeded'
    assert wait_for(
        lambda: invoice.reload() or invoice.amount_to_pay == Decimal(600))
    assert invoice.state == 'posted'
    credit, = [m for m in first.clearing_move.lines if m.credit]
    assert list(invoice.payment_lines) == [credit]

    simulator.set_customer(PHONE, None)
    assert defaults(accountant, invoice)['amount'] == Decimal(600)
    rest = request(accountant, invoice)
    assert wait_for(payment_settled(rest))
    assert rest.state == 'succeeded'
    assert wait_for(lambda: invoice.reload() or invoice.state == 'paid')
    assert invoice.amount_to_pay == 0


def test_invoice_refusals(shop, simulator, accountant, tryton_url):
    """Above the amount due, a draft or a supplier invoice, a salesperson:
    refused by the server, nothing created, nothing sent"""
    from trytond.modules.account.tests.tools import get_accounts

    Invoice = Model.get('account.invoice')
    Payment = Model.get('account.payment')
    invoice = posted_invoice(shop.customer, Decimal('250.75'))
    start = defaults(accountant, invoice)
    assert start['amount'] == Decimal(250)
    assert start['amount_due'] == Decimal('250.75')
    with pytest.raises(Refused, match="more than the 250.75 still due"):
        request(accountant, invoice, amount=Decimal(251))

    draft = Invoice(type='out', party=shop.customer)
    line = draft.lines.new()
    line.account = get_accounts()['revenue']
    line.quantity = 1
    line.unit_price = Decimal(100)
    draft.save()
    supplier = Invoice(type='in', party=shop.customer)
    line = supplier.lines.new()
    line.account = get_accounts()['expense']
    line.quantity = 1
    line.unit_price = Decimal(100)
    supplier.invoice_date = invoice.invoice_date
    supplier.click('post')
    for other in [draft, supplier]:
        assert not requestable(accountant, other)
        with pytest.raises(Refused, match="only on a posted customer"):
            defaults(accountant, other)
        with pytest.raises(Refused, match="only on a posted customer"):
            request(accountant, other, start, amount=Decimal(100))

    seller = user(tryton_url, 'seller', ["Sales"])
    with pytest.raises(Refused):
        seller.button(INVOICE, 'mpesa_request_payment', [invoice.id])
    with pytest.raises(Refused):
        request(seller, invoice, start)

    assert not Payment.find([])
    assert not simulator.requests
