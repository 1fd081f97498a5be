# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Concurrency and outages on PostgreSQL: many callbacks, each delivered
several times at once, settle every payment exactly once; a shared token;
the task queue; a database restart while callbacks arrive."""
import datetime as dt
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from proteus import Model

from trytond.modules.account_mpesa import daraja

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


def test_duplicate_storm(shop, simulator, settling):
    """Every callback delivered 5 times concurrently: each payment once,
    settled in the answering server or by batches on the task queue"""
    payments = create_processing_payments(shop, STORM_PAYMENTS)
    Payment = Model.get('account.payment')
    # The worker sends the queued pushes
    assert wait_for(lambda: len(Payment.find([
                    ('mpesa_state', '=', 'pending')])) == STORM_PAYMENTS,
        timeout=120)
    payments = Payment.find([('mpesa_state', '=', 'pending')])
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


def test_shared_token(shop, simulator):
    """Processes that find the token expired at once ask Daraja for one
    new token, and keep working when each new token cancels the old one"""
    import threading

    from trytond.pool import Pool
    from trytond.transaction import Transaction

    simulator.set_faults(invalidate_token_on_reissue=True)
    database = os.environ['DB_NAME']
    Account = Pool(database).get('account.payment.mpesa.account')
    barrier = threading.Barrier(8)
    tokens, errors = [], []

    def worker():
        with Transaction().start(database, 0):
            client = Account(shop.mpesa_account.id).daraja_client()
            barrier.wait()
            tokens.append(client.token())
            # Each process keeps calling Daraja with the shared token
            try:
                client.stk_query(
                    business_shortcode=simulator.shortcode,
                    passkey=simulator.passkey,
                    checkout_request_id='ws_CO_unknown')
            except daraja.InvalidRequest:
                pass  # Daraja answered: the token was accepted
            except Exception as exception:
                errors.append(exception)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    oauth = [r for r in simulator.requests
        if r['path'].startswith('/oauth/')]
    assert len(oauth) == 1
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert not errors, errors


def test_processing_on_task_queue(shop, simulator, queue_worker):
    "With [queue] worker, a trytond-worker process settles the callbacks"
    from .scenario import (
        create_quotation, payment_settled, request_payment, sale_confirmed)

    sale = create_quotation(shop.customer, 1000)
    payment = request_payment(sale).form.payment
    assert wait_for(payment_settled(payment), timeout=60)
    assert payment.state == 'succeeded'
    assert wait_for(sale_confirmed(sale), timeout=60)
    # The route queued the callback; the worker process ran the task
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    database = os.environ['DB_NAME']
    with Transaction().start(database, 0, readonly=True):
        Queue = Pool(database).get('ir.queue')
        task, = [t for t in Queue.search([])
            if t.data['model'] == 'account.payment.mpesa.event']
        assert task.data['method'] == 'process_queued'
        assert task.finished_at
    assert queue_worker.poll() is None


def postgresql_cluster():
    """The version and name of the local cluster serving the tests, for
    pg_ctlcluster; skip (fail in CI) when it cannot be restarted from here"""
    import shutil
    import subprocess
    import urllib.parse

    def unavailable(reason):
        if os.environ.get('CI', '').lower() in {'1', 'true', 'yes'}:
            pytest.fail(f"{reason} (CI must restart PostgreSQL)",
                pytrace=False)
        pytest.skip(reason)

    uri = urllib.parse.urlsplit(os.environ['TRYTOND_DATABASE_URI'])
    if uri.hostname not in {None, '', 'localhost', '127.0.0.1', '::1'}:
        unavailable(f"PostgreSQL at {uri.hostname} is not local")
    if not shutil.which('pg_lsclusters') or os.geteuid() != 0:
        unavailable("restarting PostgreSQL needs pg_ctlcluster run as root")
    port = str(uri.port or 5432)
    for line in subprocess.run(
            ['pg_lsclusters', '--no-header'], capture_output=True,
            text=True, check=True).stdout.splitlines():
        version, name, cluster_port = line.split()[:3]
        if cluster_port == port:
            return version, name
    unavailable(f"no local cluster listens on port {port}")


def test_database_restart(shop, simulator):
    """PostgreSQL stops for 12 s while callbacks arrive: every callback
    answered 200 is in the inbox; those not answered in time (the server
    waits for the database longer than the sender's 10 s) are recovered by
    the reconciliation, and every payment is settled once"""
    import subprocess
    import threading
    import time

    cluster = postgresql_cluster()
    count = 30
    create_processing_payments(shop, count)
    Payment = Model.get('account.payment')
    payments = Payment.find([('mpesa_state', '=', 'pending')])
    assert len(payments) == count
    checkouts = [p.mpesa_checkout_request_id for p in payments]

    def pg_ctl(action):
        subprocess.run(
            ['pg_ctlcluster', '--skip-systemctl-redirect', *cluster, action]
            + (['-m', 'fast'] if action == 'stop' else []),
            check=True, timeout=120)

    def answer_all():
        # The customers answer one after the other for 9 s
        for checkout in checkouts:
            simulator.answer(checkout, 'success')
            time.sleep(0.3)
    answering = threading.Thread(target=answer_all)
    answering.start()
    try:
        assert wait_for(lambda: len(simulator.callbacks) >= 5, timeout=60)
        pg_ctl('stop')
        time.sleep(12)
    finally:
        pg_ctl('start')
    answering.join()
    assert wait_for(lambda: len(simulator.callbacks) == count, timeout=120)

    answered = {c['json']['Body']['stkCallback']['CheckoutRequestID']:
        c.get('status') or c.get('error') for c in simulator.callbacks}
    stored = {c for c, s in answered.items() if s == 200}
    assert stored, "no callback got through"
    assert len(stored) < count, "every callback was answered in time"

    # Every acknowledged callback is in the inbox
    Event = Model.get('account.payment.mpesa.event')
    assert stored <= {e.reference for e in Event.find([])}

    # The inbox retry and the reconciliation settle the rest
    from .scenario import reconcile, run_cron
    account = shop.mpesa_account
    account.query_delay = dt.timedelta(0)
    account.save()
    run_cron('account.payment.mpesa.event|process_pending')
    reconcile()
    assert wait_for(lambda: not Payment.find(
            [('state', '=', 'processing')]), timeout=60), [
        (p.mpesa_state, p.mpesa_message)
        for p in Payment.find([('state', '=', 'processing')])]
    assert len(Payment.find([('state', '=', 'succeeded')])) == count
    Move = Model.get('account.move')
    moves = Move.find([('origin', 'like', 'account.payment,%')])
    assert len(moves) == count
    assert not Event.find([('state', 'in', ['pending', 'error'])])
