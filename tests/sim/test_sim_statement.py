# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The org-portal statement the simulator exports (field notes §3, §6):
preamble, columns, charges per tariff band, sweeps, reversals, masking,
CSV and XLSX alike, periods, order, and balances that tie."""
import csv
import datetime as dt
import io
import time
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from daraja_sim import Simulator

COLUMNS = ['Receipt No.', 'Completion Time', 'Initiation Time', 'Details',
    'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
    'Balance Confirmed', 'Reason Type', 'Other Party Info',
    'Linked Transaction ID', 'A/C No.']
PHONE = '254708374149'
TILL = '654321'
SETTLEMENT = 'Organization Settlement Account'
MONTH = dt.datetime(2026, 11, 1)


def at(day, hour=12, minute=0, second=0):
    "A Nairobi time of November 2026, as the portal writes it."
    return (MONTH.replace(day=day, hour=hour, minute=minute, second=second)
        .strftime('%d-%m-%Y %H:%M:%S'))


def money(text):
    "A statement amount as Decimal: thousands separators, a minus sign."
    return Decimal(text.replace(',', '')) if text else Decimal(0)


def read_rows(rows):
    """(preamble rows, statement rows as dicts) of a grid whose 7th row is
    the column header"""
    rows = [['' if c is None else c for c in row] for row in rows]
    assert rows[6] == COLUMNS
    preamble = [row[:max(i + 1 for i, c in enumerate(row) if c)]
        for row in rows[:6]]
    return preamble, [dict(zip(COLUMNS, r + [''] * len(COLUMNS)))
        for r in rows[7:]]


def read_csv(text):
    return read_rows(list(csv.reader(io.StringIO(text))))


def read_xlsx(content):
    "The XLSX read back with openpyxl, date cells written as the CSV does"
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
    grid = [[c.strftime('%d-%m-%Y %H:%M:%S') if isinstance(c, dt.datetime)
            else c for c in row] for row in sheet.iter_rows(values_only=True)]
    return read_rows(grid)


def values(preamble):
    "The preamble's values by label (labels end with a colon)"
    found = {}
    for row in preamble:
        for label, value in zip(row, row[1:]):
            if isinstance(label, str) and label.endswith(':'):
                found[label] = value
    return found


def check_ties(preamble, rows):
    """Opening + rows = closing, each row's Balance follows the one below
    it, and the totals are the rows' sums"""
    found = values(preamble)
    balance = money(found['Opening Balance:'])
    paid_in = withdrawn = Decimal(0)
    for row in reversed(rows):
        paid_in += money(row['Paid In'])
        withdrawn += abs(money(row['Withdrawn']))
        balance += money(row['Paid In']) - abs(money(row['Withdrawn']))
        assert money(row['Balance']) == balance, row
    assert money(found['Closing Balance:']) == balance
    assert money(found['Available Balance:']) == balance
    assert money(found['Total Paid In:']) == paid_in
    assert abs(money(found['Total Withdrawn:'])) == withdrawn
    return balance


@pytest.fixture
def sim():
    "A simulator that is not served: the statement is read in-process"
    return Simulator(till_number=TILL, seed=7)


def test_preamble_and_columns(sim):
    "Six preamble lines, labels and values in cells of their own, then 13"
    sim.book([{'kind': 'stk', 'amount': 1500, 'phone': PHONE,
                'account': 'INV-1', 'time': at(3, 9)}])
    preamble, rows = read_csv(sim.statement_csv(
            start='2026-11-01', end='2026-11-30'))
    assert preamble[:3] == [['Account Holder:', 'Daraja Simulator'],
        ['Short Code:', '174379'], ['Account:', 'Utility Account']]
    assert preamble[3] == ['Time Period:', 'From', '01-11-2026 00:00:00',
        'To', '30-11-2026 23:59:59']
    operator = preamble[4]
    assert operator[:2] == ['Operator:', 'simulator']
    assert operator[4] == 'Date of Report:'
    assert dt.datetime.strptime(operator[5], '%d-%m-%Y %H:%M:%S')
    assert preamble[5] == ['Opening Balance:', '0.00', 'Closing Balance:',
        '1,485.00', 'Available Balance:', '1,485.00', 'Total Paid In:',
        '1,500.00', 'Total Withdrawn:', '-15.00']
    charge, paid = rows
    assert paid['Completion Time'] == paid['Initiation Time'] == at(3, 9)
    assert (paid['Transaction Status'], paid['Balance Confirmed']) == (
        'Completed', 'true')
    assert (paid['Paid In'], paid['Withdrawn'], paid['Balance']) == (
        '1,500.00', '', '1,500.00')
    assert (paid['Reason Type'], paid['A/C No.']) == ('Pay Utility', 'INV-1')
    assert paid['Details'] == (
        f"Pay Bill from {paid['Other Party Info']} Acc. INV-1")
    assert (charge['Withdrawn'], charge['Balance']) == ('-15.00', '1,485.00')


