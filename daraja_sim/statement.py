# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The org-portal statement of one account of a shortcode, as the portal
exports it (field notes §3.1, §6): six preamble lines whose labels and
values sit in cells of their own, the 13-column header, then the rows,
newest first; CSV or XLSX.

Preamble cells (from the public parsers of §3.1 and §6): A1/B1 ``Account
Holder:``, A2/B2 ``Short Code:``, A3/B3 ``Account:``, A4-E4 ``Time
Period:``, ``From``, the start, ``To``, the end; A5/B5 ``Operator:`` and
E5/F5 ``Date of Report:``; row 6 the labels ``Opening Balance:``,
``Closing Balance:``, ``Available Balance:``, ``Total Paid In:``, ``Total
Withdrawn:`` in A, C, E, G, I with their values in B, D, F, H, J.
"""
import csv
import dataclasses
import datetime as dt
import io

from . import clock, customers
from .ledger import BUY_GOODS, REASON_TYPES

COLUMNS = (
    'Receipt No.', 'Completion Time', 'Initiation Time', 'Details',
    'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
    'Balance Confirmed', 'Reason Type', 'Other Party Info',
    'Linked Transaction ID', 'A/C No.')
HEADER_LINE = 7  # after the six preamble lines
OPERATOR = 'simulator'
# [derived] the sheet name of the portal's .xls exports (a public importer)
SHEET = 'transaction'
EXCEL_DATE_FORMAT = 'dd-mm-yyyy hh:mm:ss'
CHARGE_RECEIPTS = ('own', 'charged')


@dataclasses.dataclass(frozen=True)
class Form:
    """How the file writes what varies between portal files: party
    information masked (newer files) or plain (older), Withdrawn with or
    without its minus sign, a charge row's Receipt No. its own or the one
    of the transaction charged (as a public importer of .xls files saw
    them), and in XLSX the times as text or as date cells."""

    mask: bool = True
    minus: bool = True
    charge_receipt: str = 'own'
    date_cells: bool = False

    def __post_init__(self):
        if self.charge_receipt not in CHARGE_RECEIPTS:
            raise ValueError(f'charge_receipt must be one of '
                f'{CHARGE_RECEIPTS}, not {self.charge_receipt!r}')


@dataclasses.dataclass(frozen=True)
class Header:
    "Who and what the statement is of: the preamble's facts."

    holder: str
    shortcode: str
    account: str
    start: dt.datetime
    end: dt.datetime
    reported: dt.datetime


def filename(shortcode, account, reported, extension):
    """The portal's file name (field notes §6):
    ``ORG_<shortcode>_<account>_Completed_<yyyymmddHHMMSS>.<extension>``."""
    return (f'ORG_{shortcode}_{account}_Completed_{clock.stamp(reported)}'
        f'.{extension}')


def amount(value):
    "``1234.5`` as ``1,234.50``."
    return f'{value:,.2f}'


def withdrawn(value, form):
    "An amount taken out (or 0), as the Withdrawn column writes it."
    return f"{'-' if form.minus and value else ''}{amount(value)}"


def preamble(header, statement, form):
    "The six lines above the column header."
    return [
        ['Account Holder:', header.holder],
        ['Short Code:', header.shortcode],
        ['Account:', header.account],
        ['Time Period:', 'From', clock.dashed(header.start), 'To',
            clock.dashed(header.end)],
        ['Operator:', OPERATOR, '', '', 'Date of Report:',
            clock.dashed(header.reported)],
        ['Opening Balance:', amount(statement.opening),
            'Closing Balance:', amount(statement.closing),
            'Available Balance:', amount(statement.closing),
            'Total Paid In:', amount(statement.paid_in),
            'Total Withdrawn:', withdrawn(statement.withdrawn, form)],
        ]


def _transaction(entry, form):
    "Details, Reason Type, Other Party Info, Linked ID and A/C No."
    party = customers.statement_party(entry['phone'], form.mask)
    kind = entry['kind']
    reason = REASON_TYPES[entry.get('command') or kind]
    account = entry.get('account') or ''
    if kind == 'b2c':
        return f'{reason} to {party}', reason, party, '', ''
    if kind == 'reversal':
        return (f"Reversal of {entry['original']} to {party}", reason, party,
            entry['original'], '')
    product = entry.get('transaction_type') or entry.get('command')
    verb = 'Merchant Payment' if product == BUY_GOODS else 'Pay Bill'
    return (f'{verb} from {party} Acc. {account}', reason, party, '',
        account)


def row(line, header, form):
    """The 13 cells of a statement line; the two times as datetimes (the
    writers format them)."""
    entry, receipt = line['entry'], line['receipt']
    if line['type'] == 'transaction':
        details, reason, party, linked, account = _transaction(entry, form)
    elif line['type'] == 'charge':
        details = reason = line['reason']
        party, linked, account = '', entry['receipt'], ''
        if form.charge_receipt == 'charged':
            receipt = entry['receipt']
    else:
        details = reason = line['reason']
        party = f'{header.shortcode} - {header.holder}'
        linked = account = ''
    value = line['amount']
    return [receipt, line['time'], line['initiated'], details, 'Completed',
        amount(value) if value > 0 else '',
        withdrawn(-value, form) if value < 0 else '',
        amount(line['balance']), 'true', reason, party, linked, account]


def rows(statement, header, form):
    "The statement's rows, newest first as the portal lists them."
    for line in reversed(statement.lines):
        yield row(line, header, form)


def to_csv(header, statement, form):
    "The statement as the portal's CSV (text)."
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerows(preamble(header, statement, form))
    writer.writerow(COLUMNS)
    for cells in rows(statement, header, form):
        cells[1:3] = map(clock.dashed, cells[1:3])
        writer.writerow(cells)
    return output.getvalue()


def to_xlsx(header, statement, form):
    """The statement as the portal's Excel workbook (bytes): text cells,
    empty ones left out as Excel leaves them, and the sheet's dimension
    (which openpyxl's faster write-only mode does not write, so that
    readers would see rows without their empty last cells).  Raise
    ImportError without openpyxl (the ``sim`` extra)."""
    # Imported here: the rest of the simulator runs without the extra
    import openpyxl
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    for cells in preamble(header, statement, form):
        sheet.append([cell or None for cell in cells])
    sheet.append(COLUMNS)
    for cells in rows(statement, header, form):
        if not form.date_cells:
            cells[1:3] = map(clock.dashed, cells[1:3])
        else:
            cells[1:3] = [when.replace(tzinfo=None) for when in cells[1:3]]
        sheet.append([cell or None for cell in cells])
    if form.date_cells:
        for times in sheet.iter_rows(min_row=HEADER_LINE + 1,
                min_col=2, max_col=3):
            for cell in times:
                cell.number_format = EXCEL_DATE_FORMAT
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
