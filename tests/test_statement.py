# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The org-portal statement imported with the statement import wizard:
CSV and XLSX written here in the portal's form, refused files, re-imports,
and the lines against the ledger's payments, the charges and the sweeps."""
import csv
import datetime as dt
import io
import os
from decimal import Decimal
from functools import partial

import pytest

from e2e.scenario import MODULES, SHORTCODE, release_database, setup_books
import test_matching
from test_settlement import collection, outcome, payout, settle
from trytond.modules.account_mpesa import portal_statement

HEADER = [
    'Receipt No.', 'Completion Time', 'Initiation Time', 'Details',
    'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
    'Balance Confirmed', 'Reason Type', 'Other Party Info',
    'Linked Transaction ID', 'A/C No.']
OPENING = Decimal('10000')
books = test_matching.books


def setup_statement(config):
    "A statement journal, a charges and a sweep account on the M-Pesa account"
    from proteus import Model

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


@pytest.fixture(scope='module')
def database():
    from trytond.modules.account.tests.tools import create_chart
    from trytond.modules.company.tests.tools import create_company
    from trytond.tests.tools import activate_modules

    release_database()
    activate_modules(
        MODULES + ['account_statement'],
        partial(create_company, currency='KES'), create_chart, setup_books,
        setup_statement)
    yield os.environ['DB_NAME']
    release_database()


def statements(books):
    "The statement model"
    return books.pool.get('account.statement')


def row(receipt, minute, details, paid_in='', withdrawn='', reason='',
        other='', linked='', account=''):
    "A row completed on 2 December 2026 at 10:minute, Nairobi time"
    when = dt.datetime(2026, 12, 2, 10, minute)
    return {
        'receipt': receipt, 'completed': when,
        'initiated': when - dt.timedelta(seconds=20), 'details': details,
        'paid_in': Decimal(paid_in or 0), 'withdrawn': Decimal(withdrawn or 0),
        'reason': reason, 'other': other, 'linked': linked,
        'account': account}


def sample():
    "Two customer payments (plain and masked party), a charge and a sweep"
    return [
        row('TLC1000001', 5, "Pay Bill from 254712345678 - JANE DOE Acc. A1",
            paid_in='2500', reason='Pay Bill Online',
            other='254712345678 - JANE DOE', account='A1'),
        row('TLC1000002', 6, "Business Pay Bill Charge", withdrawn='25',
            reason='Business Pay Bill Charge', linked='TLC1000001'),
        row('TLC1000003', 30, "Pay Bill from 25471****678 - JOHN DOE Acc. B2",
            paid_in='1200', reason='Pay Utility',
            other='25471****678 - JOHN DOE', account='B2'),
        row('TLC1000004', 50, "Utility Account to Organization Settlement "
            "Account", withdrawn='3000',
            reason='Utility Account to Organization Settlement Account'),
        ]


def balances(rows, opening):
    "The running balance after each row, and the closing balance"
    balance, after = opening, []
    for r in rows:
        balance += r['paid_in'] - r['withdrawn']
        after.append(balance)
    return after, balance


def preamble(opening, closing):
    return [
        ['Account Holder:', 'DUKA LTD'],
        ['Short Code:', SHORTCODE],
        ['Account:', 'Utility Account'],
        ['Time Period:', 'From', '01-12-2026 00:00:00', 'To',
            '31-12-2026 23:59:59'],
        ['Operator:', 'accountant', 'Date of Report:', '01-01-2027 08:00:00'],
        ['Opening Balance:', f'{opening:,.2f}', 'Closing Balance:',
            f'{closing:,.2f}', 'Available Balance:', f'{closing:,.2f}'],
        ]


def portal_csv(rows, closing=None, header=HEADER, opening=OPENING):
    """The statement as the portal writes CSV: newest first, dates as
    text, amounts with thousands separators, Withdrawn with a minus"""
    after, balance = balances(rows, opening)
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerows(
        preamble(opening, balance if closing is None else closing))
    writer.writerow(header)
    for r, running in reversed(list(zip(rows, after))):
        writer.writerow([
                r['receipt'], r['completed'].strftime('%d-%m-%Y %H:%M:%S'),
                r['initiated'].strftime('%d-%m-%Y %H:%M:%S'), r['details'],
                'Completed',
                f"{r['paid_in']:,.2f}" if r['paid_in'] else '',
                f"-{r['withdrawn']:,.2f}" if r['withdrawn'] else '',
                f'{running:,.2f}', 'true', r['reason'], r['other'],
                r['linked'], r['account']])
    return output.getvalue().encode()


