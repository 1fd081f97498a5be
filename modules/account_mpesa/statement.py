# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The org-portal statement imported with ``account_statement``: format
*M-Pesa Org Portal* of the import wizard, the statement on the journal set
on the M-Pesa account of its shortcode, what it shows that the ledger
lacks recovered, and its lines against the payments the ledger settled,
the charges and the sweeps."""
import datetime as dt
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.account_statement.exceptions import ImportStatementError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from . import portal_statement
from .common import nairobi_date, search_in
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
        """Yield the statement of the org-portal file (CSV or XLSX) with its
        rows as origins.  The whole file is read and checked first; the
        wizard then saves in its one transaction, so a refused file
        creates nothing.  Rows already imported are left out: a row is
        imported when an origin of a statement of the journal has its
        receipt number."""
        try:
            parsed = portal_statement.read(self.start.file_)
        except portal_statement.StatementFileError as exception:
            raise ImportStatementError(gettext(
                    'account_mpesa.msg_statement_' + exception.code,
                    line=exception.line, **exception.values)) from exception
        account = self.mpesa_account(parsed)
        yield self.mpesa_statement(parsed, account)

    def do_import_(self, action):
        """Import, then recover what the M-Pesa statement shows that the
        ledger lacks and give its origins their lines, in the wizard's
        transaction"""
        pool = Pool()
        Statement = pool.get('account.statement')
        action, data = super().do_import_(action)
        if self.start.file_format == 'mpesa':
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
        account's journal; its balances are those around them, its period
        the file's"""
        pool = Pool()
        Statement = pool.get('account.statement')
        journal = account.statement_journal
        imported = self.mpesa_imported(journal, parsed.rows)
        new = [i for i, r in enumerate(parsed.rows)
            if r.receipt not in imported]
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
            start_balance=parsed.opening + sum(r.amount for r in before),
            end_balance=parsed.closing - sum(r.amount for r in after),
            total_amount=sum(r.amount for r in rows),
            number_of_lines=len(rows))
        statement.origins = [self.mpesa_origin(r) for r in rows]
        return statement

    @staticmethod
    def mpesa_imported(journal, rows):
        """The statement's name by receipt number of the rows that are
        origins in the journal already"""
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        return {o.number: o.statement.rec_name
            for o in search_in(Origin, 'number', {r.receipt for r in rows}, [
                    ('statement.journal', '=', journal.id),
                    ])}

    @staticmethod
    def mpesa_origin(row):
        "The unsaved origin of the row, its columns in the information"
        Origin = Pool().get('account.statement.origin')
        information = {}
        for name, key in INFORMATION.items():
            value = getattr(row, name)
            if value not in {None, ''}:
                information[key] = value
        return Origin(
            number=row.receipt, date=nairobi_date(row.completed),
            amount=row.amount, description=row.details,
            information=information)


def origin_row(origin):
    """The ``portal_statement.Row`` the origin was imported from: its
    columns read back from its information"""
    information = origin.information or {}
    value = {name: information.get(key, '')
        for name, key in INFORMATION.items()}
    completed = value['completed'] or dt.datetime.combine(
        origin.date, dt.time())
    amount = Decimal(origin.amount)
    return portal_statement.Row(
        line=0, receipt=origin.number or '', completed=completed,
        initiated=value['initiated'] or None,
        details=origin.description or '', status='Completed',
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
        Unmatched or in review are settled.  The caller commits."""
        pool = Pool()
        Origin = pool.get('account.statement.origin')
        Line = pool.get('account.statement.line')
        accounts = cls.mpesa_accounts(statements)
        lines = []
        for statement in statements:
            account = accounts.get(statement.id)
            if statement.state != 'draft' or account is None:
                continue
            waiting = Origin.search([
                    ('statement', '=', statement.id),
                    ('lines', '=', None),
                    ], order=[('id', 'ASC')])
            rows = [origin_row(o) for o in waiting]
            recover(account, rows)
            records = ledger_records(account, rows)
            for origin, row in zip(waiting, rows):
                line = cls.mpesa_line(
                    account, origin, row, records.get(row.receipt))
                if line:
                    lines.append(line)
        Line.save(lines)

    @staticmethod
    def mpesa_line(account, origin, row, record):
        """The unsaved line of the origin of the row, or None when nothing
        tells its account: a charge goes to the charges account, a sweep
        to the sweep account; the receipt of a ledger record against the
        payment it settled (its clearing account), or the clearing account
        when it was posted elsewhere, when the amounts agree"""
        Line = Pool().get('account.statement.line')
        line = Line(
            statement=origin.statement, origin=origin, number=origin.number,
            date=origin.date, amount=origin.amount,
            description=origin.description)
        kind = row.kind
        if kind in {'charge', 'sweep'}:
            line.account = (account.charges_account if kind == 'charge'
                else account.sweep_account)
            return line if line.account else None
        if (record is None or record.state not in {'matched', 'reversed'}
                or record.amount != abs(row.amount)):
            return None
        payment = record.payment
        if payment:
            clearing = payment.journal.clearing_account
            direction = 'receivable' if row.amount > 0 else 'payable'
            if (clearing and payment.state == 'succeeded'
                    and payment.kind == direction
                    and payment.amount == abs(row.amount)
                    and not payment.clearing_reconciled):
                line.related_to = payment
                line.party = payment.party
                line.account = clearing
                return line
            return None
        if record.c2b_move and row.amount > 0:
            journal = account.mpesa_journal
            line.account = journal.clearing_account if journal else None
            return line if line.account else None
        return None


def ledger_records(account, rows):
    """The ledger records of the account by receipt of the rows that are
    neither charges nor sweeps"""
    Ledger = Pool().get('account.payment.mpesa.transaction')
    receipts = {r.receipt for r in rows if r.kind not in {'charge', 'sweep'}}
    return {r.receipt: r for r in search_in(Ledger, 'receipt', receipts, [
                ('account', '=', account.id),
                ])}
