# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The org-portal statement imported with the statement import wizard:
CSV and XLSX written here in the portal's form, refused files, re-imports,
the lines against the ledger's payments, the charges and the sweeps, the
receipts the callbacks missed recovered, and the tie-out with its report."""
import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import zipfile
from decimal import Decimal
from functools import partial

import pytest

from e2e.scenario import (
    MODULES, SHORTCODE, release_database, setup_books, setup_statement)
import test_matching
from test_settlement import collection, outcome, payout, settle
from trytond.modules.account_mpesa import portal_statement
from trytond.modules.account_mpesa.outcome import Outcome

HEADER = [
    'Receipt No.', 'Completion Time', 'Initiation Time', 'Details',
    'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
    'Balance Confirmed', 'Reason Type', 'Other Party Info',
    'Linked Transaction ID', 'A/C No.']
OPENING = Decimal('10000')
books = test_matching.books


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
    forget_caches()
    yield os.environ['DB_NAME']
    release_database()
    forget_caches()


def forget_caches():
    """Empty Tryton's in-memory caches of the test database: they are by
    database name, and the other test modules' database has this name and
    other ids (a default warehouse of theirs is no location here)"""
    from trytond.cache import Cache

    Cache._clear_all(os.environ['DB_NAME'])


def statements(books):
    "The statement model"
    return books.pool.get('account.statement')


def row(receipt, minute, details, paid_in='', withdrawn='', reason='',
        other='', linked='', account='', day=2):
    "A row completed on day December 2026 at 10:minute, Nairobi time"
    when = dt.datetime(2026, 12, day, 10, minute)
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


MONTH = ('01-12-2026 00:00:00', '31-12-2026 23:59:59')


def preamble(opening, closing, period=MONTH):
    return [
        ['Account Holder:', 'DUKA LTD'],
        ['Short Code:', SHORTCODE],
        ['Account:', 'Utility Account'],
        ['Time Period:', 'From', period[0], 'To', period[1]],
        ['Operator:', 'accountant', 'Date of Report:', '01-01-2027 08:00:00'],
        ['Opening Balance:', f'{opening:,.2f}', 'Closing Balance:',
            f'{closing:,.2f}', 'Available Balance:', f'{closing:,.2f}'],
        ]


def portal_csv(rows, closing=None, header=HEADER, opening=OPENING,
        period=MONTH):
    """The statement as the portal writes CSV: newest first, dates as
    text, amounts with thousands separators, Withdrawn with a minus"""
    after, balance = balances(rows, opening)
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerows(preamble(
            opening, balance if closing is None else closing, period))
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
    numbers, Withdrawn without a minus, the empty cells at the end of a
    row left out"""
    import openpyxl

    after, balance = balances(rows, OPENING)
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
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
    counts = [M.search_count([]) for M in [
            Origin, books.Ledger, books.Payment]]
    with pytest.raises(ImportStatementError, match="imported already"):
        import_file(books, portal_xlsx(rows))
    assert [M.search_count([]) for M in [
            Origin, books.Ledger, books.Payment]] == counts
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


def test_charge_with_the_receipt_it_charges(books):
    """A charge row may carry the receipt of the transaction it charges:
    a later file with that charge imports it, though the transaction's row
    is imported already, and a charge is never taken for its transaction"""
    from trytond.modules.account_statement.exceptions import (
        ImportStatementError)

    paid, charge = sample()[:2]
    charge = dict(charge, receipt=paid['receipt'])
    first, = import_file(books, portal_csv([paid]))
    later = [paid, charge, row('TLC1000009', 59, "Pay Bill from "
            "25471****678 - JOHN DOE Acc. B2", paid_in='800',
            reason='Pay Bill Online', account='B2')]
    second, = import_file(books, portal_csv(later))
    assert sorted((o.number, o.amount) for o in second.origins) == [
        ('TLC1000001', -25), ('TLC1000009', 800)]
    assert second.start_balance == first.end_balance == OPENING + 2500
    charge_line, = [l for l in second.lines if l.amount == -25]
    assert charge_line.account == books.account.charges_account
    with pytest.raises(ImportStatementError, match="imported already"):
        import_file(books, portal_xlsx(later))
    stands = {(l.receipt, l.kind) for l in tie_out(books, second).lines}
    assert ('TLC1000001', 'charge') in stands


