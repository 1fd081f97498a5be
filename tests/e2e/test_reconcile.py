# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""No payment stranded: the reconciliation cron, the callback retries and
the purge, against a simulator that drops, delays or stalls."""
import datetime as dt
import logging
import os
import socket
import time
from decimal import Decimal

import pytest
import requests
from proteus import Model

from trytond.modules.account_mpesa import account as account_module

from .scenario import (
    create_quotation, payment_settled, reconcile, request_payment, run_cron,
    wait_for)

pytestmark = pytest.mark.e2e
MODULE_LOGGER = 'trytond.modules.account_mpesa'


def configure(account, **values):
    for name, value in values.items():
        setattr(account, name, value)
    account.save()


def request_payments(shop, count, amount=100, first=0):
    """One sale and one STK Push per payment, each to its own phone (the
    first one 0710 123 456 + first)"""
    payments = []
    for i in range(first, first + count):
        sale = create_quotation(
            shop.customer, amount, phone=f'+254 7{10 + i:02d} 123 456')
        payments.append(request_payment(sale).form.payment)
    return payments


def module_records(caplog, level=logging.DEBUG):
    "The log records of the module (and its Daraja client) at level or above"
    return [r for r in caplog.records
        if r.name.startswith(MODULE_LOGGER)
        and r.levelno >= level]


def pushes(simulator):
    return [r for r in simulator.requests
        if r['path'].endswith('/stkpush/v1/processrequest')]


def test_lost_callbacks(shop, simulator, settling):
    "Callbacks that never come: the cron asks and settles every payment"
    simulator.set_faults(drop_callbacks=0.3, drop_seed=3)
    payments = request_payments(shop, 10)
    assert wait_for(lambda: len(simulator.callbacks)
        + len(simulator.dropped_callbacks) == 10)
    assert simulator.dropped_callbacks, "the fault dropped nothing"
    configure(shop.mpesa_account, query_delay=dt.timedelta(0))

    reconcile()

    for payment in payments:
        payment.reload()
        assert payment.state == 'succeeded', payment.mpesa_message
    dropped = {c['json']['Body']['stkCallback']['CheckoutRequestID']
        for c in simulator.dropped_callbacks}
    queried = {p for p in payments if p.mpesa_checkout_request_id in dropped}
    assert queried and all(not p.mpesa_receipt for p in queried)
    assert all(p.clearing_move for p in payments)
    assert len(pushes(simulator)) == 10


def test_late_callback_after_reconcile(shop, simulator, settling):
    "A callback after the cron settled the payment only brings the receipt"
    # The callback is held back (dropped) until the cron has settled the
    # payment, then delivered as Safaricom's late retry would be: a delay
    # would race the cron on a loaded machine
    simulator.set_faults(drop_callbacks=1)
    payment, = request_payments(shop, 1)
    assert wait_for(lambda: simulator.dropped_callbacks)
    configure(shop.mpesa_account, query_delay=dt.timedelta(0))
    reconcile()
    payment.reload()
    assert payment.state == 'succeeded'
    assert not payment.mpesa_receipt
    move = payment.clearing_move

    late, = simulator.dropped_callbacks
    assert requests.post(late['url'], json=late['json'], timeout=10).ok
    entry, = simulator.ledger
    assert wait_for(lambda: payment.reload() or payment.mpesa_receipt)
    assert payment.mpesa_receipt == entry['receipt']
    assert payment.state == 'succeeded'
    assert payment.clearing_move == move
    Ledger = Model.get('account.payment.mpesa.transaction')
    receipt, = Ledger.find([])
    assert receipt.payment == payment
    assert receipt.state == 'matched'
    Move = Model.get('account.move')
    assert len(Move.find([('origin', '=', str(payment))])) == 1


def test_outcome_unknown(shop, simulator, monkeypatch, settling):
    "A push whose answer never came is never sent again, and still settles"
    from trytond.config import config

    monkeypatch.setattr(account_module, 'READ_TIMEOUT', 0.5)
    # The callback is held back until the push is recorded, then delivered
    simulator.set_faults(slow_response=1.5, drop_callbacks=1)
    sale = create_quotation(shop.customer, 700)
    # The push is sent by this process (its time-out shortened), whatever
    # settles the callbacks
    queued = config.getboolean('queue', 'worker', default=False)
    config.set('queue', 'worker', 'False')
    try:
        wizard = request_payment(sale)
    finally:
        config.set('queue', 'worker', str(queued))
    payment = wizard.form.payment
    assert payment.mpesa_state == 'unknown'
    assert "Do not ask the customer again" in wizard.form.message
    monkeypatch.undo()

    # The push went through: its callback is adopted by the payment
    assert wait_for(lambda: simulator.dropped_callbacks)
    callback, = simulator.dropped_callbacks
    assert requests.post(
        callback['url'], json=callback['json'], timeout=10).ok
    assert wait_for(payment_settled(payment))
    assert payment.state == 'succeeded'
    assert payment.mpesa_receipt == simulator.ledger[0]['receipt']
    simulator.set_faults(slow_response=0)
    configure(shop.mpesa_account, query_delay=dt.timedelta(0))
    reconcile()
    assert len(pushes(simulator)) == 1


def test_unknown_outcome_without_callback_goes_to_review(
        shop, simulator, monkeypatch):
    "Unknown and no callback: review after the deadline, never a resend"
    monkeypatch.setattr(account_module, 'READ_TIMEOUT', 0.5)
    simulator.set_faults(slow_response=1.5, drop_callbacks=1.0)
    payment, = request_payments(shop, 1)
    monkeypatch.undo()
    assert payment.mpesa_state == 'unknown'
    simulator.set_faults(slow_response=0)
    configure(
        shop.mpesa_account, query_delay=dt.timedelta(0),
        review_deadline=dt.timedelta(seconds=2))
    reconcile()
    payment.reload()
    assert payment.state == 'processing'
    assert payment.mpesa_state == 'unknown'
    # The deadline shortened only now: on a loaded machine the first run
    # may come more than two seconds after the prompt
    configure(shop.mpesa_account, review_deadline=dt.timedelta(seconds=2))
    time.sleep(2.1)
    reconcile()
    payment.reload()
    assert payment.state == 'processing'
    assert payment.mpesa_state == 'review'
    assert "never confirmed receiving the request" in payment.mpesa_message
    assert "2547*****456" in payment.mpesa_message
    assert len(pushes(simulator)) == 1


def test_deadline(shop, simulator, caplog):
    "A prompt never answered ends in review with the reason"
    simulator.set_customer('254710123456', 'never')
    payment, = request_payments(shop, 1)
    configure(
        shop.mpesa_account, query_delay=dt.timedelta(0),
        review_deadline=dt.timedelta(hours=1))
    with caplog.at_level(logging.DEBUG, logger=MODULE_LOGGER):
        reconcile()
    payment.reload()
    assert payment.mpesa_state == 'pending'
    assert payment.mpesa_checked_at
    # Still waiting for the customer is no warning: the summary counts it
    assert not module_records(caplog, logging.WARNING)
    assert [r.getMessage() for r in module_records(caplog, logging.INFO)] == [
        "M-Pesa reconciliation: 1 pending"]
    assert any("being processed" in r.getMessage()
        for r in module_records(caplog))
    # The deadline shortened only now: on a loaded machine the first run
    # may come more than two seconds after the prompt
    configure(shop.mpesa_account, review_deadline=dt.timedelta(seconds=2))
    time.sleep(2.1)
    reconcile()
    payment.reload()
    assert payment.state == 'processing'
    assert payment.mpesa_state == 'review'
    assert "no final answer within 0:00:02" in payment.mpesa_message

    # A person decides now
    payment.click('fail')
    assert payment.state == 'failed'


def test_daraja_down(shop, simulator):
    "Half the calls fail for a while: nothing lost, nothing pushed twice"
    simulator.set_faults(
        error_5xx_ratio=0.5, error_5xx_seed=5, drop_callbacks=0.5,
        drop_seed=5)
    payments = request_payments(shop, 8)
    waiting = [p for p in payments if p.mpesa_state == 'requested']
    assert waiting, "no push was refused"
    simulator.set_faults(error_5xx_ratio=0, drop_callbacks=0)
    configure(shop.mpesa_account, query_delay=dt.timedelta(0))
    reconcile()
    reconcile()
    for payment in payments:
        assert wait_for(payment_settled(payment))
        assert payment.state == 'succeeded', payment.mpesa_message
    accepted = [r for r in pushes(simulator) if r['status'] == 200]
    assert len(accepted) == 8
    assert len({r['json']['PhoneNumber'] for r in accepted}) == 8


def unfinished_tasks():
    "The queued tasks not finished (one that raised stays so)"
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(os.environ['DB_NAME'], 0, readonly=True):
        Queue = Pool().get('ir.queue')
        return [(t.name, t.data) for t in Queue.search(
                [('finished_at', '=', None)])]


@pytest.fixture
def refused_url():
    """A loopback base URL where every connection is refused: its port is
    bound, so that nobody else takes it while the test runs, but nothing
    listens on it"""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        yield 'http://127.0.0.1:%d' % sock.getsockname()[1]


def test_daraja_refuses_connections(shop, simulator, refused_url, caplog):
    """Daraja answers 5xx, then refuses every connection for a while:
    nothing lost, nothing failed, every push sent once after the recovery"""
    not_reached = "could not be reached"
    # Half the calls answered 5xx and every callback lost: some pushes are
    # left requested (refused twice: by the wizard and its queued task),
    # the others are pending with no callback to settle them.
    simulator.set_faults(
        error_5xx_ratio=0.5, error_5xx_seed=7, drop_callbacks=1.0)
    payments = request_payments(shop, 4)
    states = [p.mpesa_state for p in payments]
    assert 'requested' in states and 'pending' in states, states

    # Nothing listens at Daraja's address any more
    before = len(simulator.requests)
    configure(
        shop.mpesa_account, base_url=refused_url,
        query_delay=dt.timedelta(0))
    payments += request_payments(shop, 4, first=4)
    for payment in payments[4:]:
        assert payment.state == 'processing'
        assert payment.mpesa_state == 'requested'
        assert not_reached in payment.mpesa_message
        assert payment.mpesa_attempts == 2  # the wizard and its queued task
    pending = [p for p in payments if p.mpesa_state == 'pending']
    requested = [p for p in payments if p.mpesa_state == 'requested']
    attempts = {p.id: p.mpesa_attempts for p in requested}

    # The cron tries to send and to ask: refused, it fails nothing and
    # loses nothing
    with caplog.at_level(logging.INFO, logger=MODULE_LOGGER):
        reconcile()
    summary = [r.getMessage() for r in module_records(caplog, logging.INFO)
        if r.getMessage().startswith("M-Pesa reconciliation:")]
    assert summary == [
        f"M-Pesa reconciliation: {len(pending)} error, "
        f"{len(requested)} not sent"]
    assert len(simulator.requests) == before, "a call reached Daraja"
    for payment in payments:
        payment.reload()
        assert payment.state == 'processing', payment.mpesa_message
    for payment in requested:
        assert payment.mpesa_state == 'requested'
        assert not_reached in payment.mpesa_message
        assert not payment.mpesa_checkout_request_id
        assert payment.mpesa_attempts == attempts[payment.id] + 1
    for payment in pending:
        assert payment.mpesa_state == 'pending'
        assert payment.mpesa_checkout_request_id

    # Daraja is back: every payment is sent once, and settles
    configure(shop.mpesa_account, base_url=simulator.url)
    simulator.set_faults(error_5xx_ratio=0, drop_callbacks=0)
    reconcile()
    for payment in payments:
        assert wait_for(payment_settled(payment))
        assert payment.state == 'succeeded', payment.mpesa_message
        assert payment.clearing_move
    accepted = [r for r in pushes(simulator) if r['status'] == 200]
    assert len(accepted) == 8
    assert len({r['json']['PhoneNumber'] for r in accepted}) == 8
    assert ({r['response']['CheckoutRequestID'] for r in accepted}
        == {p.mpesa_checkout_request_id for p in payments})
    assert len(simulator.ledger) == 8
    # Every queued send finished, and a later run sends nothing again
    assert wait_for(lambda: not unfinished_tasks())
    reconcile()
    assert len([r for r in pushes(simulator) if r['status'] == 200]) == 8


def test_unreachable_stops_questions(shop, simulator, refused_url, caplog):
    """Daraja unreachable: a run stops asking the account after three
    failures in a row instead of spending a timeout on every payment"""
    simulator.set_faults(drop_callbacks=1.0)
    payments = request_payments(shop, 5)
    assert {p.mpesa_state for p in payments} == {'pending'}
    configure(
        shop.mpesa_account, base_url=refused_url,
        query_delay=dt.timedelta(0))
    with caplog.at_level(logging.INFO, logger=MODULE_LOGGER):
        reconcile()
    messages = [r.getMessage() for r in module_records(caplog, logging.INFO)]
    assert "M-Pesa reconciliation: 3 error, 2 unreachable" in messages
    assert len([m for m in messages if "could not be checked" in m]) == 3
    for payment in payments:
        payment.reload()
        assert (payment.state, payment.mpesa_state) == (
            'processing', 'pending')

    # The next run asks again, and settles them once Daraja is back, with
    # one log line
    configure(shop.mpesa_account, base_url=simulator.url)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=MODULE_LOGGER):
        reconcile()
    # (a new base URL clears the stored token: a new one is obtained)
    assert [r.getMessage() for r in module_records(caplog, logging.INFO)
        if 'access token' not in r.getMessage()] == [
        "M-Pesa reconciliation: 5 succeeded"]
    for payment in payments:
        payment.reload()
        assert payment.state == 'succeeded', payment.mpesa_message


def test_refused_until_deadline(shop, simulator, refused_url):
    """Refused at every run: sent again at each run until the review
    deadline counted from the request, then held for review unsent"""
    # No access token yet: the token request is refused (and retried), so
    # each attempt takes about 1.5 s
    configure(
        shop.mpesa_account, base_url=refused_url,
        query_delay=dt.timedelta(0), review_deadline=dt.timedelta(seconds=6))
    payment, = request_payments(shop, 1)
    assert payment.mpesa_state == 'requested'
    assert "could not be reached" in payment.mpesa_message
    attempts = payment.mpesa_attempts
    give_up = time.monotonic() + 12
    while payment.mpesa_state == 'requested':
        # Runs closer together than the deadline, as every minute for a day
        assert time.monotonic() < give_up, "sent again past the deadline"
        time.sleep(1)
        reconcile()
        payment.reload()
    assert payment.state == 'processing'
    assert payment.mpesa_state == 'review'
    assert "nothing was sent" in payment.mpesa_message
    assert payment.mpesa_attempts > attempts
    assert not pushes(simulator)


def test_retry_and_give_up_callbacks(shop, simulator, tryton_url):
    "A callback for no payment is retried, then left in error"
    from .test_callbacks import callback_url, stk_callback
    import requests

    configure(
        shop.mpesa_account, event_attempts=2, query_delay=dt.timedelta(0))
    response = requests.post(
        callback_url(tryton_url, shop.mpesa_account.callback_identifier),
        json=stk_callback('ws_CO_nobody', 100))
    assert response.status_code == 200
    Event = Model.get('account.payment.mpesa.event')
    assert wait_for(lambda: Event.find([('attempts', '=', 1)]))
    event, = Event.find([])
    assert event.state == 'pending'

    run_cron('account.payment.mpesa.event|process_pending')
    event.reload()
    assert event.state == 'pending'
    assert event.attempts == 2

    run_cron('account.payment.mpesa.event|process_pending')
    event.reload()
    assert event.state == 'error'
    assert "after all its attempts" in event.error


def test_purge(shop, simulator):
    "Processed callbacks older than the retention are deleted"
    payment, = request_payments(shop, 1)
    assert wait_for(payment_settled(payment))
    Event = Model.get('account.payment.mpesa.event')
    assert wait_for(lambda: [e.state for e in Event.find([])] == ['done'])
    run_cron('account.payment.mpesa.event|purge')
    assert len(Event.find([])) == 1
    configure(shop.mpesa_account, event_retention=dt.timedelta(0))
    time.sleep(1)
    run_cron('account.payment.mpesa.event|purge')
    assert not Event.find([])
    Ledger = Model.get('account.payment.mpesa.transaction')
    receipt, = Ledger.find([])
    assert receipt.amount == Decimal(100)
    assert not receipt.event


def test_one_bad_answer_stalls_nothing(shop, simulator, monkeypatch):
    """An answer about another request and an exception in one payment's
    handling: both payments are marked checked with the reason, the others
    settle, and the next run does not die on them either"""
    from trytond.pool import Pool

    simulator.set_faults(drop_callbacks=1.0)
    payments = request_payments(shop, 4)
    assert wait_for(lambda: len(simulator.dropped_callbacks) == 4)
    configure(shop.mpesa_account, query_delay=dt.timedelta(0))
    confused, failing = payments[0].id, payments[1].id

    Payment = Pool(os.environ['DB_NAME']).get('account.payment')
    query = Payment.mpesa_query

    def mpesa_query(self):
        answer = query(self)
        if self.id == confused:
            return answer.__class__(
                answer.result_code, answer.result_desc,
                answer.merchant_request_id, 'ws_CO_someone_else')
        if self.id == failing:
            raise RuntimeError("a bug in this payment's handling")
        return answer
    monkeypatch.setattr(Payment, 'mpesa_query', mpesa_query)

    for run in range(2):
        reconcile()
        states = {}
        for payment in payments:
            payment.reload()
            states[payment.id] = payment.state
        assert [states[p.id] for p in payments[2:]] == ['succeeded'] * 2
        for payment_id, words in [
                (confused, "another request"), (failing, "a bug")]:
            payment = Model.get('account.payment')(payment_id)
            assert payment.state == 'processing'
            assert payment.mpesa_checked_at
            assert words in payment.mpesa_message
    monkeypatch.undo()
    reconcile()
    for payment in payments:
        payment.reload()
        assert payment.state == 'succeeded', payment.mpesa_message
