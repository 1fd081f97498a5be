# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The M-Pesa org-portal statement as the portal exports it, CSV or XLSX:
a preamble (account holder, shortcode, account, period, balances), then
the 13 columns.  Plain data out, no Tryton; a file that is not such a
statement raises StatementFileError naming its line, before any row is
returned."""
import csv
import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .daraja.phone import InvalidPhoneNumber, hash_msisdn, normalize_msisdn
from .daraja.times import NAIROBI

# The columns by their normalised header, with the other spellings found
COLUMNS = {
    'receipt': ('receipt no', 'receipt number', 'receipt'),
    'completed': ('completion time', 'completion date'),
    'initiated': ('initiation time', 'initiation date'),
    'details': ('details',),
    'status': ('transaction status', 'status'),
    'paid_in': ('paid in',),
    'withdrawn': ('withdrawn', 'withdrawal', 'withdrawals'),
    'balance': ('balance',),
    'balance_confirmed': ('balance confirmed',),
    'reason_type': ('reason type',),
    'other_party': (
        'other party info', 'other party information', 'other party'),
    'linked_transaction': ('linked transaction id', 'linked transaction'),
    'account_number': (
        'a/c no', 'a/c number', 'account no', 'account number'),
    }
HEADERS = {h: name for name, hs in COLUMNS.items() for h in hs}
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
# Excel serials of 2000-01-01 and 2100-01-01: anything else is no date
SERIAL_RANGE = (36526, 73051)
DATE = re.compile(
    r'(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?')
RECEIPT = re.compile(r'[A-Z0-9]{6,20}')
AMOUNT = re.compile(r'[-+]?\d+(\.\d+)?')
CHARGE = re.compile(r'\bcharges?\b', re.IGNORECASE)
REVERSAL = re.compile(r'\breversal\b', re.IGNORECASE)
SWEEP = re.compile(
    r'settlement|to bank|funds transfer|transfer of funds|move funds',
    re.IGNORECASE)
# Other Party Info: the number (plain, masked or hashed), then the name
OTHER_PARTY = re.compile(
    r'\s*([0-9]{9,15}|[0-9]{3,}\*+[0-9]{2,}|[0-9a-f]{64})\s*(?:-\s*(.*))?',
    re.IGNORECASE)
# The account number at the end of the details ("... Acc. SO0042")
DETAILS_ACCOUNT = re.compile(r'\bAcc\.?\s*(\S*)\s*$', re.IGNORECASE)
# Where the preamble's values are: a label, then its value
PREAMBLE = {
    'holder': re.compile(r'account\s+holder\s*:?\s*(.*)', re.IGNORECASE),
    'shortcode': re.compile(
        r'short\s*code\s*:?\s*(\d+)', re.IGNORECASE),
    'account': re.compile(
        r'^account(?!\s+holder)\s*:?\s*(.*)', re.IGNORECASE),
    'period': re.compile(
        r'from\s*:?\s*(\S+\s+\S+)\s+to\s*:?\s*(\S+\s+\S+)', re.IGNORECASE),
    'opening': re.compile(
        r'opening\s+balance\s*:?\s*(?:kes|ksh)?\s*(\S+)', re.IGNORECASE),
    'closing': re.compile(
        r'closing\s+balance\s*:?\s*(?:kes|ksh)?\s*(\S+)', re.IGNORECASE),
    }
PREAMBLE_LABELS = {
    'shortcode': "Short Code", 'opening': "Opening Balance",
    'closing': "Closing Balance", 'period': "Time Period",
    }


class StatementFileError(ValueError):
    """The file is not an org-portal statement: code tells why (the
    ``msg_statement_<code>`` message), line is the file's line (1-based)
    and values fill the message"""

    def __init__(self, code, line, **values):
        super().__init__(code, line, values)
        self.code = code
        self.line = line
        self.values = values


@dataclass(frozen=True)
class Row:
    "One row of the statement; times naive UTC, withdrawn positive"
    line: int
    receipt: str
    completed: dt.datetime
    initiated: dt.datetime | None
    details: str
    status: str
    paid_in: Decimal
    withdrawn: Decimal
    balance: Decimal | None
    balance_confirmed: str
    reason_type: str
    other_party: str
    linked_transaction: str
    account_number: str

    @property
    def amount(self):
        "What the row adds to the balance"
        return self.paid_in - self.withdrawn

    @property
    def completed_money(self):
        "Only Completed rows moved money"
        return self.status.casefold() == 'completed'

    @property
    def kind(self):
        "What the row is: see row_kind"
        return row_kind(self.amount, self.reason_type, self.details)

    @property
    def identity(self):
        """What tells the row from the other rows of the account's
        statements: its receipt, and whether it is a charge, as the portal
        may give a charge the receipt of the transaction it charges"""
        return self.receipt, self.kind == 'charge'

    @property
    def bill_reference(self):
        "The A/C No., or the account at the end of the details"
        if self.account_number:
            return self.account_number
        match = DETAILS_ACCOUNT.search(self.details)
        return match.group(1) if match else ''


def row_kind(amount, reason_type, details):
    """What a row of amount, reason type and details is: 'charge' (a
    tariff charge of the linked transaction, or its refund), 'reversal'
    (of the linked transaction), 'sweep' (between the shortcode's accounts
    or to the bank) or 'transaction'.  The reason type tells; the details
    only when it is empty, as they hold what the customer typed."""
    text = reason_type or details
    if CHARGE.search(text):
        return 'charge'
    if REVERSAL.search(text):
        return 'reversal'
    if SWEEP.search(text):
        return 'sweep'
    return 'transaction'


def other_party(info):
    """The number (plain, masked or hashed; '' when none) and the name
    of the Other Party Info"""
    match = OTHER_PARTY.fullmatch(info or '')
    if not match:
        return '', (info or '').strip()
    return match.group(1), (match.group(2) or '').strip()


def phone_fits(shown, number):
    """Whether the Kenyan mobile number is the one the portal shows: plain,
    masked (``25471****678``) or hashed"""
    try:
        number = normalize_msisdn(number)
    except InvalidPhoneNumber:
        return False
    if '*' in shown:
        return len(shown) == len(number) and all(
            s in {'*', n} for s, n in zip(shown, number))
    if len(shown) == 64:
        return shown.lower() == hash_msisdn(number)
    try:
        return normalize_msisdn(shown) == number
    except InvalidPhoneNumber:
        return False


@dataclass(frozen=True)
class Statement:
    """The statement of one account of a shortcode: its period (naive UTC),
    balances and the Completed rows, oldest first"""
    holder: str
    shortcode: str
    account: str
    start: dt.datetime
    end: dt.datetime
    opening: Decimal
    closing: Decimal
    rows: tuple


def read(data):
    "The Statement of the CSV or XLSX file's bytes"
    if data[:4] == b'PK\x03\x04':
        lines = xlsx_lines(data)
    else:
        lines = csv_lines(data)
    return parse(lines)


def csv_lines(data):
    "The cells of each line of a UTF-8 CSV file"
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exception:
        raise StatementFileError(
            'encoding', data[:exception.start].count(b'\n') + 1
            ) from exception
    if '\0' in text:
        raise StatementFileError(
            'encoding', text[:text.index('\0')].count('\n') + 1)
    try:
        return list(csv.reader(io.StringIO(text, newline='')))
    except csv.Error as exception:
        raise StatementFileError('not_statement', 1) from exception


def xlsx_lines(data):
    """The cells of each row of the workbook's first sheet; a row whose last
    cells are empty is given them (Excel leaves them out of the file)"""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            lines = [list(r) for r in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
        width = max(map(len, lines), default=0)
        return [line + [None] * (width - len(line)) for line in lines]
    except (zipfile.BadZipFile, KeyError, IndexError, ValueError, TypeError,
            OSError) as exception:
        raise StatementFileError('xlsx', 1) from exception


def text(cell):
    "A cell as text: dates as the portal writes them"
    if cell is None:
        return ''
    if isinstance(cell, dt.datetime):
        return cell.strftime('%d-%m-%Y %H:%M:%S')
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return str(cell).strip()


def parse(lines):
    "The Statement of the file's lines of cells"
    header = next((i for i, cells in enumerate(lines)
            if cells and HEADERS.get(normalise(cells[0])) == 'receipt'),
        None)
    if header is None:
        raise StatementFileError(
            'no_header', next((i + 1 for i, c in enumerate(lines)
                    if any(map(text, c))), 1))
    preamble = preamble_values(lines[:header])
    columns = column_indexes(lines[header], header + 1)
    rows = [r for r in (
            parse_row(cells, columns, n)
            for n, cells in enumerate(lines[header + 1:], header + 2)
            if any(map(text, cells)))
        if r.completed_money]
    if rows and rows[0].completed > rows[-1].completed:
        rows.reverse()  # the portal lists the newest first
    rows.sort(key=lambda r: r.completed)
    start, end = preamble.get('period') or (
        (rows[0].completed, rows[-1].completed) if rows else (None, None))
    for name in ['shortcode', 'opening', 'closing']:
        if name not in preamble:
            raise StatementFileError(
                'preamble', max(header, 1), label=PREAMBLE_LABELS[name])
    if start is None:
        raise StatementFileError(
            'preamble', max(header, 1), label=PREAMBLE_LABELS['period'])
    opening, closing = preamble['opening'], preamble['closing']
    total = opening + sum(r.amount for r in rows)
    if total != closing:
        raise StatementFileError(
            'balance', preamble['closing_line'], total=total,
            closing=closing)
    return Statement(
        holder=preamble.get('holder', ''), shortcode=preamble['shortcode'],
        account=preamble.get('account', ''), start=start, end=end,
        opening=opening, closing=closing, rows=tuple(rows))


def normalise(cell):
    "A header cell without case, dots and doubled spaces"
    return ' '.join(text(cell).casefold().replace('.', ' ').split())


def preamble_values(lines):
    "The values of the preamble's labels found in its lines"
    values = {}
    for n, cells in enumerate(lines, 1):
        line = ' '.join(filter(None, map(text, cells)))
        for name, pattern in PREAMBLE.items():
            match = pattern.search(line)
            if name in values or not match:
                continue
            if name == 'period':
                values[name] = tuple(parse_time(v, n) for v in match.groups())
            elif name in {'opening', 'closing'}:
                values[name] = parse_amount(match.group(1), n)
                values[name + '_line'] = n
            elif match.group(1).strip():
                values[name] = match.group(1).strip()
    return values


def column_indexes(cells, line):
    "The index of each column in the header, all 13 required"
    indexes = {}
    for i, cell in enumerate(cells):
        name = HEADERS.get(normalise(cell))
        if name and name not in indexes:
            indexes[name] = i
    missing = [hs[0] for n, hs in COLUMNS.items() if n not in indexes]
    if missing:
        raise StatementFileError(
            'columns', line, columns=', '.join(missing))
    return indexes


def parse_row(cells, columns, line):
    "The Row of a line's cells"
    if len(cells) <= max(columns.values()):
        raise StatementFileError('short_row', line)
    value = {n: text(cells[i]) for n, i in columns.items()}
    if not RECEIPT.fullmatch(value['receipt']):
        raise StatementFileError(
            'receipt', line, receipt=value['receipt'])
    paid_in = parse_amount(value['paid_in'], line)
    withdrawn = abs(parse_amount(value['withdrawn'], line))
    if paid_in < 0 or (paid_in and withdrawn):
        raise StatementFileError('amount', line, amount=value['paid_in'])
    return Row(
        line=line, receipt=value['receipt'],
        completed=parse_time(cells[columns['completed']], line),
        initiated=(parse_time(cells[columns['initiated']], line)
            if value['initiated'] else None),
        details=value['details'], status=value['status'],
        paid_in=paid_in, withdrawn=withdrawn,
        balance=(parse_amount(value['balance'], line)
            if value['balance'] else None),
        balance_confirmed=value['balance_confirmed'],
        reason_type=value['reason_type'],
        other_party=value['other_party'],
        linked_transaction=value['linked_transaction'],
        account_number=value['account_number'])


def parse_time(cell, line):
    """A Nairobi time, written ``dd-mm-yyyy hh:mm[:ss]`` or as an Excel
    date or serial, as naive UTC"""
    if isinstance(cell, dt.datetime):
        moment = cell.replace(tzinfo=None)
    else:
        value = text(cell)
        match = DATE.fullmatch(value)
        try:
            if match:
                day, month, year, hour, minute, second = match.groups()
                moment = dt.datetime(
                    int(year), int(month), int(day), int(hour), int(minute),
                    int(second or 0))
            else:
                serial = float(value)
                if not SERIAL_RANGE[0] <= serial < SERIAL_RANGE[1]:
                    raise ValueError(value)
                moment = EXCEL_EPOCH + dt.timedelta(
                    seconds=round(serial * 86400))
        except ValueError as exception:
            raise StatementFileError('date', line, date=value) from exception
    return moment.replace(tzinfo=NAIROBI).astimezone(
        dt.timezone.utc).replace(tzinfo=None)


def parse_amount(cell, line):
    "An amount written with or without thousands separators; empty is 0"
    if isinstance(cell, (int, float)):
        value = str(round(cell, 2))
    else:
        value = text(cell).replace(',', '').replace(' ', '')
    if not value:
        return Decimal(0)
    if not AMOUNT.fullmatch(value):
        raise StatementFileError('amount', line, amount=text(cell))
    try:
        return Decimal(value).quantize(Decimal('0.01'))
    except InvalidOperation as exception:
        raise StatementFileError(
            'amount', line, amount=text(cell)) from exception
