# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What M-Pesa says happened, whatever told it.

Every callback body and every answer Daraja gives to our questions becomes
one `Outcome`; the ledger applies outcomes and nothing else.  The registry
of the callback kinds the routes accept is here too: each kind parses its
body into an outcome."""
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, NamedTuple

from . import daraja, portal_statement

# Daraja's answers to a Transaction Status about a request it never carried
NOT_FOUND_CODES = {'2032'}
# Far above any M-Pesa limit, and within the ledger's Numeric column
MAXIMUM_AMOUNT = Decimal(10) ** 12


def naive_utc(moment):
    "An aware datetime (or None) as the naive UTC of a DateTime field"
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Outcome:
    """What happened to one request, or to money M-Pesa moved.

    ``source`` says who told it: a 'callback' is a claim anyone could have
    sent; 'query' and 'status' are Daraja's answers to our own questions.
    ``final`` is False while Daraja has no result yet (a queue time-out, a
    status still pending); ``tells_amount`` is False for an STK Query
    answer, which never carries the amount.  ``time`` is naive UTC.
    ``balances`` are the accounts of an Account Balance result (kind
    'balance', which moves no money)."""
    kind: str
    source: str
    account: int
    checkout_request_id: str = ''
    originator_conversation_id: str = ''
    conversation_id: str = ''
    status_request_id: str = ''
    receipt: str = ''
    result_code: str = ''
    result_desc: str = ''
    amount: Decimal | None = None
    time: dt.datetime | None = None
    phone: str = ''
    bill_reference: str = ''
    name: str = ''
    final: bool = True
    tells_amount: bool = True
    balances: tuple = ()

    @property
    def succeeded(self):
        return daraja.is_success_code(self.result_code)

    @property
    def moved_money(self):
        "Whether M-Pesa says money moved: a success with its receipt"
        return self.succeeded and bool(self.receipt)

    @property
    def is_claim(self):
        "Whether anyone who knows the URL could have sent it"
        return self.source == 'callback'

    @property
    def api(self):
        "The API whose result messages explain the code"
        return 'status' if self.source == 'status' else self.kind

    @property
    def reference(self):
        """The id of our request that the outcome is about; for a customer
        payment (C2B), its receipt"""
        if self.kind == 'c2b':
            return self.receipt
        if self.status_request_id:
            return self.status_request_id
        return self.checkout_request_id or self.originator_conversation_id


def from_stk_callback(account, data):
    "The outcome a body POSTed to the STK CallBackURL claims"
    callback = daraja.parse_stk_callback(data)
    return Outcome(
        kind='stk', source='callback', account=account,
        checkout_request_id=callback.checkout_request_id,
        receipt=callback.receipt if callback.succeeded else '',
        result_code=callback.result_code, result_desc=callback.result_desc,
        amount=callback.amount,
        time=naive_utc(callback.transaction_time),
        phone=callback.phone or '')


def from_stk_query(account, answer):
    """The outcome Daraja's answer to an STK Query tells; None while the
    customer has not answered"""
    if answer is None or answer.pending:
        return None
    return Outcome(
        kind='stk', source='query', account=account,
        checkout_request_id=answer.checkout_request_id,
        result_code=answer.result_code, result_desc=answer.result_desc,
        tells_amount=False)


def _payout_fields(result):
    return dict(
        originator_conversation_id=result.originator_conversation_id,
        conversation_id=result.conversation_id,
        receipt=result.receipt if result.succeeded else '',
        result_code=result.result_code, result_desc=result.result_desc,
        amount=result.amount, time=naive_utc(result.completed_at),
        name=result.recipient_name)


def from_result(kind, account, data):
    "The outcome a B2C or Reversal result callback claims"
    result = daraja.parse_result(data)
    return Outcome(
        kind=kind, source='callback', account=account,
        **_payout_fields(result))


def from_timeout(kind, account, data):
    "A queue time-out: the request waits in M-Pesa's queue, no result yet"
    result = daraja.parse_result(data)
    reference = {'status_request_id': result.originator_conversation_id} \
        if kind == 'status' else {
            'originator_conversation_id': result.originator_conversation_id}
    return Outcome(
        kind=kind, source='callback', account=account, final=False,
        result_code=result.result_code, result_desc=result.result_desc,
        **reference)


def from_status(account, data):
    """The outcome a Transaction Status result tells about the payout it was
    asked about: final when M-Pesa completed it, or never carried it"""
    result = daraja.parse_result(data)
    fields = _payout_fields(result)
    fields['originator_conversation_id'] = str(result.parameter(
            'OriginatorConversationID') or '')
    completed = result.succeeded and result.transaction_status == 'Completed'
    return Outcome(
        kind='b2c', source='status', account=account,
        status_request_id=result.originator_conversation_id,
        final=completed or result.result_code in NOT_FOUND_CODES,
        **fields)


def from_balance(final, account, data):
    """The balances an Account Balance result claims, or (final False) its
    queue time-out: a claim about our request, which moves no money"""
    result = daraja.parse_result(data)
    return Outcome(
        kind='balance', source='callback', account=account, final=final,
        originator_conversation_id=result.originator_conversation_id,
        conversation_id=result.conversation_id,
        result_code=result.result_code, result_desc=result.result_desc,
        time=naive_utc(result.completed_at) if final else None,
        balances=result.balances if final and result.succeeded else ())


def from_c2b(source, account, data):
    """The outcome of a C2B validation or confirmation body (source
    'callback'): the MSISDN is kept as it came (plain, masked or hashed)"""
    payment = daraja.parse_c2b(data)
    return Outcome(
        kind='c2b', source=source, account=account,
        receipt=payment.trans_id, result_code='0',
        result_desc=payment.transaction_type,
        amount=payment.amount, time=naive_utc(payment.trans_time),
        phone=payment.msisdn, bill_reference=payment.bill_ref_number,
        name=' '.join(filter(None, [
                    payment.first_name, payment.middle_name,
                    payment.last_name])))


def from_pull(account, row):
    "The outcome of a row of Daraja's answer to Pull Transactions"
    return Outcome(
        kind='c2b', source='pull', account=account,
        receipt=row.transaction_id, result_code='0',
        result_desc=row.transaction_type, amount=row.amount,
        time=naive_utc(row.time), phone=str(row.msisdn or ''),
        bill_reference=row.bill_reference, name=row.sender or '')


def from_statement(account, row):
    """The outcome of a row of the org-portal statement (a
    ``portal_statement.Row``): money paid in is a customer payment, money
    withdrawn a payout or a reversal.  A fact: Safaricom's own books."""
    phone, name = portal_statement.other_party(row.other_party)
    if row.amount > 0:
        kind = 'c2b'
    else:
        kind = 'reversal' if row.kind == 'reversal' else 'b2c'
    return Outcome(
        kind=kind, source='statement', account=account,
        receipt=row.receipt, result_code='0', result_desc=row.reason_type,
        amount=abs(row.amount), time=row.completed, phone=phone,
        bill_reference=row.bill_reference, name=name)


