# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The simulated M-Pesa books: completed transactions per shortcode, with
running balances, and the org-portal statement export (field notes §3)."""
import csv
import io

from . import clock, customers

STATEMENT_COLUMNS = (
    'Receipt No.', 'Completion Time', 'Initiation Time', 'Details',
    'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
    'Balance Confirmed', 'Reason Type', 'Other Party Info',
    'Linked Transaction ID', 'A/C No.')
PAID_IN = {'stk', 'c2b'}
REASON_TYPES = {
    'stk': 'Pay Utility',
    'CustomerPayBillOnline': 'Pay Bill Online',
    'CustomerBuyGoodsOnline': 'Buy Goods Online',
    'BusinessPayment': 'Business Payment to Customer via API',
    'SalaryPayment': 'Salary Payment via API',
    'PromotionPayment': 'Promotion Payment via API',
    'reversal': 'Reversal',
    }


def money(amount):
    "``1234`` as ``1234.00``."
    return f'{amount:.2f}'


class Ledger:
    """Completed transactions, oldest first.

    An entry is a dict: ``receipt``, ``kind`` (stk, c2b, b2c, reversal),
    ``shortcode``, ``amount`` (whole shillings), ``paid_in``, ``phone``,
    ``initiated`` and ``time`` (Nairobi), ``balance`` (the shortcode's
    balance after it), ``reversed``, and the details given by the API
    (``account``, ``command``, ``checkout_request_id``,
    ``originator_conversation_id``, ``conversation_id``, ``original``).
    """

    def __init__(self, opening):
        self._balances = dict(opening)
        self._entries = []

    def record(self, receipt, kind, shortcode, amount, phone, initiated,
            completed=None, **details):
        """Add a transaction completed at ``completed`` (default: now) and
        return its entry."""
        paid_in = kind in PAID_IN
        self._balances[shortcode] = (self._balances.get(shortcode, 0)
            + (amount if paid_in else -amount))
        entry = dict(details, receipt=receipt, kind=kind, shortcode=shortcode,
            amount=amount, paid_in=paid_in, phone=phone, initiated=initiated,
            time=completed or clock.now(), balance=self._balances[shortcode],
            reversed=False)
        self._entries.append(entry)
        return entry

    def balance(self, shortcode):
        "The current balance of a shortcode's account."
        return self._balances.get(shortcode, 0)

    def find(self, **criteria):
        "The first entry whose fields equal ``criteria``, or None."
        for entry in self._entries:
            if all(entry.get(k) == v for k, v in criteria.items()):
                return entry
        return None

    def entries(self):
        "Copies of all entries, oldest first."
        return [dict(e) for e in self._entries]

    def statement_csv(self, shortcode):
        "The shortcode's statement as CSV, newest first, 13 columns."
        output = io.StringIO()
        writer = csv.writer(output)
        writer.writerow(STATEMENT_COLUMNS)
        for entry in reversed(self._entries):
            if entry['shortcode'] == shortcode:
                writer.writerow(statement_row(entry))
        return output.getvalue()


def statement_row(entry):
    "One statement line for a ledger entry."
    phone = entry['phone']
    other = f"{customers.masked(phone)} - {' '.join(customers.names(phone))}"
    kind = entry['kind']
    reason = REASON_TYPES[entry.get('command') or kind]
    if kind == 'b2c':
        details = f'{reason} to {other}'
    elif kind == 'reversal':
        details = f"Reversal of {entry['original']} to {other}"
    else:
        verb = ('Merchant Payment' if entry.get('command')
            == 'CustomerBuyGoodsOnline' else 'Pay Bill')
        details = f"{verb} from {other} Acc. {entry.get('account') or ''}"
    amount = f"{entry['amount']:,.2f}"
    return (
        entry['receipt'], clock.dashed(entry['time']),
        clock.dashed(entry['initiated']), details, 'Completed',
        amount if entry['paid_in'] else '',
        '' if entry['paid_in'] else '-' + amount,
        f"{entry['balance']:,.2f}", 'true', reason, other,
        entry.get('original') or '', entry.get('account') or '')
