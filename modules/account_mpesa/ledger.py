# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The M-Pesa ledger: one record per receipt number per account, and the
one function that applies an outcome to the payment it is about."""
import logging
from decimal import Decimal

import trytond.config as config
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice

from .common import nairobi_date

logger = logging.getLogger(__name__)

# The most outcomes of an account applied together: callbacks on the task
# queue, answers of the reconciliation
SETTLE_BATCH = config.getint('account_mpesa', 'settle_batch', default=50)


class Ledger(ModelSQL, ModelView):
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
            ('status', "Transaction Status"),
            ('statement', "Statement"),
            ('manual', "Manual"),
            ('c2b', "C2B Confirmation"),
            ('pull', "Pull Transactions"),
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
            ('unsettled', "Not Settled"),
            ('duplicate', "Duplicate"),
            ('reversed', "Reversed"),
            ], "State", required=True, readonly=True, sort=False,
        help="Not Settled: M-Pesa moved the money but it settles no "
        "payment; the reason says why.")
    note = fields.Char(
        "Reason", readonly=True,
        states={
            'invisible': ~Eval('note'),
            })
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
                    where=t.state.in_(['received', 'unmatched', 'unsettled'])),
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
    def find(cls, outcome):
        "The ledger record of the outcome's receipt, or None"
        records = cls.search([
                ('account', '=', outcome.account),
                ('receipt', '=', outcome.receipt),
                ], limit=1)
        return records[0] if records else None

    @classmethod
    def find_all(cls, outcomes):
        """The ledger records of the outcomes' receipts, by account id and
        receipt; one search"""
        wanted = {(o.account, o.receipt) for o in outcomes if o.receipt}
        accounts = sorted({a for a, _ in wanted})
        found = {}
        for receipts in grouped_slice(
                sorted({r for _, r in wanted}), backend.MAX_QUERY_PARAMS):
            for record in cls.search([
                        ('account', 'in', accounts),
                        ('receipt', 'in', list(receipts)),
                        ]):
                found[record.account.id, record.receipt] = record
        return found

    @classmethod
    def record(cls, outcome, payment=None, event=None, state='received',
            note=None, found=False, batch=None):
        """The ledger record of the money the outcome says M-Pesa moved:
        found by its receipt (the caller may give what it found, None
        included) and given the payment, state and note unless they are
        the default ones, or created with them (saved with the batch when
        one is given).  A record that settles nothing is logged.  The
        caller commits."""
        record = cls.find(outcome) if found is False else found
        if record is not None:
            if state != 'received' and (record.state, record.payment,
                    record.note) != (state, payment, note):
                record.payment, record.state, record.note = (
                    payment, state, note)
                record.save()
                cls._log_unsettled(record)
            return record
        Account = Pool().get('account.payment.mpesa.account')
        account = Account(outcome.account)
        kind = outcome.kind
        if payment and payment.kind == 'payable':
            kind = ('reversal' if payment.mpesa_payout_method == 'reversal'
                else 'b2c')
        record = cls(
            account=account,
            company=payment.company if payment else account.company,
            kind=kind, source=outcome.source, receipt=outcome.receipt,
            amount=outcome.amount if outcome.amount is not None else (
                payment.amount if payment else Decimal(0)),
            transaction_time=outcome.time,
            phone=outcome.phone or (payment.mpesa_phone if payment else None),
            payer_name=outcome.name or None,
            account_number=outcome.bill_reference or None,
            payment=payment, state=state, note=note, event=event)
        if batch is not None:
            batch.records.append(record)
        else:
            record.save()
        cls._log_unsettled(record)
        return record

    @staticmethod
    def _log_unsettled(record):
        if record.state == 'unsettled':
            logger.warning(
                "M-Pesa receipt %s settles nothing: %s",
                record.receipt, record.note)

    @classmethod
    def settle(cls, outcome, payment, event=None, batch=None):
        """Apply a final outcome to the payment it is about: the payment is
        locked and read after the lock by the caller, or None when no
        payment of the outcome's account made the request.

        What moved money is recorded, once, with what it settles; then the
        payment succeeds on the Nairobi date, fails with the message of the
        code, or is held for review with the reason; a payment in review
        is settled by a final outcome like any other.  Returns what became
        of it: 'succeeded', 'failed', 'review', 'duplicate', 'unknown' or
        'waiting' (the outcome is not final).  With a Batch, the new
        records and the payments are written by its flush, else at once.
        The caller commits.
        """
        if batch is None:
            batch = Batch()
            result = cls.settle(outcome, payment, event, batch)
            batch.flush()
            return result
        if not outcome.final:
            return 'waiting'
        if payment and payment.mpesa_account.id != outcome.account:
            payment = None
        found = batch.find(outcome) if outcome.moved_money else None

        def keep(payment, state, note=None):
            "Record the money moved, if any, with what it settles"
            if outcome.moved_money:
                return cls.record(
                    outcome, payment, event, state, note, found=found,
                    batch=batch)

        if payment is None:
            if not (found and found.payment):
                keep(None, 'unsettled', gettext(
                        'account_mpesa.msg_ledger_unknown_request',
                        reference=outcome.reference))
            return 'unknown'
        if found and found.payment and found.payment != payment:
            payment.mpesa_hold(gettext(
                    'account_mpesa.msg_ledger_receipt_held',
                    receipt=found.receipt, payment=found.payment.rec_name))
            return 'review'
        if payment.state != 'processing':
            return cls._settled_already(outcome, payment, found, keep)
        if not outcome.succeeded:
            if payment.mpesa_transactions:
                # M-Pesa moved money for it: a failure cannot undo that
                return 'review'
            payment.mpesa_mark_failed(
                outcome.result_code, outcome.result_desc, api=outcome.api)
            batch.failed.append(payment)
            return 'failed'
        reason = cls._amount_problem(outcome, payment)
        if reason:
            keep(payment, 'unsettled', reason)
            payment.mpesa_hold(reason)
            return 'review'
        keep(payment, 'matched')
        payment.mpesa_mark_succeeded(outcome)
        batch.succeeded.append((payment, nairobi_date(outcome.time)))
        if payment.mpesa_payout_method == 'reversal':
            batch.reversed.append(payment.mpesa_refund_of)
        return 'succeeded'

    @classmethod
    def _settled_already(cls, outcome, payment, found, keep):
        """Apply an outcome to a payment that is no longer processing: a
        repeat changes nothing (nor undoes a reversal of its receipt), a
        receipt that a query's success lacked is added, other money that
        moved is kept beside the payment, which goes to review"""
        if not outcome.moved_money:
            return 'duplicate'
        if found and found.state == 'reversed':
            # M-Pesa reversed the receipt since: a repeat does not undo it
            return 'duplicate'
        if payment.state == 'succeeded' and (
                payment.mpesa_receipt in {None, '', outcome.receipt}):
            keep(payment, 'matched')
            payment.mpesa_add_receipt(outcome.receipt)
            return 'duplicate'
        if found and found.payment == payment and found.state == 'unsettled':
            return 'duplicate'
        if payment.state == 'failed':
            reason = gettext(
                'account_mpesa.msg_ledger_paid_after_failure',
                receipt=outcome.receipt, amount=outcome.amount)
        else:
            reason = gettext(
                'account_mpesa.msg_ledger_second_receipt',
                receipt=outcome.receipt, held=payment.mpesa_receipt or '')
        keep(payment, 'unsettled', reason)
        payment.mpesa_hold(reason)
        return 'review'

    @staticmethod
    def _amount_problem(outcome, payment):
        "The reason a success cannot settle the payment, or None"
        if not outcome.tells_amount:
            return None
        if outcome.amount is None:
            return gettext(
                'account_mpesa.msg_mpesa_amount_missing',
                expected=payment.amount)
        if Decimal(outcome.amount) != payment.amount:
            return gettext(
                'account_mpesa.msg_mpesa_amount_mismatch',
                received=outcome.amount, expected=payment.amount)
        return None

    @classmethod
    def mark_reversed(cls, payment):
        "Record that M-Pesa reversed the receipts of the payment"
        cls.write(list(payment.mpesa_transactions), {'state': 'reversed'})


class Batch:
    """Outcomes applied together, in the caller's transaction, by
    ``Ledger.settle``: what the rules look up is read once for all of them
    (``prefetch``: their payments, locked, and the ledger records of their
    receipts) and what they change is written once for all of them
    (``flush``): the new ledger records in one INSERT, the payments'
    M-Pesa fields, ``succeed`` once per clearing date, ``fail`` once.

    One outcome applied alone is a batch of one.  The outcomes of one
    flush concern distinct payments and receipts (``rounds``)."""

    def __init__(self):
        self.payments = {}
        self.found = {}
        self.records = []
        self.succeeded = []
        self.failed = []
        self.reversed = []

    @staticmethod
    def rounds(items, outcome=lambda item: item):
        """The items split in rounds, lists of items whose outcomes concern
        distinct payments and receipts, to be applied and flushed one
        after the other: an item goes to the first round that has none of
        its payment and receipt (a repeated delivery goes to the next)"""
        rounds = []
        for item in items:
            value = outcome(item)
            keys = {('request', value.account, value.reference)}
            if value.receipt:
                keys.add(('receipt', value.account, value.receipt))
            for round_, used in rounds:
                if not (keys & used):
                    break
            else:
                round_, used = [], set()
                rounds.append((round_, used))
            round_.append(item)
            used |= keys
        return [r for r, _ in rounds]

    def prefetch(self, outcomes):
        """Look up at once the payments of the outcomes (locked, read
        after the lock) and the ledger records of their receipts"""
        pool = Pool()
        Payment = pool.get('account.payment')
        Ledger = pool.get('account.payment.mpesa.transaction')
        outcomes = list(outcomes)
        for outcome, payment in zip(
                outcomes, Payment.mpesa_lookup_all(outcomes)):
            self.payments[outcome] = payment
        found = Ledger.find_all(outcomes)
        for outcome in outcomes:
            if outcome.receipt:
                key = (outcome.account, outcome.receipt)
                self.found[key] = found.get(key)

    def payment(self, outcome):
        """The payment that made the outcome's request, locked: as
        prefetched, else looked up"""
        if outcome in self.payments:
            return self.payments[outcome]
        return Pool().get('account.payment').mpesa_lookup(outcome)

    def find(self, outcome):
        "The ledger record of the outcome's receipt: as prefetched or found"
        key = (outcome.account, outcome.receipt)
        if key in self.found:
            return self.found[key]
        return Pool().get('account.payment.mpesa.transaction').find(outcome)

    def flush(self):
        """Write what the outcomes applied so far changed; the lookups are
        forgotten (they are stale now).  The caller commits."""
        pool = Pool()
        Payment = pool.get('account.payment')
        Ledger = pool.get('account.payment.mpesa.transaction')
        records, succeeded, failed, reversed_ = (
            self.records, self.succeeded, self.failed, self.reversed)
        self.__init__()
        if records:
            Ledger.save(records)
        Payment.mpesa_settle(succeeded, failed)
        for payment in reversed_:
            Ledger.mark_reversed(payment)
