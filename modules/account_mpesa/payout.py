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
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from . import daraja
from .common import lock_rows, nairobi_date, to_utc, utc_now
from .exceptions import MpesaPaymentError

logger = logging.getLogger(__name__)

# Daraja's answer to a Transaction Status about a request it never carried
NOT_FOUND_CODES = {'2032'}


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
    mpesa_status_request_id = fields.Char(
        "Status Request", readonly=True, strip=False,
        states={
            'invisible': ~Eval('mpesa_status_request_id'),
            },
        help="The OriginatorConversationID of the last Transaction Status "
        "asked about the payout.")
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
        "What is left to refund of a collected payment"
        if self.process_method != 'mpesa' or self.kind != 'receivable':
            return None
        return self.amount - sum(
            (r.amount for r in self.mpesa_refunds if r.state != 'failed'),
            Decimal(0))

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

    def _mpesa_send(self):
        "Send the B2C or the Reversal of a payable payment"
        if self.kind != 'payable':
            return super()._mpesa_send()
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

    def _mpesa_accepted(self, answer):
        "Record that Daraja queued the payout; return its callback reference"
        if self.kind != 'payable':
            return super()._mpesa_accepted(answer)
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
    def mpesa_lock_payout(cls, originator_conversation_id, field=None):
        """The payout of the OriginatorConversationID, locked; None when no
        payment has it yet"""
        field = field or 'mpesa_originator_conversation_id'
        payments = cls.search([
                (field, '=', originator_conversation_id),
                ], limit=1)
        if not payments:
            return None
        lock_rows(cls, payments)
        return cls(payments[0].id)

    def mpesa_apply_result(self, account, result, api):
        """Apply the result of a payout (B2C or Reversal, or a Transaction
        Status about it) to the locked payment.  A success is recorded in
        the ledger and succeeds the payment on the Nairobi date of its
        completion; a failure fails it with the message of its code.  A
        settled payment is left alone.  The caller commits."""
        pool = Pool()
        Ledger = pool.get('account.payment.mpesa.transaction')
        if self.state != 'processing' or self.mpesa_state == 'review':
            return
        if self.mpesa_account != account:
            self._mpesa_review(gettext(
                    'account_mpesa.msg_mpesa_wrong_account',
                    account=account.rec_name))
            return
        self.mpesa_checked_at = utc_now()
        self.mpesa_result_code = result.result_code
        self.mpesa_result_desc = result.result_desc
        if not result.succeeded:
            self._mpesa_fail(result.result_code, result.result_desc, api=api)
            return
        ledger = Ledger.record_result(
            account, result,
            'reversal' if self.mpesa_payout_method == 'reversal' else 'b2c',
            self.mpesa_phone)
        if result.amount is None:
            reason = gettext(
                'account_mpesa.msg_mpesa_amount_missing',
                expected=self.amount)
        elif result.amount != self.amount:
            reason = gettext(
                'account_mpesa.msg_mpesa_amount_mismatch',
                received=result.amount, expected=self.amount)
        else:
            reason = None
        if reason:
            ledger.payment = self
            ledger.save()
            self._mpesa_review(reason)
            return
        if self.mpesa_payout_method == 'reversal':
            Ledger.mark_reversed(account, self.mpesa_refund_of.mpesa_receipt)
        self.mpesa_receipt = ledger.receipt
        self.mpesa_state = 'done'
        self.mpesa_message = daraja.result_message(
            result.result_code, api=api)
        self.save()
        ledger.match(self)
        with Transaction().set_context(
                clearing_date=nairobi_date(result.completed_at)):
            self.__class__.succeed([self])

    def mpesa_timed_out(self):
        """Record that M-Pesa queued the payout past its time-out: not a
        failure, the reconciliation asks Transaction Status"""
        if self.state == 'processing' and self.mpesa_state == 'pending':
            self.mpesa_state = 'unknown'
            self.mpesa_message = gettext('account_mpesa.msg_payout_timeout')
            self.save()

    def _mpesa_ask_status(self):
        """Ask Transaction Status about the payout; its answer comes by
        callback.  Returns the OriginatorConversationID of the question."""
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
    def _mpesa_record_status_request(cls, payment_id, request_id):
        payment = cls(payment_id)
        payment.mpesa_status_request_id = request_id
        payment.mpesa_checked_at = utc_now()
        payment.save()

    def mpesa_apply_status(self, account, result):
        """Apply the answer of a Transaction Status about the payout: a
        completed transaction settles it, one M-Pesa never carried fails it
        (only then may it be paid again), anything else waits."""
        if result.succeeded and result.transaction_status == 'Completed':
            self.mpesa_apply_result(account, result, 'b2c')
        elif result.result_code in NOT_FOUND_CODES:
            self.mpesa_apply_result(account, result, 'status')


class MpesaTransaction(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.transaction'

    @classmethod
    def record_result(cls, account, result, kind, phone):
        """The ledger record of a successful payout result, created or found
        by its receipt.  The caller commits."""
        records = cls.search([
                ('account', '=', account.id),
                ('receipt', '=', result.receipt),
                ], limit=1)
        if records:
            return records[0]
        record = cls(
            account=account, company=account.company, kind=kind,
            source='callback', receipt=result.receipt,
            amount=result.amount, transaction_time=to_utc(result.completed_at),
            phone=phone, payer_name=result.recipient_name or None)
        record.save()
        return record

    @classmethod
    def mark_reversed(cls, account, receipt):
        "Record that M-Pesa reversed the receipt"
        records = cls.search([
                ('account', '=', account.id),
                ('receipt', '=', receipt),
                ])
        cls.write(records, {'state': 'reversed'})


class Event(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.event'

    @classmethod
    def callback_kinds(cls):
        def originator(data):
            return daraja.parse_result(data).originator_conversation_id
        kinds = super().callback_kinds()
        for kind in ['b2c/result', 'b2c/timeout', 'reversal/result',
                'reversal/timeout', 'status/result', 'status/timeout']:
            kinds[kind] = originator
        return kinds

    def _payout(self, result, field=None):
        Payment = Pool().get('account.payment')
        payment = Payment.mpesa_lock_payout(
            result.originator_conversation_id, field)
        self.payment = payment
        return payment

    def _process_b2c_result(self, data):
        result = daraja.parse_result(data)
        payment = self._payout(result)
        if payment is None:
            return 'pending'
        payment.mpesa_apply_result(self.account, result, 'b2c')
        return 'done'

    def _process_reversal_result(self, data):
        result = daraja.parse_result(data)
        payment = self._payout(result)
        if payment is None:
            return 'pending'
        payment.mpesa_apply_result(self.account, result, 'reversal')
        return 'done'

    def _process_b2c_timeout(self, data):
        payment = self._payout(daraja.parse_result(data))
        if payment is None:
            return 'pending'
        payment.mpesa_timed_out()
        return 'done'

    _process_reversal_timeout = _process_b2c_timeout

    def _process_status_result(self, data):
        result = daraja.parse_result(data)
        payment = self._payout(result, 'mpesa_status_request_id')
        if payment is None:
            return 'pending'
        payment.mpesa_apply_status(self.account, result)
        return 'done'

    def _process_status_timeout(self, data):
        # The question timed out: the next reconciliation asks again
        payment = self._payout(
            daraja.parse_result(data), 'mpesa_status_request_id')
        return 'done' if payment else 'pending'
