# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Request M-Pesa Payment from the sale form (with sale_payment)."""
from decimal import ROUND_DOWN, Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import daraja
from .exceptions import MpesaRequestError


class Sale(metaclass=PoolMeta):
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

    @classmethod
    @ModelView.button_action('account_mpesa.wizard_sale_request_payment')
    def mpesa_request_payment(cls, sales):
        pass


class RequestPaymentStart(ModelView):
    "Request M-Pesa Payment"
    __name__ = 'sale.mpesa.request_payment.start'

    company = fields.Many2One('company.company', "Company", readonly=True)
    journal = fields.Many2One(
        'account.payment.journal', "Journal", required=True,
        domain=[
            ('process_method', '=', 'mpesa'),
            ('company', '=', Eval('company', -1)),
            ])
    phone = fields.Char(
        "Phone", required=True,
        help="The customer's M-Pesa number, e.g. 0712 345 678.")
    amount = Monetary(
        "Amount", currency='currency', digits='currency', required=True,
        domain=[('amount', '>', 0)],
        help="Whole shillings; less than what is due for a partial payment.")
    amount_due = Monetary(
        "Amount Due", currency='currency', digits='currency', readonly=True)
    currency = fields.Many2One('currency.currency', "Currency", readonly=True)
    account_reference = fields.Char(
        "Account Reference", size=12, required=True,
        help="Shown to the customer in the prompt.")


class RequestPaymentResult(ModelView):
    "Request M-Pesa Payment Result"
    __name__ = 'sale.mpesa.request_payment.result'

    payment = fields.Many2One('account.payment', "Payment", readonly=True)
    message = fields.Text("Message", readonly=True)


class RequestPayment(Wizard):
    "Request M-Pesa Payment"
    __name__ = 'sale.mpesa.request_payment'

    start = StateView(
        'sale.mpesa.request_payment.start',
        'account_mpesa.sale_request_payment_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Request", 'request', 'tryton-ok', default=True),
            ])
    request = StateTransition()
    result = StateView(
        'sale.mpesa.request_payment.result',
        'account_mpesa.sale_request_payment_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        pool = Pool()
        Journal = pool.get('account.payment.journal')
        sale = self.record
        journals = Journal.search([
                ('process_method', '=', 'mpesa'),
                ('company', '=', sale.company.id),
                ])
        party = sale.invoice_party or sale.party
        mechanism = party.contact_mechanism_get({'mobile', 'phone'})
        phone = mechanism.value if mechanism else None
        if phone:
            try:
                phone = daraja.normalize_msisdn(phone)
            except daraja.InvalidPhoneNumber:
                pass
        due = sale.mpesa_amount_due
        return {
            'company': sale.company.id,
            'journal': journals[0].id if len(journals) == 1 else None,
            'phone': phone,
            'amount': (
                due.quantize(Decimal(1), rounding=ROUND_DOWN)
                if due >= 1 else None),
            'amount_due': due,
            'currency': sale.currency.id,
            'account_reference': (sale.number or '')[:12] or None,
            }

    def transition_request(self):
        """Create the payment, commit it, then send the STK Push at once so
        the result can tell the user whether the prompt went out."""
        pool = Pool()
        Payment = pool.get('account.payment')
        Date = pool.get('ir.date')
        sale = self.record
        due = sale.mpesa_amount_due
        if due <= 0:
            raise MpesaRequestError(gettext(
                    'account_mpesa.msg_sale_nothing_due', sale=sale.rec_name))
        if self.start.amount > due:
            raise MpesaRequestError(gettext(
                    'account_mpesa.msg_sale_amount_above_due',
                    sale=sale.rec_name, amount=self.start.amount, due=due))
        with Transaction().set_context(company=sale.company.id):
            payment = Payment(
                company=sale.company,
                journal=self.start.journal,
                kind='receivable',
                party=sale.invoice_party or sale.party,
                origin=sale,
                amount=self.start.amount,
                date=Date.today(),
                mpesa_phone=self.start.phone,
                mpesa_account_reference=self.start.account_reference)
            payment.save()
            Payment.submit([payment])
            Payment.process([payment])
            Transaction().commit()
            Payment.mpesa_send([payment])
        self.result.payment = payment
        return 'result'

    def default_result(self, fields):
        Payment = Pool().get('account.payment')
        # Read again: the STK Push was recorded in transactions of its own
        payment = Payment(self.result.payment.id)
        if payment.state == 'succeeded':
            key = 'account_mpesa.msg_sale_request_paid'
        elif payment.state == 'failed':
            key = 'account_mpesa.msg_sale_request_refused'
        elif payment.mpesa_state == 'pending':
            key = 'account_mpesa.msg_sale_request_sent'
        else:
            key = 'account_mpesa.msg_sale_request_delayed'
        return {
            'payment': payment.id,
            'message': gettext(
                key, amount=payment.amount,
                phone=daraja.mask_msisdn(payment.mpesa_phone),
                receipt=payment.mpesa_receipt or '',
                message=payment.mpesa_message or ''),
            }
