# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Customer payments (C2B) over real HTTP with the simulator: URLs
registered by the account's button, confirmations confirmed by Pull
Transactions before they settle, forged ones rejected, dropped ones
recovered by the Pull cron, and validation's verdict."""
import os
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from proteus import Model

from daraja_sim.c2b import FORBIDDEN_WORDS

from .scenario import (
    SHORTCODE, create_quotation, payment_settled, request_payment, run_cron,
    wait_for)
from .test_callbacks import callback_url

pytestmark = pytest.mark.e2e

PHONE = '254712345678'
STRANGER = '254722000000'
PASSWORD = 'c2b-Test-Password-2026'
# The proof: so many confirmations, each delivered COPIES times at
# once, make exactly so many receipts and payments (PostgreSQL)
CONCURRENT_CONFIRMATIONS = 200
COPIES = 3


def register_c2b_urls(account):
    """Register the C2B URLs by the account's button.  The database's name
    is in the URLs: one with a word Daraja refuses cannot be registered"""
    name = os.environ['DB_NAME']
    refused = [w for w in FORBIDDEN_WORDS if w in name.lower()]
    if refused:
        pytest.skip(f"DB_NAME {name!r} holds {refused[0]!r}, which Daraja "
            "refuses in C2B URLs: run with another name")
    account.click('register_c2b_urls')
    account.reload()
    assert account.c2b_registration == 'Success'


@pytest.fixture
def paybill(shop):
    "The shop with its C2B URLs and Pull registered with Daraja"
    account = shop.mpesa_account
    register_c2b_urls(account)
    account.pull_nominated_number = '0712345678'
    account.save()
    account.click('register_pull')
    account.reload()
    assert account.pull_registered
    assert account.confirm_callbacks
    return shop


def posted_invoice(customer, amount):
    from trytond.modules.account.tests.tools import get_accounts

    Invoice = Model.get('account.invoice')
    invoice = Invoice(type='out', party=customer)
    line = invoice.lines.new()
    line.account = get_accounts()['revenue']
    line.description = "Maize flour"
    line.quantity = 1
    line.unit_price = Decimal(amount)
    invoice.click('post')
    assert invoice.state == 'posted'
    return invoice


def ledger(**domain):
    Ledger = Model.get('account.payment.mpesa.transaction')
    return Ledger.find([(k, '=', v) for k, v in domain.items()])


def test_confirmation_pays_invoice(paybill, simulator):
    invoice = posted_invoice(paybill.customer, 1000)
    entry = simulator.c2b_payment(PHONE, 1000, f" #{invoice.number.lower()}")
    assert entry
    assert wait_for(lambda: ledger(receipt=entry['receipt'], state='matched'))
    record, = ledger(receipt=entry['receipt'])
    assert record.source == 'callback'
    assert record.kind == 'c2b'
    payment = record.payment
    assert (payment.state, payment.amount) == ('succeeded', Decimal(1000))
    assert payment.mpesa_receipt == entry['receipt']
    assert wait_for(lambda: invoice.reload() or invoice.state == 'paid')
    Event = Model.get('account.payment.mpesa.event')
    event, = Event.find([('kind', '=', 'c2b/confirmation')])
    assert event.state == 'done'
    pulls = [r for r in simulator.requests
        if r['path'].endswith('/pulltransactions/v1/query')]
    assert pulls, "the confirmation was not checked with Pull"


def test_forged_confirmation_rejected(paybill, tryton_url):
    body = {
        'TransactionType': 'Pay Bill', 'TransID': 'UFORGED001',
        'TransTime': '20261201120000', 'TransAmount': '5000.00',
        'BusinessShortCode': '174379', 'BillRefNumber': 'anything',
        'InvoiceNumber': '', 'OrgAccountBalance': '',
        'ThirdPartyTransID': '', 'MSISDN': PHONE,
        'FirstName': 'FORGER', 'MiddleName': '', 'LastName': ''}
    response = requests.post(callback_url(
            tryton_url, paybill.mpesa_account.callback_identifier,
            'c2b/confirmation'), json=body)
    assert response.status_code == 200
    Event = Model.get('account.payment.mpesa.event')
    assert wait_for(lambda: [e for e in Event.find([])
            if e.state == 'rejected'])
    event, = Event.find([])
    assert 'UFORGED001' in event.error
    assert not ledger()
    assert not Model.get('account.payment').find([])


