# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The settlement rules, one test each, for collections and payouts: the
outcomes are fed straight to the ledger, with no HTTP and no waiting."""
import os
from dataclasses import replace
from decimal import Decimal
from functools import partial
from itertools import count
from types import SimpleNamespace

import pytest

from e2e.scenario import MODULES, setup_books
from trytond.modules.account_mpesa import daraja
from trytond.modules.account_mpesa.outcome import Outcome

IDS = count(1)
# Outcomes settled together in the batched runs of the rules
BATCH = 4


@pytest.fixture(scope='module')
def database():
    from trytond.modules.account.tests.tools import create_chart
    from trytond.modules.company.tests.tools import create_company
    from trytond.tests.tools import activate_modules

    from e2e.scenario import release_database
    release_database()
    activate_modules(
        MODULES, partial(create_company, currency='KES'), create_chart,
        setup_books)
    yield os.environ['DB_NAME']
    release_database()

@pytest.fixture(params=[1, BATCH], ids=['alone', 'batch'])
def books(database, request):
    """The pool and the shop's records, in a transaction rolled back after;
    the outcomes are settled alone or in a batch (``size``)"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    # The clearing move's journal period is locked as Tryton's dispatcher
    # would lock it, at the start
    with Transaction().start(
            database, 0, _lock_tables=['account_journal_period']
            ) as transaction:
        pool = Pool()
        Company = pool.get('company.company')
        company, = Company.search([])
        with transaction.set_context(company=company.id):
            Journal = pool.get('account.payment.journal')
            Party = pool.get('party.party')
            journal, = Journal.search([('process_method', '=', 'mpesa')])
            customer, = Party.search([('name', '=', "Wanjiku Kamau")])
            yield SimpleNamespace(
                pool=pool, company=company, journal=journal,
                account=journal.mpesa_account, customer=customer,
                Payment=pool.get('account.payment'),
                Ledger=pool.get('account.payment.mpesa.transaction'),
                size=request.param)
        transaction.rollback()

def collection(books, amount=1000):
    "A receivable payment whose STK Push Daraja accepted"
    payment = books.Payment(
        company=books.company, journal=books.journal, kind='receivable',
        party=books.customer, amount=Decimal(amount),
        mpesa_phone='0712345678')
    payment.save()
    books.Payment.write([payment], {
            'state': 'processing', 'mpesa_state': 'pending',
            'mpesa_checkout_request_id': f'ws_CO_{next(IDS)}'})
    return books.Payment(payment.id)

def payout(books, amount=500, refund_of=None):
    "A payable payment whose B2C Daraja queued"
    payment = books.Payment(
        company=books.company, journal=books.journal, kind='payable',
        party=books.customer, amount=Decimal(amount),
        mpesa_phone='0712345678', mpesa_payout_method='b2c',
        mpesa_refund_of=refund_of)
    payment.save()
    books.Payment.write([payment], {
            'state': 'processing', 'mpesa_state': 'pending',
            'mpesa_originator_conversation_id': f'oc-{next(IDS)}'})
    return books.Payment(payment.id)

def outcome(books, payment, code='0', receipt=None, amount='same',
        source='callback', **values):
    "What M-Pesa says of the payment's request"
    ids = ({'checkout_request_id': payment.mpesa_checkout_request_id}
        if payment.kind == 'receivable' else {
            'originator_conversation_id': (
                payment.mpesa_originator_conversation_id)})
    if receipt is None:
        receipt = f'TKL{next(IDS):07d}' if code == '0' else ''
    values.setdefault('account', books.account.id)
    return Outcome(
        kind='stk' if payment.kind == 'receivable' else 'b2c',
        source=source, result_code=code, result_desc="As M-Pesa said",
        receipt=receipt,
        amount=payment.amount if amount == 'same' else amount,
        **ids, **values)

def settle(books, payment, result):
    """Settle as the callbacks and queries do: locked, read after the lock;
    in a batch with the successes of other payments when books.size > 1"""
    others = [outcome(books, collection(books))
        for _ in range(getattr(books, 'size', 1) - 1)]
    results = apply(books, [result] + others)
    assert results[1:] == ['succeeded'] * len(others)
    return results[0]


def apply(books, outcomes):
    """Apply the outcomes as the queued callbacks are: by rounds of a
    batch; return what became of each"""
    from trytond.modules.account_mpesa.ledger import Batch
    results = {}
    for round_ in Batch.rounds(list(enumerate(outcomes)), lambda i: i[1]):
        batch = Batch()
        batch.prefetch(o for _, o in round_)
        for i, result in round_:
            results[i] = books.Ledger.settle(
                result, batch.payment(result), batch=batch)
        batch.flush()
    return [results[i] for i in range(len(outcomes))]

KINDS = [collection, payout]

@pytest.mark.parametrize('make', KINDS)
def test_success(books, make):
    payment = make(books)
    result = outcome(books, payment)
    assert settle(books, payment, result) == 'succeeded'
    payment = books.Payment(payment.id)
    assert payment.state == 'succeeded'
    assert payment.mpesa_receipt == result.receipt
    assert payment.clearing_move
    record, = payment.mpesa_transactions
    assert (record.state, record.amount) == ('matched', payment.amount)

