# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Request M-Pesa Payment: one wizard for every record a customer pays by
STK Push (a sale with sale_payment, a customer invoice with
account_invoice); the record says what differs through `PaymentRequestMixin`.
"""
from decimal import ROUND_DOWN, Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import daraja
from .common import lock_rows
from .exceptions import MpesaRequestError


class PaymentRequestMixin:
    """A record the Request M-Pesa Payment wizard runs on: it has a company,
    a currency and ``mpesa_amount_due``, and makes the payment's party,
    origin and line"""
    __slots__ = ()
    # The ir.message ids the wizard says about the record
    _mpesa_nothing_due = 'account_mpesa.msg_sale_nothing_due'
    _mpesa_above_due = 'account_mpesa.msg_sale_amount_above_due'
    _mpesa_request_sent = 'account_mpesa.msg_sale_request_sent'

    @property
    def mpesa_party(self):
        "The party the payment is received from"
        raise NotImplementedError

    @property
    def mpesa_account_reference(self):
        "The AccountReference shown to the customer in the prompt"
        return (getattr(self, 'number', None) or '')[:12] or None

    def mpesa_journals(self):
        "The M-Pesa journals of the record's company"
        Journal = Pool().get('account.payment.journal')
        return Journal.search([
                ('process_method', '=', 'mpesa'),
                ('company', '=', self.company.id),
                ])

    def mpesa_check_request(self, amount=None):
        """Refuse the request when nothing is due or, with the amount,
        when the amount is above what is due"""
        due = self.mpesa_amount_due
        if due <= 0:
            raise MpesaRequestError(gettext(
                    self._mpesa_nothing_due, record=self.rec_name))
        if amount is not None and amount > due:
            raise MpesaRequestError(gettext(
                    self._mpesa_above_due, record=self.rec_name,
                    amount=amount, due=due))

    def get_mpesa_payment(self, amount):
        "The receivable payment of the amount, not saved"
        Payment = Pool().get('account.payment')
        return Payment(
            company=self.company, kind='receivable', party=self.mpesa_party,
            origin=self, amount=amount)


class RequestPaymentStart(ModelView):
    "Request M-Pesa Payment"
    __name__ = 'account.payment.mpesa.request.start'

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
    __name__ = 'account.payment.mpesa.request.result'

    payment = fields.Many2One('account.payment', "Payment", readonly=True)
    message = fields.Text("Message", readonly=True)


class RequestPayment(Wizard):
    "Request M-Pesa Payment"
    __name__ = 'account.payment.mpesa.request'

    start = StateView(
        'account.payment.mpesa.request.start',
        'account_mpesa.request_payment_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Request", 'request', 'tryton-ok', default=True),
            ])
    request = StateTransition()
    result = StateView(
        'account.payment.mpesa.request.result',
        'account_mpesa.request_payment_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def default_start(self, fields):
        record = self.record
        record.mpesa_check_request()
        journals = record.mpesa_journals()
        mechanism = record.mpesa_party.contact_mechanism_get(
            {'mobile', 'phone'})
        phone = mechanism.value if mechanism else None
        if phone:
            try:
                phone = daraja.normalize_msisdn(phone)
            except daraja.InvalidPhoneNumber:
                pass
        due = record.mpesa_amount_due
        return {
            'company': record.company.id,
            'journal': journals[0].id if len(journals) == 1 else None,
            'phone': phone,
            'amount': (
                due.quantize(Decimal(1), rounding=ROUND_DOWN)
                if due >= 1 else None),
            'amount_due': due,
            'currency': record.currency.id,
            'account_reference': record.mpesa_account_reference,
            }

    def transition_request(self):
        """Check the request with the record locked, create the payment,
        commit it, then send the STK Push at once so the result can tell
        the user whether the prompt went out."""
        pool = Pool()
        Payment = pool.get('account.payment')
        Date = pool.get('ir.date')
        lock_rows(self.model, [self.record.id])
        record = self.model(self.record.id)
        record.mpesa_check_request(self.start.amount)
        journal = self.start.journal
        if (journal.process_method != 'mpesa'
                or journal.company != record.company):
            raise MpesaRequestError(gettext(
                    'account_mpesa.msg_request_not_mpesa_journal',
                    journal=journal.rec_name))
        with Transaction().set_context(company=record.company.id):
            payment = record.get_mpesa_payment(self.start.amount)
            payment.journal = journal
            payment.date = Date.today()
            payment.mpesa_phone = self.start.phone
            payment.mpesa_account_reference = self.start.account_reference
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
            key = self.record._mpesa_request_sent
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