def test_dropped_confirmations_recovered_by_pull(paybill, simulator):
    simulator.set_faults(drop_callbacks=0.3, drop_seed=7)
    entries = [simulator.c2b_payment(PHONE, 100 + i, f'typo{i}')
        for i in range(10)]
    assert all(entries)
    dropped = {c['json']['TransID'] for c in simulator.dropped_callbacks
        if c['kind'] == 'c2b_confirmation'}
    assert 0 < len(dropped) < 10
    delivered = {e['receipt'] for e in entries} - dropped
    assert wait_for(lambda: {r.receipt for r in ledger()} == delivered)

    run_cron('account.payment.mpesa.account|pull_transactions')
    records = ledger()
    assert {r.receipt for r in records} == {e['receipt'] for e in entries}
    assert {r.source for r in records if r.receipt in dropped} == {'pull'}
    # Matched by the customer's phone: each one paid once
    assert all(r.state == 'matched' and r.payment for r in records)
    Payment = Model.get('account.payment')
    assert len(Payment.find([('state', '=', 'succeeded')])) == 10

    # A second run finds nothing new
    run_cron('account.payment.mpesa.account|pull_transactions')
    assert len(ledger()) == 10


def validation_replies(simulator):
    return [c.get('reply') for c in simulator.callbacks
        if c['kind'] == 'c2b_validation']


def test_validation_accepts_and_rejects(paybill, simulator):
    account = paybill.mpesa_account
    account.c2b_reject_unknown = True
    account.save()
    simulator.set_customer(STRANGER, 'success')
    assert simulator.c2b_payment(STRANGER, 300, 'NO-SUCH-INVOICE') is None
    reply, = validation_replies(simulator)
    assert reply['ResultCode'] == 'C2B00012'
    assert not ledger()

    invoice = posted_invoice(paybill.customer, 300)
    entry = simulator.c2b_payment(STRANGER, 300, invoice.number)
    assert entry
    assert validation_replies(simulator)[-1]['ResultCode'] == '0'
    assert wait_for(lambda: ledger(receipt=entry['receipt'], state='matched'))
    Event = Model.get('account.payment.mpesa.event')
    validations = Event.find([('kind', '=', 'c2b/validation')])
    assert {e.state for e in validations} == {'done'}


def test_validation_accepts_unknown_by_default(paybill, simulator):
    simulator.set_customer(STRANGER, 'success')
    entry = simulator.c2b_payment(STRANGER, 300, 'NO-SUCH-INVOICE')
    assert entry
    assert validation_replies(simulator)[-1]['ResultCode'] == '0'
    assert wait_for(lambda: ledger(receipt=entry['receipt'],
            state='unmatched'))
    record, = ledger()
    assert 'NO-SUCH-INVOICE' in record.note