def portal_xlsx(rows):
    """The statement as an Excel file: date cells and Excel serials,
    numbers, Withdrawn without a minus"""
    import openpyxl

    after, balance = balances(rows, OPENING)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for line in preamble(OPENING, balance):
        sheet.append(line)
    sheet.append(HEADER)
    epoch = dt.datetime(1899, 12, 30)
    for r, running in reversed(list(zip(rows, after))):
        serial = (r['initiated'] - epoch) / dt.timedelta(days=1)
        sheet.append([
                r['receipt'], r['completed'], serial, r['details'],
                'Completed', float(r['paid_in']) or None,
                float(r['withdrawn']) or None, float(running), 'true',
                r['reason'], r['other'], r['linked'] or None,
                r['account'] or None])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def import_file(books, data):
    "Run the import wizard on the file; the statements it created"
    Import = books.pool.get('account.statement.import', type='wizard')
    session_id, _, _ = Import.create()
    wizard = Import(session_id)
    wizard.start.company = books.company
    wizard.start.file_ = data
    wizard.start.file_format = 'mpesa'
    _, data = wizard.do_import_({'views': []})
    Import.delete(session_id)
    return statements(books).browse(data['res_id'])


def test_csv_and_xlsx_read_alike():
    "The portal's CSV and XLSX forms of one statement read the same"
    rows = sample()
    from_csv = portal_statement.read(portal_csv(rows))
    assert from_csv == portal_statement.read(portal_xlsx(rows))
    assert [r.receipt for r in from_csv.rows] == [
        'TLC1000001', 'TLC1000002', 'TLC1000003', 'TLC1000004']
    first = from_csv.rows[0]
    assert first.completed == dt.datetime(2026, 12, 2, 7, 5)  # UTC
    assert [portal_statement.row_kind(r.amount, r.reason_type, r.details)
        for r in from_csv.rows] == [
        'transaction', 'charge', 'transaction', 'sweep']
    assert from_csv.shortcode == SHORTCODE
    assert (from_csv.opening, from_csv.closing) == (
        OPENING, OPENING + 2500 - 25 + 1200 - 3000)


def test_import_xlsx(books):
    statement, = import_file(books, portal_xlsx(sample()))
    assert statement.journal == books.account.statement_journal
    assert statement.date == dt.date(2026, 12, 31)
    assert (statement.start_balance, statement.end_balance) == (
        OPENING, OPENING + 675)
    origin = next(o for o in statement.origins if o.number == 'TLC1000003')
    assert (origin.date, origin.amount) == (
        dt.date(2026, 12, 2), Decimal(1200))
    assert origin.information == {
        'mpesa_completion_time': dt.datetime(2026, 12, 2, 7, 30),
        'mpesa_initiation_time': dt.datetime(2026, 12, 2, 7, 29, 40),
        'mpesa_details': "Pay Bill from 25471****678 - JOHN DOE Acc. B2",
        'mpesa_reason_type': 'Pay Utility',
        'mpesa_other_party_info': '25471****678 - JOHN DOE',
        'mpesa_account_number': 'B2',
        'mpesa_balance': OPENING + 2500 - 25 + 1200,
        }
    charge = next(o for o in statement.origins if o.number == 'TLC1000002')
    assert charge.information['mpesa_linked_transaction_id'] == 'TLC1000001'


def test_same_rows_twice_create_nothing(books):
    "The same rows, in the other format, are refused: nothing new"
    from trytond.modules.account_statement.exceptions import (
        ImportStatementError)

    rows = sample()
    statement, = import_file(books, portal_csv(rows))
    Origin = books.pool.get('account.statement.origin')
    count = Origin.search_count([])
    with pytest.raises(ImportStatementError, match="imported already"):
        import_file(books, portal_xlsx(rows))
    assert Origin.search_count([]) == count
    assert statements(books).search_count([]) == 1

    # A later file that overlaps: only its new row, balanced around it
    later = rows[2:] + [row('TLC1000005', 59, "Pay Bill from 25471****678",
            paid_in='800', reason='Pay Bill Online')]
    later_statement, = import_file(
        books, portal_csv(later, opening=OPENING + 2500 - 25))
    origin, = later_statement.origins
    assert origin.number == 'TLC1000005'
    assert later_statement.start_balance == statement.end_balance
    assert later_statement.end_balance == statement.end_balance + 800


def truncated_xlsx():
    return portal_xlsx(sample())[:600]


def bad_date():
    return portal_csv(sample()).replace(b'02-12-2026 10:30:00', b'2-Dec-26')


