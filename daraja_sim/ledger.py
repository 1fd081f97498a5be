# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The simulated M-Pesa books: the transactions the APIs completed, and the
lines they leave on each account of a shortcode, which the org-portal
statement lists (field notes §3, §6).

The accounts of a shortcode (reference §10.3) that move here: its
*Utility Account*, where customers' payments land, the charges and the
reversals are taken and, for the B2C shortcode, the payouts are paid from
(reference §7.1: B2C debits the Utility account); and its *Organization
Settlement Account*, which a sweep moves the Utility balance to.  The
Working, Float and Charges Paid accounts stay at zero.
"""
from decimal import Decimal

from . import clock, tariff

UTILITY = 'Utility Account'
SETTLEMENT = 'Organization Settlement Account'
ACCOUNTS = (UTILITY, SETTLEMENT)
PAID_IN = {'stk', 'c2b'}
BUY_GOODS = 'CustomerBuyGoodsOnline'
REASON_TYPES = {
    'stk': 'Pay Utility',
    'CustomerPayBillOnline': 'Pay Bill Online',
    'CustomerBuyGoodsOnline': 'Buy Goods Online',
    'BusinessPayment': 'Business Payment to Customer via API',
    'SalaryPayment': 'Salary Payment via API',
    'PromotionPayment': 'Promotion Payment via API',
    'reversal': 'Pay Utility Reversal',
    }
SWEEP = 'Utility Account to Organization Settlement Account'


def money(amount):
    "``1234`` as ``1234.00``."
    return f'{amount:.2f}'


def _second(when):
    """A time as M-Pesa writes it: Nairobi's, to the second (so that
    periods ending and starting on whole seconds share no line)."""
    return clock.nairobi(when).replace(microsecond=0)


def charge_name(entry):
    "The tariff charge a transaction bears, or None (reversals)."
    if entry['kind'] == 'b2c':
        return tariff.B2C_CHARGE
    if entry['kind'] in PAID_IN:
        product = entry.get('transaction_type') or entry.get('command')
        return (tariff.BUY_GOODS_CHARGE if product == BUY_GOODS
            else tariff.PAY_BILL_CHARGE)
    return None


class Statement:
    """The lines of one account over a period, oldest first, each with the
    balance after it: ``opening`` + the lines = ``closing``."""

    def __init__(self, opening, lines):
        self.opening = opening
        balance = opening
        self.lines = []
        for line in lines:
            balance += line['amount']
            self.lines.append(dict(line, balance=balance))
        self.closing = balance

    @property
    def paid_in(self):
        "The total of the lines that paid in."
        return sum(
            (l['amount'] for l in self.lines if l['amount'] > 0), Decimal(0))

    @property
    def withdrawn(self):
        "The total taken out, positive."
        return -sum(
            (l['amount'] for l in self.lines if l['amount'] < 0), Decimal(0))


class Ledger:
    """Completed transactions, in the order they were booked, and the
    account lines they left.

    An entry is a dict: ``receipt``, ``kind`` (stk, c2b, b2c, reversal),
    ``shortcode``, ``amount`` (whole shillings), ``paid_in``, ``phone``,
    ``initiated`` and ``time`` (Nairobi), ``balance`` (the Utility
    balance right after it, before its charge), ``charge`` and
    ``charge_receipt`` (the charge taken for it, 0 and None without),
    ``reversed``, and the details given by the API (``account``,
    ``command``, ``transaction_type``, ``checkout_request_id``,
    ``originator_conversation_id``, ``conversation_id``, ``original``).

    A line is a dict: ``receipt``, ``time``, ``initiated``, ``amount``
    (signed: paid in is positive), ``type`` (``transaction``, ``charge``
    or ``sweep``), ``reason`` (the charge's name for a charge) and
    ``entry`` (the transaction it is, or that a charge is taken for).
    ``receipt`` makes a charge's own receipt: Safaricom's tariff is taken
    as a transaction of its own (``charges`` off: none is taken).
    """

    def __init__(self, opening, receipt, charges=True):
        self.charges = charges
        self._receipt = receipt
        self._opening = {(code, UTILITY): Decimal(amount)
            for code, amount in opening.items()}
        self._balances = dict(self._opening)
        self._entries = []
        self._lines = {}

    def _add_line(self, shortcode, account, **line):
        key = (shortcode, account)
        self._balances[key] = self._balances.get(key, 0) + line['amount']
        self._lines.setdefault(key, []).append(line)
        return self._balances[key]

    def record(self, receipt, kind, shortcode, amount, phone, initiated,
            completed, **details):
        """Add a transaction completed at ``completed`` (Nairobi), with its
        charge when charges are on, and return its entry."""
        paid_in = kind in PAID_IN
        completed, initiated = _second(completed), _second(initiated)
        entry = dict(details, receipt=receipt, kind=kind,
            shortcode=shortcode, amount=amount, paid_in=paid_in, phone=phone,
            initiated=initiated, time=completed, reversed=False,
            charge=Decimal(0), charge_receipt=None)
        entry['balance'] = self._add_line(shortcode, UTILITY,
            receipt=receipt, time=completed, initiated=initiated,
            amount=Decimal(amount if paid_in else -amount),
            type='transaction', reason=None, entry=entry)
        name = charge_name(entry)
        cost = self.cost(name, amount)
        if cost:
            entry.update(charge=cost,
                charge_receipt=self._receipt(completed))
            self._add_line(shortcode, UTILITY,
                receipt=entry['charge_receipt'], time=completed,
                initiated=completed, amount=-cost, type='charge',
                reason=name, entry=entry)
        self._entries.append(entry)
        return entry

    def cost(self, name, amount):
        "The charge ``name`` on ``amount``, 0 when charges are off."
        if name is None or not self.charges:
            return Decimal(0)
        return tariff.charge(name, amount)

    def covers(self, shortcode, payouts):
        """Whether the Utility balance pays the ``payouts`` (amounts) and
        their charges."""
        return self.balance(shortcode) >= sum(
            amount + self.cost(tariff.B2C_CHARGE, amount)
            for amount in payouts)

    def sweep(self, shortcode, completed, amount=None):
        """Move ``amount`` (default: the Utility balance at ``completed``)
        from the Utility to the Organization Settlement Account; return the
        sweep (``receipt``, ``shortcode``, ``amount``, ``time``).  Raise
        ValueError when there is nothing to move or not that much."""
        completed = _second(completed)
        available = self.statement(shortcode, UTILITY, end=completed).closing
        amount = available if amount is None else Decimal(str(amount))
        if amount <= 0 or amount > available:
            raise ValueError(f'cannot sweep {money(amount)} from a Utility '
                f'balance of {money(available)}')
        receipt = self._receipt(completed)
        for account, sign in ((UTILITY, -1), (SETTLEMENT, 1)):
            self._add_line(shortcode, account, receipt=receipt,
                time=completed, initiated=completed, amount=sign * amount,
                type='sweep', reason=SWEEP, entry=None)
        return {'receipt': receipt, 'shortcode': shortcode, 'amount': amount,
            'time': completed}

    def balance(self, shortcode, account=UTILITY):
        "The current balance of one account of a shortcode."
        return self._balances.get((shortcode, account), Decimal(0))

    def shortcodes(self):
        "The shortcodes that have an account here."
        return {shortcode for shortcode, _ in self._balances}

    def find(self, **criteria):
        "The first entry whose fields equal ``criteria``, or None."
        for entry in self._entries:
            if all(entry.get(k) == v for k, v in criteria.items()):
                return entry
        return None

    def entries(self):
        "Copies of all entries, in the order they were booked."
        return [dict(e) for e in self._entries]

    def paid_in(self, shortcode, start, end):
        """Copies of the entries paid in to the shortcode from ``start`` to
        ``end`` (inclusive), in the order they were booked: a Pull's rows.
        Only those are copied: Pull asks for them page by page."""
        return [dict(e) for e in self._entries
            if e['kind'] in PAID_IN and e.get('party') == shortcode
            and start <= e['time'] <= end]

    def statement(self, shortcode, account=UTILITY, start=None, end=None):
        """The account's lines completed from ``start`` to ``end``
        (inclusive, None: unbounded), in the order of their completion
        time; a charge follows the transaction it is taken for."""
        lines = sorted(self._lines.get((shortcode, account), ()),
            key=lambda l: l['time'])
        before = [l for l in lines if start is not None and l['time'] < start]
        return Statement(
            self._opening.get((shortcode, account), Decimal(0))
            + sum((l['amount'] for l in before), Decimal(0)),
            [l for l in lines[len(before):]
                if end is None or l['time'] <= end])
