# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The Refund wizard of a collected M-Pesa payment."""
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from . import daraja
from .exceptions import MpesaRequestError


class RefundStart(ModelView):
    "Refund M-Pesa Payment"
    __name__ = 'account.payment.mpesa.refund.start'

    payment = fields.Many2One('account.payment', "Payment", readonly=True)
    refundable = Monetary(
        "Refundable", currency='currency', digits='currency', readonly=True)
    amount = Monetary(
        "Amount", currency='currency', digits='currency', required=True,
        domain=[('amount', '>', 0)])
    currency = fields.Many2One('currency.currency', "Currency", readonly=True)
    reason = fields.Char(
        "Reason", required=True, size=100,
        help="Sent to M-Pesa with the payout (2 to 100 characters).")
    phone = fields.Char(
        "Phone", readonly=True,
        help="The number that paid: a refund goes back to it. "
        "To pay another number, make a payout.")
    method = fields.Selection([
            ('b2c', "B2C payout"),
            ('reversal', "Reversal of the receipt"),
            ], "Method", required=True,
        states={
            'readonly': ~Eval('reversal_enabled', False),
            },
        help="A reversal gives back the whole receipt; a B2C payout any "
        "amount, any day.")
    reversal_enabled = fields.Boolean("Reversal Enabled", readonly=True)


class Refund(Wizard):
    "Refund M-Pesa Payment"
    __name__ = 'account.payment.mpesa.refund'

    start = StateView(
        'account.payment.mpesa.refund.start',
        'account_mpesa.refund_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Create Refund", 'create_', 'tryton-ok', default=True),
            ])
    create_ = StateTransition()
    open_ = StateAction('account_payment.act_payment_form')

    @classmethod
    def check_access(cls):
        """Refuse the users outside the groups of the payment's Refund
        button: the wizard runs without access checks"""
        pool = Pool()
        Button = pool.get('ir.model.button')
        Group = pool.get('res.group')
        User = pool.get('res.user')
        super().check_access()
        if Transaction().user == 0:
            return
        groups = Button.get_groups('account.payment', 'mpesa_refund')
        if groups and not groups & set(User.get_groups()):
            raise AccessError(gettext(
                    'account_mpesa.msg_refund_access',
                    groups=', '.join(
                        g.rec_name for g in Group.browse(groups))))

    @staticmethod
    def check_refundable(payment):
        "Refuse a payment that is not money M-Pesa collected"
        if not (payment.process_method == 'mpesa'
                and payment.kind == 'receivable'
                and payment.state == 'succeeded'
                and payment.mpesa_receipt):
            raise AccessError(gettext(
                    'account_mpesa.msg_refund_not_collected',
                    payment=payment.rec_name))

    def default_start(self, fields):
        payment = self.record
        self.check_refundable(payment)
        return {
            'payment': payment.id,
            'refundable': payment.mpesa_refundable,
            'amount': payment.mpesa_refundable,
            'currency': payment.currency.id,
            'phone': payment.mpesa_phone,
            'method': 'b2c',
            'reversal_enabled': bool(
                payment.mpesa_account.reversal_enabled),
            }

    def transition_create_(self):
        """Create the refund as a payable payment to approve, linked to the
        payment it gives back"""
        pool = Pool()
        Payment = pool.get('account.payment')
        Date = pool.get('ir.date')
        original = self.record
        self.check_refundable(original)
        amount = self.start.amount
        refundable = original.mpesa_refundable
        if amount > refundable:
            raise MpesaRequestError(gettext(
                    'account_mpesa.msg_refund_above_refundable',
                    payment=original.rec_name, amount=amount,
                    refundable=refundable))
        if self.start.method == 'reversal' and (
                amount != original.amount or refundable != original.amount):
            raise MpesaRequestError(gettext(
                    'account_mpesa.msg_refund_reversal_whole',
                    payment=original.rec_name, amount=original.amount))
        try:
            daraja.check_remarks(self.start.reason)
        except daraja.InvalidRequest as exception:
            raise MpesaRequestError(gettext(
                    'account_mpesa.msg_refund_reason',
                    error=exception.message)) from exception
        refund = Payment(
            company=original.company,
            journal=original.journal,
            kind='payable',
            party=original.party,
            amount=amount,
            date=Date.today(),
            mpesa_phone=original.mpesa_phone,
            mpesa_payout_method=self.start.method,
            mpesa_remarks=self.start.reason,
            mpesa_refund_of=original)
        refund.save()
        Payment.submit([refund])
        self.start.payment = refund
        return 'open_'

    def do_open_(self, action):
        action['res_id'] = [self.start.payment.id]
        action['views'].reverse()
        return action, {}
