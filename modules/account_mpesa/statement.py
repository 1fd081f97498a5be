# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The org-portal statement imported with ``account_statement``: format
*M-Pesa Org Portal* of the import wizard, the statement on the journal set
on the M-Pesa account of its shortcode, what it shows that the ledger
lacks recovered, and its lines against the payments the ledger settled,
the charges and the sweeps."""
import datetime as dt
import json
from decimal import Decimal

from sql import Column, Null

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.modules.account_statement.exceptions import ImportStatementError
from trytond.pool import Pool, PoolMeta
from trytond.protocols.jsonrpc import JSONDecoder
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import portal_statement
from .common import (
    claim_row, create_rows, decimal, nairobi_date, select_in)
from .recover import recover

# The origin's information keys (statement.xml) by Row attribute
INFORMATION = {
    'completed': 'mpesa_completion_time',
    'initiated': 'mpesa_initiation_time',
    'details': 'mpesa_details',
    'reason_type': 'mpesa_reason_type',
    'other_party': 'mpesa_other_party_info',
    'linked_transaction': 'mpesa_linked_transaction_id',
    'account_number': 'mpesa_account_number',
    'balance': 'mpesa_balance',
    }

# What the lines are made from
ORIGIN_FIELDS = ['number', 'date', 'amount', 'description', 'information']

# What the import sets on a statement from the portal's file
FROM_FILE = {'mpesa_start', 'mpesa_end', 'mpesa_portal_account'}

# The accounts a statement line may be posted to
ACCOUNT_DOMAIN = [
    ('company', '=', Eval('company', -1)),
    ('type', '!=', None),
    ('closed', '!=', True),
    ]


class Account(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.account'

    statement_journal = fields.Many2One(
        'account.statement.journal', "Statement Journal",
        ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        help="Where the org-portal statements of the shortcode are "
        "imported.")
    charges_account = fields.Many2One(
        'account.account', "Charges Account", ondelete='RESTRICT',
        domain=ACCOUNT_DOMAIN,
        help="Where the statement's M-Pesa charges are posted.")
    sweep_account = fields.Many2One(
        'account.account', "Sweep Account", ondelete='RESTRICT',
        domain=ACCOUNT_DOMAIN,
        help="Where the statement's sweeps between the shortcode's "
        "accounts and settlements to the bank are posted.")


class StatementImportStart(metaclass=PoolMeta):
    __name__ = 'account.statement.import.start'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.file_format.selection.append(('mpesa', "M-Pesa Org Portal"))


class StatementImport(metaclass=PoolMeta):
    __name__ = 'account.statement.import'

    def parse_mpesa(self):
        """Yield the statement of the org-portal file (CSV or XLSX), its
        rows kept for do_import_ to make its origins.  The whole file is
        read and checked first; the wizard then saves in its one
        transaction, so a refused file creates nothing.  Rows already
        imported are left out: a row is imported when an origin of a
        statement of the journal has its identity (its receipt number, a
        charge or not)."""
        try:
            parsed = portal_statement.read(self.start.file_)
        except portal_statement.StatementFileError as exception:
            raise ImportStatementError(gettext(
                    'account_mpesa.msg_statement_' + exception.code,
                    line=exception.line, **exception.values)) from exception
        account = self.mpesa_account(parsed)
        statement, self.mpesa_rows = self.mpesa_statement(parsed, account)
        yield statement

    def do_import_(self, action):
        """Import: the statement, its rows as origins; then recover what it
        shows that the ledger lacks and give its origins their lines, in
        the wizard's transaction"""
        pool = Pool()
        Statement = pool.get('account.statement')
        Origin = pool.get('account.statement.origin')
        action, data = super().do_import_(action)
        if self.start.file_format == 'mpesa':
            statement_id, = data['res_id']
            create_rows(Origin, [
                    dict(self.mpesa_origin(r), statement=statement_id)
                    for r in self.mpesa_rows])
            Statement.mpesa_set_lines(Statement.browse(data['res_id']))
        return action, data

    def mpesa_account(self, parsed):
        "The M-Pesa account of the statement's shortcode with its journal"
        pool = Pool()
        Account = pool.get('account.payment.mpesa.account')
        shortcode = ['OR',
            ('business_shortcode', '=', parsed.shortcode),
            ('till_number', '=', parsed.shortcode),
            ]
        accounts = Account.search([
                ('company', '=', self.start.company.id),
                ('statement_journal', '!=', None),
                shortcode,
                ])
        if len(accounts) != 1:
            raise ImportStatementError(gettext(
                    'account_mpesa.msg_statement_no_journal'
                    if not accounts else
                    'account_mpesa.msg_statement_several_accounts',
                    shortcode=parsed.shortcode,
                    company=self.start.company.rec_name))
        return accounts[0]

    def mpesa_statement(self, parsed, account):
        """The unsaved statement of the rows not imported yet in the
        account's journal, and those rows; its balances are those around
        them, its period the file's"""
        pool = Pool()
        Statement = pool.get('account.statement')
        StatementJournal = pool.get('account.statement.journal')
        journal = account.statement_journal
        # Imports into the journal one at a time: a concurrent import of
        # the same rows is run again after this one and finds them
        claim_row(StatementJournal, journal.id)
        self.mpesa_check_portal_account(journal, parsed)
        imported = statements_of(journal.id, {r.identity for r in parsed.rows})
        new = [i for i, r in enumerate(parsed.rows)
            if r.identity not in imported]
        if parsed.rows and not new:
            raise ImportStatementError(gettext(
                    'account_mpesa.msg_statement_already_imported',
                    shortcode=parsed.shortcode,
                    statements=', '.join(sorted(set(imported.values())))))
        rows = [parsed.rows[i] for i in new]
        before = parsed.rows[:new[0]] if new else parsed.rows
        after = parsed.rows[new[-1] + 1:] if new else ()
        statement = Statement(
            company=self.start.company, journal=journal,
            name=' '.join(filter(None, [
                        parsed.shortcode, parsed.account,
                        f"{nairobi_date(parsed.start)}"
                        f" - {nairobi_date(parsed.end)}"])),
            date=nairobi_date(parsed.end),
            mpesa_start=parsed.start, mpesa_end=parsed.end,
            mpesa_portal_account=parsed.account or None,
            start_balance=parsed.opening + sum(r.amount for r in before),
            end_balance=parsed.closing - sum(r.amount for r in after),
            total_amount=sum(r.amount for r in rows),
            number_of_lines=len(rows))
        return statement, rows

    def mpesa_check_portal_account(self, journal, parsed):
        """Refuse the statement of another of the shortcode's portal
        accounts than the one the journal's statements are of: a sweep is
        a row of both accounts' statements, with one receipt"""
        Statement = Pool().get('account.statement')
        if not parsed.account:
            return
        others = Statement.search([
                ('journal', '=', journal.id),
                ('state', '!=', 'cancelled'),
                ('mpesa_portal_account', 'not in', [None, parsed.account]),
                ], limit=1)
        if others:
            other, = others
            raise ImportStatementError(gettext(
                    'account_mpesa.msg_statement_other_portal_account',
                    account=parsed.account, shortcode=parsed.shortcode,
                    journal=journal.rec_name,
                    other=other.mpesa_portal_account))

    @staticmethod
    def mpesa_origin(row):
        """The values of the origin of the row, its columns in the
        information: a receipt number, a date and an amount as the
        parser checked them"""
        information = {}
        for name, key in INFORMATION.items():
            value = getattr(row, name)
            if value not in {None, ''}:
                information[key] = value
        return dict(
            number=row.receipt, date=nairobi_date(row.completed),
            amount=row.amount, description=row.details,
            information=information)


