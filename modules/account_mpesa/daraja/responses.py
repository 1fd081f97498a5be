# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Parsers of Daraja's synchronous answers to our requests."""
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .codes import PENDING_RESULT_CODE, is_success_code
from .errors import ParseError
from .parsing import Reader
from .times import parse_time

__all__ = [
    'StkPushResponse', 'StkQueryResult', 'AcceptedRequest',
    'PullRegistration', 'PullTransaction', 'PullResult', 'ErrorEnvelope',
    'parse_stk_push_response', 'parse_stk_query', 'parse_accepted',
    'parse_pull_registration', 'parse_pull_transactions', 'parse_error']


@dataclass(frozen=True)
class ErrorEnvelope:
    "Daraja's ``{requestId, errorCode, errorMessage}`` error answer."
    request_id: str
    code: str
    message: str


def parse_error(data):
    "Return the ErrorEnvelope in ``data``, or None if it is not one."
    if not isinstance(data, dict) or 'errorCode' not in data:
        return None
    data = Reader(data, 'error')
    try:
        return ErrorEnvelope(
            data.text('requestId'), data.text('errorCode'),
            data.text('errorMessage'))
    except ParseError:
        return None


@dataclass(frozen=True)
class StkPushResponse:
    """Daraja accepted an STK Push: the prompt is on its way.

    This is no payment yet: the outcome comes in the callback or a query.
    """
    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str
    customer_message: str


def parse_stk_push_response(data):
    "Parse the answer to an STK Push."
    data = Reader(data, 'STK Push response')
    return StkPushResponse(
        merchant_request_id=data.text('MerchantRequestID'),
        checkout_request_id=data.text('CheckoutRequestID', required=True),
        response_code=data.code('ResponseCode'),
        response_description=data.text('ResponseDescription'),
        customer_message=data.text('CustomerMessage'))


@dataclass(frozen=True)
class StkQueryResult:
    "The final (or, for code 4999, pending) state of an STK Push."
    result_code: str
    result_desc: str
    merchant_request_id: str
    checkout_request_id: str

    @property
    def succeeded(self):
        "True when the customer paid."
        return is_success_code(self.result_code)

    @property
    def pending(self):
        "True when Daraja says the prompt is still being processed."
        return self.result_code == PENDING_RESULT_CODE


def parse_stk_query(data):
    "Parse the (HTTP 200) answer to an STK Query."
    data = Reader(data, 'STK Query response')
    return StkQueryResult(
        result_code=data.code('ResultCode'),
        result_desc=data.text('ResultDesc'),
        merchant_request_id=data.text('MerchantRequestID'),
        checkout_request_id=data.text('CheckoutRequestID'))


@dataclass(frozen=True)
class AcceptedRequest:
    """Daraja accepted a request whose result comes later by callback
    (B2C, Transaction Status, Reversal, Account Balance), or answered a C2B
    registration or simulation."""
    conversation_id: str
    originator_conversation_id: str
    response_code: str
    response_description: str

    @property
    def accepted(self):
        "True unless Daraja answered with a non-zero ResponseCode."
        return not self.response_code or is_success_code(self.response_code)


def parse_accepted(data):
    "Parse the answer to a B2C, status, reversal, balance or C2B request."
    data = Reader(data, 'response')
    return AcceptedRequest(
        conversation_id=data.text('ConversationID'),
        originator_conversation_id=data.text(
            'OriginatorConversationID', 'OriginatorCoversationID'),
        response_code=(data.code('ResponseCode')
            if data.text('ResponseCode') else ''),
        response_description=data.text('ResponseDescription'))


@dataclass(frozen=True)
class PullRegistration:
    """The answer to a Pull Transactions registration.

    ``code`` is '1000' when registered, '1001' when it already was.
    """
    reference: str
    code: str
    description: str

    @property
    def registered(self):
        "True when the shortcode is registered for Pull Transactions."
        return self.code in {'1000', '1001'}


def parse_pull_registration(data):
    "Parse the answer to a Pull Transactions registration."
    data = Reader(data, 'Pull registration response')
    return PullRegistration(
        reference=data.text('ResponseRefID'),
        code=data.code('ResponseStatus', 'ResponseCode'),
        description=data.text('ResponseDescription', 'ResponseMessage'))


@dataclass(frozen=True)
class PullTransaction:
    "One transaction returned by a Pull Transactions query."
    transaction_id: str
    time: datetime
    msisdn: str
    amount: Decimal
    bill_reference: str
    transaction_type: str
    sender: str
    organization_name: str


@dataclass(frozen=True)
class PullResult:
    """The answer to a Pull Transactions query.

    ``response_code`` '1000' means success; '1001' means either that there
    is no transaction in the window or that the shortcode is not set up for
    Pull: it is a warning, never a proof that nothing was paid.
    """
    response_code: str
    response_message: str
    reference: str
    transactions: tuple

    @property
    def ok(self):
        "True when Daraja answered with success (1000)."
        return self.response_code == '1000'


def _pull_transaction(row):
    "Parse one row of a Pull Transactions answer."
    row = Reader(row, 'Pull transaction')
    return PullTransaction(
        transaction_id=row.text('transactionId', required=True),
        time=parse_time(row.get('trxDate'), 'trxDate'),
        msisdn=row.text('msisdn'),
        amount=row.decimal('amount', required=True),
        bill_reference=row.text('billreference'),
        transaction_type=row.text('transactiontype'),
        sender=row.text('sender'),
        organization_name=row.text('organizationname'))


def parse_pull_transactions(data):
    """Parse the answer to a Pull Transactions query.

    Rows come in ``Response`` as a list, or a list of lists (pages).
    """
    data = Reader(data, 'Pull query response')
    rows = data.get('Response') or []
    if not isinstance(rows, list):
        raise ParseError('Response is not a list')
    flat = []
    for row in rows:
        flat.extend(row if isinstance(row, list) else [row])
    return PullResult(
        response_code=data.code('ResponseCode'),
        response_message=data.text('ResponseMessage', 'ResponseDescription'),
        reference=data.text('ResponseRefID'),
        transactions=tuple(map(_pull_transaction, flat)))
