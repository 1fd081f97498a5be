# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Parsers of what Safaricom POSTs to our URLs: the STK callback, the C2B
validation/confirmation, and the ``{"Result": …}`` callbacks of B2C,
Transaction Status, Reversal and Account Balance.

They are as tolerant as the real API requires (codes as int or text, items
looked up by name, missing values, one-element lists sent as objects,
misspelt keys) and raise only ParseError.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .codes import is_success_code
from .errors import InvalidPhoneNumber, ParseError
from .parsing import Reader, decimal, mapping, named_values, pick, text
from .phone import hash_msisdn, normalize_msisdn
from .times import parse_time, parse_timestamp

__all__ = [
    'StkCallback', 'C2BPayment', 'Result', 'AccountBalance',
    'parse_stk_callback', 'parse_c2b', 'parse_result',
    'parse_account_balance']


@dataclass(frozen=True)
class StkCallback:
    """The outcome of an STK Push, as POSTed to its CallBackURL.

    ``amount``, ``receipt``, ``transaction_time`` (aware UTC) and ``phone``
    come from CallbackMetadata, sent on success only; ``balance`` is the
    Balance item as sent (usually absent or valueless); ``metadata`` holds
    all the items by name.
    """
    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_desc: str
    amount: Decimal | None = None
    receipt: str = ''
    transaction_time: datetime | None = None
    phone: str | None = None
    balance: object = None
    metadata: dict = field(default_factory=dict)

    @property
    def succeeded(self):
        "True when the customer paid."
        return is_success_code(self.result_code)


def parse_stk_callback(data):
    "Parse the JSON body POSTed to an STK Push CallBackURL."
    body = mapping(mapping(data, 'STK callback').get('Body'), 'Body')
    callback = Reader(body.get('stkCallback'), 'Body.stkCallback')
    metadata = callback.get('CallbackMetadata') or {}
    items = Reader(named_values(
            mapping(metadata, 'CallbackMetadata').get('Item'), 'Name',
            'CallbackMetadata.Item'), 'CallbackMetadata.Item')
    date = items.get('TransactionDate')
    return StkCallback(
        merchant_request_id=callback.text('MerchantRequestID'),
        checkout_request_id=callback.text('CheckoutRequestID', required=True),
        result_code=callback.code('ResultCode'),
        result_desc=callback.text('ResultDesc'),
        amount=items.decimal('Amount'),
        receipt=items.text('MpesaReceiptNumber'),
        transaction_time=(None if date in (None, '')
            else parse_timestamp(date, 'TransactionDate')),
        phone=items.text('PhoneNumber') or None,
        balance=items.get('Balance'),
        metadata=items.data)


@dataclass(frozen=True)
class C2BPayment:
    """A customer payment to a paybill or till (C2B validation/confirmation).

    ``msisdn`` is kept as sent; ``msisdn_kind`` says what it is: 'plain'
    (digits), 'hashed' (SHA-256 hex of the 254 number) or 'masked' (anything
    else, including empty: it cannot identify the payer).
    """
    transaction_type: str
    trans_id: str
    trans_time: datetime
    amount: Decimal
    business_shortcode: str
    bill_ref_number: str
    invoice_number: str
    org_account_balance: Decimal | None
    third_party_trans_id: str
    msisdn: str
    msisdn_kind: str
    first_name: str
    middle_name: str
    last_name: str

    def matches_phone(self, phone):
        """Tell whether the payer is ``phone`` (any accepted format).

        Plain and hashed MSISDNs are compared exactly; a masked one cannot
        prove anything and never matches.
        """
        try:
            if self.msisdn_kind == 'plain':
                return normalize_msisdn(self.msisdn) == normalize_msisdn(phone)
            if self.msisdn_kind == 'hashed':
                return hash_msisdn(phone) == self.msisdn
        except InvalidPhoneNumber:
            pass
        return False


def _msisdn(value):
    "Return the C2B MSISDN as sent (hashes lower-cased) and its kind."
    msisdn = text(value, 'MSISDN')
    compact = msisdn.replace(' ', '')
    if re.fullmatch(r'[0-9a-fA-F]{64}', compact):
        return compact.lower(), 'hashed'
    if compact.isascii() and compact.isdigit():
        return compact, 'plain'
    return msisdn, 'masked'


def parse_c2b(data):
    "Parse a C2B validation or confirmation body."
    data = Reader(data, 'C2B notification')
    msisdn, kind = _msisdn(data.get('MSISDN'))
    return C2BPayment(
        transaction_type=data.text('TransactionType'),
        trans_id=data.text('TransID', required=True),
        trans_time=parse_timestamp(data.get('TransTime'), 'TransTime'),
        amount=data.decimal('TransAmount', required=True),
        business_shortcode=data.text('BusinessShortCode', required=True),
        bill_ref_number=data.text('BillRefNumber'),
        invoice_number=data.text('InvoiceNumber'),
        org_account_balance=data.decimal('OrgAccountBalance'),
        third_party_trans_id=data.text('ThirdPartyTransID'),
        msisdn=msisdn,
        msisdn_kind=kind,
        first_name=data.text('FirstName'),
        middle_name=data.text('MiddleName'),
        last_name=data.text('LastName'))


