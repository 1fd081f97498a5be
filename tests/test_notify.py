# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The user who submitted an M-Pesa payment is notified in the client when
the ledger settles it: the amount, the masked phone and the receipt or the
reason, stored when the settling transaction commits and only then."""
import json
import os
from itertools import count
from types import SimpleNamespace

import pytest

import test_settlement
from test_matching import quotation
from test_settlement import collection, outcome, settle

# The shop's database, and a transaction on it rolled back after each test
database = test_settlement.database
books = test_settlement.books
LOGINS = count(1)


def salesperson(books):
    "A user of the shop, who submits the payment"
    User = books.pool.get('res.user')
    user = User(name="Salesperson", login=f'sales-{next(LOGINS)}')
    user.save()
    return user


def requested(books, user, amount=1000):
    "A payment submitted by user, whose STK Push Daraja accepted"
    payment = collection(books, amount)
    books.Payment.write([payment], {'mpesa_submitted_user': user.id})
    return books.Payment(payment.id)


def pending(user=None):
    "The notifications the transaction will store when it commits"
    from trytond.transaction import Transaction
    return [n for n in Transaction().user_notifications
        if user is None or n.user.id == user.id]


def test_success_notifies_submitter(books):
    user = salesperson(books)
    payment = requested(books, user)
    result = outcome(books, payment)
    assert settle(books, payment, result) == 'succeeded'
    notification, = pending()
    assert notification.user == user
    assert notification.icon == 'tryton-ok'
    assert "1,000" in notification.label
    assert "paid" in notification.label
    assert "2547*****678" in notification.description
    assert result.receipt in notification.description
    assert "254712345678" not in notification.description
    assert notification.model == 'account.payment'
    assert json.loads(notification.records) == [payment.id]
    Notification = books.pool.get('res.notification')
    assert not Notification.search([('user', '=', user.id)])

    assert settle(books, payment, result) == 'duplicate'
    assert len(pending()) == 1


def test_failure_notifies_reason(books):
    user = salesperson(books)
    payment = requested(books, user, amount=750)
    assert settle(books, payment, outcome(books, payment, code='1032')) == (
        'failed')
    payment = books.Payment(payment.id)
    notification, = pending()
    assert notification.user == user
    assert notification.icon == 'tryton-error'
    assert "750" in notification.label
    assert "not paid" in notification.label
    assert payment.mpesa_message in notification.description
    assert "2547*****678" in notification.description


def test_sale_is_the_notified_record(books):
    "The salesperson's notification opens the sale the payment is for"
    user = salesperson(books)
    sale = quotation(books, books.customer, 1000)
    payment = requested(books, user)
    books.Payment.write([payment], {'origin': str(sale)})
    payment = books.Payment(payment.id)
    settle(books, payment, outcome(books, payment))
    notification, = pending()
    assert notification.model == 'sale.sale'
    assert json.loads(notification.records) == [sale.id]
    assert f"Sale {sale.rec_name}," in notification.description


def test_nobody_to_notify(books):
    "A payment without a submitter, a customer's own one, notifies nobody"
    payment = collection(books)
    assert settle(books, payment, outcome(books, payment)) == 'succeeded'
    assert not pending()


def settle_in_transaction(database, commit):
    """Submit and settle a payment in a transaction of its own, committed
    or rolled back; the ids of the user and the payment"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(database, 0, _lock_tables=[
                'account_journal_period']) as transaction:
        pool = Pool()
        company, = pool.get('company.company').search([])
        with transaction.set_context(company=company.id):
            journal, = pool.get('account.payment.journal').search([
                    ('process_method', '=', 'mpesa')])
            customer, = pool.get('party.party').search([
                    ('name', '=', "Wanjiku Kamau")])
            shop = SimpleNamespace(
                pool=pool, company=company, journal=journal,
                account=journal.mpesa_account, customer=customer,
                Payment=pool.get('account.payment'),
                Ledger=pool.get('account.payment.mpesa.transaction'))
            user = salesperson(shop)
            payment = requested(shop, user)
            assert settle(shop, payment, outcome(shop, payment)) == (
                'succeeded')
            ids = SimpleNamespace(user=user.id, payment=payment.id)
        if commit:
            transaction.commit()
        else:
            transaction.rollback()
    return ids


def stored(database):
    "The user ids and records of the notifications in the database"
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(database, 0, readonly=True):
        Notification = Pool().get('res.notification')
        return [(n.user.id, json.loads(n.records))
            for n in Notification.search([])]


def test_stored_on_commit_only(database):
    before = stored(database)
    settle_in_transaction(database, commit=False)
    assert stored(database) == before
    ids = settle_in_transaction(database, commit=True)
    assert (ids.user, [ids.payment]) in stored(database)


@pytest.mark.postgresql
def test_bus_told_on_commit_only(database):
    """On PostgreSQL the client's bus hears of the notification when the
    settling transaction commits: nothing of a rolled back one"""
    import psycopg

    uri = os.environ['TRYTOND_DATABASE_URI'].rstrip('/') + '/' + database
    with psycopg.connect(uri, autocommit=True) as listener:
        listener.execute('LISTEN "bus"')
        settle_in_transaction(database, commit=False)
        assert not list(listener.notifies(timeout=0))
        ids = settle_in_transaction(database, commit=True)
        channels = [json.loads(n.payload)['channel']
            for n in listener.notifies(timeout=10, stop_after=1)]
    assert channels == [f'notification:{ids.user}']