def statements_of(journal_id, identities):
    """The name of the statement, by row identity (receipt number, a
    charge or not), of the identities that are origins of a statement of
    the journal, cancelled ones left out"""
    pool = Pool()
    Origin = pool.get('account.statement.origin')
    Statement = pool.get('account.statement')
    origin = Origin.__table__()
    statement = Statement.__table__()
    found = {}
    for number, amount, description, information, statement_id in select_in(
            lambda numbers: origin.join(statement,
                condition=origin.statement == statement.id).select(
                origin.number, origin.amount, origin.description,
                origin.information, origin.statement,
                where=(statement.journal == journal_id)
                & (statement.state != 'cancelled')
                & origin.number.in_(numbers)),
            {r for r, _ in identities}):
        charge = origin_kind(
            decimal(amount), description,
            load_information(information)) == 'charge'
        if (number, charge) in identities:
            found[number, charge] = statement_id
    names = {s.id: s.rec_name
        for s in Statement.browse(list(set(found.values())))}
    return {i: names[s] for i, s in found.items()}


def load_information(value):
    "The information of an origin as the backend returns it"
    if isinstance(value, str):
        return json.loads(value, object_hook=JSONDecoder())
    return value or {}


def origin_kind(amount, description, information):
    """What the row of an origin is (``portal_statement.row_kind``), from
    its amount, description and information"""
    return portal_statement.row_kind(
        amount, information.get('mpesa_reason_type') or '',
        description or '')