@pytest.mark.parametrize('booking, charge, amounts', [
        ({'kind': 'stk'}, 'Business Pay Bill Charge', [
                (100, None), (101, '5.00'), (1500, '15.00'),
                (1501, '20.00'), (50_000, '108.00'), (250_000, '108.00')]),
        ({'kind': 'c2b'}, 'Business Pay Bill Charge', [
                (35_001, '99.00'), (7_500, '42.00')]),
        ({'kind': 'c2b', 'transaction_type': 'CustomerBuyGoodsOnline'},
            'Business Buy Goods Charge', [
                (200, None), (201, '1.01'), (1234, '6.17'),
                (40_000, '200.00'), (100_000, '200.00')]),
        ({'kind': 'stk', 'transaction_type': 'CustomerBuyGoodsOnline'},
            'Business Buy Goods Charge', [(1000, '5.00')]),
        ({'kind': 'b2c'}, 'B2C Payment Charge', [
                (100, None), (101, '5.00'), (1500, '5.00'), (1501, '9.00'),
                (15_000, '11.00'), (20_001, '12.00')]),
        ], ids=['stk', 'c2b', 'till', 'stk-till', 'b2c'])
def test_charges_per_band(sim, booking, charge, amounts):
    """A charge per the tariff is a row of its own, Withdrawn, with its own
    receipt and the Linked Transaction ID of what it charges; none below
    the free band"""
    entries = sim.book([dict(booking, amount=amount, phone=PHONE,
                time=at(day + 1)) for day, (amount, _) in enumerate(amounts)])
    shortcode = sim.b2c_shortcode if booking['kind'] == 'b2c' else None
    preamble, rows = read_csv(sim.statement_csv(shortcode))
    check_ties(preamble, rows)
    charges = {r['Linked Transaction ID']: r for r in rows
        if r['Reason Type'] == charge}
    for entry, (_, expected) in zip(entries, amounts):
        row = charges.get(entry['receipt'])
        if expected is None:
            assert row is None
            continue
        assert (row['Withdrawn'], row['Details'], row['Paid In']) == (
            f'-{expected}', charge, '')
        assert row['Receipt No.'] == entry['charge_receipt'] != (
            entry['receipt'])
        assert row['Completion Time'] == at(entries.index(entry) + 1)
    receipts = [r['Receipt No.'] for r in rows]
    assert len(receipts) == len(set(receipts))


def test_charges_off(sim):
    "Without charges no charge row is written and nothing is taken"
    sim.set_charges(False)
    sim.book([{'kind': 'c2b', 'amount': 5000, 'phone': PHONE}])
    preamble, rows = read_csv(sim.statement_csv())
    assert [r['Paid In'] for r in rows] == ['5,000.00']
    assert check_ties(preamble, rows) == 5000


def test_charge_receipt_charged(sim):
    """The form where a charge row carries the receipt of the transaction
    it charges"""
    entry, = sim.book([{'kind': 'stk', 'amount': 999, 'phone': PHONE}])
    _, rows = read_csv(sim.statement_csv(charge_receipt='charged'))
    assert [r['Receipt No.'] for r in rows] == [entry['receipt']] * 2
    assert rows[0]['Linked Transaction ID'] == entry['receipt']
    with pytest.raises(ValueError):
        sim.statement_csv(charge_receipt='shared')


def test_sweep(sim):
    """A sweep moves the Utility balance to the Organization Settlement
    Account: a row on each statement, the same receipt"""
    sim.book([{'kind': 'c2b', 'amount': 2000, 'phone': PHONE,
                'time': at(1)},
            {'kind': 'c2b', 'amount': 700, 'phone': PHONE, 'time': at(3)}])
    sweep = sim.sweep(when=at(2))
    assert sweep['amount'] == Decimal('1980.00')
    preamble, rows = read_csv(sim.statement_csv())
    assert check_ties(preamble, rows) == Decimal('690.00')
    swept, = [r for r in rows if r['Receipt No.'] == sweep['receipt']]
    assert swept['Details'] == swept['Reason Type'] == (
        'Utility Account to Organization Settlement Account')
    assert (swept['Withdrawn'], swept['Balance']) == ('-1,980.00', '0.00')
    assert swept['Other Party Info'] == '174379 - Daraja Simulator'
    preamble, rows = read_csv(sim.statement_csv(account=SETTLEMENT))
    assert values(preamble)['Account:'] == SETTLEMENT
    assert [(r['Receipt No.'], r['Paid In']) for r in rows] == [
        (sweep['receipt'], '1,980.00')]
    assert check_ties(preamble, rows) == Decimal('1980.00')
    with pytest.raises(ValueError, match='cannot sweep'):
        sim.sweep(amount=691)
    assert sim.sweep(amount=100)['amount'] == 100