def test_statements_of_one_portal_account_per_journal(books):
    """A sweep is a row of both accounts' statements with one receipt: the
    statements of a journal are of one of the shortcode's accounts, and
    another account's is refused, naming both"""
    from trytond.modules.account_statement.exceptions import (
        ImportStatementError)

    statement, = import_file(books, portal_csv(sample()))
    assert statement.mpesa_portal_account == 'Utility Account'
    working = portal_csv([row('TLC1000007', 55, "Funds transfer",
                paid_in='3000', reason='Utility Account to Organization '
                'Settlement Account')]).replace(
        b'Utility Account\r\n', b'Working Account\r\n', 1)
    assert b'Working Account' in working
    with pytest.raises(ImportStatementError,
            match='"Working Account".*"Utility Account"'):
        import_file(books, working)
    assert statements(books).search_count([]) == 1


@pytest.mark.parametrize('charge_receipt', ['own', 'charged'])
def test_simulator_statements(books, charge_receipt):
    """The statements the simulator exports, in both forms of the charges'
    receipts, CSV and XLSX: read alike, imported, every row explained
    but the receipt that matches nothing"""
    from daraja_sim import Simulator

    sale = test_matching.quotation(books, books.customer, 800)
    with Simulator(answer_delay=0, shortcode=SHORTCODE) as simulator:
        simulator.book([
                {'kind': 'c2b', 'amount': 800, 'phone': '254712345678',
                    'account': sale.number},
                {'kind': 'c2b', 'amount': 1500, 'phone': '254712345679',
                    'account': 'NOSUCH-1'},
                ])
        simulator.sweep()
        exports = [
            simulator.statement_csv(
                charge_receipt=charge_receipt).encode(),
            simulator.statement_xlsx(
                charge_receipt=charge_receipt, minus=False,
                mask=False, date_cells=True),
            ]
    from_csv, from_xlsx = map(portal_statement.read, exports)
    assert len(from_csv.rows) == 5  # 2 payments, their charges, a sweep
    assert [(r.identity, r.amount, r.kind) for r in from_csv.rows] == [
        (r.identity, r.amount, r.kind) for r in from_xlsx.rows]
    assert (charge_receipt == 'charged') == (
        len({r.receipt for r in from_csv.rows}) == 3)

    statement, = import_file(books, exports[1])
    assert len(statement.origins) == 5
    tieout = tie_out(books, statement)
    stands = sorted((l.kind, l.status) for l in tieout.lines)
    assert stands == [
        ('charge', 'explained'), ('charge', 'explained'),
        ('recovered', 'action'), ('recovered', 'explained'),
        ('sweep', 'explained')]
    assert (tieout.unexplained, tieout.balance_difference) == (0, 0)
    from trytond.modules.account_statement.exceptions import (
        ImportStatementError)
    with pytest.raises(ImportStatementError, match="imported already"):
        import_file(books, exports[0])


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
    assert books.Ledger.search_count([]) == 0


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
    # The charge and the sweep are posted to their accounts
    utility = statement.journal.account
    charge, sweep = lines['TLC1000002'].move, lines['TLC1000004'].move
    assert {(l.account, l.debit, l.credit) for l in charge.lines} == {
        (books.account.charges_account, Decimal(25), 0),
        (utility, 0, Decimal(25))}
    assert {(l.account, l.debit, l.credit) for l in sweep.lines} == {
        (books.account.sweep_account, Decimal(3000), 0),
        (utility, 0, Decimal(3000))}


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


def test_statement_file_fields_not_written(books):
    """What the import read from the file is not written over RPC, by an
    accountant or an administrator: the server refuses it"""
    from trytond.model.exceptions import AccessError
    from trytond.transaction import Transaction

    statement, = import_file(books, portal_csv(sample()))
    User = books.pool.get('res.user')
    accountant = user(books, 'statement-accountant', [
            ('account', 'group_account'), ('account', 'group_account_admin')])
    admin, = User.search([('login', '=', 'admin')])
    Statement = statements(books)
    for user_id in [accountant.id, admin.id]:
        for name, value in [('mpesa_portal_account', None),
                ('mpesa_start', None), ('mpesa_end', None)]:
            with Transaction().set_user(user_id), \
                    Transaction().set_context(_check_access=True):
                with pytest.raises(AccessError, match="portal's file"):
                    Statement.write([Statement(statement.id)], {name: value})
    assert Statement(statement.id).mpesa_portal_account == 'Utility Account'


