# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The company and its books, made with proteus the way a user would in
the client: the Kenyan shilling, the company, the chart of accounts, the
fiscal year with its periods and sequences, the M-Pesa clearing account
and the journal of its moves."""
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from proteus import Model, Wizard
from proteus.config import get_config

from . import settings

NAIROBI = ZoneInfo('Africa/Nairobi')
CHART = 'account.account_template_root_en'


def today():
    "The date in Nairobi, where the shop is"
    return dt.datetime.now(NAIROBI).date()


def create_currency():
    code, name, symbol = settings.CURRENCY
    Currency = Model.get('currency.currency')
    Rate = Model.get('currency.currency.rate')
    currency = Currency(
        name=name, code=code, symbol=symbol, rounding=Decimal('0.01'))
    currency.save()
    Rate(date=dt.date(2000, 1, 1), rate=Decimal(1), currency=currency).save()
    return currency


def create_company(currency):
    "Run the company configuration wizard; the admin user works in it"
    Party = Model.get('party.party')
    User = Model.get('res.user')
    party = Party(name=settings.COMPANY)
    party.save()
    wizard = Wizard('company.company.config')
    wizard.execute('company')
    wizard.form.party = party
    wizard.form.currency = currency
    wizard.form.timezone = 'Africa/Nairobi'
    wizard.execute('add')
    config = get_config()
    config._context = User.get_preferences(True, {})
    Company = Model.get('company.company')
    company, = Company.find()
    return company


def create_chart(company):
    "The minimal English chart, with its default accounts"
    AccountTemplate = Model.get('account.account.template')
    ModelData = Model.get('ir.model.data')
    Account = Model.get('account.account')
    template = AccountTemplate(ModelData.get_id(CHART, get_config().context))
    wizard = Wizard('account.create_chart')
    wizard.execute('account')
    wizard.form.account_template = template
    wizard.form.company = company
    wizard.execute('create_account')

    def find(kind):
        account, = Account.find([
                (f'type.{kind}', '=', True),
                ('company', '=', company.id),
                ('closed', '!=', True),
                ], limit=1)
        return account
    accounts = {k: find(k) for k in [
            'receivable', 'payable', 'revenue', 'expense']}
    wizard.form.account_receivable = accounts['receivable']
    wizard.form.account_payable = accounts['payable']
    wizard.form.category_account_revenue = accounts['revenue']
    wizard.form.category_account_expense = accounts['expense']
    wizard.execute('create_properties')
    accounts['cash'], = Account.find([
            ('company', '=', company.id), ('code', '=', '1.1.1')])
    return accounts


def the_company():
    Company = Model.get('company.company')
    company, = Company.find()
    return company


def ensure_fiscal_year(company):
    """A fiscal year of the calendar year of today, with its periods and
    its move and invoice sequences (invoices numbered INV/0001, ...),
    unless one covers today already"""
    FiscalYear = Model.get('account.fiscalyear')
    date = today()
    if FiscalYear.find([
                ('company', '=', company.id),
                ('start_date', '<=', date), ('end_date', '>=', date)]):
        return
    Sequence = Model.get('ir.sequence.strict')
    SequenceType = Model.get('ir.sequence.type')
    name = str(date.year)

    def sequence(kind, prefix=None, padding=0):
        sequence_type, = SequenceType.find([('name', '=', kind)], limit=1)
        record = Sequence(
            name=f"{kind} {name}", sequence_type=sequence_type,
            company=company, prefix=prefix, padding=padding)
        record.save()
        return record
    fiscalyear = FiscalYear(
        name=name, company=company,
        start_date=dt.date(date.year, 1, 1),
        end_date=dt.date(date.year, 12, 31))
    fiscalyear.move_sequence = sequence("Account Move")
    invoice_sequence = sequence(
        "Invoice", settings.INVOICE_PREFIX, settings.INVOICE_PADDING)
    sequences, = fiscalyear.invoice_sequences
    for kind in ['out_invoice', 'in_invoice', 'out_credit_note',
            'in_credit_note']:
        setattr(sequences, f'{kind}_sequence', invoice_sequence)
    fiscalyear.save()
    fiscalyear.click('create_period')


def create_clearing(accounts):
    """The M-Pesa clearing account (money on its way from Safaricom) and
    the journal of the clearing moves"""
    Account = Model.get('account.account')
    Journal = Model.get('account.journal')
    cash = accounts['cash']
    clearing = Account(
        parent=cash.parent, name="M-Pesa Clearing", code='1.1.9',
        type=cash.type, reconcile=True, deferral=True)
    clearing.save()
    journal = Journal(name="M-Pesa", code='MPESA', type='cash')
    journal.save()
    return clearing, journal


def create_books():
    "Everything of the books; returns the company and the clearing records"
    company = create_company(create_currency())
    accounts = create_chart(company)
    ensure_fiscal_year(company)
    clearing, journal = create_clearing(accounts)
    return company, accounts, clearing, journal
