# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Request M-Pesa Payment on a posted customer invoice (with
account_invoice): the payment's origin is the invoice, its line the
invoice's line to pay when it pays all of it; the credit of any other
payment goes on the invoice when it succeeds."""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If

from .exceptions import MpesaRequestError
from .request import PaymentRequestMixin


def line_to_pay(invoice, amount):
    """The invoice's line that a payment of the amount pays off: its only
    open line to pay when the amount is all that is left and no payment
    line is on it (account_payment_clearing reconciles them), else None"""
    lines = [
        line for line in invoice.lines_to_pay if not line.reconciliation]
    if (len(lines) == 1 and not invoice.payment_lines
            and amount == invoice.amount_to_pay):
        return lines[0]


class Invoice(PaymentRequestMixin, metaclass=PoolMeta):
    __name__ = 'account.invoice'
    _mpesa_nothing_due = 'account_mpesa.msg_invoice_nothing_due'
    _mpesa_above_due = 'account_mpesa.msg_invoice_amount_above_due'
    _mpesa_request_sent = 'account_mpesa.msg_invoice_request_sent'

    mpesa_amount_due = fields.Function(
        Monetary(
            "M-Pesa Amount Due", currency='currency', digits='currency',
            help="The amount to pay less the M-Pesa requests waiting for "
            "the customer."),
        'get_mpesa_amount_due')
    mpesa_requestable = fields.Function(
        fields.Boolean("M-Pesa Requestable"), 'get_mpesa_requestable')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'mpesa_request_payment': {
                    'invisible': ~Eval('mpesa_requestable'),
                    'icon': 'tryton-launch',
                    'depends': ['mpesa_requestable'],
                    },
                })

    @classmethod
    def get_mpesa_amount_due(cls, invoices, name):
        """The amount to pay of posted customer invoices less the M-Pesa
        requests without a line (a request with one is in the amount to
        pay already) that have not succeeded or failed"""
        Payment = Pool().get('account.payment')
        amounts = {
            i.id: (
                i.amount_to_pay if i.type == 'out' and i.state == 'posted'
                else Decimal(0))
            for i in invoices}
        for payment in Payment.search([
                    ('origin', 'in', [str(i) for i in invoices]),
                    ('line', '=', None),
                    ('state', 'not in', ['succeeded', 'failed']),
                    ]):
            amounts[payment.origin.id] -= payment.amount
        return amounts

    def get_mpesa_requestable(self, name):
        return bool(self.mpesa_amount_due > 0 and self.mpesa_journals())

    @property
    def mpesa_party(self):
        return self.party

    def mpesa_check_request(self, amount=None):
        if self.type != 'out' or self.state != 'posted':
            raise MpesaRequestError(gettext(
                    'account_mpesa.msg_invoice_not_requestable',
                    record=self.rec_name))
        super().mpesa_check_request(amount)

    def get_mpesa_payment(self, amount):
        payment = super().get_mpesa_payment(amount)
        payment.line = line_to_pay(self, amount)
        return payment

    @classmethod
    @ModelView.button_action('account_mpesa.wizard_invoice_request_payment')
    def mpesa_request_payment(cls, invoices):
        pass


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.origin.domain['account.invoice'] = [
            ('company', '=', Eval('company', -1)),
            ('party', '=', Eval('party', -1)),
            ('type', '=', If(Eval('kind') == 'receivable', 'out', 'in')),
            ]

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['account.invoice']

    @classmethod
    def succeed(cls, payments):
        """Put on its invoice the credit of each M-Pesa payment this call
        succeeded that the clearing move did not reconcile; no button of its
        own, whose wrapper would run guard.py's checks without access."""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Ledger = pool.get('account.payment.mpesa.transaction')
        before = {p.id: p.state for p in payments}
        super().succeed(payments)
        for payment in cls.mpesa_went_to(payments, before, 'succeeded'):
            if (not isinstance(payment.origin, Invoice)
                    or not payment.clearing_move):
                continue
            for line in payment.clearing_move.lines:
                if line.account != payment.journal.clearing_account:
                    Ledger.c2b_pay_invoice(payment.origin, line)