@pytest.mark.parametrize('make, line', [
        (bad_date, "Line 9"),
        (lambda: portal_csv(sample(), header=HEADER[:-1] + ['Account']),
            "Line 7"),
        (lambda: b"Name,Amount\nFlour,100\n", "Line 1"),
        (truncated_xlsx, "line 1"),
        (lambda: portal_csv(sample()).replace(b'JOHN DOE', b'J\xd6HN DOE'),
            "Line 9"),
        (lambda: portal_csv(sample(), closing=OPENING), "Line 6"),
        ], ids=['date', 'header', 'not-statement', 'truncated-xlsx',
        'not-utf8', 'rows-missing'])
def test_malformed_refused_whole(books, make, line):
    "A malformed file is refused naming its line, and creates nothing"
    from trytond.modules.account_statement.exceptions import (
        ImportStatementError)

    with pytest.raises(ImportStatementError) as info:
        import_file(books, make())
    assert line in info.value.message
    assert statements(books).search_count([]) == 0


def test_no_journal_refused(books):
    from trytond.modules.account_statement.exceptions import (
        ImportStatementError)

    Account = books.pool.get('account.payment.mpesa.account')
    Account.write([books.account], {'statement_journal': None})
    with pytest.raises(ImportStatementError, match=SHORTCODE):
        import_file(books, portal_csv(sample()))


def test_lines_clear_the_clearing_account(books):
    """Rows the ledger settled get lines against their payments, charges
    and sweeps go to their accounts, the rest wait; validated, the
    statement clears the clearing account"""
    collected = collection(books, amount=2500)
    paid = outcome(books, collected, receipt='TLC1000001')
    assert settle(books, collected, paid) == 'succeeded'
    refund = payout(books, amount=400)
    assert settle(books, refund, outcome(
            books, refund, receipt='TLC1000006')) == 'succeeded'
    rows = sample()
    rows.insert(3, row('TLC1000006', 40, "Business Payment to 25471****678",
            withdrawn='400', reason='Business Payment to Customer via API'))
    statement, = import_file(books, portal_csv(rows))

    lines = {l.number: l for l in statement.lines}
    clearing = books.journal.clearing_account
    assert lines['TLC1000001'].related_to == books.Payment(collected.id)
    assert (lines['TLC1000001'].account, lines['TLC1000001'].amount) == (
        clearing, Decimal(2500))
    assert lines['TLC1000006'].related_to == books.Payment(refund.id)
    assert lines['TLC1000006'].amount == Decimal(-400)
    assert lines['TLC1000002'].account == books.account.charges_account
    assert lines['TLC1000004'].account == books.account.sweep_account
    assert 'TLC1000003' not in lines  # not in the ledger: the next step
    pending, = [o for o in statement.origins if o.pending_amount]
    assert pending.number == 'TLC1000003'

    # The accountant gives the pending origin its line, then validates
    Line = books.pool.get('account.statement.line')
    Line.create([{
                'statement': statement.id, 'origin': pending.id,
                'date': pending.date, 'amount': pending.amount,
                'party': books.customer.id,
                'account': books.customer.account_receivable_used.id,
                }])
    statements(books).validate_statement([statement])
    # What the statement's validation queued
    books.Payment.reconcile_clearing(
        books.Payment.browse([collected.id, refund.id]))
    for payment in books.Payment.browse([collected.id, refund.id]):
        lines_ = list(payment.clearing_lines)
        assert len(lines_) == 2
        assert all(l.reconciliation for l in lines_)
    move = lines['TLC1000001'].move
    assert {(l.account, l.debit, l.credit) for l in move.lines} >= {
        (statement.journal.account, Decimal(2500), 0),
        (clearing, 0, Decimal(2500))}


def test_statement_fields_for_mpesa_administration(books):
    "Only M-Pesa Administration sets the statement fields; others read them"
    from trytond.model.exceptions import AccessError
    from trytond.transaction import Transaction

    pool = books.pool
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    Account = pool.get('account.payment.mpesa.account')
    accountant, = User.create([{
                'name': "Accounts Administrator", 'login': 'accounts-admin',
                'companies': [('add', [books.company.id])],
                'company': books.company.id,
                'groups': [('add', [ModelData.get_id(
                                'account', 'group_account_admin')])],
                }])
    admin, = User.search([('login', '=', 'admin')])
    for name in ['statement_journal', 'charges_account', 'sweep_account']:
        with Transaction().set_user(accountant.id), \
                Transaction().set_context(_check_access=True):
            assert getattr(Account(books.account.id), name)
            with pytest.raises(AccessError):
                Account.write([Account(books.account.id)], {name: None})
        with Transaction().set_user(admin.id), \
                Transaction().set_context(_check_access=True):
            Account.write([Account(books.account.id)], {name: None})
