# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Chasing the M-Pesa payments whose answer did not come: the cron and
the Check M-Pesa Status button ask Daraja, and the ledger applies what it
answers."""
import functools
import logging
import time
from collections import Counter

import trytond.config as config
from trytond.i18n import gettext
from trytond.model import ModelView
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

from . import daraja
from .account import reusing_daraja_clients
from .common import (
    company_domain, lock_rows, run_in_transaction, summary, utc_now)
from .ledger import SETTLE_BATCH, Batch
from .outcome import from_stk_query

logger = logging.getLogger(__name__)

BATCH = config.getint('account_mpesa', 'reconcile_batch', default=500)
OPEN_STATES = ['requested', 'sending', 'pending', 'unknown']
# Questions to an account stop for the run after so many network failures
UNREACHABLE_AFTER = 3


class Run:
    """The state of one reconciliation run: its time, the spacing of the
    questions per account, the accounts whose questions stopped for the run
    and those whose waiting callbacks were processed"""

    def __init__(self):
        self.now = utc_now()
        self.stopped = {}
        self.swept = set()
        # The STK Query answers not applied yet: (payment id, answer)
        self.answers = []
        self._next = {}
        self._unreachable = Counter()

    def ask(self, payment, question):
        """Ask Daraja question() about the payment in its account's turn;
        return the answer and None, or None and why there is none.

        The account's questions stop for the run when Daraja throttles
        ('throttled') or after UNREACHABLE_AFTER answers in a row could not
        be had ('unreachable'): the next run asks again."""
        account = payment.mpesa_account
        if account.id in self.stopped:
            return None, self.stopped[account.id]
        now = time.monotonic()
        next_ = self._next.get(account.id, now)
        if next_ > now:
            time.sleep(next_ - now)
        self._next[account.id] = max(now, next_) + 1 / account.query_rate
        try:
            answer = question()
        except daraja.Throttled as exception:
            logger.warning(
                "Daraja throttles account %d, stopping its queries: %s",
                account.id, exception)
            self.stopped[account.id] = 'throttled'
            return None, 'throttled'
        except daraja.DarajaError as exception:
            logger.warning(
                "Payment %d could not be checked: %s", payment.id, exception)
            if isinstance(exception, daraja.Unavailable):
                self._unreachable[account.id] += 1
                if self._unreachable[account.id] >= UNREACHABLE_AFTER:
                    logger.warning(
                        "Daraja could not be reached %d times in a row for "
                        "account %d, stopping its queries for this run",
                        UNREACHABLE_AFTER, account.id)
                    self.stopped[account.id] = 'unreachable'
            return None, 'error'
        self._unreachable[account.id] = 0
        return answer, None


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'mpesa_check_status': {
                    'invisible': (
                        (Eval('process_method') != 'mpesa')
                        | (Eval('state') != 'processing')
                        | ~Eval('mpesa_checkout_request_id')),
                    'icon': 'tryton-refresh',
                    'depends': [
                        'process_method', 'state',
                        'mpesa_checkout_request_id'],
                    },
                })

    @classmethod
    @ModelView.button
    def mpesa_check_status(cls, payments):
        """Ask Daraja about the STK Push of each payment now, apply each
        answer in a transaction of its own and tell the user what was
        learned, or why nothing was"""
        for payment in payments:
            try:
                answer = payment.mpesa_query()
            except daraja.DarajaError as exception:
                learned = gettext(
                    'account_mpesa.msg_mpesa_check_failed',
                    payment=payment.rec_name,
                    error=exception.message or exception)
                run_in_transaction(
                    cls.mpesa_record_checked, payment.id, learned)
            else:
                run_in_transaction(cls.mpesa_apply_query, payment.id, answer)
                learned = gettext(
                    'account_mpesa.msg_mpesa_checked',
                    payment=payment.rec_name,
                    message=cls(payment.id).mpesa_message or '')
            payment.notify_user('tryton-info', learned)

    def mpesa_query(self):
        """Ask Daraja about the STK Push; None while the customer has not
        answered.  Writes nothing."""
        return self.mpesa_account.stk_query(self.mpesa_checkout_request_id)

    @classmethod
    def mpesa_apply_query(cls, payment_id, answer):
        """Apply Daraja's answer to an STK Query about the payment (None:
        still pending) through the ledger; return what became of it.  The
        caller commits."""
        return cls.mpesa_apply_queries([(payment_id, answer)])[0]

    @classmethod
    def mpesa_apply_queries(cls, answers):
        """Apply Daraja's answers to STK Queries, pairs of a payment id and
        the answer, through one batch of the ledger: the payments locked
        together, what they change written together.  Return what became
        of each.  An answer about another request changes nothing but the
        message.  The caller commits."""
        lock_rows(cls, [i for i, _ in answers])
        batch = Batch()
        results = [cls(i)._mpesa_apply_query(answer, batch)
            for i, answer in answers]
        batch.flush()
        return results

    def _mpesa_apply_query(self, answer, batch):
        Ledger = Pool().get('account.payment.mpesa.transaction')
        cls = self.__class__
        if self.state != 'processing':
            return 'duplicate'
        outcome = from_stk_query(self.mpesa_account.id, answer)
        if outcome is None:
            cls.mpesa_record_checked(self.id, gettext(
                    'account_mpesa.msg_mpesa_still_pending'))
            return 'pending'
        if outcome.checkout_request_id != self.mpesa_checkout_request_id:
            logger.warning(
                "STK Query about payment %d answered about %s",
                self.id, outcome.checkout_request_id)
            cls.mpesa_record_checked(self.id, gettext(
                    'account_mpesa.msg_mpesa_unexpected_answer',
                    reference=outcome.checkout_request_id))
            return 'unexpected'
        return Ledger.settle(outcome, self, batch=batch)

    @classmethod
    def mpesa_record_checked(cls, payment_id, message=None):
        "Record that the payment was checked, with what was learned"
        payment = cls(payment_id)
        payment.mpesa_checked_at = utc_now()
        if message:
            payment.mpesa_message = message
        payment.save()

    @classmethod
    def mpesa_reconcile(cls, payments=None):
        """Chase the M-Pesa payments still processing (a cron).

        Requested payments are sent; a payment that waited past its
        account's query delay is asked about (STK Query, Transaction
        Status) and the answer applied through the ledger, each payment in
        transactions of its own; one past the review deadline goes to
        review.  A payment whose handling fails or whose answer is about
        another request is marked checked with the reason and the run goes
        on; the oldest-checked come first.  Logs one summary line.
        """
        if payments is None:
            payments = cls.search([
                    ('state', '=', 'processing'),
                    ('journal.process_method', '=', 'mpesa'),
                    ('mpesa_state', 'in', OPEN_STATES),
                    *company_domain(),
                    ],
                order=[('mpesa_checked_at', 'ASC NULLS FIRST'), ('id', 'ASC')],
                limit=BATCH)
        counts = Counter()
        run = Run()
        requested = []
        for payment in payments:
            if payment.mpesa_state != 'requested':
                continue
            requested_at = payment.mpesa_requested_at or payment.create_date
            if (run.now - requested_at
                    >= payment.mpesa_account.review_deadline):
                # Too late now to prompt the customer or pay out
                run_in_transaction(cls._mpesa_hold_late, payment.id)
                counts['review'] += 1
            else:
                requested.append(payment)
        if requested:
            counts.update(cls.mpesa_send(requested))
        with reusing_daraja_clients():
            for payment in payments:
                if payment.mpesa_state != 'requested':
                    result = cls._mpesa_chase_safely(payment, run)
                    if result:
                        counts[result] += 1
                if len(run.answers) >= SETTLE_BATCH:
                    counts.update(cls._mpesa_apply_answers(run))
        counts.update(cls._mpesa_apply_answers(run))
        logger.info("M-Pesa reconciliation: %s", summary(counts))
        return counts

    @classmethod
    def _mpesa_chase_safely(cls, payment, run, chase=None):
        """Chase the payment (or chase() it): return what became of it, or
        None when its answer waits for the run's batch.  An exception in its handling
        marks it checked with the reason, so that the run goes on and the
        next runs take the others first"""
        try:
            return chase() if chase else payment._mpesa_chase(run)
        except Exception as exception:
            logger.warning(
                "Payment %d could not be reconciled", payment.id,
                exc_info=True)
            run_in_transaction(cls.mpesa_record_checked, payment.id, gettext(
                    'account_mpesa.msg_mpesa_reconcile_failed',
                    error=exception))
            return 'error'

    @classmethod
    def _mpesa_apply_answers(cls, run):
        """Apply the STK Query answers the run collected, together in a
        transaction; when that fails, each alone.  Return the counts of
        what became of the payments."""
        answers, run.answers = run.answers, []
        if not answers:
            return Counter()
        try:
            return Counter(run_in_transaction(
                    cls.mpesa_apply_queries, answers, retries=0))
        except Exception:
            if len(answers) > 1:
                logger.warning(
                    "M-Pesa batch of %d answers failed, applying them one "
                    "by one", len(answers), exc_info=True)
        return Counter(
            cls._mpesa_chase_safely(cls(i), run, functools.partial(
                    run_in_transaction, cls.mpesa_apply_query, i, answer))
            for i, answer in answers)

    def _mpesa_chase(self, run):
        """Chase the payment; return what became of it, or None when the
        answer to its STK Query waits in the run's batch"""
        pool = Pool()
        Event = pool.get('account.payment.mpesa.event')
        cls = self.__class__
        account = self.mpesa_account
        requested_at = self.mpesa_requested_at or self.create_date
        if run.now - requested_at >= account.review_deadline:
            run_in_transaction(cls._mpesa_hold_late, self.id)
            return 'review'
        if run.now - requested_at < account.query_delay:
            return 'waiting'
        if self.mpesa_state == 'sending':
            # The process that claimed it stopped before recording the answer
            run_in_transaction(cls._mpesa_mark_unknown, self.id)
            return 'unknown'
        if self.kind == 'payable':
            return self._mpesa_chase_payout(run)
        if self.mpesa_state == 'unknown':
            # Only a callback can tell: it may be waiting for a payment
            if account.id not in run.swept:
                run.swept.add(account.id)
                Event.process(Event.search([
                            ('account', '=', account.id),
                            ('kind', '=', 'stk'),
                            ('state', '=', 'pending'),
                            ]))
            run_in_transaction(cls.mpesa_record_checked, self.id)
            return 'unknown'
        if (self.mpesa_checked_at
                and run.now - self.mpesa_checked_at < account.query_delay):
            return 'waiting'
        answer, failure = run.ask(self, self.mpesa_query)
        if failure:
            run_in_transaction(cls.mpesa_record_checked, self.id)
            return failure
        # Applied with the run's next batch of answers, which counts it
        run.answers.append((self.id, answer))
        return None

    def _mpesa_chase_payout(self, run):
        """Ask Transaction Status about a payout whose result did not come
        or that timed out in M-Pesa's queue; the answer comes by callback"""
        account = self.mpesa_account
        if (self.mpesa_checked_at
                and run.now - self.mpesa_checked_at < account.query_delay):
            return 'waiting'
        request_id, failure = run.ask(self, self.mpesa_ask_status)
        if failure:
            run_in_transaction(self.__class__.mpesa_record_checked, self.id)
            return failure
        run_in_transaction(
            self.__class__.mpesa_record_status_request, self.id, request_id)
        # Its result may have come before the question's id was committed
        Pool().get('account.payment.mpesa.event').process_waiting(
            account.id, request_id)
        return 'asked'

    @classmethod
    def _mpesa_mark_unknown(cls, payment_id):
        payment = cls(payment_id)
        if payment.mpesa_state == 'sending':
            payment.mpesa_state = 'unknown'
            payment.mpesa_message = gettext(
                'account_mpesa.msg_mpesa_unknown')
            payment.save()

    @classmethod
    def _mpesa_hold_late(cls, payment_id):
        "Hold for review a payment that got no final answer in time"
        payment = cls(payment_id)
        if payment.state != 'processing' or payment.mpesa_state == 'review':
            return
        if payment.mpesa_state == 'pending':
            key = 'account_mpesa.msg_mpesa_late_pending'
        elif payment.mpesa_state == 'requested':
            key = 'account_mpesa.msg_mpesa_late_requested'
        else:
            key = 'account_mpesa.msg_mpesa_late_unknown'
        payment.mpesa_hold(gettext(
                key, deadline=payment.mpesa_account.review_deadline,
                amount=payment.amount,
                phone=daraja.mask_msisdn(payment.mpesa_phone)))