def waiting_origins(statement_id):
    """The values of ORIGIN_FIELDS of the origins of the statement that have
    no line, oldest first"""
    pool = Pool()
    Origin = pool.get('account.statement.origin')
    Line = pool.get('account.statement.line')
    origin = Origin.__table__()
    line = Line.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*origin.select(
            origin.id, *(Column(origin, n) for n in ORIGIN_FIELDS),
            where=(origin.statement == statement_id)
            & ~origin.id.in_(line.select(line.origin,
                    where=(line.statement == statement_id)
                    & (line.origin != Null))),
            order_by=[origin.id.asc]))
    origins = [dict(zip(['id'] + ORIGIN_FIELDS, r)) for r in cursor]
    for values in origins:
        values['information'] = load_information(values['information'])
        values['amount'] = decimal(values['amount'])
    return origins


def origin_row(origin):
    """The ``portal_statement.Row`` the origin (its ORIGIN_FIELDS read) was
    imported from: its columns read back from its information"""
    information = origin['information'] or {}
    value = {name: information.get(key, '')
        for name, key in INFORMATION.items()}
    completed = value['completed'] or dt.datetime.combine(
        origin['date'], dt.time())
    amount = Decimal(origin['amount'])
    return portal_statement.Row(
        line=0, receipt=origin['number'] or '', completed=completed,
        initiated=value['initiated'] or None,
        details=origin['description'] or '', status='Completed',
        paid_in=max(amount, 0), withdrawn=max(-amount, 0),
        balance=value['balance'] if value['balance'] != '' else None,
        balance_confirmed='', reason_type=value['reason_type'],
        other_party=value['other_party'],
        linked_transaction=value['linked_transaction'],
        account_number=value['account_number'])


class Statement(metaclass=PoolMeta):
    __name__ = 'account.statement'

    mpesa_start = fields.DateTime(
        "M-Pesa Period Start", readonly=True,
        states={
            'invisible': ~Eval('mpesa_start'),
            },
        help="The start of the period of the org-portal statement file.")
    mpesa_end = fields.DateTime(
        "M-Pesa Period End", readonly=True,
        states={
            'invisible': ~Eval('mpesa_start'),
            },
        help="The end of the period of the org-portal statement file.")
    mpesa_portal_account = fields.Char(
        "M-Pesa Portal Account", readonly=True,
        states={
            'invisible': ~Eval('mpesa_start'),
            },
        help="The account of the shortcode (Utility, Working...) the "
        "org-portal statement is of: the statements of a journal are of "
        "one.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'mpesa_set_lines': {
                    'invisible': ((Eval('state') != 'draft')
                        | ~Eval('mpesa_start')),
                    'depends': ['state', 'mpesa_start'],
                    },
                })

    @classmethod
    def check_modification(
            cls, mode, statements, values=None, external=False):
        """Refuse an RPC write of what the import read from the portal's
        file: the tie-out's period and the journal's portal account"""
        super().check_modification(
            mode, statements, values=values, external=external)
        if external and mode == 'write':
            names = FROM_FILE & set(values or {})
            if names:
                raise AccessError(gettext(
                        'account_mpesa.msg_statement_from_file',
                        fields=', '.join(sorted(names))))

    @classmethod
    def mpesa_accounts(cls, statements):
        """The M-Pesa account by statement id of the statements whose
        journal is the statement journal of one"""
        Account = Pool().get('account.payment.mpesa.account')
        accounts = {}
        for account in Account.search([
                    ('statement_journal', 'in',
                        list({s.journal.id for s in statements})),
                    ], order=[('id', 'DESC')]):
            accounts[account.company.id, account.statement_journal.id] = (
                account)
        return {s.id: accounts[s.company.id, s.journal.id]
            for s in statements
            if (s.company.id, s.journal.id) in accounts}

    @classmethod
    @ModelView.button
    def mpesa_set_lines(cls, statements):
        """Recover what the draft M-Pesa statements show that the ledger
        lacks, then give their origins without lines the lines their rows
        tell: an accountant presses it again once the receipts left
        Unmatched or in review are settled.  The caller commits.

        The origins, ledger records and payments are read as values, in
        slices, and the lines created as values: a statement has tens of
        thousands of rows."""
        Line = Pool().get('account.statement.line')
        accounts = cls.mpesa_accounts(statements)
        lines = []
        for statement in statements:
            account = accounts.get(statement.id)
            if statement.state != 'draft' or account is None:
                continue
            origins = waiting_origins(statement.id)
            rows = [origin_row(o) for o in origins]
            recover(account, rows)
            settled = Settled(account, statement, rows)
            for origin, row in zip(origins, rows):
                values = settled.line(row)
                if values:
                    lines.append(dict(values,
                            statement=statement.id, origin=origin['id'],
                            number=origin['number'], date=origin['date'],
                            amount=origin['amount'],
                            description=origin['description']))
        create_rows(Line, lines)