@pytest.mark.parametrize('make', KINDS)
def test_failure(books, make):
    payment = make(books)
    assert settle(books, payment, outcome(books, payment, code='1')) == (
        'failed')
    payment = books.Payment(payment.id)
    assert payment.state == 'failed'
    assert payment.mpesa_result_code == '1'
    assert payment.mpesa_message
    assert not payment.mpesa_transactions

@pytest.mark.parametrize('make', KINDS)
def test_amount_missing(books, make):
    payment = make(books)
    assert settle(books, payment, outcome(books, payment, amount=None)) == (
        'review')
    payment = books.Payment(payment.id)
    assert (payment.state, payment.mpesa_state) == ('processing', 'review')
    assert not payment.clearing_move

@pytest.mark.parametrize('make', KINDS)
def test_amount_different(books, make):
    payment = make(books)
    result = outcome(books, payment, amount=Decimal(10))
    assert settle(books, payment, result) == 'review'
    payment = books.Payment(payment.id)
    assert (payment.state, payment.mpesa_state) == ('processing', 'review')
    assert "10" in payment.mpesa_message
    record, = payment.mpesa_transactions
    assert (record.state, record.amount) == ('unsettled', Decimal(10))

@pytest.mark.parametrize('make', KINDS)
def test_repeat_settles_once(books, make):
    payment = make(books)
    result = outcome(books, payment)
    assert settle(books, payment, result) == 'succeeded'
    assert settle(books, payment, result) == 'duplicate'
    payment = books.Payment(payment.id)
    assert len(payment.mpesa_transactions) == 1
    Move = books.pool.get('account.move')
    assert len(Move.search([('origin', '=', str(payment))])) == 1

@pytest.mark.parametrize('make', KINDS)
def test_money_after_failure_kept(books, make):
    "A success for a failed payment is kept and holds it for review"
    payment = make(books)
    settle(books, payment, outcome(books, payment, code='1'))
    result = outcome(books, payment)
    assert settle(books, payment, result) == 'review'
    payment = books.Payment(payment.id)
    assert (payment.state, payment.mpesa_state) == ('failed', 'review')
    assert result.receipt in payment.mpesa_message
    record, = payment.mpesa_transactions
    assert record.state == 'unsettled'

@pytest.mark.parametrize('make', KINDS)
def test_second_receipt_kept(books, make):
    "Another receipt for a settled payment is kept, the payment reviewed"
    payment = make(books)
    first = outcome(books, payment)
    settle(books, payment, first)
    second = outcome(books, payment)
    assert settle(books, payment, second) == 'review'
    payment = books.Payment(payment.id)
    assert payment.state == 'succeeded'
    assert payment.mpesa_receipt == first.receipt
    assert payment.mpesa_state == 'review'
    assert {(r.receipt, r.state) for r in payment.mpesa_transactions} == {
        (first.receipt, 'matched'), (second.receipt, 'unsettled')}

@pytest.mark.parametrize('make', KINDS)
def test_receipt_already_used(books, make):
    "A receipt that settles one payment cannot settle another"
    first, second = make(books), make(books)
    result = outcome(books, first)
    settle(books, first, result)
    assert settle(books, second, outcome(
            books, second, receipt=result.receipt)) == 'review'
    second = books.Payment(second.id)
    assert (second.state, second.mpesa_state) == ('processing', 'review')
    assert books.Payment(first.id).rec_name in second.mpesa_message
    record, = books.Payment(first.id).mpesa_transactions
    assert record.receipt == result.receipt

@pytest.mark.parametrize('make', KINDS)
def test_unknown_request_kept(books, make):
    "Money moved for a request nobody made is in the ledger, unsettled"
    payment = make(books)
    result = outcome(books, payment)
    assert books.Ledger.settle(result, None) == 'unknown'
    record, = books.Ledger.search([('receipt', '=', result.receipt)])
    assert record.state == 'unsettled'
    assert not record.payment
    assert books.Payment(payment.id).state == 'processing'

@pytest.mark.parametrize('make', KINDS)
def test_wrong_account(books, make):
    "An outcome told to another account never changes this payment"
    Account = books.pool.get('account.payment.mpesa.account')
    other, = Account.copy([books.account])
    payment = make(books)
    result = outcome(books, payment, account=other.id)
    assert books.Payment.mpesa_lookup(result) is None
    assert books.Ledger.settle(result, payment) == 'unknown'
    payment = books.Payment(payment.id)
    assert (payment.state, payment.mpesa_state) == ('processing', 'pending')
    record, = books.Ledger.search([('receipt', '=', result.receipt)])
    assert (record.account, record.payment) == (other, None)

def test_query_success_then_receipt(books):
    "A query's success has no receipt: the callback then brings it"
    payment = collection(books)
    query = outcome(books, payment, receipt='', amount=None, source='query',
        tells_amount=False)
    assert settle(books, payment, query) == 'succeeded'
    assert not books.Payment(payment.id).mpesa_receipt
    callback = outcome(books, payment)
    assert settle(books, payment, callback) == 'duplicate'
    payment = books.Payment(payment.id)
    assert payment.mpesa_receipt == callback.receipt
    record, = payment.mpesa_transactions
    assert record.state == 'matched'