def test_confirmed_by_transaction_status(shop, simulator, tryton_url):
    """Without Pull, a confirmation is confirmed by Transaction Status on
    its receipt, whose result comes by callback; a forged one is denied"""
    account = shop.mpesa_account
    account.initiator_name = simulator.initiator_name
    account.initiator_password = simulator.initiator_password
    account.certificate = simulator.certificate_pem
    account.save()
    register_c2b_urls(account)
    account.reload()
    assert not account.pull_registered
    invoice = posted_invoice(shop.customer, 500)
    entry = simulator.c2b_payment(PHONE, 500, invoice.number)
    assert wait_for(lambda: ledger(receipt=entry['receipt'], state='matched'))
    assert wait_for(lambda: invoice.reload() or invoice.state == 'paid')
    Event = Model.get('account.payment.mpesa.event')
    claim, = Event.find([('kind', '=', 'c2b/confirmation')])
    assert claim.state == 'done'
    assert claim.c2b_status_request
    statuses = [r for r in simulator.requests
        if r['path'].endswith('/transactionstatus/v1/query')]
    assert [r['json']['TransactionID'] for r in statuses] == [
        entry['receipt']]

    body = dict(
        TransactionType='Pay Bill', TransID='UFORGED002',
        TransTime='20261201120000', TransAmount='900.00',
        BusinessShortCode=SHORTCODE, BillRefNumber=invoice.number,
        MSISDN=PHONE, FirstName='FORGER')
    requests.post(callback_url(
            tryton_url, account.callback_identifier, 'c2b/confirmation'),
        json=body)
    assert wait_for(lambda: [e for e in Event.find([
                    ('kind', '=', 'c2b/confirmation'),
                    ('state', '=', 'rejected')])])
    assert not ledger(receipt='UFORGED002')


def test_stk_push_also_notified_by_c2b(paybill, simulator):
    "An STK Push to the paybill also comes as a C2B confirmation: one payment"
    simulator.set_faults(stk_c2b_confirmation=True)
    sale = create_quotation(paybill.customer, 1000)
    payment = request_payment(sale).form.payment
    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded'
    Event = Model.get('account.payment.mpesa.event')
    assert wait_for(lambda: [e for e in Event.find([
                    ('kind', '=', 'c2b/confirmation')])
            if e.state == 'done'])
    record, = ledger()
    assert record.receipt == payment.mpesa_receipt
    assert record.payment == payment
    Payment = Model.get('account.payment')
    assert Payment.find([]) == [payment]


def test_pull_answers_said_once(shop, simulator, caplog):
    "'Not registered' and 'no records' are told apart, each said once"
    account = shop.mpesa_account
    account.pull_registered = True
    account.save()
    pull = 'account.payment.mpesa.account|pull_transactions'

    def warnings():
        return [r.getMessage() for r in caplog.records
            if 'Pull Transactions of account' in r.getMessage()]
    with caplog.at_level('INFO'):
        run_cron(pull)
        run_cron(pull)
        assert len(warnings()) == 1
        assert 'not registered' in warnings()[0]
        account.pull_nominated_number = '0712345678'
        account.save()
        account.click('register_pull')
        run_cron(pull)
        run_cron(pull)
        assert len(warnings()) == 2
        assert 'no records' in warnings()[1]
        summaries = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith('M-Pesa Pull Transactions:')]
        assert len(summaries) == 4
    account.reload()
    assert account.pull_until


def count(model, domain):
    "How many records of model match domain, counted by the server"
    Model_ = Model.get(model)
    return Model_._proxy.search_count(domain, 0, None, Model_._config.context)


@pytest.mark.postgresql
def test_concurrent_copies_one_payment_each(paybill, simulator):
    """The issue's figure: CONCURRENT_CONFIRMATIONS customer payments, each
    confirmation delivered COPIES times at once, from several customers
    paying at the same time: one receipt and one payment each"""
    simulator.set_faults(duplicate_callbacks=COPIES, concurrent_duplicates=True)
    with ThreadPoolExecutor(4) as customers:
        entries = list(customers.map(
                lambda i: simulator.c2b_payment(PHONE, 100 + i, f'typo{i}'),
                range(CONCURRENT_CONFIRMATIONS)))
    receipts = {e['receipt'] for e in entries}
    assert len(receipts) == CONCURRENT_CONFIRMATIONS
    events = CONCURRENT_CONFIRMATIONS * COPIES
    assert wait_for(lambda: count('account.payment.mpesa.event', [
                ('kind', '=', 'c2b/confirmation'),
                ('state', 'in', ['done', 'error']),
                ]) == events, timeout=events)
    records = ledger()
    assert {r.receipt for r in records} == receipts
    assert len(records) == CONCURRENT_CONFIRMATIONS
    assert {r.state for r in records} == {'matched'}
    Payment = Model.get('account.payment')
    payments = Payment.find([('state', '=', 'succeeded')])
    assert {p.mpesa_receipt for p in payments} == receipts
    assert len(payments) == CONCURRENT_CONFIRMATIONS
    assert count('account.payment', []) == CONCURRENT_CONFIRMATIONS


