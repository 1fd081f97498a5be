# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Payment journals and payments processed by M-Pesa.

Receivable payments are collected by STK Push; the ledger settles them
with the primitives here (succeed, fail, hold for review)."""
import datetime as dt
import logging
import uuid
from collections import Counter, defaultdict
from decimal import Decimal

from sql.conditionals import Coalesce

from trytond.i18n import gettext
from trytond.model import Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from . import daraja
from .common import (
    company_domain, lock_rows, run_in_transaction, utc_now)
from .exceptions import MpesaPaymentError

logger = logging.getLogger(__name__)

MPESA_STATES = [
    (None, ""),
    ('requested', "Requested"),
    ('sending', "Sending"),
    ('pending', "Pending"),
    ('unknown', "Outcome Unknown"),
    ('review', "Review"),
    ('done', "Done"),
    ]
MPESA_CURRENCY = 'KES'
# The errors of a request that was not carried out for a passing reason: the
# payment stays requested, to be sent again
NOT_SENT = (daraja.Unavailable, daraja.Throttled, daraja.TokenError)


def mpesa_only():
    "The states of a payment field shown only for M-Pesa payments"
    return {'invisible': Eval('process_method') != 'mpesa'}


class Journal(metaclass=PoolMeta):
    __name__ = 'account.payment.journal'

    mpesa_account = fields.Many2One(
        'account.payment.mpesa.account', "M-Pesa Account",
        ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states={
            'required': Eval('process_method') == 'mpesa',
            'invisible': Eval('process_method') != 'mpesa',
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        method = ('mpesa', "M-Pesa")
        if method not in cls.process_method.selection:
            cls.process_method.selection.append(method)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if (mode == 'create' and values.get('process_method') == 'mpesa'
                and values.get('clearing_posting_delay') is None):
            # Post the clearing moves of M-Pesa payments at the next run of
            # the posting cron: M-Pesa results are final.
            values['clearing_posting_delay'] = dt.timedelta(0)
        return values

    @fields.depends('process_method', 'clearing_posting_delay')
    def on_change_process_method(self):
        try:
            super().on_change_process_method()
        except AttributeError:
            pass
        if (self.process_method == 'mpesa'
                and self.clearing_posting_delay is None):
            self.clearing_posting_delay = dt.timedelta(0)

    @classmethod
    def validate_fields(cls, journals, field_names):
        super().validate_fields(journals, field_names)
        if field_names & {'process_method', 'currency'}:
            for journal in journals:
                if (journal.process_method == 'mpesa'
                        and journal.currency.code != MPESA_CURRENCY):
                    raise MpesaPaymentError(gettext(
                            'account_mpesa.msg_journal_currency',
                            journal=journal.rec_name))


class Group(metaclass=PoolMeta):
    __name__ = 'account.payment.group'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons['succeed']['invisible'] |= (
            Eval('process_method') == 'mpesa')


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    mpesa_phone = fields.Char(
        "M-Pesa Phone",
        states={
            'invisible': Eval('process_method') != 'mpesa',
            'required': Eval('process_method') == 'mpesa',
            'readonly': Eval('state') != 'draft',
            },
        help="The customer's M-Pesa number, e.g. 0712 345 678.")
    mpesa_account_reference = fields.Char(
        "Account Reference", size=12,
        states={
            'invisible': Eval('process_method') != 'mpesa',
            'readonly': Eval('state') != 'draft',
            },
        help="Shown to the customer in the prompt (12 characters at most).")
    mpesa_description = fields.Char(
        "M-Pesa Description", size=13,
        states={
            'invisible': Eval('process_method') != 'mpesa',
            'readonly': Eval('state') != 'draft',
            })
    mpesa_state = fields.Selection(
        MPESA_STATES, "M-Pesa State", readonly=True,
        states=mpesa_only())
    mpesa_message = fields.Char(
        "M-Pesa Message", readonly=True,
        states=mpesa_only())
    mpesa_result_code = fields.Char(
        "M-Pesa Result Code", readonly=True, strip=False,
        states=mpesa_only())
    mpesa_result_desc = fields.Char(
        "M-Pesa Result Description", readonly=True, strip=False,
        states=mpesa_only())
    mpesa_merchant_request_id = fields.Char(
        "MerchantRequestID", readonly=True, strip=False,
        states=mpesa_only())
    mpesa_checkout_request_id = fields.Char(
        "CheckoutRequestID", readonly=True, strip=False,
        states=mpesa_only())
    mpesa_receipt = fields.Char(
        "M-Pesa Receipt", readonly=True, strip=False,
        states=mpesa_only())
    mpesa_requested_at = fields.DateTime(
        "M-Pesa Requested At", readonly=True,
        states=mpesa_only())
    mpesa_checked_at = fields.DateTime(
        "M-Pesa Last Checked", readonly=True,
        states=mpesa_only())
    mpesa_attempts = fields.Integer(
        "M-Pesa Attempts", readonly=True,
        states=mpesa_only())
    mpesa_transactions = fields.One2Many(
        'account.payment.mpesa.transaction', 'payment', "M-Pesa Receipts",
        readonly=True,
        states=mpesa_only())

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('mpesa_checkout_request_id_unique',
                Unique(t, t.mpesa_checkout_request_id),
                'account_mpesa.msg_payment_checkout_request_id_unique'),
            ('mpesa_receipt_unique', Unique(t, t.mpesa_receipt),
                'account_mpesa.msg_payment_receipt_unique'),
            ]
        # Only M-Pesa decides, unless it could not and a person reviews
        decided_by_mpesa = (
            (Eval('process_method') == 'mpesa')
            & (Eval('mpesa_state') != 'review'))
        for name in ['succeed', 'succeed_wizard', 'fail']:
            if name in cls._buttons:
                cls._buttons[name]['invisible'] |= decided_by_mpesa
                cls._buttons[name].setdefault('depends', []).extend(
                    ['process_method', 'mpesa_state'])

    @classmethod
    def default_mpesa_attempts(cls):
        return 0

    @classmethod
    def copy(cls, payments, default=None):
        default = default.copy() if default is not None else {}
        for name in [
                'mpesa_state', 'mpesa_message', 'mpesa_result_code',
                'mpesa_result_desc', 'mpesa_merchant_request_id',
                'mpesa_checkout_request_id', 'mpesa_receipt',
                'mpesa_requested_at', 'mpesa_checked_at',
                'mpesa_transactions']:
            default.setdefault(name, None)
        default.setdefault('mpesa_attempts', 0)
        return super().copy(payments, default=default)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if values.get('mpesa_phone'):
            try:
                values['mpesa_phone'] = daraja.normalize_msisdn(
                    values['mpesa_phone'])
            except daraja.InvalidPhoneNumber as exception:
                raise MpesaPaymentError(gettext(
                        'account_mpesa.msg_payment_phone_invalid',
                        phone=values['mpesa_phone'],
                        error=exception.message)) from exception
        return values

    @property
    def mpesa_account(self):
        if self.journal and self.journal.process_method == 'mpesa':
            return self.journal.mpesa_account

    @classmethod
    def validate_fields(cls, payments, field_names):
        super().validate_fields(payments, field_names)
        cls.check_mpesa(payments, field_names)

    @classmethod
    def check_mpesa(cls, payments, field_names=None):
        "Check the M-Pesa rules of the payments on M-Pesa journals"
        if field_names and not (field_names & {
                    'amount', 'journal', 'kind', 'mpesa_phone',
                    'mpesa_account_reference', 'mpesa_description'}):
            return
        for payment in payments:
            if payment.process_method != 'mpesa':
                continue
            account = payment.mpesa_account
            try:
                daraja.check_amount(payment.amount)
                if payment.mpesa_account_reference:
                    daraja.check_account_reference(
                        payment.mpesa_account_reference)
                if payment.mpesa_description:
                    daraja.check_description(payment.mpesa_description)
            except daraja.InvalidRequest as exception:
                raise MpesaPaymentError(gettext(
                        'account_mpesa.msg_payment_invalid',
                        payment=payment.rec_name,
                        error=exception.message)) from exception
            if payment.kind == 'receivable':
                minimum, maximum = account.stk_minimum, account.stk_maximum
            else:
                minimum, maximum = account.b2c_minimum, account.b2c_maximum
            if not (minimum <= payment.amount <= maximum):
                raise MpesaPaymentError(gettext(
                        'account_mpesa.msg_payment_amount_limits',
                        payment=payment.rec_name,
                        amount=payment.amount,
                        minimum=minimum, maximum=maximum))

    def process_mpesa(self):
        "Queue the STK Push of the payment"
        assert self.process_method == 'mpesa'
        self.mpesa_state = 'requested'
        # The review deadline runs from here, however many sends it takes
        self.mpesa_requested_at = utc_now()
        self.mpesa_message = gettext('account_mpesa.msg_mpesa_requested')
        self.save()
        self.__class__.__queue__.mpesa_send([self])

    @classmethod
    def mpesa_send(cls, payments=None):
        """Send the STK Push of each requested payment.

        A payment is first claimed: its M-Pesa state goes from 'requested'
        to 'sending' in a committed step that only one process can win, so
        a push is never sent twice and no lock is held while Daraja
        answers.  The answer is then recorded and committed, and the
        callbacks that arrived before that commit are processed.  A push
        whose answer never came is not failed: it goes to 'unknown' for the
        reconciliation to ask Daraja.  A payment that could not be sent for
        a passing reason goes back to 'requested' for the next run.

        Return the count of the payments sent by this call by what became
        of them: 'sent', 'not sent' (requested again), 'failed' or
        'unknown'.
        """
        pool = Pool()
        Event = pool.get('account.payment.mpesa.event')
        if payments is None:
            payments = cls.search([
                    ('state', '=', 'processing'),
                    ('journal.process_method', '=', 'mpesa'),
                    ('mpesa_state', '=', 'requested'),
                    *company_domain(),
                    ])
        counts = Counter()
        for payment in payments:
            if not run_in_transaction(cls._mpesa_claim, payment.id):
                continue
            with Transaction().new_transaction(readonly=True):
                answer = cls(payment.id)._mpesa_request()
            account_id, reference = run_in_transaction(
                cls._mpesa_record_request, payment.id, answer)
            if reference:
                # The callback may have come before the commit
                Event.process_waiting(account_id, reference)
            if isinstance(answer, daraja.OutcomeUnknown):
                counts['unknown'] += 1
            elif isinstance(answer, NOT_SENT):
                counts['not sent'] += 1
            elif isinstance(answer, daraja.DarajaError):
                counts['failed'] += 1
            else:
                counts['sent'] += 1
        return counts

    @classmethod
    def _mpesa_claim(cls, payment_id):
        """Move a requested payment to 'sending'; tell whether this
        transaction won it.  A payout gets its OriginatorConversationID
        here, before it is sent, so that it can be asked about whatever
        happens next.  The time of the request is kept when the payment is
        sent again: the review deadline does not move."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.mpesa_state, table.mpesa_requested_at],
                ['sending', Coalesce(table.mpesa_requested_at, utc_now())],
                where=(table.id == payment_id)
                & (table.state == 'processing')
                & (table.mpesa_state == 'requested')))
        if cursor.rowcount != 1:
            return False
        payment = cls(payment_id)
        if payment.mpesa_needs_conversation_id:
            payment.mpesa_originator_conversation_id = uuid.uuid4().hex
            payment.save()
        return True

    def _mpesa_request(self):
        "Send the request of the payment; return Daraja's answer or error"
        try:
            return self.mpesa_send_request()
        except daraja.DarajaError as exception:
            return exception

    @property
    def mpesa_needs_conversation_id(self):
        "Whether the request is identified by our OriginatorConversationID"
        return False

    def mpesa_send_request(self):
        "Send the STK Push of a receivable payment; return Daraja's answer"
        account = self.mpesa_account
        shortcode, passkey = account.stk_credentials
        return account.daraja_client().stk_push(
            business_shortcode=shortcode,
            passkey=passkey,
            amount=int(self.amount),
            phone=self.mpesa_phone,
            callback_url=account.callback_url('stk'),
            account_reference=self.mpesa_reference,
            description=self.mpesa_description or self.mpesa_reference,
            party_b=account.party_b,
            transaction_type=account.stk_transaction_type)

    @classmethod
    def _mpesa_record_request(cls, payment_id, answer):
        """Record Daraja's answer to the request of the payment; return the
        account id and the reference of the callback to wait for when
        Daraja accepted it"""
        payment = cls(payment_id)
        payment.mpesa_attempts = (payment.mpesa_attempts or 0) + 1
        reference = None
        if isinstance(answer, daraja.OutcomeUnknown):
            logger.warning(
                "M-Pesa request of payment %d has an unknown outcome: %s",
                payment.id, answer)
            payment.mpesa_state = 'unknown'
            payment.mpesa_message = gettext(
                'account_mpesa.msg_mpesa_unknown')
            payment.save()
        elif isinstance(answer, NOT_SENT):
            logger.warning(
                "M-Pesa request of payment %d not sent, will retry: %s",
                payment.id, answer)
            payment.mpesa_state = 'requested'
            payment.mpesa_message = gettext(
                'account_mpesa.msg_mpesa_not_sent', error=answer.message)
            payment.save()
        elif isinstance(answer, daraja.DarajaError):
            logger.info(
                "M-Pesa request of payment %d refused: %s", payment.id, answer)
            payment.mpesa_fail(answer.code, answer.message, answer.message)
        else:
            reference = payment.mpesa_accepted(answer)
        return payment.mpesa_account.id, reference

    def mpesa_accepted(self, answer):
        """Record that Daraja accepted the STK Push; return the reference of
        its callback"""
        masked = daraja.mask_msisdn(self.mpesa_phone)
        self.mpesa_merchant_request_id = answer.merchant_request_id
        self.mpesa_checkout_request_id = answer.checkout_request_id
        self.mpesa_state = 'pending'
        self.mpesa_message = gettext(
            'account_mpesa.msg_mpesa_prompt_sent', phone=masked)
        self.save()
        logger.info("STK Push of payment %d sent to %s", self.id, masked)
        return self.mpesa_checkout_request_id

    @property
    def mpesa_reference(self):
        "The AccountReference of the STK Push"
        if self.mpesa_account_reference:
            return self.mpesa_account_reference
        origin = getattr(self, 'origin', None)
        reference = getattr(origin, 'number', None) or self.number or ''
        return reference[:12]

    @classmethod
    def mpesa_went_to(cls, payments, before, state):
        """The M-Pesa payments, read again, that are in state and were not
        in it before (a mapping of id to state, taken before the call)"""
        return [p for p in cls.browse([p.id for p in payments])
            if p.process_method == 'mpesa' and p.state == state
            and before.get(p.id) != state]

    def mpesa_fail(self, code, description, message=None, api='stk'):
        """Fail the payment with Daraja's code and the message for it (ours
        for the code unless given).  The caller commits."""
        self.mpesa_mark_failed(code, description, message, api)
        self.__class__.mpesa_settle([], [self])

    def mpesa_mark_failed(self, code, description, message=None, api='stk'):
        """Set the M-Pesa fields of a payment that Daraja failed, for
        ``mpesa_settle``"""
        self.mpesa_checked_at = utc_now()
        self.mpesa_result_code = code
        self.mpesa_result_desc = description
        self.mpesa_message = message or daraja.result_message(code, api=api)
        self.mpesa_state = 'done'

    def mpesa_mark_succeeded(self, outcome):
        """Set the M-Pesa fields of a payment that the outcome succeeds,
        with its receipt, for ``mpesa_settle``"""
        self.mpesa_checked_at = utc_now()
        self.mpesa_result_code = outcome.result_code
        self.mpesa_result_desc = outcome.result_desc
        self.mpesa_receipt = outcome.receipt or None
        self.mpesa_state = 'done'
        self.mpesa_message = daraja.result_message(
            outcome.result_code, api=outcome.api)

    @classmethod
    def mpesa_settle(cls, succeeded, failed):
        """Save the M-Pesa fields of the payments, then succeed those of
        succeeded, pairs of a payment and the date of its clearing move,
        with one call per date, and fail the failed.  The caller
        commits."""
        cls.save(list(failed))
        by_date = defaultdict(list)
        for payment, date in succeeded:
            by_date[date].append(payment)
        with without_check_access():
            for date, payments in sorted(by_date.items()):
                with Transaction().set_context(clearing_date=date):
                    # Their M-Pesa fields are saved with their clearing
                    # move: one write of each payment less
                    cls.succeed(payments)
            if failed:
                cls.fail(list(failed))
        # What succeed did not save (a journal without clearing move)
        cls.save([p for p, _ in succeeded])

    def mpesa_agrees(self, outcome):
        """Whether the outcome repeats what settled the payment: the same
        success with its receipt and amount, or a failure of a failed one"""
        if self.state == 'succeeded':
            return (outcome.moved_money
                and outcome.receipt == self.mpesa_receipt
                and (outcome.amount is None
                    or Decimal(outcome.amount) == self.amount))
        return self.state == 'failed' and not outcome.succeeded

    def mpesa_add_receipt(self, receipt):
        "Give its receipt to a payment that a query's answer succeeded"
        if not self.mpesa_receipt:
            self.mpesa_receipt = receipt
            self.save()

    def mpesa_hold(self, reason):
        "Hold the payment for an accountant with the reason"
        self.mpesa_checked_at = utc_now()
        self.mpesa_state = 'review'
        self.mpesa_message = reason
        self.save()
        logger.warning("Payment %d held for review: %s", self.id, reason)

    @classmethod
    def mpesa_request_key(cls, outcome):
        """The field and value of the payment that made the outcome's
        request, or None"""
        if outcome.kind == 'stk' and outcome.checkout_request_id:
            return 'mpesa_checkout_request_id', outcome.checkout_request_id
        return None

    @classmethod
    def mpesa_lookup(cls, outcome, lock=True):
        """The payment of the outcome's account that made the request the
        outcome is about, locked and read after the lock so that concurrent
        deliveries see each other (unless lock is False); None when there
        is none (yet)"""
        return cls.mpesa_lookup_all([outcome], lock=lock)[0]

    @classmethod
    def mpesa_lookup_all(cls, outcomes, lock=True):
        """The payments of ``mpesa_lookup`` for each outcome, in one search
        and one lock (taken in the order of the ids)"""
        keys = [cls.mpesa_request_key(o) for o in outcomes]
        wanted = defaultdict(set)
        for key in filter(None, keys):
            wanted[key[0]].add(key[1])
        if not wanted:
            return [None] * len(keys)
        payments = cls.search(['OR'] + [
                (name, 'in', sorted(values))
                for name, values in sorted(wanted.items())])
        if lock:
            # Before anything of the payments is read (and cached)
            lock_rows(cls, payments)
        found = {}
        for payment in cls.browse(payments):
            for name in wanted:
                found[name, getattr(payment, name)] = payment
        result = []
        for outcome, key in zip(outcomes, keys):
            payment = found.get(key) if key else None
            if payment and payment.mpesa_account.id != outcome.account:
                payment = None
            result.append(payment)
        return result

    @classmethod
    def mpesa_adoptable(cls, outcome):
        """The payment of the account whose push got no answer that a
        successful STK outcome nobody claims fits: same phone and amount,
        within the review deadline, when there is exactly one; else None"""
        Account = Pool().get('account.payment.mpesa.account')
        if not (outcome.kind == 'stk' and outcome.succeeded
                and outcome.phone and outcome.amount):
            return None
        try:
            phone = daraja.normalize_msisdn(outcome.phone)
        except daraja.InvalidPhoneNumber:
            return None
        account = Account(outcome.account)
        candidates = cls.search([
                ('journal.mpesa_account', '=', account.id),
                ('state', '=', 'processing'),
                ('mpesa_state', '=', 'unknown'),
                ('mpesa_phone', '=', phone),
                ('amount', '=', Decimal(outcome.amount)),
                ('mpesa_requested_at', '>=',
                    utc_now() - account.review_deadline),
                ])
        if len(candidates) != 1:
            return None
        return candidates[0]

    def mpesa_adopt(self, outcome):
        """Give the outcome's request to the payment whose push got no
        answer; return it locked.  The caller commits."""
        lock_rows(self.__class__, [self])
        payment = self.__class__(self.id)
        payment.mpesa_checkout_request_id = outcome.checkout_request_id
        payment.mpesa_state = 'pending'
        payment.save()
        logger.info(
            "Payment %d adopts the callback of %s", payment.id,
            outcome.checkout_request_id)
        return payment