def snapshot(statement):
    "What an import made of a statement, comparable between imports"
    return (
        statement.name, statement.date, statement.start_balance,
        statement.end_balance, statement.total_amount,
        statement.number_of_lines, statement.mpesa_start,
        statement.mpesa_end,
        sorted((o.number, o.date, o.amount, o.description,
                sorted(o.information.items())) for o in statement.origins),
        sorted((l.number, l.date, l.amount, l.account.id,
                str(l.related_to)) for l in statement.lines))


def test_csv_and_xlsx_import_alike(books):
    "The CSV and the Excel export of one month make the same statement"
    collected = collection(books, amount=2500)
    assert settle(books, collected, outcome(
            books, collected, receipt='TLC1000001')) == 'succeeded'
    statement, = import_file(books, portal_csv(sample()))
    from_csv = snapshot(statement)
    assert len(from_csv[-1]) == 3  # the payment, the charge, the sweep
    statements(books).delete([statement])
    statement, = import_file(books, portal_xlsx(sample()))
    assert snapshot(statement) == from_csv


def push(books, amount, reference, minute, day=2):
    """A collection whose push was sent a minute before the customer paid
    on day December at 10:minute, Nairobi time"""
    payment = collection(books, amount=amount)
    books.Payment.write([payment], {
            'mpesa_account_reference': reference,
            'mpesa_requested_at': dt.datetime(2026, 12, day, 7, minute - 1),
            })
    return books.Payment(payment.id)


def lines_by_receipt(statement):
    return {l.number: l for l in statement.lines}


def tie_out(books, statement):
    "The tie-out of the statement, made by its button"
    TieOut = books.pool.get('account.payment.mpesa.tieout')
    statements(books).mpesa_tie_out([statement])
    tieout, = TieOut.search([('statement', '=', statement.id)])
    return tieout


def test_dropped_callbacks_recovered(books):
    """Receipts the callbacks missed are recovered from the statement: a
    push succeeded by a query that gave no receipt, a push still waiting,
    a customer payment that pays a sale, one that matches nothing, a
    payout nobody recorded; the tie-out explains them all"""
    sale = test_matching.quotation(books, books.customer, 800)
    queried = push(books, 2500, 'A1', 5)
    assert books.Ledger.settle(Outcome(
            kind='stk', source='query', account=books.account.id,
            checkout_request_id=queried.mpesa_checkout_request_id,
            result_code='0', tells_amount=False),
        books.Payment.mpesa_lookup(Outcome(
                kind='stk', source='query', account=books.account.id,
                checkout_request_id=queried.mpesa_checkout_request_id))
        ) == 'succeeded'
    assert not books.Payment(queried.id).mpesa_receipt
    waiting = push(books, 1200, 'B2', 30)
    books.Payment.write([waiting], {'mpesa_state': 'unknown'})
    rows = [
        row('TLC1000001', 5, "Pay Bill Online from 25471****678 - JANE DOE "
            "Acc. A1", paid_in='2500', reason='Pay Utility',
            other='25471****678 - JANE DOE', account='A1'),
        row('TLC1000002', 6, "Business Pay Bill Charge", withdrawn='25',
            reason='Business Pay Bill Charge', linked='TLC1000001'),
        row('TLC1000003', 30, "Pay Bill Online from 25471****678 - JANE DOE "
            "Acc. B2", paid_in='1200', reason='Pay Utility',
            other='25471****678 - JANE DOE', account='B2'),
        row('TLC1000004', 40, f"Pay Bill from 25479****001 - JOHN DOE "
            f"Acc. {sale.number}", paid_in='800', reason='Pay Bill Online',
            other='25479****001 - JOHN DOE', account=sale.number),
        row('TLC1000005', 45, "Pay Bill from 25479****001 - JOHN DOE "
            "Acc. NOSUCH", paid_in='300', reason='Pay Bill Online',
            other='25479****001 - JOHN DOE', account='NOSUCH'),
        row('TLC1000006', 50, "Business Payment to 25479****001 - JOHN DOE",
            withdrawn='400', reason='Business Payment to Customer via API',
            other='25479****001 - JOHN DOE'),
        ]
    statement, = import_file(books, portal_csv(rows))

    records = {r.receipt: r for r in books.Ledger.search([])}
    assert {r.source for r in records.values()} == {'statement'}
    assert 'TLC1000002' not in records  # a charge is no receipt
    lines = lines_by_receipt(statement)
    for receipt, payment in [('TLC1000001', queried), ('TLC1000003', waiting)]:
        payment = books.Payment(payment.id)
        assert (payment.state, payment.mpesa_receipt) == (
            'succeeded', receipt)
        assert records[receipt].payment == payment
        assert lines[receipt].related_to == payment
    paid = records['TLC1000004']
    assert (paid.state, paid.payment.origin) == ('matched', sale)
    assert lines['TLC1000004'].related_to == paid.payment
    assert records['TLC1000005'].state == 'unmatched'
    assert records['TLC1000006'].state == 'unsettled'
    assert 'paid out' in records['TLC1000006'].note
    assert set(lines) == {
        'TLC1000001', 'TLC1000002', 'TLC1000003', 'TLC1000004'}
    # Recovered once: pressing the button again changes nothing
    statements(books).mpesa_set_lines([statement])
    assert books.Ledger.search_count([]) == len(records)

    tieout = tie_out(books, statement)
    stands = {l.receipt: (l.kind, l.status) for l in tieout.lines}
    assert stands == {
        'TLC1000001': ('recovered', 'explained'),
        'TLC1000002': ('charge', 'explained'),
        'TLC1000003': ('recovered', 'explained'),
        'TLC1000004': ('recovered', 'explained'),
        'TLC1000005': ('recovered', 'action'),
        'TLC1000006': ('recovered', 'action'),
        }
    assert (tieout.unexplained, tieout.to_do) == (0, 2)
    assert tieout.balance_difference == 0
    assert tieout.ledger_total == tieout.statement_transactions == (
        2500 + 1200 + 800 + 300 - 400)
    assert tieout.books_total == 2500 + 1200 + 800
    assert tieout.clearing_movement == tieout.clearing_explained == (
        tieout.books_total)
    assert tieout.clearing_unexplained == 0
    # To do first
    assert [l.status for l in tieout.lines][:2] == ['action', 'action']

    # The accountant matches the Unmatched receipt elsewhere, then sets
    # the lines again: the tie-out has one thing left to do
    books.Ledger(records['TLC1000005'].id).c2b_post_elsewhere(
        books.account.sweep_account, "Owner's float")
    statements(books).mpesa_set_lines([statement])
    assert 'TLC1000005' in lines_by_receipt(statements(books)(statement.id))
    tieout = tie_out(books, statement)
    assert (tieout.unexplained, tieout.to_do) == (0, 1)