def test_reversal(sim):
    """A reversal is a row of its own linked to the receipt it reverses,
    which stays as it was"""
    paid, = sim.book([{'kind': 'stk', 'amount': 80, 'phone': PHONE,
                'account': 'INV-9', 'time': at(5)}])
    _, before = read_csv(sim.statement_csv())
    reversal, = sim.book([{'kind': 'reversal', 'original': paid['receipt'],
                'time': at(6)}])
    preamble, rows = read_csv(sim.statement_csv())
    assert rows[1:] == before
    row = rows[0]
    assert row['Receipt No.'] == reversal['receipt'] != paid['receipt']
    assert (row['Linked Transaction ID'], row['Withdrawn']) == (
        paid['receipt'], '-80.00')
    assert row['Reason Type'] == 'Pay Utility Reversal'
    assert check_ties(preamble, rows) == 0
    with pytest.raises(ValueError, match='not a payment received that can be'):
        sim.book([{'kind': 'reversal', 'original': paid['receipt']}])


def test_masking(sim):
    """Party information masked as the portal masks it, or plain"""
    sim.book([{'kind': 'c2b', 'amount': 50, 'phone': PHONE, 'account': 'A'},
            {'kind': 'b2c', 'amount': 50, 'phone': PHONE}])
    first, middle, last = ['JAMES', 'OTIENO', 'CHEBET']
    for shortcode in ['174379', '600000']:
        _, (row,) = read_csv(sim.statement_csv(shortcode))
        assert row['Other Party Info'] == f'25470****149 - {first} **** {last}'
        assert PHONE not in row['Details'] and middle not in row['Details']
        assert row['Other Party Info'] in row['Details']
        _, (row,) = read_csv(sim.statement_csv(shortcode, mask=False))
        assert row['Other Party Info'] == f'{PHONE} - {first} {middle} {last}'


def test_minus_sign(sim):
    "Withdrawn with or without its minus sign"
    sim.book([{'kind': 'b2c', 'amount': 1200, 'phone': PHONE}])
    for minus, written in [(True, '-1,200.00'), (False, '1,200.00')]:
        preamble, rows = read_csv(sim.statement_csv('600000', minus=minus))
        assert rows[1]['Withdrawn'] == written
        assert values(preamble)['Total Withdrawn:'] == (
            ('-' if minus else '') + '1,205.00')
        check_ties(preamble, rows)


def busy_days(sim):
    "A few days of every kind of row"
    entries = sim.book([
            {'kind': kind, 'amount': amount, 'phone': PHONE, 'time': at(day),
                'account': f'INV-{day}'} | extra
            for day, (kind, amount, extra) in enumerate([
                    ('stk', 1_234, {}), ('c2b', 250_000, {}),
                    ('c2b', 3_000, {
                            'transaction_type': 'CustomerBuyGoodsOnline'}),
                    ('stk', 60, {}), ('c2b', 12_345, {})], start=1)])
    sim.book([{'kind': 'reversal', 'original': entries[0]['receipt'],
                'time': at(7)}])
    sim.sweep(when=at(8), amount=100_000)
    return entries


@pytest.mark.parametrize('date_cells', [False, True])
def test_csv_and_xlsx_same_rows(sim, date_cells):
    "The XLSX read back with openpyxl gives the CSV's preamble and rows"
    busy_days(sim)
    from_csv = read_csv(sim.statement_csv(start=at(2), end=at(8)))
    content = sim.statement_xlsx(start=at(2), end=at(8),
        date_cells=date_cells)
    assert read_xlsx(content) == from_csv
    cell = openpyxl.load_workbook(io.BytesIO(content)).active['B8']
    assert isinstance(cell.value, dt.datetime) is date_cells
    # a sized sheet: a reader gets every row whole, empty last cells too
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
    assert {len(r) for r in sheet.iter_rows(min_row=7, values_only=True)} == {
        len(COLUMNS)}
    assert len(from_csv[1]) == 9


def test_period(sim):
    """Only the rows completed in the period, both ends included; the
    opening balance is the balance at its start, so that consecutive
    periods chain"""
    busy_days(sim)
    preamble, all_rows = read_csv(sim.statement_csv())
    closing = check_ties(preamble, all_rows)
    first = read_csv(sim.statement_csv(start=at(1), end=at(4)))
    second = read_csv(sim.statement_csv(start=at(4, 12, 0, 1), end=at(30)))
    assert first[1] and second[1]
    assert {r['Completion Time'] for r in first[1]} <= {
        at(day) for day in range(1, 5)}
    assert values(second[0])['Opening Balance:'] == values(first[0])[
        'Closing Balance:'] == first[1][0]['Balance']
    assert check_ties(*second) == closing
    assert second[1] + first[1] == all_rows
    _, none = read_csv(sim.statement_csv(start='2026-12-01'))
    assert none == []
    with pytest.raises(ValueError, match='ends before'):
        sim.statement_csv(start=at(5), end=at(4))


