# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Pull Transactions, hourly: every row Daraja lists that the ledger lacks
becomes an outcome (source 'pull') and goes the way of a confirmation.
This is how missed confirmations are recovered."""
import datetime as dt
import logging
from collections import Counter

from trytond import backend
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from . import daraja
from .c2b import pull_answer_kind
from .common import company_domain, run_in_transaction, summary, utc_now
from .outcome import from_pull

logger = logging.getLogger(__name__)

# The window asked overlaps the previous one by this much
OVERLAP = dt.timedelta(hours=1)
# The window asked the first time
FIRST_WINDOW = dt.timedelta(hours=24)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('account.payment.mpesa.account|pull_transactions',
                "Pull M-Pesa Transactions"))


class Account(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.account'

    @classmethod
    def pull_transactions(cls, accounts=None):
        """Ask Pull Transactions of each account registered for it over a
        window overlapping the previous one, and record every row not in
        the ledger, each in a transaction of its own; a row whose
        transaction keeps conflicting is left for the next run, which asks
        from the same start.  Logs one summary line; Daraja's 'no
        records' and 'not registered' are said once, when they change."""
        if accounts is None:
            accounts = cls.search([
                    ('pull_registered', '=', True),
                    *company_domain(),
                    ])
        counts = Counter()
        for account in accounts:
            counts.update(account._pull_once())
        logger.info("M-Pesa Pull Transactions: %s", summary(counts))
        return counts

    def _pull_once(self):
        counts = Counter()
        end = utc_now()
        start = (self.pull_until - OVERLAP) if self.pull_until else (
            end - FIRST_WINDOW)
        with Transaction().new_transaction(readonly=True):
            try:
                result, rows = self.__class__(self.id).c2b_pull(start, end)
            except daraja.DarajaError as exception:
                logger.warning(
                    "Pull Transactions of account %d failed: %s",
                    self.id, exception)
                counts['failed'] += 1
                return counts
        kind = pull_answer_kind(result) if not rows else 'rows'
        if kind != 'rows' and kind != self.pull_answer:
            logger.warning(
                "Pull Transactions of account %d: %s (%s)", self.id,
                {'empty': "no records", 'unregistered':
                    "the shortcode is not registered for Pull"}[kind],
                result.response_message)
        outcomes = []
        for row in rows:
            outcome = from_pull(self.id, row)
            if not outcome.receipt or outcome.amount is None:
                counts['invalid'] += 1
            else:
                outcomes.append(outcome)
        # Most rows are in the ledger already: looked up together
        Ledger = Pool().get('account.payment.mpesa.transaction')
        with Transaction().new_transaction(readonly=True):
            known = Ledger.find_all(outcomes)
        for outcome in outcomes:
            if (outcome.account, outcome.receipt) in known:
                counts['known'] += 1
                continue
            try:
                counts[run_in_transaction(self._pull_row, outcome)] += 1
            except backend.DatabaseOperationalError:
                # Concurrent customer payments of the account outlasted the
                # retries: the other rows are recorded all the same
                logger.warning(
                    "Pull Transactions of account %d: receipt %s busy, "
                    "asked again next run", self.id, outcome.receipt,
                    exc_info=True)
                counts['busy'] += 1

        def done():
            account = self.__class__(self.id)
            if not counts['busy']:
                # Else the next run asks again from where this one did
                account.pull_until = end
            account.pull_answer = kind
            account.save()
        run_in_transaction(done)
        return counts

    @staticmethod
    def _pull_row(outcome):
        Ledger = Pool().get('account.payment.mpesa.transaction')
        if Ledger.find(outcome):
            return 'known'
        record = Ledger.c2b_receive(outcome)
        return 'recovered ' + record.state
