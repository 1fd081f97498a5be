# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The access matrix over JSON-RPC: a user of each role tries each action
against the real Tryton server, and each cell must be allowed or refused as
access_matrix.MATRIX (printed in doc/access.rst) says."""
import datetime as dt
import itertools
import os
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
import requests
from proteus import Model

from . import scenario
from .access_matrix import DOC, MATRIX, ROLES, doc_table, rst_table
from .jsonrpc import Client, Refused
from .test_c2b import posted_invoice

pytestmark = pytest.mark.e2e

PASSWORD = 'Kx7-mpesa-access-test'
PAYMENT = 'account.payment'
ACCOUNT = 'account.payment.mpesa.account'
EVENT = 'account.payment.mpesa.event'
LEDGER = 'account.payment.mpesa.transaction'
INVOICE = 'account.invoice'
REQUEST = 'account.payment.mpesa.request'
MATCH = 'account.payment.mpesa.transaction.match'
_receipts = itertools.count(1)


def committed(function, user=0, context=None):
    """The result of function() run as the module's own code runs (no
    access check) in a transaction of its own, committed; started again
    with the tables it must lock, as the dispatcher does"""
    from trytond.transaction import Transaction, TransactionError

    extras = {}
    while True:
        try:
            with Transaction().start(
                    os.environ['DB_NAME'], user, context=context, **extras
                    ) as transaction:
                result = function()
                transaction.commit()
                return result
        except TransactionError as error:
            error.fix(extras)


def server(method, model, ids, *args, user=0):
    "Call method of model on ids in a committed transaction of the server"
    from trytond.pool import Pool

    def call():
        Model_ = Pool().get(model)
        return getattr(Model_, method)(Model_.browse(ids), *args)
    return committed(call, user=user, context={'company': 1})


def server_read(model, record_id, field):
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(os.environ['DB_NAME'], 0):
        Model_ = Pool().get(model)
        return Model_.read([record_id], [field])[0][field]


def new_payment(world, kind='receivable', **values):
    "A draft M-Pesa payment made by the administrator"
    Payment = Model.get(PAYMENT)
    payment = Payment(
        journal=world.journal, kind=kind, party=world.customer,
        amount=Decimal(100), mpesa_phone='0712345678', **values)
    if kind == 'payable':
        payment.mpesa_payout_method = 'b2c'
        payment.mpesa_remarks = "Payout"
    payment.save()
    return payment.id


def collection(world, state, mpesa_state):
    "A submitted receivable put in state by the server"
    payment = new_payment(world)
    server('submit', PAYMENT, [payment])
    values = {
        'state': state, 'mpesa_state': mpesa_state,
        'mpesa_checkout_request_id': f'ws_CO_{uuid.uuid4().hex}'}
    if state == 'succeeded':
        values['mpesa_receipt'] = f'TKA{next(_receipts):07d}'
    server('write', PAYMENT, [payment], values)
    return payment


def payout(world, approved=False):
    "A payout the administrator created and submitted"
    payment = new_payment(world, 'payable')
    server('submit', PAYMENT, [payment], user=1)
    if approved:
        server('approve', PAYMENT, [payment])
    return payment


@pytest.fixture(scope='module')
def world(simulator, tryton_url):
    "The shop, a user of each role, a callback and a processing payment"
    simulator.reset()
    shop = scenario.activate(simulator.url, tryton_url)
    account = shop.mpesa_account
    account.b2c_shortcode = simulator.b2c_shortcode
    account.initiator_name = simulator.initiator_name
    account.initiator_password = simulator.initiator_password
    account.certificate = simulator.certificate_pem
    account.pull_nominated_number = '0712345678'
    account.save()
    # Before the other company: the invoice takes the only company's accounts
    invoice = posted_invoice(shop.customer, 1000)
    sale = scenario.create_quotation(shop.customer, 1000)
    User = Model.get('res.user')
    Group = Model.get('res.group')
    Party = Model.get('party.party')
    Company = Model.get('company.company')
    company, = Company.find([])
    Currency = Model.get('currency.currency')
    other_company = Company(
        party=Party(name="Other Company Ltd"),
        currency=Currency(company.currency.id))
    other_company.party.save()
    other_company.save()
    clients = {}
    for role, groups in ROLES.items():
        user = User(name=role, login=role, password=PASSWORD)
        user_company = (
            other_company if role == 'other_company' else company)
        user.companies.append(Company(user_company.id))
        user.company = Company(user_company.id)
        found = Group.find([('name', 'in', groups)])
        assert len(found) == len(groups), groups
        user.groups.extend(found)
        user.save()
        clients[role] = Client(
            tryton_url, os.environ['DB_NAME'], role, PASSWORD)
    other = Party(name="Other Customer")
    other.save()
    url = (f"{tryton_url}/{os.environ['DB_NAME']}/daraja/"
        f"{account.callback_identifier}/stk")
    body = {'Body': {'stkCallback': {
                'MerchantRequestID': 'm-1', 'CheckoutRequestID': 'ws_CO_x',
                'ResultCode': 1032, 'ResultDesc': "Cancelled"}}}
    assert requests.post(url, json=body).status_code == 200
    Event = Model.get(EVENT)
    event, = Event.find([])
    world = SimpleNamespace(
        clients=clients, journal=shop.journal, customer=shop.customer,
        other=other, account=account.id, event=event.id, company=company.id,
        invoice=invoice.id, sale=sale.id)
    world.processing = collection(world, 'processing', 'pending')
    world.succeeded = collection(world, 'succeeded', 'done')
    world.ledger = ledger_record(world.succeeded)
    return world


def ledger_record(payment_id):
    "The ledger record of the succeeded payment, made by the server"
    from trytond.pool import Pool

    def create():
        pool = Pool()
        Payment = pool.get(PAYMENT)
        Ledger = pool.get(LEDGER)
        payment = Payment(payment_id)
        record, = Ledger.create([{
                    'account': payment.journal.mpesa_account.id,
                    'company': payment.company.id, 'kind': 'stk',
                    'source': 'callback', 'receipt': payment.mpesa_receipt,
                    'amount': payment.amount, 'state': 'matched',
                    'payment': payment.id}])
        return record.id
    return committed(create)


def c2b_receipt(world, matched=False):
    """An Unmatched C2B receipt of 100 made by the server; matched to the
    customer as their credit when matched"""
    from trytond.pool import Pool

    def create():
        pool = Pool()
        Ledger = pool.get(LEDGER)
        Party = pool.get('party.party')
        record, = Ledger.create([{
                    'account': world.account, 'company': world.company,
                    'kind': 'c2b', 'source': 'callback',
                    'receipt': f'TKC{next(_receipts):07d}',
                    'amount': Decimal(100),
                    'transaction_time': dt.datetime.now(),
                    'state': 'unmatched'}])
        if matched:
            assert record.c2b_pay(
                Party(world.customer.id), [], Decimal(100)) == 'matched'
        return record.id
    return committed(create, context={'company': world.company})


def match_wizard(world, client, receipt):
    "Match the receipt to the customer as their credit by the Match wizard"
    client.wizard(MATCH, LEDGER, receipt, [
            ('start', {}),
            ('match', {'start': {
                        'transactions': [receipt], 'amount': Decimal(100),
                        'company': world.company, 'action': 'customer',
                        'party': world.customer.id, 'sale': None,
                        'account': None, 'description': None, 'lines': []}}),
            ])


def request_on(client, model, record):
    """Request M-Pesa Payment of 100 on the record (the quotation or the
    posted invoice): the wizard's start form, then its Request with the
    defaults but the amount"""
    answer = client.wizard(REQUEST, model, record, [('start', {})])
    defaults = answer['view']['defaults']
    start = {k: v for k, v in defaults.items() if '.' not in k}
    client.wizard(REQUEST, model, record, [
            ('request', {'start': {**start, 'amount': Decimal(100)}})])


def field_value(world, client, name):
    "A value to write in the field name of a payment"
    return {
        'state': 'succeeded', 'mpesa_state': 'review',
        'mpesa_receipt': 'FAKE000001', 'mpesa_result_code': '0',
        'mpesa_result_desc': "Success", 'mpesa_message': "Paid",
        'mpesa_checked_at': dt.datetime(2026, 1, 1),
        'mpesa_requested_at': dt.datetime(2026, 1, 1),
        'mpesa_attempts': 9, 'mpesa_submitted_user': client.user_id,
        'mpesa_refund_of': world.succeeded, 'approved_by': None,
        'mpesa_phone': '0799999999', 'amount': Decimal(1),
        'party': world.other.id, 'journal': world.journal.id,
        }.get(name, f'forged-{name}')


def refund_wizard(client, payment):
    return client.wizard(
        'account.payment.mpesa.refund', PAYMENT, payment, [
            ('start', {}),
            ('create_', {'start': {
                        'amount': Decimal(10), 'reason': "Goods returned",
                        'method': 'b2c'}}),
            ])


def create_payout(world, client):
    return client.create(PAYMENT, {
            'journal': world.journal.id, 'kind': 'payable',
            'party': world.customer.id, 'amount': Decimal(100),
            'mpesa_phone': '0712345678', 'mpesa_payout_method': 'b2c',
            'mpesa_remarks': "Payout", 'date': dt.date.today(),
            })


def act(world, client, action):
    "Try action as the user of client; raises Refused when refused"
    if action.startswith('write_payment_'):
        name = action[len('write_payment_'):]
        client.write(PAYMENT, [world.processing], {
                name: field_value(world, client, name)})
    elif action in {'succeed_processing', 'fail_processing'}:
        client.button(PAYMENT, action.split('_')[0], [world.processing])
    elif action in {'succeed_review', 'fail_review'}:
        payment = collection(world, 'processing', 'review')
        client.button(PAYMENT, action.split('_')[0], [payment])
    elif action == 'clear_submitter':
        client.write(PAYMENT, [payout(world)], {'mpesa_submitted_user': None})
    elif action == 'approve_own':
        payment = create_payout(world, client)
        client.button(PAYMENT, 'submit', [payment])
        client.button(PAYMENT, 'approve', [payment])
    elif action == 'approve_created':
        payment = create_payout(world, client)
        server('submit', PAYMENT, [payment], user=1)
        client.button(PAYMENT, 'approve', [payment])
    elif action == 'approve_other':
        client.button(PAYMENT, 'approve', [payout(world)])
    elif action == 'approve_no_submitter':
        payment = payout(world)
        server('write', PAYMENT, [payment], {'mpesa_submitted_user': None})
        client.button(PAYMENT, 'approve', [payment])
    elif action == 'change_approved_amount':
        client.write(
            PAYMENT, [payout(world, approved=True)], {'amount': Decimal(500)})
    elif action == 'change_approved_phone':
        client.write(
            PAYMENT, [payout(world, approved=True)],
            {'mpesa_phone': '0799999999'})
    elif action == 'refund_succeeded':
        refund_wizard(client, collection(world, 'succeeded', 'done'))
    elif action == 'refund_failed':
        refund_wizard(client, collection(world, 'failed', 'done'))
    elif action == 'refund_processing':
        refund_wizard(client, world.processing)
    elif action == 'read_account_settings':
        client.read(ACCOUNT, [world.account], [
                'environment', 'stk_maximum', 'ip_allow_list'])
    elif action == 'read_account_balances':
        client.read(ACCOUNT, [world.account], [
                'balance_working', 'balance_utility', 'balance_reported_at',
                'balance_accounts', 'balance_error'])
    elif action == 'check_balance':
        client.button(ACCOUNT, 'check_balance', [world.account])
    elif action.startswith('read_account_'):
        client.read(
            ACCOUNT, [world.account], [action[len('read_account_'):]])
    elif action == 'write_account_limits':
        client.write(ACCOUNT, [world.account], {
                'stk_maximum': server_read(
                    ACCOUNT, world.account, 'stk_maximum')})
    elif action.startswith('write_account_'):
        name = action[len('write_account_'):]
        client.write(ACCOUNT, [world.account], {
                name: server_read(ACCOUNT, world.account, name)})
    elif action in {'register_c2b_urls', 'register_pull'}:
        client.button(ACCOUNT, action, [world.account])
    elif action == 'match_receipt':
        match_wizard(world, client, c2b_receipt(world))
    elif action == 'unmatch_receipt':
        client.button(LEDGER, 'unmatch', [c2b_receipt(world, matched=True)])
    elif action == 'request_sale':
        request_on(client, 'sale.sale', world.sale)
    elif action == 'request_invoice':
        request_on(client, INVOICE, world.invoice)
    elif action == 'read_event_body':
        client.read(EVENT, [world.event], ['body'])
    elif action == 'read_event_fields':
        client.read(EVENT, [world.event], ['kind', 'state', 'reference'])
    elif action == 'read_ledger':
        client.read(LEDGER, [world.ledger], ['receipt', 'amount', 'state'])
    elif action == 'read_payment':
        client.read(PAYMENT, [world.succeeded], ['amount', 'mpesa_state'])
    else:
        raise NotImplementedError(action)


@pytest.mark.parametrize('role', list(ROLES))
@pytest.mark.parametrize('action', list(MATRIX))
def test_cell(world, action, role):
    "The user of role is allowed the action exactly when the matrix says"
    description, allowed = MATRIX[action]
    client = world.clients[role]
    if role in allowed:
        act(world, client, action)
    else:
        with pytest.raises(Refused):
            act(world, client, action)


def test_doc_prints_matrix():
    "doc/access.rst shows the table the matrix test asserts"
    with open(DOC) as file:
        assert doc_table(file.read()) == rst_table(), (
            "run python -m tests.e2e.access_matrix")