def storable(text):
    "Whether a database text column can hold text as it is"
    return '\x00' not in text and text.encode('utf-8', 'surrogatepass') \
        == text.encode('utf-8', 'replace')


class CallbackKind(NamedTuple):
    "A kind of callback the routes accept, with its label and parser"
    name: str
    label: str
    parse: Callable


def _kind(name, label, parse, *args):
    return CallbackKind(
        name, label, lambda account, data: parse(*args, account, data))


CALLBACK_KINDS = {k.name: k for k in [
        _kind('stk', "STK Push Result", from_stk_callback),
        _kind('b2c/result', "Payout Result", from_result, 'b2c'),
        _kind('b2c/timeout', "Payout Time-out", from_timeout, 'b2c'),
        _kind('reversal/result', "Reversal Result", from_result, 'reversal'),
        _kind('reversal/timeout', "Reversal Time-out", from_timeout,
            'reversal'),
        _kind('status/result', "Transaction Status Result", from_status),
        _kind('status/timeout', "Transaction Status Time-out", from_timeout,
            'status'),
        _kind('c2b/validation', "Customer Payment Validation", from_c2b,
            'callback'),
        _kind('c2b/confirmation', "Customer Payment Confirmation", from_c2b,
            'callback'),
        _kind('balance/result', "Account Balance Result", from_balance,
            True),
        _kind('balance/timeout', "Account Balance Time-out", from_balance,
            False),
        ]}


def parse_callback(kind, account, data):
    """The outcome of a callback body of the kind; raise daraja.ParseError
    when it is not of the kind's shape"""
    if not isinstance(data, dict):
        raise daraja.ParseError("the body is not a JSON object")
    outcome = CALLBACK_KINDS[kind].parse(account, data)
    texts = [v for v in vars(outcome).values() if isinstance(v, str)]
    amounts = [outcome.amount]
    for balance in outcome.balances:
        texts += [balance.account, balance.currency]
        amounts += [balance.current, balance.available, balance.reserved,
            balance.uncleared]
    if not all(map(storable, texts)):
        raise daraja.ParseError(
            "the body holds a NUL character or a lone surrogate")
    for amount in amounts:
        if amount is not None and not (
                amount.is_finite() and abs(amount) < MAXIMUM_AMOUNT):
            raise daraja.ParseError(f"the amount {amount} is not an amount")
    if not outcome.reference:
        raise daraja.ParseError("the body names no request")
    return outcome
