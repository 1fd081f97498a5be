# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What the org-portal statement shows that the ledger lacks: each such row
becomes an outcome with source 'statement' (``outcome.from_statement``)
and goes the way of every outcome.  The statement is the last net under
lost callbacks."""
import datetime as dt
from collections import Counter, defaultdict
from dataclasses import replace

from trytond.i18n import gettext
from trytond.pool import Pool

from .common import lock_rows, select_in
from .matching import normalise
from .outcome import from_statement
from .portal_statement import phone_fits

# How long before M-Pesa completed a payment its push may have been sent
PUSH_WINDOW = dt.timedelta(days=1)
# How far M-Pesa's clock and ours may differ
CLOCK_SKEW = dt.timedelta(minutes=5)


def recover(account, rows):
    """Record in the ledger of the M-Pesa account the receipts of the
    statement's rows (``portal_statement.Row``) that it lacks, oldest
    first, and return the counts of what became of them.  Charges and
    sweeps are no receipts of the ledger.  The caller commits.

    Money paid in is first taken for the result of a push of ours whose
    callback was lost: the one push of the account still waiting for its
    result, or succeeded by a query that gave no receipt, of the same
    amount, account reference and number, sent in the day before; the
    receipt settles it.  Otherwise it is a customer payment (C2B), matched
    by the account's rules or left Unmatched.  Money paid out that nobody
    recorded is kept Not Settled with the reason, for an accountant."""
    pool = Pool()
    Ledger = pool.get('account.payment.mpesa.transaction')
    Payment = pool.get('account.payment')
    rows = {r.receipt: r for r in rows
        if r.kind not in {'charge', 'sweep'}}
    ledger = Ledger.__table__()
    for receipt, in select_in(lambda receipts: ledger.select(ledger.receipt,
                where=(ledger.account == account.id)
                & ledger.receipt.in_(receipts)), rows):
        del rows[receipt]
    outcomes = [from_statement(account.id, r)
        for r in sorted(rows.values(), key=lambda r: r.completed)]
    pushes = defaultdict(list)
    for push in pushes_awaiting_receipt(
            account, [o for o in outcomes if o.kind == 'c2b']):
        pushes[push.amount].append(push)
    counts = Counter()
    for outcome in outcomes:
        if outcome.kind != 'c2b':
            Ledger.record(
                outcome, None, state='unsettled', found=None,
                note=gettext(
                    'account_mpesa.msg_statement_payout_unrecorded',
                    receipt=outcome.receipt, amount=outcome.amount,
                    reason=outcome.result_desc))
            counts['payout to review'] += 1
            continue
        candidates = [p for p in pushes[outcome.amount]
            if push_fits(p, outcome)]
        if len(candidates) > 1:
            Ledger.record(
                outcome, None, state='unsettled', found=None,
                note=gettext(
                    'account_mpesa.msg_statement_several_pushes',
                    receipt=outcome.receipt,
                    payments=', '.join(p.rec_name for p in candidates)))
            counts['push to review'] += 1
        elif candidates:
            push, = candidates
            pushes[outcome.amount].remove(push)
            lock_rows(Payment, [push.id])
            result = Ledger.settle(
                replace(outcome, kind='stk'), Payment(push.id))
            counts['push ' + result] += 1
        else:
            record = Ledger.c2b_receive(outcome)
            counts['customer payment ' + record.state] += 1
    return counts


def pushes_awaiting_receipt(account, outcomes):
    """The pushes of the M-Pesa account that the customer payments of the
    outcomes may be the results of: waiting for their result, or
    succeeded with no receipt, of one of their amounts and sent in their
    window"""
    Payment = Pool().get('account.payment')
    if not outcomes:
        return []
    times = [o.time for o in outcomes]
    return Payment.search([
            ('journal.mpesa_account', '=', account.id),
            ('amount', 'in', list({o.amount for o in outcomes})),
            ('mpesa_requested_at', '>=', min(times) - PUSH_WINDOW),
            ('mpesa_requested_at', '<=', max(times) + CLOCK_SKEW),
            *Payment.mpesa_awaiting_receipt(),
            ], order=[('mpesa_requested_at', 'ASC'), ('id', 'ASC')])


def push_fits(payment, outcome):
    """Whether the customer payment of the outcome may be the result of the
    push: same amount and account reference, its number the one the
    statement shows (when it shows one), sent in its window"""
    requested = payment.mpesa_requested_at
    return (payment.amount == outcome.amount
        and requested is not None
        and outcome.time - PUSH_WINDOW <= requested
        <= outcome.time + CLOCK_SKEW
        and normalise(payment.mpesa_reference)
        == normalise(outcome.bill_reference)
        and (not outcome.phone
            or phone_fits(outcome.phone, payment.mpesa_phone)))