def test_reversal_rows(books):
    """A receipt reversed through the Reversal API and its reversal are two
    rows, each against its payment; the tie-out explains both"""
    from dataclasses import replace

    collected = collection(books, amount=2500)
    assert settle(books, collected, outcome(
            books, collected, receipt='TLC1000001')) == 'succeeded'
    reversal = payout(
        books, amount=2500, refund_of=books.Payment(collected.id))
    books.Payment.write([reversal], {'mpesa_payout_method': 'reversal'})
    reversed_ = replace(outcome(books, reversal, receipt='TLC1000009'),
        kind='reversal')
    assert settle(books, reversal, reversed_) == 'succeeded'
    rows = [
        row('TLC1000001', 5, "Pay Bill Online from 25471****678 - JANE DOE "
            "Acc. A1", paid_in='2500', reason='Pay Utility',
            other='25471****678 - JANE DOE', account='A1'),
        row('TLC1000009', 20, "Reversal of TLC1000001 to 25471****678 - "
            "JANE DOE", withdrawn='2500', reason='Reversal',
            other='25471****678 - JANE DOE', linked='TLC1000001'),
        ]
    statement, = import_file(books, portal_csv(rows))
    lines = lines_by_receipt(statement)
    assert lines['TLC1000001'].related_to == books.Payment(collected.id)
    assert lines['TLC1000009'].related_to == books.Payment(reversal.id)
    tieout = tie_out(books, statement)
    stands = {l.receipt: (l.kind, l.status) for l in tieout.lines}
    assert stands == {
        'TLC1000001': ('matched', 'explained'),
        'TLC1000009': ('reversal', 'explained'),
        }
    assert tieout.unexplained == 0
    statements(books).validate_statement([statement])


