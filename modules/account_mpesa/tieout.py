# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The tie-out of M-Pesa's statement with the ledger and the books.

Every row of a statement (or of the statements of a date range) beside its
ledger record, the move that posted it and its statement line, each
classified; then what the ledger and the books hold for the period that
the statement does not show; and the checks that the amounts add up.  The
differences no rule explains come first: the goal is none."""
import datetime as dt
from collections import Counter
from decimal import Decimal

from sql import Column, Null
from sql.aggregate import Min, Sum
from sql.conditionals import Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.modules.company import CompanyReport
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If, PYSONEncoder
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .common import create_rows, decimal, nairobi_date, select_in, utc_now
from .statement import load_information, origin_kind, statements_of
from .daraja.times import NAIROBI
from .exceptions import MpesaTieOutError

# The classes of a line, in the order of the report's counts
KINDS = [
    ('matched', "Matched"),
    ('recovered', "Recovered by the Statement"),
    ('charge', "Charge"),
    ('sweep', "Sweep"),
    ('reversal', "Reversal"),
    ('unmatched', "Unmatched"),
    ('review', "Not Settled"),
    ('in_flight', "In Flight at the Period's End"),
    ('elsewhere', "On Another Statement"),
    ('not_on_statement', "Not on the Statement"),
    ('amount_differs', "Amount Differs"),
    ('not_in_ledger', "Not in the Ledger"),
    ('not_in_books', "Not in the Books"),
    ('no_line', "No Statement Line"),
    ]
# How a line stands, unexplained differences first
STATUSES = [
    ('difference', "Unexplained"),
    ('action', "To Do"),
    ('explained', "Explained"),
    ]
PRIORITY = {s: i for i, (s, _) in enumerate(STATUSES)}
# The ledger's kinds of money paid in (the others are paid out)
PAID_IN = {'stk', 'c2b'}
# The fields the computation sets: no user writes them
COMPUTED = {
    'computed_at', 'period_start', 'period_end', 'opening_balance',
    'closing_balance', 'rows_total', 'balance_difference',
    'charges_total', 'sweeps_total', 'statement_transactions',
    'ledger_total', 'ledger_unexplained', 'books_total',
    'books_unexplained', 'clearing_movement', 'clearing_explained',
    'clearing_unexplained', 'row_count', 'unexplained', 'to_do', 'lines',
    'counts',
    }
# What the tie-out is of: kept once it is computed
PARAMETERS = {
    'company', 'account', 'statement', 'start_date', 'end_date',
    'in_flight'}
MONEY = dict(digits=(16, 2), readonly=True)


def money(value):
    "An amount of the database, to the cent"
    return decimal(value).quantize(Decimal('0.01'))


def signed(kind, amount):
    "The amount of a ledger record as it moves the balance"
    return money(amount) if kind in PAID_IN else -money(amount)


def nairobi_midnight(date):
    "The naive UTC time of the start of the Nairobi date"
    return dt.datetime.combine(date, dt.time(), NAIROBI).astimezone(
        dt.timezone.utc).replace(tzinfo=None)


class TieOut(ModelSQL, ModelView):
    "M-Pesa Tie-out"
    __name__ = 'account.payment.mpesa.tieout'

    company = fields.Many2One(
        'company.company', "Company", required=True,
        states={
            'readonly': Bool(Eval('computed_at')),
            })
    account = fields.Many2One(
        'account.payment.mpesa.account', "M-Pesa Account", required=True,
        ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states={
            'readonly': Bool(Eval('computed_at')),
            })
    statement = fields.Many2One(
        'account.statement', "Statement", ondelete='CASCADE',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('mpesa_start', '!=', None),
            ('state', '!=', 'cancelled'),
            ],
        states={
            'readonly': Bool(Eval('computed_at')),
            },
        help="Tie out this statement; leave empty to tie out the "
        "statements of the dates.")
    start_date = fields.Date(
        "Start Date",
        states={
            'required': ~Eval('statement'),
            'invisible': Bool(Eval('statement')),
            'readonly': Bool(Eval('computed_at')),
            })
    end_date = fields.Date(
        "End Date",
        domain=[
            ('end_date', '>=', Eval('start_date', None)),
            ],
        states={
            'required': ~Eval('statement'),
            'invisible': Bool(Eval('statement')),
            'readonly': Bool(Eval('computed_at')),
            })
    in_flight = fields.TimeDelta(
        "In Flight", required=True,
        states={
            'readonly': Bool(Eval('computed_at')),
            },
        help="A receipt of the ledger this close to the end of the period "
        "that the statement does not show is in flight: it is on the next "
        "statement.")
    computed_at = fields.DateTime("Computed At", readonly=True)
    period_start = fields.DateTime("Period Start", readonly=True)
    period_end = fields.DateTime("Period End", readonly=True)
    opening_balance = fields.Numeric("Opening Balance", **MONEY)
    closing_balance = fields.Numeric("Closing Balance", **MONEY)
    rows_total = fields.Numeric(
        "Rows", **MONEY, help="What the statement's rows add up to.")
    balance_difference = fields.Numeric(
        "Balance Difference", **MONEY,
        help="Opening balance plus the rows less the closing balance: a "
        "difference means rows are missing (or a statement of the dates).")
    charges_total = fields.Numeric("Charges", **MONEY)
    sweeps_total = fields.Numeric("Sweeps", **MONEY)
    statement_transactions = fields.Numeric(
        "Statement Transactions", **MONEY,
        help="The rows that are neither charges nor sweeps.")
    ledger_total = fields.Numeric(
        "Ledger", **MONEY,
        help="The ledger's receipts of the lines, paid in less paid out.")
    ledger_unexplained = fields.Numeric(
        "Ledger Unexplained", **MONEY,
        help="The part of the difference between the ledger and the "
        "statement's transactions that no rule explains.")
    books_total = fields.Numeric(
        "Books", **MONEY,
        help="What the moves of the lines post on the clearing account.")
    books_unexplained = fields.Numeric(
        "Books Unexplained", **MONEY,
        help="The part of the difference between the books and the "
        "statement's transactions that no rule explains.")
    clearing_movement = fields.Numeric(
        "Clearing Account Movement", **MONEY,
        help="The movement of the M-Pesa clearing account over the "
        "period's dates, statements' moves left out.")
    clearing_explained = fields.Numeric(
        "Explained by Receipts", **MONEY,
        help="The part of that movement the moves of the lines make.")
    clearing_unexplained = fields.Numeric(
        "Clearing Unexplained", **MONEY,
        help="Entries on the clearing account that no receipt explains.")
    row_count = fields.Integer("Statement Rows", readonly=True)
    unexplained = fields.Integer(
        "Unexplained Differences", readonly=True,
        help="The lines no rule explains and the checks that fail.")
    to_do = fields.Integer(
        "To Do", readonly=True,
        help="The lines explained that wait for an accountant.")
    counts = fields.Text("Counts by Class", readonly=True)
    lines = fields.One2Many(
        'account.payment.mpesa.tieout.line', 'tieout', "Lines",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('computed_at', 'DESC NULLS FIRST'))
        cls._buttons.update({
                'compute': {
                    'icon': 'tryton-refresh',
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_in_flight(cls):
        return dt.timedelta(hours=1)

    @fields.depends('statement', 'company', 'account')
    def on_change_statement(self):
        Statement = Pool().get('account.statement')
        if self.statement:
            account = Statement.mpesa_accounts([self.statement]).get(
                self.statement.id)
            if account:
                self.account = account
                self.company = account.company

    def get_rec_name(self, name):
        if self.statement:
            return self.statement.rec_name
        return (f"{self.account.rec_name} {self.start_date}"
            f" - {self.end_date}")

    @classmethod
    def check_modification(cls, mode, tieouts, values=None, external=False):
        """Refuse an RPC write of what the computation sets: the tie-out
        says what the statement, the ledger and the books say"""
        super().check_modification(
            mode, tieouts, values=values, external=external)
        if external and mode in {'create', 'write'}:
            names = COMPUTED & set(values or {})
            if mode == 'create':
                names = {n for n in COMPUTED - {'lines'}
                    for t in tieouts if getattr(t, n, None) is not None}
            if names:
                raise AccessError(gettext(
                        'account_mpesa.msg_tieout_computed',
                        fields=', '.join(sorted(names))))
            if mode == 'write' and set(values) & PARAMETERS:
                for tieout in tieouts:
                    if tieout.computed_at:
                        raise AccessError(gettext(
                                'account_mpesa.msg_tieout_parameters',
                                tieout=tieout.rec_name))

    @classmethod
    def delete(cls, tieouts):
        """Delete the tie-outs with their lines, the lines at once: Tryton
        would delete the tens of thousands of a month one by one"""
        Line = Pool().get('account.payment.mpesa.tieout.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        for ids in grouped_slice(
                [t.id for t in tieouts], backend.MAX_QUERY_PARAMS):
            cursor.execute(*line.delete(where=line.tieout.in_(list(ids))))
        super().delete(tieouts)

    @classmethod
    @ModelView.button
    def compute(cls, tieouts):
        """Tie out again: the lines are made anew from the statements, the
        ledger and the books as they are now.  The caller commits."""
        Line = Pool().get('account.payment.mpesa.tieout.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        for tieout in tieouts:
            # The lines are the computation's result, never a user's: made
            # from the values computed here, in bulk, as many as the rows
            cursor.execute(*line.delete(where=line.tieout == tieout.id))
            values, lines = tieout._compute()
            create_rows(Line, [dict(l, tieout=tieout.id) for l in lines])
            with without_check_access():
                cls.write([tieout], values)

    def _scope(self):
        """The statements tied out, the period (naive UTC, end excluded),
        its Nairobi dates, and the date bounds of the rows (None for all
        the rows of the statement)"""
        Statement = Pool().get('account.statement')
        if self.statement:
            statement = self.statement
            if statement.journal != self.account.statement_journal:
                raise MpesaTieOutError(gettext(
                        'account_mpesa.msg_tieout_statement_journal',
                        statement=statement.rec_name,
                        account=self.account.rec_name))
            start = statement.mpesa_start or nairobi_midnight(statement.date)
            end = ((statement.mpesa_end or start) + dt.timedelta(seconds=1))
            return ([statement], start, end, nairobi_date(start),
                nairobi_date(end - dt.timedelta(seconds=1)), None)
        start = nairobi_midnight(self.start_date)
        end = nairobi_midnight(self.end_date + dt.timedelta(days=1))
        journal = self.account.statement_journal
        statements = Statement.search([
                ('company', '=', self.company.id),
                ('journal', '=', journal.id if journal else -1),
                ('state', '!=', 'cancelled'),
                ('mpesa_start', '<', end),
                ('mpesa_end', '>=', start),
                ], order=[('mpesa_start', 'ASC'), ('id', 'ASC')])
        return (statements, start, end, self.start_date, self.end_date,
            (self.start_date, self.end_date))

    def _compute(self):
        """The computed values of the tie-out and the values of its lines,
        unexplained differences first"""
        statements, start, end, first, last, dates = self._scope()
        rows = self._rows(statements, dates)
        ledger = self._ledger(statements, dates, start, end, rows)
        books = self._books_of(ledger)
        lines = [self._row_line(row, books, ledger) for row in rows]
        shown = {r['receipt'] for r in rows if r['kind'] != 'charge'}
        lines += self._unshown_lines({r: l for r, l in ledger.items()
                if r not in shown}, books, start, end)
        lines += self._payments_without_receipt(first, last, end)
        lines.sort(key=lambda l: (
                PRIORITY[l['status']], l['time'] or dt.datetime.min,
                l['receipt'] or ''))
        for sequence, line in enumerate(lines):
            line['sequence'] = sequence
        values = self._checks(statements, rows, lines, dates, first, last)
        values.update(period_start=start, period_end=end)
        return values, lines

    def _rows(self, statements, dates):
        """The rows of the statements (within the dates), oldest first,
        each with its statement line"""
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        Line = pool.get('account.statement.line')
        Statement = pool.get('account.statement')
        origin = Origin.__table__()
        line = Line.__table__()
        statement = Statement.__table__()
        states = {s.id: s.state for s in statements}

        def in_dates(table):
            if dates is None:
                return True
            return (table.date >= dates[0]) & (table.date <= dates[1])

        lines = {}
        for origin_id, line_id, amount, related_to in select_in(
                lambda ids: line.select(
                    line.origin, Min(line.id), Sum(line.amount),
                    Min(line.related_to),
                    where=line.statement.in_(ids) & in_dates(line),
                    group_by=[line.origin]), states):
            lines[origin_id] = dict(
                line=line_id, amount=money(amount), related_to=related_to)
        rows = []
        for (origin_id, number, date, amount, description, information,
                statement_id) in select_in(
                    lambda ids: origin.join(statement,
                        condition=origin.statement == statement.id).select(
                        origin.id, origin.number, origin.date, origin.amount,
                        origin.description, origin.information,
                        origin.statement,
                        where=origin.statement.in_(ids) & in_dates(origin)),
                    states):
            information = load_information(information)
            reason_type = information.get('mpesa_reason_type') or ''
            amount = money(amount)
            completed = information.get('mpesa_completion_time')
            if not isinstance(completed, dt.datetime):
                completed = nairobi_midnight(date)
            rows.append(dict(
                    origin=origin_id, receipt=number or '', time=completed,
                    amount=amount, reason_type=reason_type,
                    kind=origin_kind(amount, description, information),
                    linked=information.get('mpesa_linked_transaction_id')
                    or '',
                    statement_state=states[statement_id],
                    line=lines.get(origin_id)))
        rows.sort(key=lambda r: (r['time'], r['origin']))
        return rows

    def _ledger(self, statements, dates, start, end, rows):
        """The ledger records of the account, by receipt, that the rows
        name (as theirs or as the transaction a reversal is linked to) or
        whose time is in the period"""
        pool = Pool()
        Ledger = pool.get('account.payment.mpesa.transaction')
        Origin = pool.get('account.statement.origin')
        ledger = Ledger.__table__()
        origin = Origin.__table__()
        cursor = Transaction().connection.cursor()
        time = Coalesce(ledger.transaction_time, ledger.create_date)
        names = origin.select(
            origin.number,
            where=origin.statement.in_([s.id for s in statements] or [-1])
            & ((origin.date >= dates[0]) & (origin.date <= dates[1])
                if dates else True))
        columns = [
            ledger.id, ledger.receipt, ledger.kind, ledger.source,
            ledger.amount, ledger.state, ledger.note, ledger.payment,
            ledger.c2b_move, ledger.transaction_time, ledger.create_date]
        cursor.execute(*ledger.select(*columns,
                where=(ledger.account == self.account.id)
                & (ledger.receipt.in_(names)
                    | ((time >= start) & (time < end)))))
        records = list(cursor)
        known = {r[1] for r in records}
        # The reversed transactions of an earlier period: few
        linked = {r['linked'] for r in rows
            if r['kind'] == 'reversal' and r['linked']} - known
        records += select_in(lambda receipts: ledger.select(*columns,
                where=(ledger.account == self.account.id)
                & ledger.receipt.in_(receipts)), linked)
        return {r[1]: dict(
                id=r[0], receipt=r[1], kind=r[2], source=r[3],
                amount=signed(r[2], r[4]), state=r[5], note=r[6],
                payment=r[7], c2b_move=r[8], time=r[9] or r[10])
            for r in records}

    def _books_of(self, ledger):
        """What the books hold for each ledger record, by ledger record id:
        the amount the move posted on the clearing account, the move, its
        date and the payment"""
        pool = Pool()
        Payment = pool.get('account.payment')
        Move = pool.get('account.move')
        payment = Payment.__table__()
        move = Move.__table__()
        ids = {r['payment'] for r in ledger.values() if r['payment']}
        c2b_moves = {r['c2b_move'] for r in ledger.values() if r['c2b_move']}
        payments = {}
        for id_, state, kind, amount, move_id, date in select_in(
                lambda ids: payment.join(move, 'LEFT',
                    condition=payment.clearing_move == move.id).select(
                    payment.id, payment.state, payment.kind, payment.amount,
                    payment.clearing_move, move.date,
                    where=payment.id.in_(ids)), ids):
            if state == 'succeeded' and move_id:
                amount = money(amount) * (1 if kind == 'receivable' else -1)
                payments[id_] = (amount, move_id, date)
        c2b_dates = dict(select_in(
                lambda ids: move.select(
                    move.id, move.date, where=move.id.in_(ids)), c2b_moves))
        books = {}
        for record in ledger.values():
            if record['payment']:
                amount, move_id, date = payments.get(
                    record['payment'], (Decimal(0), None, None))
            elif record['c2b_move']:
                amount, move_id, date = (record['amount'],
                    record['c2b_move'], c2b_dates.get(record['c2b_move']))
            else:
                amount, move_id, date = Decimal(0), None, None
            books[record['id']] = dict(
                books_amount=amount, move=move_id, move_date=date,
                payment=record['payment'])
        return books

    def _row_line(self, row, books, ledger):
        """The line of a statement row and how it stands; ledger holds the
        records by receipt"""
        line = row['line'] or {}
        record = (ledger.get(row['receipt'])
            if row['kind'] not in {'charge', 'sweep'} else None)
        values = dict(
            origin=row['origin'], receipt=row['receipt'], time=row['time'],
            reason_type=row['reason_type'], linked=row['linked'],
            statement_amount=row['amount'], statement_line=line.get('line'),
            ledger=record['id'] if record else None,
            ledger_amount=record['amount'] if record else Decimal(0),
            books_amount=Decimal(0), move=None, move_date=None, payment=None,
            note=None)
        draft = row['statement_state'] == 'draft'
        lined = bool(line) and line['amount'] == row['amount']

        def stand(kind, status, message=None, **message_values):
            values.update(kind=kind, status=status, note=gettext(
                    'account_mpesa.msg_tieout_' + message, **message_values)
                if message else None)
            return values

        if row['kind'] in {'charge', 'sweep'}:
            values['books_amount'] = row['amount'] if lined else Decimal(0)
            if lined:
                return stand(row['kind'], 'explained')
            return stand(row['kind'], 'action' if draft else 'difference',
                'no_account_line')
        if record is None:
            return stand('not_in_ledger', 'action' if draft else 'difference',
                'not_in_ledger')
        values.update(books[record['id']])
        recovered = record['source'] == 'statement'
        if record['amount'] != row['amount']:
            return stand('amount_differs', 'difference', 'amount_differs',
                ledger=record['amount'], statement=row['amount'])
        if record['state'] == 'unmatched':
            return stand('recovered' if recovered else 'unmatched', 'action',
                'unmatched', reason=record['note'] or '')
        if record['state'] == 'unsettled':
            return stand('recovered' if recovered else 'review', 'action',
                'review', reason=record['note'] or '')
        if record['state'] not in {'matched', 'reversed'}:
            return stand('not_in_books', 'difference', 'not_settled',
                state=record['state'])
        if values['books_amount'] != row['amount']:
            return stand('not_in_books', 'difference', 'not_in_books')
        if record['payment'] and line.get('related_to') != (
                f'account.payment,{record["payment"]}'):
            lined = False
        if not lined:
            return stand('no_line', 'action' if draft else 'difference',
                'no_line')
        kind = 'recovered' if recovered else 'matched'
        if row['kind'] == 'reversal':
            original = ledger.get(row['linked']) if row['linked'] else None
            if original is None or original['state'] != 'reversed':
                return stand('reversal', 'difference', 'not_reversed',
                    receipt=row['linked'])
            kind = 'reversal'
        if record['state'] == 'reversed':
            return stand(kind, 'explained', 'reversed')
        return stand(kind, 'explained')

    def _unshown_lines(self, ledger, books, start, end):
        """The lines of the ledger records of the period that no row shows:
        on another statement of the journal, in flight at the period's
        end, or never real"""
        ledger = {r: l for r, l in ledger.items()
            if start <= l['time'] < end}
        shown = self._on_statements(ledger)
        lines = []
        for receipt, record in sorted(ledger.items()):
            line = dict(
                receipt=receipt, time=record['time'], ledger=record['id'],
                ledger_amount=record['amount'], statement_amount=Decimal(0),
                **books[record['id']])
            if receipt in shown:
                line.update(kind='elsewhere', status='explained',
                    note=gettext('account_mpesa.msg_tieout_elsewhere',
                        statement=shown[receipt]))
            elif record['time'] >= end - self.in_flight:
                line.update(kind='in_flight', status='explained',
                    note=gettext('account_mpesa.msg_tieout_in_flight'))
            else:
                line.update(kind='not_on_statement', status='difference',
                    note=gettext('account_mpesa.msg_tieout_not_on_statement',
                        state=record['state']))
            lines.append(line)
        return lines

    def _on_statements(self, ledger):
        """The name of the statement of the account's journal, by receipt,
        that shows the receipts"""
        journal = self.account.statement_journal
        if not journal or not ledger:
            return {}
        shown = statements_of(journal.id, {(r, False) for r in ledger})
        return {r: name for (r, _), name in shown.items()}

    def _payments_without_receipt(self, first, last, end):
        """The lines of the payments of the account's M-Pesa journals that
        the books hold for the period and that no ledger record names: a
        success no statement shows, in flight or never real"""
        pool = Pool()
        Payment = pool.get('account.payment')
        Journal = pool.get('account.payment.journal')
        Move = pool.get('account.move')
        Ledger = pool.get('account.payment.mpesa.transaction')
        payment = Payment.__table__()
        move = Move.__table__()
        ledger = Ledger.__table__()
        journals = [j.id for j in Journal.search([
                    ('mpesa_account', '=', self.account.id),
                    ])]
        if not journals:
            return []
        cursor = Transaction().connection.cursor()
        cursor.execute(*payment.join(move,
                condition=payment.clearing_move == move.id).select(
                payment.id, payment.kind, payment.amount, move.id, move.date,
                payment.mpesa_requested_at,
                where=payment.journal.in_(journals)
                & (payment.state == 'succeeded')
                & (move.date >= first) & (move.date <= last)
                & ~payment.id.in_(ledger.select(ledger.payment,
                        where=(ledger.account == self.account.id)
                        & (ledger.payment != Null)))))
        lines = []
        for payment_id, kind, amount, move_id, date, requested in cursor:
            amount = money(amount) * (1 if kind == 'receivable' else -1)
            in_flight = requested and requested >= end - self.in_flight
            lines.append(dict(
                    receipt=None, time=requested, payment=payment_id,
                    move=move_id, move_date=date, statement_amount=Decimal(0),
                    ledger_amount=Decimal(0), books_amount=amount,
                    kind='in_flight' if in_flight else 'not_on_statement',
                    status='explained' if in_flight else 'difference',
                    note=gettext('account_mpesa.msg_tieout_no_receipt')))
        return lines

    def _checks(self, statements, rows, lines, dates, first, last):
        "The computed values: balances, totals and the checks"
        rows_total = sum((r['amount'] for r in rows), Decimal(0))
        opening, closing = self._balances(statements, dates)
        charges = sum((r['amount'] for r in rows if r['kind'] == 'charge'),
            Decimal(0))
        sweeps = sum((r['amount'] for r in rows if r['kind'] == 'sweep'),
            Decimal(0))
        transactions = rows_total - charges - sweeps
        money_lines = [l for l in lines if l['kind'] not in {
                'charge', 'sweep'}]
        differences = [l for l in money_lines if l['status'] == 'difference']
        movement = self._clearing_movement(first, last)
        explained = sum((l['books_amount'] for l in money_lines
                if l['move_date'] and first <= l['move_date'] <= last),
            Decimal(0))
        counts = Counter(l['kind'] for l in lines)
        values = dict(
            computed_at=utc_now(), opening_balance=opening,
            closing_balance=closing, rows_total=rows_total,
            balance_difference=opening + rows_total - closing,
            charges_total=charges, sweeps_total=sweeps,
            statement_transactions=transactions,
            ledger_total=sum((l['ledger_amount'] for l in money_lines),
                Decimal(0)),
            ledger_unexplained=sum((l['ledger_amount']
                    - l['statement_amount'] for l in differences),
                Decimal(0)),
            books_total=sum((l['books_amount'] for l in money_lines),
                Decimal(0)),
            books_unexplained=sum((l['books_amount']
                    - l['statement_amount'] for l in differences),
                Decimal(0)),
            clearing_movement=movement, clearing_explained=explained,
            clearing_unexplained=movement - explained,
            row_count=len(rows),
            to_do=sum(1 for l in lines if l['status'] == 'action'),
            counts='\n'.join(f'{label}: {counts[k]}'
                for k, label in KINDS if counts[k]))
        values['unexplained'] = (
            sum(1 for l in lines if l['status'] == 'difference')
            + bool(values['balance_difference'])
            + bool(values['clearing_unexplained']))
        return values

    def _balances(self, statements, dates):
        """The opening and closing balances of the rows: the statement's,
        or for dates the balance before the first row of the first
        statement in the dates and after the last row of the last"""
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        if not statements:
            return Decimal(0), Decimal(0)
        first, last = statements[0], statements[-1]
        opening, closing = money(first.start_balance), money(last.end_balance)
        if dates is not None:
            origin = Origin.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*origin.select(Sum(origin.amount),
                    where=(origin.statement == first.id)
                    & (origin.date < dates[0])))
            opening += money(cursor.fetchone()[0])
            cursor.execute(*origin.select(Sum(origin.amount),
                    where=(origin.statement == last.id)
                    & (origin.date > dates[1])))
            closing -= money(cursor.fetchone()[0])
        return opening, closing

    def _clearing_movement(self, first, last):
        """The movement of the clearing accounts of the account's M-Pesa
        journals over the dates, the statements' moves left out (they
        clear what the receipts posted)"""
        pool = Pool()
        Journal = pool.get('account.payment.journal')
        Move = pool.get('account.move')
        MoveLine = pool.get('account.move.line')
        move = Move.__table__()
        line = MoveLine.__table__()
        accounts = list({j.clearing_account.id for j in Journal.search([
                        ('mpesa_account', '=', self.account.id),
                        ('clearing_account', '!=', None),
                        ])})
        if not accounts:
            return Decimal(0)
        cursor = Transaction().connection.cursor()
        cursor.execute(*line.join(move,
                condition=line.move == move.id).select(
                Sum(Coalesce(line.debit, 0) - Coalesce(line.credit, 0)),
                where=line.account.in_(accounts)
                & (move.company == self.company.id)
                & (move.date >= first) & (move.date <= last)
                & ~Coalesce(move.origin, '').like('account.statement,%')))
        return money(cursor.fetchone()[0])


class TieOutLine(ModelSQL, ModelView):
    "M-Pesa Tie-out Line"
    __name__ = 'account.payment.mpesa.tieout.line'

    tieout = fields.Many2One(
        'account.payment.mpesa.tieout', "Tie-out", required=True,
        ondelete='CASCADE', readonly=True)
    sequence = fields.Integer("Sequence", readonly=True)
    status = fields.Selection(
        STATUSES, "Status", required=True, readonly=True, sort=False)
    status_string = status.translated('status')
    kind = fields.Selection(
        KINDS, "Class", required=True, readonly=True, sort=False)
    kind_string = kind.translated('kind')
    receipt = fields.Char("Receipt", readonly=True)
    time = fields.DateTime("Time", readonly=True)
    reason_type = fields.Char("Reason Type", readonly=True)
    linked = fields.Char("Linked Transaction", readonly=True)
    statement_amount = fields.Numeric("Statement", **MONEY)
    ledger_amount = fields.Numeric("Ledger", **MONEY)
    books_amount = fields.Numeric("Books", **MONEY)
    origin = fields.Many2One(
        'account.statement.origin', "Statement Row", readonly=True,
        ondelete='SET NULL')
    statement_line = fields.Many2One(
        'account.statement.line', "Statement Line", readonly=True,
        ondelete='SET NULL')
    ledger = fields.Many2One(
        'account.payment.mpesa.transaction', "Ledger Record", readonly=True,
        ondelete='SET NULL')
    payment = fields.Many2One(
        'account.payment', "Payment", readonly=True, ondelete='SET NULL')
    move = fields.Many2One(
        'account.move', "Move", readonly=True, ondelete='SET NULL')
    move_date = fields.Date("Posted On", readonly=True)
    note = fields.Char("Note", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('tieout')
        cls._order = [('tieout', 'ASC'), ('sequence', 'ASC'), ('id', 'ASC')]
        t = cls.__table__()
        # Deleting a record the lines name looks them up
        cls._sql_indexes.update({
                Index(t, (Column(t, name), Index.Range()),
                    where=Column(t, name) != Null)
                for name in [
                    'origin', 'statement_line', 'ledger', 'payment', 'move']})

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('status') == 'difference', 'danger',
                    If(Eval('status') == 'action', 'warning', ''))),
            ]


class Statement(metaclass=PoolMeta):
    __name__ = 'account.statement'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'mpesa_tie_out': {
                    'invisible': ~Eval('mpesa_start'),
                    'depends': ['mpesa_start'],
                    'icon': 'tryton-search',
                    },
                })

    @classmethod
    def delete(cls, statements):
        "Delete the statements' tie-outs first, their lines at once"
        TieOut = Pool().get('account.payment.mpesa.tieout')
        TieOut.delete(TieOut.search([
                    ('statement', 'in', [s.id for s in statements]),
                    ]))
        super().delete(statements)

    @classmethod
    @ModelView.button_action('account_mpesa.act_tieout_form')
    def mpesa_tie_out(cls, statements):
        """Tie out the M-Pesa statements, each by its tie-out made anew,
        and open them"""
        TieOut = Pool().get('account.payment.mpesa.tieout')
        accounts = cls.mpesa_accounts(statements)
        tieouts = []
        for statement in statements:
            account = accounts.get(statement.id)
            if account is None:
                continue
            existing = TieOut.search([('statement', '=', statement.id)])
            tieouts.extend(existing or TieOut.create([{
                            'company': statement.company.id,
                            'account': account.id,
                            'statement': statement.id,
                            }]))
        TieOut.compute(tieouts)
        ids = [t.id for t in tieouts]
        return {
            'res_id': ids,
            'pyson_domain': PYSONEncoder().encode([('id', 'in', ids)]),
            }


class TieOutReport(CompanyReport):
    __name__ = 'account.payment.mpesa.tieout'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['lines_of'] = lines_of
        return context


def lines_of(tieout):
    """The lines of the tie-out in their order, read by slices: a month has
    tens of thousands (Tryton checks the ids of a batch for each of its
    records)"""
    Line = Pool().get('account.payment.mpesa.tieout.line')
    line = Line.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*line.select(line.id,
            where=line.tieout == tieout.id,
            order_by=[line.sequence.asc, line.id.asc]))
    for ids in grouped_slice([r[0] for r in cursor], 1000):
        yield from Line.browse(list(ids))
