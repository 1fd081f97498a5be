# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Request M-Pesa Payment from the sale form (with sale_payment): the
payment's origin is the sale."""
from decimal import Decimal

from trytond.model import ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from .request import PaymentRequestMixin


class Sale(PaymentRequestMixin, metaclass=PoolMeta):
    __name__ = 'sale.sale'

    mpesa_amount_due = fields.Function(
        Monetary("M-Pesa Amount Due", currency='currency', digits='currency'),
        'get_mpesa_amount_due')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'mpesa_request_payment': {
                    'invisible': (
                        ~Eval('state').in_(
                            ['quotation', 'confirmed', 'processing'])
                        | (Eval('mpesa_amount_due', 0) <= 0)),
                    'icon': 'tryton-launch',
                    'depends': ['state', 'mpesa_amount_due'],
                    },
                })

    def get_mpesa_amount_due(self, name):
        "The total less the payments that have not failed"
        return self.total_amount - sum(
            (p.amount if p.kind == 'receivable' else -p.amount
                for p in self.payments if p.state != 'failed'),
            Decimal(0))

    @property
    def mpesa_party(self):
        return self.invoice_party or self.party

    @classmethod
    @ModelView.button_action('account_mpesa.wizard_sale_request_payment')
    def mpesa_request_payment(cls, sales):
        pass