def test_newest_first(sim):
    "Newest first; a charge above the transaction it charges"
    busy_days(sim)
    _, rows = read_csv(sim.statement_csv())
    times = [dt.datetime.strptime(r['Completion Time'], '%d-%m-%Y %H:%M:%S')
        for r in rows]
    assert times == sorted(times, reverse=True)
    for above, below in zip(rows, rows[1:]):
        if above['Reason Type'].endswith('Charge'):
            assert above['Linked Transaction ID'] == below['Receipt No.']


def test_unknown_shortcode_and_account(sim):
    with pytest.raises(ValueError, match='not a shortcode'):
        sim.statement_csv(TILL)
    with pytest.raises(ValueError, match='account must be'):
        sim.statement_csv(account='Working Account')


BOOKINGS = st.one_of(
    st.fixed_dictionaries({'kind': st.sampled_from(['stk', 'c2b']),
            'amount': st.integers(1, 250_000),
            'transaction_type': st.sampled_from(
                ['CustomerPayBillOnline', 'CustomerBuyGoodsOnline'])}),
    st.fixed_dictionaries({'kind': st.just('b2c'),
            'amount': st.integers(10, 250_000)}),
    st.fixed_dictionaries({'kind': st.just('reversal'),
            'of': st.integers(0, 50)}),
    st.fixed_dictionaries({'kind': st.just('sweep'),
            'part': st.integers(1, 100)}))


@settings(max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(st.tuples(BOOKINGS,
            st.integers(0, 30 * 86_400 - 1)), max_size=40),
    cut=st.integers(0, 30 * 86_400 - 1), charges=st.booleans())
def test_balances_tie(operations, cut, charges):
    """Over any sequence of receipts, payouts, reversals and sweeps at any
    times of the month, every statement ties: opening + rows = closing,
    row by row, and a period split in two chains"""
    sim = Simulator(till_number=TILL, charges=charges, b2c_float=10**8)
    paid = []
    for operation, second in operations:
        when = MONTH + dt.timedelta(seconds=second)
        kind = operation['kind']
        if kind == 'sweep':
            available = money(values(read_csv(sim.statement_csv(
                            end=when))[0])['Closing Balance:'])
            if available > 0:
                sim.sweep(amount=(available * operation['part'] / 100)
                    .quantize(Decimal('0.01')) or available, when=when)
            continue
        if kind == 'reversal':
            if operation['of'] < len(paid) and not paid[operation['of']][
                    'reversed']:
                sim.book([{'kind': 'reversal', 'time': when,
                            'original': paid[operation['of']]['receipt']}])
                paid[operation['of']]['reversed'] = True
            continue
        entry, = sim.book([operation | {'phone': PHONE, 'time': when}])
        if kind != 'b2c':
            paid.append(entry)
    middle = MONTH + dt.timedelta(seconds=cut)
    for shortcode, account in [('174379', 'Utility Account'),
            ('174379', SETTLEMENT), ('600000', 'Utility Account')]:
        whole = read_csv(sim.statement_csv(shortcode, account=account))
        closing = check_ties(*whole)
        first = read_csv(sim.statement_csv(shortcode, account=account,
                start=MONTH, end=middle))
        second = read_csv(sim.statement_csv(shortcode, account=account,
                start=middle + dt.timedelta(seconds=1)))
        assert check_ties(*first) == money(
            values(second[0])['Opening Balance:'])
        assert check_ties(*second) == closing
        assert second[1] + first[1] == whole[1]
        receipts = [r['Receipt No.'] for r in whole[1]]
        assert len(receipts) == len(set(receipts))


def test_export_50000_rows(sim):
    """A busy month: 25,000 paybill receipts and their charges, 50,000
    rows; the export times are printed (run with -s), not asserted"""
    sim.book([{'kind': 'c2b', 'amount': 101 + n % 20_000, 'phone': PHONE,
                'account': f'INV-{n}',
                'time': MONTH + dt.timedelta(seconds=n * 100)}
            for n in range(25_000)])
    figures = []
    for name, export in [('CSV', sim.statement_csv),
            ('XLSX', sim.statement_xlsx)]:
        wall, cpu = time.perf_counter(), time.process_time()
        content = export(start='2026-11-01', end='2026-11-30')
        figures.append(f'{name} {time.perf_counter() - wall:.1f} s '
            f'({time.process_time() - cpu:.1f} s CPU, {len(content):,} bytes)')
    print('\n50,000-row statement export:', ', '.join(figures))
    _, rows = read_csv(sim.statement_csv(start='2026-11-01', end='2026-11-30'))
    assert len(rows) == 50_000
