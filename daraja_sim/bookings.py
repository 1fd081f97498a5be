# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Transactions booked straight into the ledger at times the caller
chooses, with no request and no callback: how a benchmark fills a busy
month of statement rows (``Simulator.book``, ``POST /__sim__/transactions``).

A booking is ``{"kind", "amount", "phone", "time"?, "initiated"?, …}``:
``stk`` and ``c2b`` also take ``account`` and ``transaction_type``
(``CustomerPayBillOnline``, the default, or ``CustomerBuyGoodsOnline`` to
the till); ``b2c`` takes ``command`` (default ``BusinessPayment``);
``reversal`` takes the ``original`` receipt instead of amount and phone.
Times are Nairobi's (see ``clock.parse_nairobi``), default now.  All the
bookings are checked before any is made: a batch is booked whole or not
at all.
"""
from . import clock, customers, validate
from .b2c import COMMANDS, MAX_AMOUNT as B2C_MAX, MIN_AMOUNT as B2C_MIN
from .c2b import MAX_AMOUNT as C2B_MAX
from .errors import DarajaError
from .ledger import PAID_IN
from .stk import BUY_GOODS, MAX_AMOUNT as STK_MAX, PAYBILL

KINDS = ('stk', 'c2b', 'b2c', 'reversal')
# AccountReference (STK) and BillRefNumber (C2B) lengths, reference §3, §9
ACCOUNT_LENGTHS = {'stk': 12, 'c2b': 20}


def _time(item, name, default):
    value = item.get(name)
    return default if value is None else clock.parse_nairobi(value)


def _read(simulator, item, now):
    """The arguments of ``Ledger.record`` for one booking, less the
    receipt; raise DarajaError or ValueError when it is not valid."""
    if not isinstance(item, dict):
        raise ValueError('a booking is an object')
    kind = validate.one_of(item, 'kind', KINDS)
    time = _time(item, 'time', now)
    record = {'kind': kind, 'completed': time,
        'initiated': _time(item, 'initiated', time)}
    if kind == 'reversal':
        record['original'] = validate.text(item, 'original', 10, 10)
        return record
    record['phone'] = validate.msisdn(
        dict(item, phone=customers.normalise(item.get('phone', ''))),
        'phone')
    if kind == 'b2c':
        record.update(shortcode=simulator.b2c_shortcode,
            amount=validate.whole_amount(item, 'amount', B2C_MIN, B2C_MAX),
            command=validate.one_of(
                {'command': 'BusinessPayment', **item}, 'command', COMMANDS))
        return record
    product = validate.one_of({'transaction_type': PAYBILL, **item},
        'transaction_type', (PAYBILL, BUY_GOODS))
    if product == BUY_GOODS and not simulator.till_number:
        raise ValueError('the simulator has no till number')
    record.update(shortcode=simulator.shortcode,
        amount=validate.whole_amount(item, 'amount', 1,
            STK_MAX if kind == 'stk' else C2B_MAX),
        account=validate.text(item, 'account', ACCOUNT_LENGTHS[kind],
            optional=True) or '',
        party=(simulator.till_number if product == BUY_GOODS
            else simulator.shortcode),
        **{'transaction_type' if kind == 'stk' else 'command': product})
    return record


def _originals(ledger, records):
    """Complete the reversals with what they reverse; raise ValueError for
    a receipt that is no payment received or is reversed twice."""
    reversed_here = set()
    for record in records:
        if record['kind'] != 'reversal':
            continue
        receipt = record['original']
        original = ledger.find(receipt=receipt)
        if (original is None or original['kind'] not in PAID_IN
                or original['reversed'] or receipt in reversed_here):
            raise ValueError(
                f'{receipt} is not a payment received that can be reversed')
        reversed_here.add(receipt)
        record.update(shortcode=original['shortcode'],
            amount=original['amount'], phone=original['phone'])


def book(simulator, items):
    """Book ``items`` and return their entries; raise ValueError, naming
    the booking, when one is not valid or the B2C float does not cover
    the payouts and their charges."""
    if not isinstance(items, list):
        raise ValueError('the bookings are a list')
    now = simulator.now()
    records = []
    for index, item in enumerate(items):
        try:
            records.append(_read(simulator, item, now))
        except (DarajaError, ValueError) as error:
            raise ValueError(f'booking {index}: '
                f'{getattr(error, "message", error)}') from None
    with simulator.lock:
        ledger = simulator.state.ledger
        _originals(ledger, records)
        payouts = [r['amount'] for r in records if r['kind'] == 'b2c']
        if not ledger.covers(simulator.b2c_shortcode, payouts):
            raise ValueError('the B2C float does not cover the payouts')
        entries = []
        for record in records:
            if record['kind'] == 'reversal':
                ledger.find(receipt=record['original'])['reversed'] = True
            entries.append(dict(ledger.record(
                        simulator.ids.receipt(record['completed']),
                        **record)))
    return entries