def test_repeat_after_reversal_keeps_it_reversed(books):
    """A callback repeated after M-Pesa reversed its receipt changes
    nothing: the receipt stays reversed"""
    original = collection(books)
    result = outcome(books, original)
    assert settle(books, original, result) == 'succeeded'
    reversal = payout(
        books, amount=original.amount, refund_of=books.Payment(original.id))
    books.Payment.write([reversal], {'mpesa_payout_method': 'reversal'})
    assert settle(books, reversal, outcome(books, reversal)) == 'succeeded'
    record, = books.Payment(original.id).mpesa_transactions
    assert record.state == 'reversed'
    assert settle(books, original, result) == 'duplicate'
    record, = books.Payment(original.id).mpesa_transactions
    assert record.state == 'reversed'
    assert books.Payment(original.id).mpesa_receipt == result.receipt

def test_failure_after_money_moved(books):
    "A failure cannot fail a payment for which M-Pesa moved money"
    payment = collection(books)
    settle(books, payment, outcome(books, payment, amount=Decimal(10)))
    assert settle(books, payment, outcome(books, payment, code='1032')) == (
        'review')
    payment = books.Payment(payment.id)
    assert (payment.state, payment.mpesa_state) == ('processing', 'review')

def test_refundable_counts_money_paid_out(books):
    "A refund paid after it failed still counts as refunded"
    original = collection(books)
    settle(books, original, outcome(books, original))
    original = books.Payment(original.id)
    refund = payout(books, amount=500, refund_of=original)
    assert original.mpesa_refundable == Decimal(500)
    settle(books, refund, outcome(books, refund, code='2040'))
    assert books.Payment(original.id).mpesa_refundable == Decimal(1000)
    settle(books, refund, outcome(books, refund))
    refund = books.Payment(refund.id)
    assert (refund.state, refund.mpesa_state) == ('failed', 'review')
    assert books.Payment(original.id).mpesa_refundable == Decimal(500)

def test_status_not_final_waits(books):
    "A Transaction Status that is not final settles nothing"
    payment = payout(books)
    result = outcome(books, payment, source='status', final=False)
    books.Payment.write([payment], {'mpesa_status_request_id': 'st-1'})
    assert daraja.is_success_code(result.result_code)
    assert settle(books, payment, result) == 'waiting'
    assert books.Payment(payment.id).state == 'processing'


def story(books):
    """Payments and what M-Pesa says of them, in the order it is said:
    every rule, a repeated delivery and a receipt used twice"""
    paid, failed, short, repeated, held, late, queried = [
        collection(books, 1000 + i) for i in range(7)]
    first = outcome(books, paid)
    again = outcome(books, repeated)
    unknown = collection(books)
    told = [
        first,
        outcome(books, failed, code='1032'),
        outcome(books, short, amount=Decimal(10)),
        again, again,
        outcome(books, held, receipt=first.receipt),
        outcome(books, late, code='1'),
        outcome(books, late),
        outcome(books, queried, receipt='', amount=None, source='query',
            tells_amount=False),
        outcome(books, queried),
        replace(outcome(books, unknown), checkout_request_id='ws_CO_nobody'),
        ]
    return [paid, failed, short, repeated, held, late, queried, unknown], told


def books_of(books, payments, told):
    """What the books say of the payments, with receipts and payments named
    by their place in the story"""
    receipts = {o.receipt: i for i, o in enumerate(told) if o.receipt}
    names = {f'"{p.rec_name}"': f'payment {i}'
        for i, p in enumerate(payments)}
    names.update({r: f'receipt {i}' for r, i in receipts.items()})

    def named(text):
        for name, place in names.items():
            text = (text or '').replace(name, place)
        return text
    Ledger = books.Ledger
    records = Ledger.search([('receipt', 'in', list(receipts))])
    return [
        [(p.state, p.mpesa_state, named(p.mpesa_message),
                named(p.mpesa_receipt),
                [(l.debit, l.credit, l.account.code, str(l.move.date))
                    for l in (p.clearing_move.lines if p.clearing_move
                        else [])])
            for p in books.Payment.browse(payments)],
        sorted((receipts[r.receipt], r.state, named(r.note),
                names.get(f'"{r.payment.rec_name}"') if r.payment else None)
            for r in records),
        ]


@pytest.mark.parametrize('books', [BATCH], indirect=True)
def test_same_books_alone_and_batched(books):
    "The story told one outcome at a time and all at once: the same books"
    payments, told = story(books)
    results = [apply(books, [o])[0] for o in told]
    alone = books_of(books, payments, told)
    payments, told = story(books)
    assert apply(books, told) == results
    assert books_of(books, payments, told) == alone
    assert results == [
        'succeeded', 'failed', 'review', 'succeeded', 'duplicate', 'review',
        'failed', 'review', 'succeeded', 'duplicate', 'unknown']