@dataclass(frozen=True)
class AccountBalance:
    "One account of an Account Balance result; amounts may be None."
    account: str
    currency: str
    current: Decimal | None
    available: Decimal | None
    reserved: Decimal | None
    uncleared: Decimal | None


def parse_account_balance(value):
    """Parse the AccountBalance string of an Account Balance result.

    It is ``&``-separated accounts, each
    ``Name|Currency|Current|Available|Reserved|Uncleared``.
    """
    value = text(value, 'AccountBalance')
    balances = []
    for account in filter(None, value.split('&')):
        parts = account.split('|')
        if not 3 <= len(parts) <= 6:
            raise ParseError(
                'AccountBalance has an account of the wrong shape')
        parts += [None] * (6 - len(parts))
        name, currency, *amounts = parts
        balances.append(AccountBalance(
                name.strip(), currency.strip(),
                *(decimal(a, 'AccountBalance amount') for a in amounts)))
    return tuple(balances)


# TransactionIDs like "NLJ0000000" are placeholders, not receipts.
_PLACEHOLDER_ID = re.compile(r'[A-Z0-9]{3}0{7}')


@dataclass(frozen=True)
class Result:
    """The ``{"Result": …}`` callback of B2C, Transaction Status, Reversal
    and Account Balance (also POSTed to QueueTimeOutURL).

    ``parameters`` maps ResultParameter keys to values and
    ``reference_data`` ReferenceItem keys to values, as sent; the properties
    read the usual ones whatever their spelling.
    """
    result_type: str
    result_code: str
    result_desc: str
    originator_conversation_id: str
    conversation_id: str
    transaction_id: str
    parameters: dict = field(default_factory=dict)
    reference_data: dict = field(default_factory=dict)

    @property
    def succeeded(self):
        "True when the request was carried out."
        return is_success_code(self.result_code)

    def parameter(self, *names):
        """Return the value of the first parameter of ``names``, or None.

        Names are compared without spaces and case, as Daraja writes both
        ``OriginatorConversationID`` and ``Originator Conversation ID``.
        """
        def key(name):
            return name.replace(' ', '').lower()
        values = {key(k): v for k, v in self.parameters.items()}
        return pick(values, *map(key, names))

    @property
    def amount(self):
        "The amount moved (B2C TransactionAmount, Reversal/status Amount)."
        return decimal(
            self.parameter('TransactionAmount', 'Amount'), 'Amount')

    @property
    def receipt(self):
        "The M-Pesa receipt of the transaction, or ''."
        receipt = text(
            self.parameter('TransactionReceipt', 'ReceiptNo'), 'Receipt')
        if not receipt and self.succeeded \
                and not _PLACEHOLDER_ID.fullmatch(self.transaction_id):
            receipt = self.transaction_id
        return receipt

    @property
    def recipient(self):
        "The credited party as sent, e.g. '254705912645 - JOHN DOE', or ''."
        return text(self.parameter(
                'ReceiverPartyPublicName', 'CreditPartyName',
                'CreditPartyPublicName'), 'Recipient')

    @property
    def recipient_name(self):
        "The name part of the recipient, or ''."
        return self.recipient.partition(' - ')[2].strip()

    @property
    def completed_at(self):
        "When the transaction completed (aware UTC), or None."
        value = self.parameter(
            'TransactionCompletedDateTime', 'TransCompletedTime',
            'FinalisedTime', 'BOCompletedTime')
        if value in (None, ''):
            return None
        return parse_time(value, 'completion time')

    @property
    def transaction_status(self):
        "The TransactionStatus of a status query (e.g. 'Completed'), or ''."
        return text(self.parameter('TransactionStatus'), 'TransactionStatus')

    @property
    def balances(self):
        "The accounts of an Account Balance result, as AccountBalance."
        value = self.parameter('AccountBalance')
        return parse_account_balance(value) if value else ()

    def balance(self, name):
        """The AccountBalance of the account ``name`` of an Account Balance
        result (e.g. 'Utility Account'; case and spaces ignored), or None."""
        def key(name):
            return ''.join(name.split()).lower()
        return next(
            (b for b in self.balances if key(b.account) == key(name)), None)


def _items(container, item_key, field):
    "Return the items of a ResultParameters/ReferenceData container."
    if container in (None, ''):
        return {}
    return named_values(
        mapping(container, field).get(item_key), 'Key', f'{field}.{item_key}')


def parse_result(data):
    "Parse a ``{\"Result\": …}`` result or queue-timeout callback."
    result = Reader(mapping(data, 'result callback').get('Result'), 'Result')
    return Result(
        result_type=result.text('ResultType'),
        result_code=result.code('ResultCode'),
        result_desc=result.text('ResultDesc'),
        originator_conversation_id=result.text(
            'OriginatorConversationID', 'OriginatorCoversationID'),
        conversation_id=result.text('ConversationID'),
        transaction_id=result.text('TransactionID'),
        parameters=_items(
            result.get('ResultParameters'), 'ResultParameter',
            'ResultParameters'),
        reference_data=_items(
            result.get('ReferenceData'), 'ReferenceItem', 'ReferenceData'))