class Settled:
    """What the ledger of an M-Pesa account settled with the receipts of a
    statement's rows, read at once: the values of each row's line, checked
    as the line's domains would check them (the account of the company,
    not closed; the payment of the company and the statement's currency,
    its clearing not reconciled, its party the line's)"""

    def __init__(self, account, statement, rows):
        pool = Pool()
        Ledger = pool.get('account.payment.mpesa.transaction')
        Payment = pool.get('account.payment')
        Journal = pool.get('account.payment.journal')
        Account = pool.get('account.account')
        ledger = Ledger.__table__()
        payment = Payment.__table__()
        journal = Journal.__table__()
        self.account = account
        receipts = {r.receipt for r in rows
            if r.kind not in {'charge', 'sweep'}}
        names = ['receipt', 'amount', 'c2b_move', 'payment', 'state', 'kind',
            'payment_amount', 'clearing_reconciled', 'party', 'company',
            'currency', 'clearing_account']
        self.records = {}
        for row in select_in(lambda receipts: ledger.join(payment, 'LEFT',
                    condition=ledger.payment == payment.id).join(journal,
                    'LEFT', condition=payment.journal == journal.id).select(
                    ledger.receipt, ledger.amount, ledger.c2b_move,
                    payment.id, payment.state, payment.kind, payment.amount,
                    payment.clearing_reconciled, payment.party,
                    payment.company, journal.currency,
                    journal.clearing_account,
                    where=(ledger.account == account.id)
                    & ledger.state.in_(['matched', 'reversed'])
                    & ledger.receipt.in_(receipts)), receipts):
            record = dict(zip(names, row))
            record['amount'] = decimal(record['amount'])
            record['payment_amount'] = decimal(record['payment_amount'])
            if record['payment'] and (
                    record['company'] != statement.company.id
                    or record['currency'] != statement.journal.currency.id):
                record['payment'] = None
            self.records[record['receipt']] = record
        journal = account.mpesa_journal
        self.c2b_clearing = journal.clearing_account if journal else None
        used = {a.id for a in [account.charges_account,
                account.sweep_account, self.c2b_clearing] if a}
        used |= {r['clearing_account'] for r in self.records.values()}
        self.postable = {a.id for a in Account.search([
                    ('id', 'in', list(used - {None})),
                    ('company', '=', statement.company.id),
                    ('type', '!=', None),
                    ('closed', '!=', True),
                    ])}

    def line(self, row):
        """The values of the line of the row, or None when nothing tells
        its account: a charge goes to the charges account, a sweep to the
        sweep account; a receipt the ledger settled a payment with goes
        against that payment on its clearing account, one posted elsewhere
        to the clearing account, when the amounts agree"""
        values = self._line(row)
        if values and values['account'] in self.postable:
            return values

    def _line(self, row):
        account = self.account
        if row.kind in {'charge', 'sweep'}:
            target = (account.charges_account if row.kind == 'charge'
                else account.sweep_account)
            return {'account': target.id} if target else None
        record = self.records.get(row.receipt)
        if record is None or record['amount'] != abs(row.amount):
            return None
        if record['payment']:
            direction = 'receivable' if row.amount > 0 else 'payable'
            if (record['clearing_account']
                    and record['state'] == 'succeeded'
                    and record['kind'] == direction
                    and record['payment_amount'] == abs(row.amount)
                    and not record['clearing_reconciled']):
                return {
                    'account': record['clearing_account'],
                    'party': record['party'],
                    'related_to': f'account.payment,{record["payment"]}',
                    }
            return None
        if record['c2b_move'] and row.amount > 0 and self.c2b_clearing:
            return {'account': self.c2b_clearing.id}
        return None
