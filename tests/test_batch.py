# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Callbacks processed in batches, as the task queue does: stored by the
route's own code, then processed by batches in transactions of their own,
with no HTTP: one bad callback holds up only itself, repeated deliveries
settle once."""
import datetime as dt
import json
import logging
import os
import threading
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


def store(shop, kind, bodies, before_commit=None):
    """Store each callback body as the queued route does, holding the
    inbox, and call before_commit when given; return the events' ids"""
    Event = shop.pool.get('account.payment.mpesa.event')
    gate = SimpleNamespace(account=shop.account, company=shop.company)
    ids = []
    with shop.transaction() as tx:
        for body in bodies:
            event_id, state = Event.receive(
                gate, kind, json.dumps(body), '127.0.0.1', queue=True)
            assert state == 'pending'
            ids.append(event_id)
        if before_commit:
            before_commit()
        tx.commit()
    return ids


def receive(shop, payment_ids, receipts=None, before_commit=None):
    """Store a successful STK callback for each payment (its receipt from
    receipts when given) as the route does; return the events' ids"""
    Payment = shop.pool.get('account.payment')
    receipts = receipts or {}
    with shop.transaction(readonly=True):
        bodies = [{'Body': {'stkCallback': {
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
            for payment in Payment.browse(payment_ids)]
    return store(shop, 'stk', bodies, before_commit)


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


def test_next_batch_asked_while_one_is_applied(shop, monkeypatch):
    """The questions of a batch are asked while the batch before it is
    applied, and the batches settle as before"""
    Event = shop.pool.get('account.payment.mpesa.event')
    payments = pending_payments(shop, 4)
    events = receive(shop, payments)
    first, second = events[:2], events[2:]
    ask_first, apply = Event._ask_first, Event._apply
    second_asked, waited = threading.Event(), []

    def asking(event_ids):
        if event_ids == second:
            second_asked.set()
        return ask_first(event_ids)

    def applying(event_ids, answers):
        if event_ids == first:
            waited.append(second_asked.wait(10))
        return apply(event_ids, answers)
    monkeypatch.setattr(Event, '_ask_first', asking)
    monkeypatch.setattr(Event, '_apply', applying)
    process(shop, events, 2)
    assert waited == [True]
    payments, events = read(shop, payments, events)
    assert all(settled_once(p) for p in payments)
    assert all(e.state == 'done' for e in events)


def test_callbacks_share_the_waiting_task(shop):
    """A route queues the processing task only when none waits: the
    callbacks of a burst share one; once the worker has taken it, the next
    callback queues another"""
    Queue = shop.pool.get('ir.queue')

    def waiting():
        with shop.transaction(readonly=True):
            return [t.id for t in Queue.search([
                        ('dequeued_at', '=', None),
                        ]) if t.data['method'] == 'process_queued']

    def take(task_ids):
        with shop.transaction() as tx:
            Queue.write(Queue.browse(task_ids), {
                    'dequeued_at': dt.datetime.now()})
            tx.commit()
    take(waiting())
    payments = pending_payments(shop, 3)
    for payment in payments[:2]:
        receive(shop, [payment])
    first, = waiting()
    take([first])
    receive(shop, payments[2:])
    second, = waiting()
    assert second != first


postgresql_only = pytest.mark.skipif(
    not os.environ['TRYTOND_DATABASE_URI'].startswith('postgresql'),
    reason="the inbox is held by a table lock of PostgreSQL")


def inbox_lock(shop, granted):
    """Wait until a transaction holds the inbox (granted) or waits for it
    (not granted); tell whether one did.  Asked on a connection of its own,
    outside Tryton's transactions."""
    import psycopg

    from e2e.scenario import wait_for
    table = shop.pool.get('account.payment.mpesa.event')._table
    uri = (os.environ['TRYTOND_DATABASE_URI'].rstrip('/') + '/'
        + os.environ['DB_NAME'])
    with psycopg.connect(uri, autocommit=True) as connection:
        return bool(wait_for(lambda: connection.execute(
                    "SELECT count(*) FROM pg_locks WHERE granted = %s "
                    "AND mode = %s AND relation = %s::regclass",
                    (granted, 'RowExclusiveLock' if granted else 'ShareLock',
                        table)).fetchone()[0], timeout=10, interval=0.01))


@postgresql_only
def test_run_ends_after_the_routes_holding_the_inbox(shop, monkeypatch):
    """A run of the queued processing ends only once the routes that hold
    the inbox have committed, and settles their callbacks: a route counts
    on the waiting task it saw, even when the worker took it meanwhile"""
    from trytond.modules.account_mpesa import event
    Event = shop.pool.get('account.payment.mpesa.event')
    monkeypatch.setattr(event, 'INBOX_WAIT', 30000)
    payments = pending_payments(shop, 2)
    stored, waited = [], []

    def route():
        stored.extend(receive(shop, payments, before_commit=lambda:
                waited.append(inbox_lock(shop, granted=False))))
    thread = threading.Thread(target=route)
    thread.start()
    assert inbox_lock(shop, granted=True)
    with shop.transaction(readonly=True):
        Event.process_queued([])
    thread.join()
    assert waited == [True]
    payments, events = read(shop, payments, stored)
    assert all(settled_once(p) for p in payments)
    assert [e.state for e in events] == ['done', 'done']


@postgresql_only
def test_run_held_too_long_leaves_a_task(shop):
    """A run that a route holds longer than the inbox's wait ends with a
    task queued for the next run, which settles the route's callback"""
    Event = shop.pool.get('account.payment.mpesa.event')
    Queue = shop.pool.get('ir.queue')
    payments = pending_payments(shop, 2)
    first = receive(shop, payments[:1])
    stored, release = [], threading.Event()

    def route():
        stored.extend(receive(shop, payments[1:], before_commit=lambda:
                release.wait(30)))
    thread = threading.Thread(target=route)
    thread.start()
    assert inbox_lock(shop, granted=True)
    with shop.transaction() as tx:
        # The tasks of the thread's earlier transactions are not run here
        earlier = list(tx.tasks)
        Event.process_queued(Event.browse(first))
        task_id, = [t for t in tx.tasks if t not in earlier]
        tx.commit()
    release.set()
    thread.join()
    with shop.transaction(readonly=True):
        task = Queue(task_id)
        assert (task.data['model'], task.data['method'],
            task.data['instances']) == (
            Event.__name__, 'process_queued', tuple(first))
        assert not task.dequeued_at
        Event.process_queued(Event.browse(first))
    payments, events = read(shop, payments, first + stored)
    assert all(settled_once(p) for p in payments)
    assert [e.state for e in events] == ['done', 'done']


def test_questions_coalesced():
    """The questions that only read are asked once for all who need them:
    the same STK Query once, overlapping Pull windows as one; each
    Transaction Status is asked"""
    from trytond.modules.account_mpesa.event import Question

    def hour(h):
        return dt.datetime(2026, 12, 6, h)
    questions = [
        Question('stk', 1, 'ws_CO_1'), Question('pull', 1, (hour(9), hour(11))),
        Question('status', 1, 7), Question('stk', 1, 'ws_CO_1'),
        Question('pull', 1, (hour(13), hour(15))),
        Question('pull', 1, (hour(10), hour(12))),
        Question('pull', 2, (hour(10), hour(12))),
        Question('status', 1, 7), Question('stk', 2, 'ws_CO_1'),
        ]
    asked, which = Question.coalesce(questions)
    assert [(q.kind, q.account, q.reference) for q in asked] == [
        ('stk', 1, 'ws_CO_1'), ('status', 1, 7), ('status', 1, 7),
        ('stk', 2, 'ws_CO_1'),
        ('pull', 1, (hour(9), hour(12))), ('pull', 1, (hour(13), hour(15))),
        ('pull', 2, (hour(10), hour(12))),
        ]
    assert which == [0, 4, 1, 0, 5, 4, 6, 2, 3]


def stub_daraja(shop, monkeypatch, token):
    """Store token as the account's and answer its STK Queries without
    HTTP, refusing the token 'stale'; return the (session, Authorization)
    of each request and the account of each read of the stored token"""
    from trytond.modules.account_mpesa import account as account_module
    from trytond.modules.account_mpesa import daraja
    from trytond.modules.account_mpesa.daraja.transport import Transport
    Account = shop.pool.get('account.payment.mpesa.account')
    with shop.transaction() as tx:
        Account.write([Account(shop.account)], {
                'daraja_token': token,
                'daraja_token_expires': dt.datetime(2099, 1, 1)})
        tx.commit()
    requests, reads = [], []

    def request(self, method, path, what, **kwargs):
        authorization = kwargs['headers']['Authorization']
        requests.append((self.session, authorization))
        if authorization == 'Bearer stale':
            raise daraja.TokenError("Invalid Access Token")
        return {'ResponseCode': '0', 'ResponseDescription': 'Accepted',
            'MerchantRequestID': 'm',
            'CheckoutRequestID': kwargs['json']['CheckoutRequestID'],
            'ResultCode': '0', 'ResultDesc': 'Processed'}
    read = account_module.TokenStore._read

    def counted_read(self):
        reads.append(self.account_id)
        return read(self)
    monkeypatch.setattr(Transport, 'request', request)
    monkeypatch.setattr(account_module.TokenStore, '_read', counted_read)
    return requests, reads


def test_questions_share_a_client(shop, monkeypatch):
    """The questions of a batch are asked by share, each share with one
    Daraja client per account: one connection, one read of the stored
    token, closed once the share is answered"""
    from trytond.modules.account_mpesa import daraja
    from trytond.modules.account_mpesa.event import QUESTIONS_AT_ONCE, Question
    requests, reads = stub_daraja(shop, monkeypatch, 'stored')
    closed = []
    monkeypatch.setattr(
        daraja.Client, 'close',
        lambda self: closed.append(self._transport.session))
    questions = [Question('stk', shop.account, f'ws_CO_S{i}')
        for i in range(3 * QUESTIONS_AT_ONCE)]
    with shop.transaction(readonly=True):
        answers = Question.ask_all(questions)
    assert [a.checkout_request_id for a in answers] == [
        q.reference for q in questions]
    assert {a for _, a in requests} == {'Bearer stored'}
    sessions = {id(s) for s, _ in requests}
    assert len(sessions) == QUESTIONS_AT_ONCE
    assert sorted(map(id, closed)) == sorted(sessions)
    assert len(reads) == QUESTIONS_AT_ONCE


def test_share_renews_a_refused_token_once(shop, monkeypatch):
    """A share whose stored token Daraja refuses renews it once, stores
    it, and asks its other questions with it without reading it again"""
    from trytond.modules.account_mpesa import daraja, event
    Account = shop.pool.get('account.payment.mpesa.account')
    requests, reads = stub_daraja(shop, monkeypatch, 'stale')
    fetched = []

    def fetch(self):
        fetched.append(1)
        return 'fresh', 3600
    monkeypatch.setattr(daraja.Client, '_fetch_token', fetch)
    monkeypatch.setattr(event, 'QUESTIONS_AT_ONCE', 1)
    questions = [event.Question('stk', shop.account, f'ws_CO_R{i}')
        for i in range(5)]
    with shop.transaction(readonly=True):
        answers = event.Question.ask_all(questions)
    assert all(not isinstance(a, Exception) for a in answers)
    assert [a for _, a in requests] == (
        ['Bearer stale'] + ['Bearer fresh'] * 5)
    assert len(fetched) == 1
    # The token read by the first question and under the renewal's lock
    assert len(reads) == 2
    with shop.transaction(readonly=True):
        assert Account(shop.account).daraja_token == 'fresh'


@pytest.fixture
def paybill(shop):
    """The shop whose customer payments are confirmed by Pull (Confirm
    Callbacks on, the shortcode registered for Pull)"""
    Account = shop.pool.get('account.payment.mpesa.account')

    def registered(value):
        with shop.transaction() as tx:
            Account.write([Account(shop.account)], {
                    'confirm_callbacks': value, 'pull_registered': value})
            tx.commit()
    registered(True)
    yield shop
    registered(False)


def confirm(shop, payments):
    """Store the C2B confirmation of each (receipt, amount, Nairobi time)
    as the route does; return the events' ids"""
    return store(shop, 'c2b/confirmation', [{
                'TransactionType': 'Pay Bill', 'TransID': receipt,
                'TransTime': time, 'TransAmount': f'{amount}.00',
                'BusinessShortCode': '174379', 'BillRefNumber': 'nothing',
                'InvoiceNumber': '', 'OrgAccountBalance': '',
                'ThirdPartyTransID': '', 'MSISDN': '254712345678',
                'FirstName': 'A', 'MiddleName': '', 'LastName': ''}
            for receipt, amount, time in payments])


def test_customer_payments_confirmed_by_one_pull(paybill, monkeypatch):
    """A batch of customer payments confirmed by Pull asks Daraja once per
    run of overlapping windows, before the batch is applied: what Pull
    lists is recorded, a claim it does not list is rejected"""
    from trytond.modules.account_mpesa import daraja
    Account = paybill.pool.get('account.payment.mpesa.account')
    Event = paybill.pool.get('account.payment.mpesa.event')
    Ledger = paybill.pool.get('account.payment.mpesa.transaction')
    payments = [
        ('UPB0000001', 100, '20261206100000'),
        ('UPB0000002', 200, '20261206102000'),
        ('UPB0000003', 300, '20261206130000'),
        ('UPB0000004', 400, '20261206100500'),
        ]
    forged = 'UPB0000004'
    pulls = []

    def c2b_pull(self, start, end):
        pulls.append((start, end))
        rows = tuple(daraja.PullTransaction(
                transaction_id=r, time=None, msisdn='254712345678',
                amount=Decimal(a), bill_reference='nothing',
                transaction_type='c2b-pay-bill-debit', sender='',
                organization_name='') for r, a, _ in payments if r != forged)
        return daraja.PullResult('1000', 'Success', 'r', rows), list(rows)
    monkeypatch.setattr(Account, 'c2b_pull', c2b_pull)
    events = confirm(paybill, payments)
    process(paybill, events, 10)
    # 10:00, 10:05 and 10:20 Nairobi overlap within an hour; 13:00 does not
    assert sorted(pulls) == [
        (dt.datetime(2026, 12, 6, 6), dt.datetime(2026, 12, 6, 8, 20)),
        (dt.datetime(2026, 12, 6, 9), dt.datetime(2026, 12, 6, 11)),
        ]
    with paybill.transaction(readonly=True):
        assert [e.state for e in Event.browse(events)] == [
            'done', 'done', 'done', 'rejected']
        assert forged in Event(events[3]).error
        assert sorted(r.receipt for r in Ledger.search([
                    ('receipt', 'like', 'UPB%')])) == [
            'UPB0000001', 'UPB0000002', 'UPB0000003']


def test_pull_row_busy_left_for_next_run(paybill, monkeypatch):
    """A row of the Pull cron whose transaction keeps conflicting (other
    customer payments of the account) is left for the next run, which
    asks from the same start; the other rows are recorded"""
    from trytond import backend
    from trytond.modules.account_mpesa import common, daraja
    Account = paybill.pool.get('account.payment.mpesa.account')
    Ledger = paybill.pool.get('account.payment.mpesa.transaction')
    since = dt.datetime(2026, 12, 6, 6)
    with paybill.transaction() as tx:
        Account.write([Account(paybill.account)], {'pull_until': since})
        tx.commit()
    receipts = ['UPL0000001', 'UPL0000002', 'UPL0000003']
    busy = {'UPL0000002'}
    windows = []

    def c2b_pull(self, start, end):
        windows.append(start)
        rows = tuple(daraja.PullTransaction(
                transaction_id=r, time=since, msisdn='254712345678',
                amount=Decimal(100), bill_reference='nothing',
                transaction_type='c2b-pay-bill-debit', sender='',
                organization_name='') for r in receipts)
        return daraja.PullResult('1000', 'Success', 'r', rows), list(rows)
    pull_row = Account._pull_row

    def conflicting(outcome):
        if outcome.receipt in busy:
            raise backend.DatabaseOperationalError(
                "could not serialize access due to concurrent update")
        return pull_row(outcome)
    monkeypatch.setattr(Account, 'c2b_pull', c2b_pull)
    monkeypatch.setattr(Account, '_pull_row', staticmethod(conflicting))
    monkeypatch.setattr(common.time, 'sleep', lambda seconds: None)

    def run():
        with paybill.transaction(readonly=True):
            counts = Account.pull_transactions([Account(paybill.account)])
        with paybill.transaction(readonly=True):
            recorded = sorted(r.receipt for r in Ledger.search([
                        ('receipt', 'in', receipts)]))
            return counts, recorded, Account(paybill.account).pull_until
    counts, recorded, until = run()
    assert counts['busy'] == 1
    assert recorded == ['UPL0000001', 'UPL0000003']
    assert until == since
    busy.clear()
    counts, recorded, until = run()
    assert counts['known'] == 2 and counts['busy'] == 0
    assert recorded == receipts
    assert until > since
    assert windows[0] == windows[1] < since


class Clock:
    "A clock that moves only when slept on"

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def inflow(newest, clock, rate=100, pause=3, first=None):
    from trytond.modules.account_mpesa.inflow import Inflow
    return Inflow(
        newest, rate, pause, first=first, clock=clock, sleep=clock.sleep)


def test_inflow_run_started_by_a_burst():
    """A run started by a callback with many behind it gives way before
    its first batch; one started by a lone callback, or by a few, does
    not"""
    clock = Clock()
    # The run's callback is id 1; 1,000 a second come in for a second
    flow = inflow(
        lambda: 1 + min(int(clock.now * 1000), 1000), clock, first=1)
    clock.sleep(0.05)
    assert flow.give_way() == pytest.approx(1.5)
    for behind in [0, 5]:
        flow = inflow(lambda: 7 + behind, clock, first=7)
        assert flow.give_way() == 0


def test_inflow_gives_way_while_a_burst_lasts():
    """The settlement waits while callbacks come in faster than the rate,
    and goes on as soon as they slow down"""
    clock = Clock()
    # 50 callbacks each tenth of a second, then none
    flow = inflow(lambda: min(int(clock.now * 500), 1000), clock)
    assert flow.give_way() == 0
    clock.sleep(0.5)
    assert flow.give_way() == pytest.approx(1.9)
    assert flow.give_way() == 0


def test_inflow_burst_outlasts_a_short_stall():
    """A stall of the callbacks shorter than the span (0.2 s against 0.5)
    does not end the wait for a burst"""
    clock = Clock()
    # 500 a second until 1.0 s, none until 1.2 s, 500 a second until 2.2 s
    flow = inflow(lambda: int(500 * min(clock.now, 1.0)
            + 500 * max(0, min(clock.now, 2.2) - 1.2)), clock)
    assert flow.give_way() == 0
    clock.sleep(0.5)
    assert flow.give_way() == pytest.approx(2.1)


def test_inflow_lets_a_batch_through_a_flood():
    "A flood holds the settlement up for the pause at most, each time"
    clock = Clock()
    flow = inflow(lambda: int(clock.now * 1000), clock, pause=0.5)
    assert flow.give_way() == 0
    for _ in range(3):
        # A batch settled
        clock.sleep(0.2)
        assert flow.give_way() == pytest.approx(0.5)


def test_inflow_does_not_wait_below_the_rate():
    "Callbacks coming in below the rate hold nothing up"
    clock = Clock()
    flow = inflow(lambda: int(clock.now * 90), clock)
    for _ in range(5):
        clock.sleep(0.7)
        assert flow.give_way() == 0


def test_queued_run_gives_way_to_a_burst(shop, monkeypatch):
    """A run of the queued processing applies no batch while callbacks
    pour in (the inbox's newest id climbs), then settles them all"""
    from trytond.modules.account_mpesa import event
    Event = shop.pool.get('account.payment.mpesa.event')
    monkeypatch.setattr(event, 'SETTLE_BATCH', 2)
    payments = pending_payments(shop, 4)
    events = receive(shop, payments)
    newest, steps = Event._newest_id, []

    def climbing():
        # A burst of 10,000 callbacks a second for the first five looks
        looks = len([s for s in steps if s == 'look'])
        steps.append('look')
        if 1 <= looks <= 5:
            return newest() + looks * 1000
        return newest()
    apply = Event._apply

    def applying(event_ids, answers):
        steps.append('apply')
        return apply(event_ids, answers)
    monkeypatch.setattr(Event, '_newest_id', classmethod(
            lambda cls: climbing()))
    monkeypatch.setattr(Event, '_apply', applying)
    with shop.transaction() as tx:
        Event.process_queued(Event.browse(events[:1]))
        tx.commit()
    # First batch taken at once; the burst then holds up its apply
    assert steps[:8] == ['look'] * 7 + ['apply']
    payments, events = read(shop, payments, events)
    assert all(settled_once(p) for p in payments)
    assert all(e.state == 'done' for e in events)
