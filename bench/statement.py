# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Benchmark of the org-portal statement: its import (the wizard with the
recovery of what the ledger lacks and the statement lines) and its
tie-out, time per row at several sizes.

For each size, in a process of its own and a fresh copy of a base
database (the business of the end-to-end tests with ``account_statement``
and its statement journal, plus a collection and a payout settled through
the real flow: payment, ledger record, clearing move), the payments, ledger
records and clearing moves of the month are copied from those two in SQL,
and the portal's XLSX of the month is written here as the portal writes it
(field notes §3: preamble, 13 columns, newest first).  Then the import
wizard imports it and the statement's Tie Out button ties it out, each in
a transaction of its own, committed and timed.  A statement of 20 rows of
the month's first day is imported and tied out first, so that the caches
are warm as in a running server.

A hundred rows of the month hold: 80 collections by STK Push in the ledger,
1 more whose callback was lost and whose push a query succeeded without a
receipt (recovered: the receipt settles it), 8 payouts in the ledger, 8
charges linked to a collection, 1 sweep to the bank, 1 customer payment the
ledger lacks with an account number that matches nothing (recovered: it
waits in Unmatched), 1 more collection.  The tie-out must find no
unexplained difference.

Usage: python bench/statement.py [--sizes 1000 10000 50000] [--reuse]
    [--uri postgresql://127.0.0.1:5434/] [--profile FILE]
"""
import argparse
import calendar
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

BASE_DB = 'mpesa_bench_statement_base'
RUN_DB = 'mpesa_bench_statement'
WARM_UP = 20
PHONE = '254712345678'
MASKED = '25471****678 - JANE DOE'
# What each of a hundred rows is (see the docstring)
PLAN = (['stk'] * 80 + ['charge'] * 8 + ['payout'] * 8 + ['sweep']
    + ['stk_without_receipt', 'c2b_unknown', 'stk'])
HEADER = [
    'Receipt No.', 'Completion Time', 'Initiation Time', 'Details',
    'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
    'Balance Confirmed', 'Reason Type', 'Other Party Info',
    'Linked Transaction ID', 'A/C No.']
NAIROBI = dt.timezone(dt.timedelta(hours=3))


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: time per row constant (the largest size within "
        "1.1 x the smallest's time per row); the 50,000-row month imported "
        "and tied out in under two minutes.")
    parser.add_argument(
        '--sizes', type=int, nargs='+', default=[1000, 10000, 50000],
        metavar='N', help="numbers of rows (default: 1000 10000 50000)")
    parser.add_argument(
        '--uri', help="the PostgreSQL server (default: "
        "TRYTOND_DATABASE_URI, else " + common.DEFAULT_URI + ")")
    parser.add_argument(
        '--reuse', action='store_true',
        help=f"reuse the base database {BASE_DB} if it exists")
    parser.add_argument(
        '--profile', metavar='FILE',
        help="run the smallest size once more under cProfile (not counted "
        "in the figures), write the stats to FILE and print the top")
    parser.add_argument(
        '--json', metavar='FILE', help="write the results to FILE as JSON")
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--build', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def month():
    """The first and last day of the current month: its fiscal year is the
    one the business is built with"""
    today = dt.date.today()
    last = calendar.monthrange(today.year, today.month)[1]
    return today.replace(day=1), today.replace(day=last)


def utc(nairobi):
    "The naive UTC time of a naive Nairobi time"
    return nairobi.replace(tzinfo=NAIROBI).astimezone(
        dt.timezone.utc).replace(tzinfo=None)


# The base database: built in a process of its own (Tryton's test tools)

def activate():
    """Activate the business of the end-to-end tests with
    ``account_statement`` and its statement journal in DB_NAME"""
    from trytond.modules.account.tests.tools import create_chart
    from trytond.modules.company.tests.tools import create_company
    from trytond.tests.tools import activate_modules
    from functools import partial

    from tests.e2e import scenario

    activate_modules(
        scenario.MODULES + ['account_statement'],
        partial(create_company, currency='KES'), create_chart,
        scenario.setup_books, scenario.setup_statement)


def build():
    name = os.environ['DB_NAME']
    activate()
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond.modules.account_mpesa.outcome import Outcome

    pool = Pool(name)
    Payment = pool.get('account.payment')
    Journal = pool.get('account.payment.journal')
    Party = pool.get('party.party')
    Ledger = pool.get('account.payment.mpesa.transaction')
    first, _ = month()
    when = utc(dt.datetime.combine(first, dt.time(12)))
    with Transaction().start(name, 0, readonly=True):
        company_id = pool.get('company.company').search([])[0].id

    def templates():
        journal, = Journal.search([('process_method', '=', 'mpesa')])
        customer, = Party.search([('name', '=', "Wanjiku Kamau")])
        account = journal.mpesa_account.id
        for kind, reference, receipt in [
                ('receivable', 'bench-template-stk', 'BNTEMPLAT1'),
                ('payable', 'bench-template-b2c', 'BNTEMPLAT2')]:
            payment = Payment(
                company=company_id, journal=journal, kind=kind,
                party=customer, amount=Decimal(100), mpesa_phone=PHONE,
                mpesa_account_reference='BENCH' if kind == 'receivable'
                else None,
                mpesa_payout_method='b2c' if kind == 'payable' else None)
            payment.save()
            ids = ({'mpesa_checkout_request_id': reference}
                if kind == 'receivable' else
                {'mpesa_originator_conversation_id': reference})
            Payment.write([payment], {
                    'state': 'processing', 'mpesa_state': 'pending',
                    'mpesa_requested_at': when, **ids})
            result = Ledger.settle(Outcome(
                    kind='stk' if kind == 'receivable' else 'b2c',
                    source='callback', account=account, receipt=receipt,
                    result_code='0', amount=Decimal(100), time=when,
                    **({'checkout_request_id': reference}
                        if kind == 'receivable' else
                        {'originator_conversation_id': reference})),
                Payment(payment.id))
            assert result == 'succeeded', result
    in_transaction(name, company_id, templates)
    from trytond import backend
    backend.Database(name).close()


def in_transaction(database, company, func, user=0):
    """Run func in a transaction of the company (as user) and commit it;
    run again with the tables locked that Tryton asks for, as its
    dispatcher does.  Returns func's result and the number of runs."""
    from trytond.transaction import Transaction, TransactionError

    extras, runs = {}, 0
    while True:
        runs += 1
        with Transaction().start(
                database, user, context={'company': company},
                **extras) as transaction:
            try:
                result = func()
                transaction.commit()
                return result, runs
            except TransactionError as exception:
                transaction.rollback()
                exception.fix(extras)




# A month of rows

def plan(count, prefix, start, end):
    """The rows of a statement from start to end (naive Nairobi times),
    oldest first, with their running balances from 0"""
    step = (end - start) / max(count, 1)
    rows, balance, collected = [], Decimal(0), None
    for i in range(count):
        kind = PLAN[i % len(PLAN)]
        completed = start + step * i + dt.timedelta(seconds=1)
        amount = Decimal(100 + (i * 37) % 4900)
        row = dict(
            seq=i, kind=kind, receipt=f'{prefix}{i:08d}', time=completed,
            reference=f'BENCH{i}', linked='')
        if kind in {'stk', 'stk_without_receipt', 'c2b_unknown'}:
            row['amount'] = amount
            if kind == 'c2b_unknown':
                row['reference'] = f'NOSUCH{i}'
            collected = row['receipt']
        elif kind == 'charge':
            row['amount'] = -Decimal(7 + i % 50)
            row['linked'] = collected or ''
        elif kind == 'payout':
            row['amount'] = -(amount // 10)
        else:
            row['amount'] = -Decimal(1000)
        balance += row['amount']
        row['balance'] = balance
        rows.append(row)
    return rows


def portal_xlsx(rows, opening, start, end):
    """The statement as the portal exports it to Excel: the preamble, the
    13 columns, the newest row first, completion times as text and
    initiation times as date cells, Withdrawn with a minus"""
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    closing = opening + sum(r['amount'] for r in rows)

    def text(moment):
        return moment.strftime('%d-%m-%Y %H:%M:%S')
    for line in [
            ['Account Holder:', 'DUKA LTD'],
            ['Short Code:', common.SHORTCODE],
            ['Account:', 'Utility Account'],
            ['Time Period:', 'From', text(start), 'To', text(end)],
            ['Operator:', 'accountant', 'Date of Report:', text(end)],
            ['Opening Balance:', f'{opening:,.2f}', 'Closing Balance:',
                f'{closing:,.2f}', 'Available Balance:', f'{closing:,.2f}']]:
        sheet.append(line)
    sheet.append(HEADER)
    for row in reversed(rows):
        kind, amount = row['kind'], row['amount']
        if kind in {'stk', 'stk_without_receipt'}:
            details = f"Pay Bill Online from {MASKED} Acc. {row['reference']}"
            reason = 'Pay Utility'
        elif kind == 'c2b_unknown':
            details = f"Pay Bill from {MASKED} Acc. {row['reference']}"
            reason = 'Pay Bill Online'
        elif kind == 'charge':
            details = reason = 'Business Pay Bill Charge'
        elif kind == 'payout':
            details = f"Business Payment to {MASKED}"
            reason = 'Business Payment to Customer via API'
        else:
            details = reason = (
                'Utility Account to Organization Settlement Account')
        paid = kind in {'stk', 'stk_without_receipt', 'c2b_unknown'}
        sheet.append([
                row['receipt'], text(row['time']),
                row['time'] - dt.timedelta(seconds=20), details, 'Completed',
                float(amount) if amount > 0 else None,
                float(amount) if amount < 0 else None,
                float(opening + row['balance']), 'true', reason,
                MASKED if kind not in {'charge', 'sweep'} else '',
                row['linked'] or None,
                row['reference'] if paid else None])
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def columns(connection, table):
    return [r[0] for r in connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = current_schema() "
            "AND column_name <> 'id' ORDER BY ordinal_position", (table,))]


def copy_select(connection, table, changed, source, alias):
    "INSERT INTO table SELECT its columns from source, some changed"
    names = columns(connection, table)
    targets = ', '.join('"%s"' % c for c in names)
    values = ', '.join(changed.get(c, '%s."%s"' % (alias, c)) for c in names)
    connection.execute(
        f"INSERT INTO {table} ({targets}) SELECT {values} FROM {source}")


def insert_books(rows):
    """The payments, ledger records and clearing moves of the rows that
    the books hold, copied in SQL from the two settled payments of the base
    (a collection and a payout), which are then deleted: a few statements
    for the whole month"""
    with common.connect(RUN_DB, autocommit=False) as connection:
        templates = dict(connection.execute(
                "SELECT kind, id FROM account_payment"))
        connection.execute(
            "CREATE TEMP TABLE bench_row (seq int, template int, "
            "receipt text, amount numeric, time timestamp, date date, "
            "reference text, ledger bool) ON COMMIT DROP")
        with connection.cursor().copy(
                "COPY bench_row FROM STDIN") as copy:
            for row in rows:
                if row['kind'] not in {
                        'stk', 'payout', 'stk_without_receipt'}:
                    continue
                kind = 'payable' if row['kind'] == 'payout' else 'receivable'
                copy.write_row((
                        row['seq'], templates[kind], row['receipt'],
                        abs(row['amount']), utc(row['time']),
                        row['time'].date(), row['reference'],
                        row['kind'] != 'stk_without_receipt'))
        tag = "'bench:' || r.receipt"
        copy_select(connection, 'account_payment', {
                'amount': 'r.amount', 'date': 'r.date', 'reference': tag,
                'number': "'BENCH-' || r.receipt",
                'mpesa_receipt': 'CASE WHEN r.ledger THEN r.receipt END',
                'mpesa_account_reference': 'CASE WHEN p.kind = '
                "'receivable' THEN r.reference END",
                'mpesa_requested_at': "r.time - interval '1 minute'",
                'mpesa_checked_at': 'r.time',
                'mpesa_checkout_request_id': 'CASE WHEN p.kind = '
                "'receivable' THEN 'co-' || r.receipt END",
                'mpesa_merchant_request_id': 'CASE WHEN p.kind = '
                "'receivable' THEN 'mr-' || r.receipt END",
                'mpesa_originator_conversation_id': 'CASE WHEN p.kind = '
                "'payable' THEN 'oc-' || r.receipt END",
                'mpesa_conversation_id': 'CASE WHEN p.kind = '
                "'payable' THEN 'cv-' || r.receipt END",
                'clearing_move': 'NULL', 'create_date': 'r.time',
                'write_date': 'NULL',
                }, 'bench_row r JOIN account_payment p ON p.id = r.template',
            'p')
        copy_select(connection, 'account_move', {
                'date': 'r.date', 'description': tag,
                'origin': "'account.payment,' || n.id",
                'create_date': 'r.time', 'write_date': 'NULL',
                }, 'bench_row r JOIN account_payment p ON p.id = r.template '
            "JOIN account_move m ON m.id = p.clearing_move "
            "JOIN account_payment n ON n.reference = " + tag, 'm')
        connection.execute(
            "UPDATE account_payment n SET clearing_move = m.id "
            "FROM account_move m WHERE m.description = n.reference "
            "AND n.reference LIKE 'bench:%'")
        copy_select(connection, 'account_move_line', {
                'move': 'n.id',
                'debit': 'CASE WHEN l.debit > 0 THEN r.amount ELSE 0 END',
                'credit': 'CASE WHEN l.credit > 0 THEN r.amount ELSE 0 END',
                'create_date': 'r.time', 'write_date': 'NULL',
                }, 'bench_row r JOIN account_payment p ON p.id = r.template '
            "JOIN account_move_line l ON l.move = p.clearing_move "
            "JOIN account_move n ON n.description = " + tag, 'l')
        copy_select(connection, 'account_payment_mpesa_transaction', {
                'receipt': 'r.receipt', 'amount': 'r.amount',
                'transaction_time': 'r.time', 'payment': 'n.id',
                'event': 'NULL', 'create_date': 'r.time',
                'write_date': 'NULL',
                }, 'bench_row r JOIN account_payment_mpesa_transaction t '
            'ON t.payment = r.template '
            "JOIN account_payment n ON n.reference = " + tag
            + ' WHERE r.ledger', 't')
        connection.execute(
            "UPDATE account_payment SET reference = NULL "
            "WHERE reference LIKE 'bench:%'")
        connection.execute(
            "UPDATE account_move SET description = NULL "
            "WHERE description LIKE 'bench:%'")
        # The templates out of the way
        ids = list(templates.values())
        moves = [r[0] for r in connection.execute(
                "SELECT clearing_move FROM account_payment WHERE id = ANY(%s)",
                (ids,))]
        connection.execute(
            "DELETE FROM account_payment_mpesa_transaction "
            "WHERE payment = ANY(%s)", (ids,))
        connection.execute(
            "UPDATE account_payment SET clearing_move = NULL "
            "WHERE id = ANY(%s)", (ids,))
        connection.execute(
            "DELETE FROM account_move_line WHERE move = ANY(%s)", (moves,))
        connection.execute(
            "DELETE FROM account_move WHERE id = ANY(%s)", (moves,))
        connection.execute(
            "DELETE FROM account_payment WHERE id = ANY(%s)", (ids,))
        connection.commit()
        connection.autocommit = True
        for table in ['account_payment', 'account_move', 'account_move_line',
                'account_payment_mpesa_transaction']:
            connection.execute(f"VACUUM ANALYZE {table}")


# The child: one size

def import_and_tie_out(data, counting, profiler=None, database=RUN_DB):
    """Import the file with the wizard, then tie its statement out, each
    in a transaction committed, in database; return the times, the
    statement counts and the tie-out"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(database)
    Import = pool.get('account.statement.import', type='wizard')
    Statement = pool.get('account.statement')
    TieOut = pool.get('account.payment.mpesa.tieout')
    with Transaction().start(database, 0, readonly=True):
        company = pool.get('company.company').search([])[0].id
    result = {}

    def timed(name, func):
        counting.enabled = True
        before = counting.total
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        value, result[name + '_runs'] = in_transaction(
            database, company, func)
        result[name] = time.perf_counter() - start
        if profiler:
            profiler.disable()
        result[name + '_queries'] = counting.total - before
        counting.enabled = False
        return value

    def import_():
        session_id, _, _ = Import.create()
        wizard = Import(session_id)
        wizard.start.company = company
        wizard.start.file_ = data
        wizard.start.file_format = 'mpesa'
        _, action = wizard.do_import_({'views': []})
        Import.delete(session_id)
        return action['res_id']

    statement_ids = timed('import', import_)

    def tie_out():
        Statement.mpesa_tie_out(Statement.browse(statement_ids))
        tieout, = TieOut.search([('statement', 'in', statement_ids)])
        return tieout.id

    tieout_id = timed('tie_out', tie_out)
    with Transaction().start(database, 0, readonly=True):
        tieout = TieOut(tieout_id)
        result.update(
            tieout=tieout_id, rows=tieout.row_count,
            lines=pool.get('account.statement.line').search_count([
                    ('statement', 'in', statement_ids)]),
            unexplained=tieout.unexplained, to_do=tieout.to_do,
            counts=tieout.counts,
            checks={name: str(getattr(tieout, name)) for name in [
                    'balance_difference', 'ledger_unexplained',
                    'books_unexplained', 'clearing_unexplained']})
    return result


def child(arguments):
    size, = arguments.sizes
    first, last = month()
    common.clone_database(RUN_DB, BASE_DB)
    warm_rows = plan(WARM_UP, 'BW', dt.datetime.combine(first, dt.time()),
        dt.datetime.combine(first, dt.time(23, 59, 59)))
    start = dt.datetime.combine(first + dt.timedelta(days=1), dt.time())
    end = dt.datetime.combine(last, dt.time(23, 59, 59))
    rows = plan(size, 'BN', start, end)
    prepared = time.monotonic()
    insert_books(warm_rows + rows)
    warm_data = portal_xlsx(warm_rows, Decimal(0),
        dt.datetime.combine(first, dt.time()),
        dt.datetime.combine(first, dt.time(23, 59, 59)))
    opening = warm_rows[-1]['balance']
    data = portal_xlsx(rows, opening, start, end)
    common.log(f"  {size} rows ready in {time.monotonic() - prepared:.0f} s "
        f"(XLSX {len(data) / 1e6:.1f} MB)")
    counting = common.start_tryton(RUN_DB)
    warm = import_and_tie_out(warm_data, counting)
    assert warm['unexplained'] == 0, warm
    profiler = None
    if arguments.profile:
        import cProfile
        profiler = cProfile.Profile()
    result = import_and_tie_out(data, counting, profiler)
    if profiler:
        profiler.dump_stats(arguments.profile)
    result['size'] = size
    result['load'] = os.getloadavg()
    common.drop_database(RUN_DB)
    print(json.dumps(result))


# The parent

def main(argv=None):
    arguments = parse_arguments(argv)
    common.use_server(arguments.uri)
    if arguments.build:
        return build()
    if arguments.child:
        return child(arguments)
    started = time.monotonic()
    common.log(f"machine: {common.machine()}")
    common.ensure_built(BASE_DB, os.path.abspath(__file__), arguments.reuse)
    results = []
    for size in arguments.sizes:
        common.log(f"statement: {size} rows")
        output = subprocess.run(
            [common.PYTHON, os.path.abspath(__file__), '--child',
                '--sizes', str(size)], check=True, stdout=subprocess.PIPE,
            text=True, cwd=common.ROOT).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        common.log(f"  import {results[-1]['import']:.1f} s, tie-out "
            f"{results[-1]['tie_out']:.1f} s")
    ok = report(results)
    if arguments.profile:
        size = min(arguments.sizes)
        common.log(f"profiling: {size} rows (not in the figures above)")
        subprocess.run(
            [common.PYTHON, os.path.abspath(__file__), '--child',
                '--sizes', str(size), '--profile', arguments.profile],
            check=True, stdout=subprocess.DEVNULL, cwd=common.ROOT)
        common.print_profile(
            arguments.profile, f"{size} rows, import and tie-out",
            r'account_mpesa|account_statement|modelstorage|modelsql', 40)
    if arguments.json:
        with open(arguments.json, 'w') as file:
            json.dump(results, file, indent=2)
    common.log(f"done in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def report(results):
    "Print the figures and the ratios; whether the targets are met"
    print()
    print(f"machine: {common.machine()}")
    base = min(results, key=lambda r: r['size'])
    base_per_row = (base['import'] + base['tie_out']) / base['size']
    rows = []
    for r in sorted(results, key=lambda r: r['size']):
        n = r['size']
        total = r['import'] + r['tie_out']
        rows.append([
            n, f"{r['import']:.1f}", f"{r['tie_out']:.1f}", f"{total:.1f}",
            f"{r['import'] / n * 1000:.2f}", f"{r['tie_out'] / n * 1000:.2f}",
            f"{total / n * 1000:.2f}",
            f"{total / n / base_per_row:.2f}",
            f"{(r['import_queries'] + r['tie_out_queries']) / n:.2f}",
            r['unexplained'], r['to_do'],
            ', '.join(f'{v:.1f}' for v in r['load'])])
    print()
    print(common.table(
            ['rows', 'import s', 'tie-out s', 'total s', 'import ms/row',
                'tie-out ms/row', 'total ms/row', 'ratio', 'queries/row',
                'unexplained', 'to do', 'load (1, 5, 15 min)'],
            rows))
    largest = max(results, key=lambda r: r['size'])
    ratio = ((largest['import'] + largest['tie_out']) / largest['size']
        / base_per_row)
    ratio_ok = ratio <= 1.1
    total = largest['import'] + largest['tie_out']
    under = largest['size'] < 50000 or total < 120
    clean = all(r['unexplained'] == 0 for r in results)
    print()
    for r in results:
        print(f"{r['size']} rows: tie-out classes "
            + ', '.join(r['counts'].splitlines())
            + '; checks ' + ', '.join(
                f'{k} {v}' for k, v in sorted(r['checks'].items())))
    print()
    print(f"time per row, {largest['size']} against {base['size']} rows: "
        f"{ratio:.2f}x (target <= 1.1x) {'OK' if ratio_ok else 'MISSED'}")
    if largest['size'] >= 50000:
        print(f"{largest['size']} rows imported and tied out in {total:.0f} s "
            f"(target < 120 s) {'OK' if under else 'MISSED'}")
    print(f"unexplained differences: "
        f"{', '.join(str(r['unexplained']) for r in results)} (target 0) "
        f"{'OK' if clean else 'MISSED'}")
    ok = ratio_ok and under and clean
    print("targets met" if ok else "targets MISSED")
    return ok


if __name__ == '__main__':
    sys.exit(main())