def match_receipts(client, ids, start):
    """Run the Match wizard over JSON-RPC on a selection of receipts, as
    the client does (jsonrpc.Client.wizard runs on one record)"""
    name = 'wizard.account.payment.mpesa.transaction.match'
    context = {**client.context, 'active_id': ids[0], 'active_ids': ids,
        'active_model': 'account.payment.mpesa.transaction'}
    session, _, _ = client.call(f'{name}.create', context)
    try:
        client.call(f'{name}.execute', session, {}, 'start', context)
        client.call(f'{name}.execute', session, start, 'match', context)
    finally:
        client.call(f'{name}.delete', session, context)


def test_match_wizard_over_rpc(paybill, simulator, tryton_url):
    """An accountant matches two Unmatched receipts to two invoices over
    JSON-RPC and undoes one; a payment clerk or a salesperson may do
    neither"""
    from .jsonrpc import Client, Refused

    User = Model.get('res.user')
    Group = Model.get('res.group')
    Company = Model.get('company.company')
    company, = Company.find([])
    clients = {}
    for login, groups in [
            ('accountant', ["Accounting", "Payment"]),
            ('clerk', ["Payment"]), ('seller', ["Sales"])]:
        user = User(name=login, login=login, password=PASSWORD)
        user.companies.append(Company(company.id))
        user.company = company
        user.groups.extend(Group.find([('name', 'in', groups)]))
        user.save()
        clients[login] = Client(
            tryton_url, os.environ['DB_NAME'], login, PASSWORD)
    first = posted_invoice(paybill.customer, 300)
    second = posted_invoice(paybill.customer, 500)
    simulator.set_customer(STRANGER, 'success')
    entries = [simulator.c2b_payment(STRANGER, amount, 'mistyped')
        for amount in [400, 300]]
    assert wait_for(lambda: len(ledger(state='unmatched')) == 2)
    older, newer = [ledger(receipt=e['receipt'])[0] for e in entries]
    ids = [newer.id, older.id]
    model = 'account.payment.mpesa.transaction'
    start = {'start': {
            'transactions': ids, 'amount': Decimal(700),
            'company': company.id, 'action': 'customer',
            'party': paybill.customer.id, 'sale': None, 'account': None,
            'description': None,
            'lines': [
                {'invoice': second.id, 'amount': Decimal(500)},
                {'invoice': first.id, 'amount': Decimal(200)}],
            }}
    for login in ['clerk', 'seller']:
        with pytest.raises(Refused, match='not allowed'):
            match_receipts(clients[login], ids, start)
    assert len(ledger(state='unmatched')) == 2

    match_receipts(clients['accountant'], ids, start)
    older.reload()
    newer.reload()
    assert (older.state, newer.state) == ('matched', 'matched')
    assert older.payment != newer.payment
    assert {older.payment.state, newer.payment.state} == {'succeeded'}
    assert wait_for(lambda: second.reload() or second.state == 'paid')
    first.reload()
    assert first.amount_to_pay == Decimal(100)

    for login in ['clerk', 'seller']:
        with pytest.raises(Refused):
            clients[login].button(model, 'unmatch', [newer.id])
    # The newer receipt paid 100 of the second invoice and 200 of the first
    clients['accountant'].button(model, 'unmatch', [newer.id])
    newer.reload()
    older.reload()
    assert (newer.state, newer.payment) == ('unmatched', None)
    assert older.state == 'matched'
    first.reload()
    second.reload()
    assert (first.amount_to_pay, second.amount_to_pay) == (
        Decimal(300), Decimal(100))
