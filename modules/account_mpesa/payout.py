# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Payable M-Pesa payments: payouts and refunds by B2C, refunds by
Reversal, their approval, their result and time-out callbacks, and the
Transaction Status questions about them."""
import logging
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, Unique, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import PoolMeta
from trytond.pyson import Eval
from trytond.transaction import without_check_access

from . import daraja
from .common import utc_now
from .exceptions import MpesaPaymentError

logger = logging.getLogger(__name__)


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    mpesa_payout_method = fields.Selection([
            (None, ""),
            ('b2c', "B2C"),
            ('reversal', "Reversal"),
            ], "Payout Method",
        states={
            'invisible': ((Eval('process_method') != 'mpesa')
                | (Eval('kind') != 'payable')),
            'required': ((Eval('process_method') == 'mpesa')
                & (Eval('kind') == 'payable')),
            'readonly': Eval('state') != 'draft',
            })
    mpesa_remarks = fields.Char(
        "M-Pesa Remarks", size=100,
        states={
            'invisible': ((Eval('process_method') != 'mpesa')
                | (Eval('kind') != 'payable')),
            'readonly': Eval('state') != 'draft',
            },
        help="The reason sent with a payout (2 to 100 characters).")
    mpesa_refund_of = fields.Many2One(
        'account.payment', "Refund Of", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('mpesa_refund_of'),
            })
    mpesa_refunds = fields.One2Many(
        'account.payment', 'mpesa_refund_of', "M-Pesa Refunds",
        readonly=True,
        states={
            'invisible': ((Eval('process_method') != 'mpesa')
                | (Eval('kind') != 'receivable')),
            })
    mpesa_originator_conversation_id = fields.Char(
        "OriginatorConversationID", readonly=True, strip=False,
        states={
            'invisible': ~Eval('mpesa_originator_conversation_id'),
            })
    mpesa_conversation_id = fields.Char(
        "ConversationID", readonly=True, strip=False,
        states={
            'invisible': ~Eval('mpesa_conversation_id'),
            })
    # The OriginatorConversationID of the last Transaction Status asked
    # about the payout: its result is believed because nobody else knows
    # it, so it is in no view
    mpesa_status_request_id = fields.Char(
        "Status Request", readonly=True, strip=False)
    mpesa_refundable = fields.Function(Monetary(
            "M-Pesa Refundable", currency='currency', digits='currency',
            states={
                'invisible': ((Eval('process_method') != 'mpesa')
                    | (Eval('kind') != 'receivable')),
                }),
        'get_mpesa_refundable')
    mpesa_submitted_user = fields.Many2One(
        'res.user', "Submitted by User", readonly=True,
        help="Recorded by the server when the payment is submitted; "
        "another user must approve the payout.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('mpesa_originator_conversation_id_unique',
                Unique(t, t.mpesa_originator_conversation_id),
                'account_mpesa.msg_payment_conversation_id_unique'),
            ('mpesa_conversation_id_unique',
                Unique(t, t.mpesa_conversation_id),
                'account_mpesa.msg_payment_conversation_id_unique'),
            ]
        cls._buttons.update({
                'mpesa_refund': {
                    'invisible': ((Eval('process_method') != 'mpesa')
                        | (Eval('kind') != 'receivable')
                        | (Eval('state') != 'succeeded')),
                    'icon': 'tryton-back',
                    'depends': ['process_method', 'kind', 'state'],
                    },
                })

    @classmethod
    def copy(cls, payments, default=None):
        default = default.copy() if default is not None else {}
        for name in [
                'mpesa_originator_conversation_id', 'mpesa_conversation_id',
                'mpesa_status_request_id', 'mpesa_submitted_user',
                'mpesa_refunds']:
            default.setdefault(name, None)
        return super().copy(payments, default=default)

    @property
    def mpesa_needs_conversation_id(self):
        return (super().mpesa_needs_conversation_id
            or (self.kind == 'payable'
                and self.mpesa_payout_method != 'reversal'
                and not self.mpesa_originator_conversation_id))

    def get_mpesa_refundable(self, name):
        """What is left to refund of a collected payment: a failed refund
        counts for what M-Pesa paid out all the same"""
        if self.process_method != 'mpesa' or self.kind != 'receivable':
            return None

        def paid_out(refund):
            if refund.state != 'failed':
                return refund.amount
            return sum((t.amount for t in refund.mpesa_transactions
                    if t.state != 'reversed'), Decimal(0))
        return self.amount - sum(map(paid_out, self.mpesa_refunds), Decimal(0))

    @classmethod
    @ModelView.button_action('account_mpesa.wizard_refund')
    def mpesa_refund(cls, payments):
        pass

    @classmethod
    def validate_fields(cls, payments, field_names):
        super().validate_fields(payments, field_names)
        if 'mpesa_remarks' in field_names:
            for payment in payments:
                if payment.mpesa_remarks:
                    try:
                        daraja.check_remarks(payment.mpesa_remarks)
                    except daraja.InvalidRequest as exception:
                        raise MpesaPaymentError(gettext(
                                'account_mpesa.msg_payment_invalid',
                                payment=payment.rec_name,
                                error=exception.message)) from exception
        if field_names & {'amount', 'mpesa_refund_of', 'state'}:
            for payment in payments:
                original = payment.mpesa_refund_of
                if (original and payment.state != 'failed'
                        and original.mpesa_refundable < 0):
                    raise MpesaPaymentError(gettext(
                            'account_mpesa.msg_refund_above_refundable',
                            payment=original.rec_name,
                            amount=payment.amount,
                            refundable=original.mpesa_refundable
                            + payment.amount))

    def process_mpesa(self):
        if self.kind == 'payable':
            self.check_mpesa_payout()
        super().process_mpesa()

    def check_mpesa_payout(self):
        "Refuse with a clear message a payout that cannot be sent"
        account = self.mpesa_account
        with without_check_access():
            account = account.__class__(account.id)
            needed = ['initiator_name', 'initiator_password', 'certificate']
            if self.mpesa_payout_method != 'reversal':
                needed.insert(0, 'b2c_shortcode')
            missing = [
                account.__class__._fields[name].string
                for name in needed if not getattr(account, name)]
            if missing:
                raise MpesaPaymentError(gettext(
                        'account_mpesa.msg_payout_setup_missing',
                        payment=self.rec_name, account=account.rec_name,
                        fields=', '.join(missing)))
            try:
                self._mpesa_security_credential()
            except daraja.InvalidRequest as exception:
                raise MpesaPaymentError(gettext(
                        'account_mpesa.msg_payout_certificate',
                        account=account.rec_name,
                        error=exception.message)) from exception
        if self.mpesa_payout_method == 'reversal':
            original = self.mpesa_refund_of
            if not (account.reversal_enabled and original
                    and original.mpesa_receipt):
                raise MpesaPaymentError(gettext(
                        'account_mpesa.msg_payout_reversal_impossible',
                        payment=self.rec_name))

    def _mpesa_security_credential(self):
        "The initiator password encrypted with the uploaded certificate"
        with without_check_access():
            account = self.mpesa_account
            account = account.__class__(account.id)
            return daraja.security_credential(
                account.initiator_password, account.certificate)

    def _mpesa_initiator(self):
        with without_check_access():
            account = self.mpesa_account
            return account.__class__(account.id).initiator_name

    def mpesa_send_request(self):
        "Send the B2C or the Reversal of a payable payment"
        if self.kind != 'payable':
            return super().mpesa_send_request()
        account = self.mpesa_account
        client = account.daraja_client()
        remarks = self.mpesa_remarks or (
            "Refund" if self.mpesa_refund_of else "Payout")
        if self.mpesa_payout_method == 'reversal':
            return client.reversal(
                initiator_name=self._mpesa_initiator(),
                security_credential=self._mpesa_security_credential(),
                transaction_id=self.mpesa_refund_of.mpesa_receipt,
                amount=int(self.amount),
                receiver_party=account.party_b,
                result_url=account.callback_url('reversal/result'),
                queue_timeout_url=account.callback_url('reversal/timeout'),
                remarks=remarks)
        return client.b2c(
            originator_conversation_id=self.mpesa_originator_conversation_id,
            initiator_name=self._mpesa_initiator(),
            security_credential=self._mpesa_security_credential(),
            command_id='BusinessPayment',
            amount=int(self.amount),
            party_a=account.b2c_shortcode,
            phone=self.mpesa_phone,
            remarks=remarks,
            queue_timeout_url=account.callback_url('b2c/timeout'),
            result_url=account.callback_url('b2c/result'))

    def mpesa_accepted(self, answer):
        "Record that Daraja queued the payout; return its callback reference"
        if self.kind != 'payable':
            return super().mpesa_accepted(answer)
        if not self.mpesa_originator_conversation_id:
            self.mpesa_originator_conversation_id = (
                answer.originator_conversation_id)
        self.mpesa_conversation_id = answer.conversation_id or None
        self.mpesa_state = 'pending'
        self.mpesa_message = gettext(
            'account_mpesa.msg_payout_sent',
            phone=daraja.mask_msisdn(self.mpesa_phone))
        self.save()
        logger.info("Payout %d queued by M-Pesa", self.id)
        return self.mpesa_originator_conversation_id

    @classmethod
    def mpesa_request_key(cls, outcome):
        if outcome.status_request_id:
            return 'mpesa_status_request_id', outcome.status_request_id
        if outcome.kind in {'b2c', 'reversal'} and (
                outcome.originator_conversation_id):
            return ('mpesa_originator_conversation_id',
                outcome.originator_conversation_id)
        return super().mpesa_request_key(outcome)

    def mpesa_timed_out(self):
        """Record that M-Pesa queued the payout past its time-out: not a
        failure, the reconciliation asks Transaction Status.  The caller
        commits."""
        if self.state == 'processing' and self.mpesa_state == 'pending':
            self.mpesa_state = 'unknown'
            self.mpesa_message = gettext('account_mpesa.msg_payout_timeout')
            self.save()

    def mpesa_status_due(self, now):
        "Whether Transaction Status may be asked about the payout again"
        return not (self.mpesa_status_request_id and self.mpesa_checked_at
            and now - self.mpesa_checked_at < self.mpesa_account.query_delay)

    def mpesa_ask_status(self):
        """Ask Transaction Status about the payout; its answer comes by
        callback.  Writes nothing; returns the OriginatorConversationID of
        the question, which only Daraja and this database know."""
        account = self.mpesa_account
        if self.mpesa_payout_method == 'reversal' and self.mpesa_receipt:
            reference = {'transaction_id': self.mpesa_receipt}
        else:
            reference = {
                'originator_conversation_id': (
                    self.mpesa_originator_conversation_id)}
        answer = account.daraja_client().transaction_status(
            initiator_name=self._mpesa_initiator(),
            security_credential=self._mpesa_security_credential(),
            party_a=account.b2c_shortcode or account.business_shortcode,
            result_url=account.callback_url('status/result'),
            queue_timeout_url=account.callback_url('status/timeout'),
            remarks="Payout status",
            **reference)
        return answer.originator_conversation_id

    @classmethod
    def mpesa_record_status_request(cls, payment_id, request_id):
        "Record the question asked about the payout.  The caller commits."
        payment = cls(payment_id)
        payment.mpesa_status_request_id = request_id
        payment.mpesa_checked_at = utc_now()
        payment.save()
