# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The M-Pesa ledger: one record per receipt number per account."""
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval

from .common import to_utc


class Transaction(ModelSQL, ModelView):
    "M-Pesa Transaction"
    __name__ = 'account.payment.mpesa.transaction'
    _rec_name = 'receipt'

    account = fields.Many2One(
        'account.payment.mpesa.account', "Account", required=True,
        readonly=True, ondelete='RESTRICT')
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    kind = fields.Selection([
            ('stk', "STK Push"),
            ('c2b', "Customer Payment"),
            ('b2c', "Payout"),
            ('reversal', "Reversal"),
            ], "Kind", required=True, readonly=True)
    source = fields.Selection([
            ('callback', "Callback"),
            ('query', "Query"),
            ('statement', "Statement"),
            ('manual', "Manual"),
            ], "Source", required=True, readonly=True)
    receipt = fields.Char(
        "Receipt", required=True, readonly=True, strip=False)
    amount = fields.Numeric(
        "Amount", digits=(16, 2), required=True, readonly=True)
    transaction_time = fields.DateTime(
        "Transaction Time", readonly=True,
        help="When M-Pesa completed the transaction (shown in your time "
        "zone).")
    phone = fields.Char(
        "Phone", readonly=True,
        help="The number as M-Pesa gave it: plain, masked or hashed.")
    payer_name = fields.Char("Payer Name", readonly=True)
    account_number = fields.Char("Account Number", readonly=True)
    state = fields.Selection([
            ('received', "Received"),
            ('matched', "Matched"),
            ('unmatched', "Unmatched"),
            ('duplicate', "Duplicate"),
            ('reversed', "Reversed"),
            ], "State", required=True, readonly=True, sort=False)
    payment = fields.Many2One(
        'account.payment', "Payment", readonly=True, ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ])
    event = fields.Many2One(
        'account.payment.mpesa.event', "Event", readonly=True,
        ondelete='SET NULL')
    origin = fields.Function(
        fields.Reference("Origin", selection='get_origins'),
        'get_payment_field')
    clearing_move = fields.Function(
        fields.Many2One('account.move', "Clearing Move"),
        'get_payment_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('account_receipt_unique', Unique(t, t.account, t.receipt),
                'account_mpesa.msg_transaction_receipt_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.payment, Index.Range())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(['received', 'unmatched'])),
                })
        cls._order.insert(0, ('transaction_time', 'DESC NULLS FIRST'))

    @classmethod
    def default_state(cls):
        return 'received'

    @classmethod
    def get_origins(cls):
        Payment = Pool().get('account.payment')
        return Payment.get_origin()

    def get_payment_field(self, name):
        if self.payment:
            value = getattr(self.payment, name, None)
            if name == 'origin':
                return str(value) if value else None
            return value.id if value else None

    @classmethod
    def record_stk(cls, account, callback, event=None):
        """The ledger record of a successful STK callback, created or found
        by its receipt.  The caller commits."""
        records = cls.search([
                ('account', '=', account.id),
                ('receipt', '=', callback.receipt),
                ], limit=1)
        if records:
            return records[0]
        record = cls(
            account=account,
            company=account.company,
            kind='stk',
            source='callback',
            receipt=callback.receipt,
            amount=callback.amount,
            transaction_time=to_utc(callback.transaction_time),
            phone=callback.phone,
            event=event)
        record.save()
        return record

    def match(self, payment):
        "Record that the transaction settles the payment"
        self.payment = payment
        self.state = 'matched'
        self.save()