def test_books_not_on_statement_reported(books):
    """A receipt the ledger and the books hold that the statement does not
    show is an unexplained difference, unless it completed at the end of
    the period (in flight)"""
    never = collection(books, amount=700)
    assert settle(books, never, outcome(books, never, receipt='TLX0000001',
            time=dt.datetime(2026, 12, 10, 9))) == 'succeeded'
    late = collection(books, amount=900)
    assert settle(books, late, outcome(books, late, receipt='TLX0000002',
            time=dt.datetime(2026, 12, 31, 20, 45))) == 'succeeded'
    statement, = import_file(books, portal_csv(sample()))
    tieout = tie_out(books, statement)
    lines = {l.receipt: l for l in tieout.lines}
    assert (lines['TLX0000001'].kind, lines['TLX0000001'].status) == (
        'not_on_statement', 'difference')
    assert lines['TLX0000001'].payment == books.Payment(never.id)
    assert lines['TLX0000001'].books_amount == 700
    assert (lines['TLX0000002'].kind, lines['TLX0000002'].status) == (
        'in_flight', 'explained')
    assert tieout.unexplained == 1
    assert tieout.lines[0].receipt == 'TLX0000001'  # listed first
    assert tieout.ledger_unexplained == tieout.books_unexplained == 700
    assert tieout.clearing_unexplained == 0


def tie_out_dates(books, start, end):
    "The tie-out of the M-Pesa account from start to end, computed"
    TieOut = books.pool.get('account.payment.mpesa.tieout')
    tieout, = TieOut.create([{
                'company': books.company.id, 'account': books.account.id,
                'start_date': start, 'end_date': end}])
    TieOut.compute([tieout])
    return TieOut(tieout.id)


