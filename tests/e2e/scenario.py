# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The business the end-to-end tests run: a Kenyan company with its books,
an M-Pesa account and journal, a customer with a mobile number.

The database is built once and kept in ``DB_CACHE``; each test restores it
and points the M-Pesa account at the simulator and the Tryton server of
the run.
"""
import datetime as dt
import os
import time
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

from proteus import Model

MODULES = ['account_mpesa', 'sale_payment']
CONSUMER_KEY = 'test-consumer-key'
CONSUMER_SECRET = 'test-consumer-secret'
SHORTCODE = '174379'
PASSKEY = (
    'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919')
CUSTOMER_PHONE = '+254 712 345 678'


def setup_books(config):
    "Fiscal year, M-Pesa clearing account, M-Pesa account and journal"
    from trytond.modules.account.tests.tools import (
        create_fiscalyear, get_accounts)
    from trytond.modules.account_invoice.tests.tools import (
        set_fiscalyear_invoice_sequences)

    # A Kenyan business: Tryton's today (the clearing posting cron's) is
    # the Nairobi date that M-Pesa's moves are dated on
    Company = Model.get('company.company', config=config)
    company, = Company.find([])
    company.timezone = 'Africa/Nairobi'
    company.save()

    fiscalyear = set_fiscalyear_invoice_sequences(
        create_fiscalyear(config=config), config=config)
    fiscalyear.click('create_period')
    accounts = get_accounts(config=config)

    Account = Model.get('account.account', config=config)
    cash = accounts['cash']
    clearing = Account(
        parent=cash.parent, name="M-Pesa Clearing", code='1.1.9',
        type=cash.type, reconcile=True, deferral=True)
    clearing.save()

    AccountConfiguration = Model.get('account.configuration', config=config)
    account_configuration = AccountConfiguration(1)
    account_configuration.default_category_account_revenue = (
        accounts['revenue'])
    account_configuration.save()

    Journal = Model.get('account.journal', config=config)
    cash_journal, = Journal.find([('code', '=', 'CASH')])

    MpesaAccount = Model.get('account.payment.mpesa.account', config=config)
    mpesa_account = MpesaAccount(
        name="Shop Paybill", environment='custom',
        base_url='http://127.0.0.1:9', shortcode_type='paybill',
        business_shortcode=SHORTCODE, consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET, passkey=PASSKEY)
    mpesa_account.save()

    PaymentJournal = Model.get('account.payment.journal', config=config)
    journal = PaymentJournal(
        name="M-Pesa", process_method='mpesa', mpesa_account=mpesa_account,
        clearing_journal=cash_journal, clearing_account=clearing)
    journal.save()

    Party = Model.get('party.party', config=config)
    customer = Party(name="Wanjiku Kamau")
    mechanism = customer.contact_mechanisms.new()
    mechanism.type = 'mobile'
    mechanism.value = CUSTOMER_PHONE
    customer.save()


def setup_statement(config):
    """With account_statement: a statement journal, a charges and a sweep
    account on the M-Pesa account"""
    Account = Model.get('account.account', config=config)
    cash, = Account.find([('code', '=', '1.1.9')])
    utility = Account(
        parent=cash.parent, name="M-Pesa Utility Account", code='1.1.8',
        type=cash.type)
    utility.save()
    transfer = Account(
        parent=cash.parent, name="M-Pesa Sweeps", code='1.1.7',
        type=cash.type, reconcile=True)
    transfer.save()
    expense, = Account.find([('type.expense', '=', True)], limit=1)
    Journal = Model.get('account.journal', config=config)
    journal = Journal(name="M-Pesa Statement", type='statement')
    journal.save()
    Currency = Model.get('currency.currency', config=config)
    kes, = Currency.find([('code', '=', 'KES')])
    StatementJournal = Model.get('account.statement.journal', config=config)
    statement_journal = StatementJournal(
        name="M-Pesa Utility", journal=journal, account=utility,
        currency=kes, validation='balance')
    statement_journal.save()
    MpesaAccount = Model.get('account.payment.mpesa.account', config=config)
    mpesa_account, = MpesaAccount.find([])
    mpesa_account.statement_journal = statement_journal
    mpesa_account.charges_account = expense
    mpesa_account.sweep_account = transfer
    mpesa_account.save()


def wait_processing(timeout=30):
    """Wait until no callback of an earlier test is being processed by this
    process's server after its answer: a thread still running would run
    its queued tasks (by id) in the restored database"""
    from trytond.modules.account_mpesa import routes

    semaphore = routes.PROCESSING
    deadline = time.monotonic() + timeout
    acquired = 0
    try:
        while acquired < semaphore._initial_value and semaphore.acquire(
                timeout=max(0, deadline - time.monotonic())):
            acquired += 1
    finally:
        for _ in range(acquired):
            semaphore.release()


def release_database(timeout=10):
    """Close this process's connections to the test database (the Tryton
    server's included) so that PostgreSQL lets it be dropped and restored.

    Callbacks of the previous test may still be processed in the server's
    threads: their sessions are waited for, then ended."""
    import psycopg

    from trytond import backend
    wait_processing()
    if backend.name != 'postgresql':
        return
    database = os.environ['DB_NAME']
    backend.Database(database).close()
    uri = os.environ['TRYTOND_DATABASE_URI'].rstrip('/') + '/postgres'
    others = (
        "FROM pg_stat_activity WHERE datname = %s "
        "AND pid <> pg_backend_pid()")
    with psycopg.connect(uri, autocommit=True) as connection:
        deadline = time.monotonic() + timeout
        while (connection.execute(
                    f"SELECT count(*) {others}", (database,)).fetchone()[0]
                and time.monotonic() < deadline):
            time.sleep(0.1)
        connection.execute(
            f"SELECT pg_terminate_backend(pid) {others}", (database,))


def activate(sim_url, tryton_url):
    """Restore the business and point it at the simulator and the Tryton
    server; returns its main records"""
    from trytond.modules.account.tests.tools import create_chart
    from trytond.modules.company.tests.tools import create_company
    from trytond.tests.tools import activate_modules

    release_database()
    config = activate_modules(
        MODULES, partial(create_company, currency='KES'), create_chart,
        setup_books)
    MpesaAccount = Model.get('account.payment.mpesa.account')
    mpesa_account, = MpesaAccount.find([])
    mpesa_account.base_url = sim_url
    mpesa_account.callback_base_url = tryton_url
    mpesa_account.save()
    PaymentJournal = Model.get('account.payment.journal')
    Party = Model.get('party.party')
    journal, = PaymentJournal.find([('process_method', '=', 'mpesa')])
    customer, = Party.find([('name', '=', "Wanjiku Kamau")])
    return SimpleNamespace(
        config=config, mpesa_account=mpesa_account, journal=journal,
        customer=customer)


def create_quotation(customer, amount, phone=None):
    "A quotation of one line for amount, to a customer with phone"
    Sale = Model.get('sale.sale')
    if phone:
        mechanism, = customer.contact_mechanisms
        mechanism.value = phone
        customer.save()
    sale = Sale(party=customer, invoice_method='order')
    line = sale.lines.new()
    line.description = "Maize flour, 50 bags"
    line.quantity = 1
    line.unit_price = Decimal(amount)
    sale.click('quote')
    return sale


def request_payment(sale, **values):
    "Run the Request M-Pesa Payment wizard; returns its result form"
    wizard = sale.click('mpesa_request_payment')
    for name, value in values.items():
        setattr(wizard.form, name, value)
    wizard.execute('request')
    return wizard


def wait_for(predicate, timeout=15, interval=0.1):
    "Wait until predicate() is true; returns its last value"
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def payment_settled(payment):
    "A predicate that reloads payment and tells whether it left processing"
    def settled():
        payment.reload()
        return payment.state in {'succeeded', 'failed'} or (
            payment.mpesa_state == 'review')
    return settled


def sale_confirmed(sale):
    """A predicate that reloads sale and tells whether its payments
    confirmed it (confirmation then processing run as queued tasks)"""
    def confirmed():
        sale.reload()
        return sale.state == 'processing'
    return confirmed


def run_cron(method):
    "Run the scheduled task of method once, as trytond-cron would"
    Cron = Model.get('ir.cron')
    cron, = Cron.find([('method', '=', method)])
    assert cron.active
    cron.click('run_once')


def post_clearing_moves():
    "Run the clearing posting cron"
    run_cron('account.payment.journal|cron_post_clearing_moves')


def reconcile():
    "Run the M-Pesa reconciliation cron"
    run_cron('account.payment|mpesa_reconcile')


def today_in_nairobi():
    from zoneinfo import ZoneInfo
    return dt.datetime.now(ZoneInfo('Africa/Nairobi')).date()

