# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Build the base database of the benchmarks (run by the benchmarks in a
process of its own: Tryton's test tools put the pool in test mode).

The business of the end-to-end tests (``tests/e2e/scenario.py``: a Kenyan
company, its chart, an M-Pesa account and journal, a customer) with
``account_mpesa`` and ``sale_payment`` activated, plus one M-Pesa payment
taken through the real flow (submit, process, STK Push to the simulator,
whose customer never answers): the model the benchmarks copy in SQL.

Usage: DB_NAME=mpesa_bench_base python bench/builddb.py
"""
import os
import sys
from decimal import Decimal
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.database_uri()
sys.path.insert(0, common.ROOT)


def give_crons_company():
    """The M-Pesa crons were created before the company: an administrator
    gives them the company, as trytond-cron needs"""
    from proteus import Model
    Cron = Model.get('ir.cron')
    Company = Model.get('company.company')
    company, = Company.find([])
    for cron in Cron.find([('method', 'like', '%mpesa%')]):
        if company not in cron.companies:
            cron.companies.append(Company(company.id))
            cron.save()


def main():
    name = os.environ['DB_NAME']
    from proteus import Model
    from trytond.modules.account.tests.tools import create_chart
    from trytond.modules.company.tests.tools import create_company
    from trytond.tests.tools import activate_modules

    from tests.e2e import scenario

    activate_modules(
        scenario.MODULES, partial(create_company, currency='KES'),
        create_chart, scenario.setup_books)
    with common.SimulatorProcess() as simulator:
        MpesaAccount = Model.get('account.payment.mpesa.account')
        account, = MpesaAccount.find([])
        account.base_url = simulator.url
        account.callback_base_url = 'http://127.0.0.1:9'
        account.save()
        give_crons_company()
        PaymentJournal = Model.get('account.payment.journal')
        journal, = PaymentJournal.find([('process_method', '=', 'mpesa')])
        Party = Model.get('party.party')
        customer, = Party.find([('name', '=', "Wanjiku Kamau")])
        Payment = Model.get('account.payment')
        payment = Payment(
            journal=journal, kind='receivable', party=customer,
            amount=Decimal(100), mpesa_phone='254700009999')
        payment.save()
        payment.click('submit')
        Payment.click([payment], 'process_wizard')
        payment.reload()
        assert payment.state == 'processing', payment.state
        assert payment.mpesa_state == 'pending', payment.mpesa_state
    from trytond import backend
    backend.Database(name).close()
    # The token of that simulator is worthless to the next one
    common.set_account(
        name, base_url='http://127.0.0.1:9', daraja_token=None,
        daraja_token_expires=None)


if __name__ == '__main__':
    main()
