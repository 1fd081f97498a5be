# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The org-portal statement imported with ``account_statement``: format
*M-Pesa Org Portal* of the import wizard, the statement on the journal set
on the M-Pesa account of its shortcode, and its lines against the payments
the ledger settled, the charges and the sweeps."""
from trytond import backend
from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.account_statement.exceptions import ImportStatementError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice

from . import portal_statement
from .common import nairobi_date

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


def search_in(Model, name, values, domain):
    """The records of Model in domain whose field name has one of values,
    searched by slices of values"""
    for values in grouped_slice(sorted(values), backend.MAX_QUERY_PARAMS):
        yield from Model.search(domain + [(name, 'in', list(values))])


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
        "Import, then give the M-Pesa origins the lines their rows tell"
        pool = Pool()
        Statement = pool.get('account.statement')
        action, data = super().do_import_(action)
        if self.start.file_format == 'mpesa':
            Statement.mpesa_create_lines(Statement.browse(data['res_id']))
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
        account's journal; its balances are those around them"""
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
                    statements=', '.join(sorted(imported.values()))))
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


class Statement(metaclass=PoolMeta):
    __name__ = 'account.statement'

    @classmethod
    def mpesa_create_lines(cls, statements):
        """Create the lines of the draft M-Pesa origins without lines: a
        receipt the ledger settled a payment with is set against that
        payment (its clearing account is cleared when the statement is
        validated); a charge goes to the charges account and a sweep to
        the sweep account of the M-Pesa account.  Other origins keep
        their pending amount.  The caller commits."""
        pool = Pool()
        Account = pool.get('account.payment.mpesa.account')
        Line = pool.get('account.statement.line')
        lines = []
        for statement in statements:
            if statement.state != 'draft':
                continue
            accounts = Account.search([
                    ('company', '=', statement.company.id),
                    ('statement_journal', '=', statement.journal.id),
                    ], limit=1)
            if not accounts:
                continue
            account, = accounts
            origins = [o for o in statement.origins if not o.lines]
            settled = cls.mpesa_settled(account, origins)
            for origin in origins:
                line = cls.mpesa_line(
                    account, origin, settled.get(origin.number))
                if line:
                    lines.append(line)
        Line.save(lines)

    @staticmethod
    def mpesa_settled(account, origins):
        """The payment by receipt number that the ledger of account settled
        with the origins' receipts"""
        Ledger = Pool().get('account.payment.mpesa.transaction')
        receipts = {o.number for o in origins}
        return {r.receipt: r.payment
            for r in search_in(Ledger, 'receipt', receipts, [
                    ('account', '=', account.id),
                    ('state', '=', 'matched'),
                    ('payment.state', '=', 'succeeded'),
                    ])}

    @staticmethod
    def mpesa_line(account, origin, payment):
        """The unsaved line of the origin, or None when nothing tells its
        account: the payment's clearing account when the payment is of the
        same amount and direction, else by the kind of row"""
        Line = Pool().get('account.statement.line')
        line = Line(
            statement=origin.statement, origin=origin, number=origin.number,
            date=origin.date, amount=origin.amount,
            description=origin.description)
        direction = 'receivable' if origin.amount > 0 else 'payable'
        if payment:
            clearing = payment.journal.clearing_account
            if (clearing and payment.kind == direction
                    and payment.amount == abs(origin.amount)
                    and not payment.clearing_reconciled):
                line.related_to = payment
                line.party = payment.party
                line.account = clearing
                return line
            return None
        kind = portal_statement.row_kind(
            origin.amount,
            (origin.information or {}).get('mpesa_reason_type', ''),
            origin.description or '')
        line.account = {
            'charge': account.charges_account,
            'sweep': account.sweep_account,
            }.get(kind)
        return line if line.account else None