def test_tieout_of_dates_across_statements(books):
    """The tie-out of a date range takes the rows of the statements of the
    dates; a statement missing between them shows as a balance
    difference"""
    first = [row('TLC2000001', 5, "Pay Bill", paid_in='1000', day=3,
            reason='Pay Bill Online', account='X1')]
    second = [row('TLC2000002', 5, "Pay Bill", paid_in='500', day=20,
            reason='Pay Bill Online', account='X2')]
    import_file(books, portal_csv(
            first, period=('01-12-2026 00:00:00', '15-12-2026 23:59:59')))
    import_file(books, portal_csv(
            second, opening=OPENING + 1000,
            period=('16-12-2026 00:00:00', '31-12-2026 23:59:59')))
    tieout = tie_out_dates(books, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert tieout.row_count == 2
    assert (tieout.opening_balance, tieout.closing_balance) == (
        OPENING, OPENING + 1500)
    assert tieout.balance_difference == 0
    assert {l.receipt for l in tieout.lines} == {'TLC2000001', 'TLC2000002'}

    # A later statement whose opening balance does not follow: rows are
    # missing between the two
    import_file(books, portal_csv([row(
                    'TLC2000003', 5, "Pay Bill", paid_in='200', day=2,
                    reason='Pay Bill Online', account='X3')],
            opening=OPENING + 2000,
            period=('01-01-2027 00:00:00', '31-01-2027 23:59:59')))
    gap = tie_out_dates(books, dt.date(2026, 12, 1), dt.date(2027, 1, 31))
    assert gap.balance_difference == -500
    assert gap.unexplained == 1


def render(books, tieout):
    Report = books.pool.get('account.payment.mpesa.tieout', type='report')
    extension, content, _, _ = Report.execute([tieout.id], {})
    return extension, bytes(content)


def test_report_renders(books):
    "The tie-out prints as an OpenDocument text with its checks and lines"
    statement, = import_file(books, portal_csv(sample()))
    tieout = tie_out(books, statement)
    extension, content = render(books, tieout)
    assert extension == 'odt'
    with zipfile.ZipFile(io.BytesIO(content)) as document:
        text = document.read('content.xml').decode()
    for receipt in ['TLC1000001', 'TLC1000002', 'TLC1000003', 'TLC1000004']:
        assert receipt in text
    assert "Unexplained differences" in text
    assert "Recovered by the Statement" in text


@pytest.mark.skipif(
    not (shutil.which('soffice') or shutil.which('libreoffice')),
    reason="LibreOffice (soffice) is not installed on this machine: the "
    "PDF conversion of the tie-out report is not checked")
def test_report_converts_to_pdf(books, tmp_path):
    statement, = import_file(books, portal_csv(sample()))
    _, content = render(books, tie_out(books, statement))
    source = tmp_path / 'tieout.odt'
    source.write_bytes(content)
    command = shutil.which('soffice') or shutil.which('libreoffice')
    # A profile of its own: a LibreOffice already running with the user's
    # profile would take the conversion and leave no file here
    profile = (tmp_path / 'profile').as_uri()
    subprocess.run([command, f'-env:UserInstallation={profile}',
            '--headless', '--convert-to', 'pdf',
            '--outdir', str(tmp_path), str(source)], check=True,
        timeout=300, capture_output=True)
    assert (tmp_path / 'tieout.pdf').read_bytes()[:5] == b'%PDF-'


def user(books, login, groups, company=None):
    "A user of the groups (by module and id) and of the shop's company"
    pool = books.pool
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    company = company or books.company
    user_, = User.create([{
                'name': login, 'login': login,
                'companies': [('add', [company.id])],
                'company': company.id,
                'groups': [('add', [ModelData.get_id(*g) for g in groups])],
                }])
    return user_


def test_tieout_access(books):
    """Accounting ties out and reads; the computed values are not written
    over RPC; a user of Payment and Statement, not Accounting, sees no
    tie-out and presses no M-Pesa button of the statement"""
    from trytond.model.exceptions import AccessButtonError, AccessError
    from trytond.transaction import Transaction

    statement, = import_file(books, portal_csv(sample()))
    accountant = user(books, 'accountant', [('account', 'group_account')])
    clerk = user(books, 'clerk', [('account_payment', 'group_payment'),
            ('account_statement', 'group_statement')])
    TieOut = books.pool.get('account.payment.mpesa.tieout')
    Statement = statements(books)
    transaction = Transaction()
    with transaction.set_user(accountant.id), \
            transaction.set_context(_check_access=True):
        Statement.mpesa_tie_out([Statement(statement.id)])
        tieout, = TieOut.search([])
        assert tieout.lines
        with pytest.raises(AccessError):
            TieOut.write([tieout], {'unexplained': 0})
        with pytest.raises(AccessError):
            TieOut.create([{
                        'company': books.company.id,
                        'account': books.account.id,
                        'statement': statement.id, 'unexplained': 0}])
        TieOut.compute([tieout])
        with pytest.raises(AccessError, match="computed"):
            TieOut.write([tieout], {'in_flight': dt.timedelta(0)})
    with transaction.set_user(clerk.id), \
            transaction.set_context(_check_access=True):
        with pytest.raises(AccessError):
            TieOut.read([tieout.id], ['unexplained'])
        for button in ['mpesa_tie_out', 'mpesa_set_lines']:
            with pytest.raises(AccessButtonError):
                getattr(Statement, button)([Statement(statement.id)])

    # An accountant of another company sees none of the shop's tie-outs
    pool = books.pool
    Party = pool.get('party.party')
    Company = pool.get('company.company')
    other, = Company.create([{
                'party': Party.create([{'name': "Other Ltd"}])[0].id,
                'currency': books.company.currency.id}])
    outsider = user(books, 'outsider', [('account', 'group_account')],
        company=other)
    with transaction.set_user(outsider.id), \
            transaction.set_context(_check_access=True, company=other.id):
        assert TieOut.search([]) == []
        Line = pool.get('account.payment.mpesa.tieout.line')
        assert Line.search([]) == []
        with pytest.raises(AccessError):
            TieOut.read([tieout.id], ['unexplained'])

    # The accountant deletes the draft statement: its tie-out and lines go
    Line = pool.get('account.payment.mpesa.tieout.line')
    with transaction.set_user(accountant.id), \
            transaction.set_context(_check_access=True):
        Statement.delete([Statement(statement.id)])
    assert (TieOut.search_count([]), Line.search_count([])) == (0, 0)


def test_tieout_statement_of_another_journal(books):
    "A statement of another journal is not tied out with the account"
    from trytond.modules.account_mpesa.exceptions import MpesaTieOutError

    pool = books.pool
    StatementJournal = pool.get('account.statement.journal')
    journal, = StatementJournal.copy(
        [books.account.statement_journal], {'name': "Bank"})
    statement, = statements(books).create([{
                'name': "Bank", 'journal': journal.id,
                'company': books.company.id, 'date': dt.date(2026, 12, 31),
                'start_balance': 0, 'end_balance': 0,
                'mpesa_start': dt.datetime(2026, 12, 1),
                'mpesa_end': dt.datetime(2026, 12, 31)}])
    TieOut = pool.get('account.payment.mpesa.tieout')
    tieout, = TieOut.create([{
                'company': books.company.id, 'account': books.account.id,
                'statement': statement.id}])
    with pytest.raises(MpesaTieOutError, match="statement journal"):
        TieOut.compute([tieout])
