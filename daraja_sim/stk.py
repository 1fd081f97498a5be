# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""M-Pesa Express: STK Push, the customer's answer and its callback, and
STK Query (reference §3-§5)."""
import base64
import dataclasses
import datetime as dt
import functools

from . import c2b, clock, customers, validate
from .errors import DarajaError, invalid, merchant

PAYBILL, BUY_GOODS = 'CustomerPayBillOnline', 'CustomerBuyGoodsOnline'
MAX_AMOUNT = 250_000
ACCEPTED = 'Success. Request accepted for processing'
LOCKED = ('Unable to lock subscriber, a transaction is already in process '
    'for the current subscriber')
BEING_PROCESSED = 'The transaction is being processed'
QUERY_ACCEPTED = 'The service request has been accepted successsfully'  # sic
NOT_PERMITTED = (
    2028, 'The request is not permitted according to product assignment.')


@dataclasses.dataclass
class Prompt:
    "An STK Push and, once known, its result."

    checkout_request_id: str
    merchant_request_id: str
    shortcode: str
    transaction_type: str
    party_b: str
    phone: str
    amount: int
    account_reference: str
    callback_url: str
    created: dt.datetime
    permitted: bool
    result: tuple = None
    receipt: str = None


def password(shortcode, passkey, timestamp):
    "``base64(shortcode + passkey + timestamp)``."
    return base64.b64encode(
        f'{shortcode}{passkey}{timestamp}'.encode()).decode()


def _merchant(simulator, body):
    """Check BusinessShortCode, Timestamp and Password (shared by Push and
    Query); return the shortcode."""
    shortcode = validate.digits(body, 'BusinessShortCode', 5, 7)
    if shortcode != simulator.shortcode:
        raise merchant('Merchant does not exist')
    timestamp = validate.text(body, 'Timestamp', 14, 14)
    when = clock.parse_stamp(timestamp)
    if when is None:
        raise invalid('Timestamp')
    given = validate.text(body, 'Password', 1024)
    if given != password(shortcode, simulator.passkey, timestamp):
        raise merchant('Wrong credentials')
    minutes = simulator.check_timestamp_minutes
    if minutes is not None and (
            abs(simulator.now() - when) > dt.timedelta(minutes=minutes)):
        raise invalid('Timestamp')
    return shortcode


def push(call):
    "``POST /mpesa/stkpush/v1/processrequest``."
    simulator, body = call.simulator, call.json
    shortcode = _merchant(simulator, body)
    kind = validate.one_of(body, 'TransactionType', (PAYBILL, BUY_GOODS))
    amount = validate.whole_amount(body, 'Amount', 1, MAX_AMOUNT)
    validate.msisdn(body, 'PartyA')
    party_b = validate.digits(body, 'PartyB', 5, 12)
    phone = validate.msisdn(body, 'PhoneNumber')
    callback_url = validate.url(body, 'CallBackURL')
    reference = validate.text(body, 'AccountReference', 12)
    validate.text(body, 'TransactionDesc', 13, optional=True)
    now = simulator.now()
    credit_party = shortcode if kind == PAYBILL else simulator.till_number
    prompt = Prompt(
        checkout_request_id=simulator.ids.checkout_request_id(now, phone),
        merchant_request_id=simulator.ids.request_id(),
        shortcode=shortcode, transaction_type=kind, party_b=party_b,
        phone=phone, amount=amount, account_reference=reference,
        callback_url=callback_url, created=now,
        permitted=party_b == credit_party)
    checkout_request_id = prompt.checkout_request_id
    with simulator.lock:
        state = simulator.state
        if prompt.permitted:
            if phone in state.locked_phones:
                raise merchant(LOCKED)
            state.locked_phones[phone] = checkout_request_id
        state.prompts[checkout_request_id] = prompt
    call.defer(functools.partial(_customer_answers, simulator, prompt))
    return {
        'MerchantRequestID': prompt.merchant_request_id,
        'CheckoutRequestID': checkout_request_id,
        'ResponseCode': '0',
        'ResponseDescription': ACCEPTED,
        'CustomerMessage': ACCEPTED,
        }


def _customer_answers(simulator, prompt, wait):
    "The phone's owner answers the prompt the way the customer is set up."
    with simulator.lock:
        outcome = customers.outcome_for(
            simulator.state.customers, prompt.phone)
    if not prompt.permitted:
        _finish(simulator, prompt.checkout_request_id, NOT_PERMITTED, wait)
    elif outcome != 'never':
        _finish(simulator, prompt.checkout_request_id,
            customers.OUTCOMES[outcome], wait)


def answer(simulator, checkout_request_id, outcome):
    """Resolve a pending prompt now with ``outcome`` (``'never'`` leaves it
    pending).  Raise LookupError for an unknown prompt and ValueError for
    a bad outcome or a prompt already answered."""
    customers.check_outcome(outcome)
    with simulator.lock:
        if checkout_request_id not in simulator.state.prompts:
            raise LookupError(f'no STK push {checkout_request_id}')
    if outcome != 'never' and not _finish(simulator, checkout_request_id,
            customers.OUTCOMES[outcome], wait=False):
        raise ValueError(f'{checkout_request_id} was already answered')


def _finish(simulator, checkout_request_id, result, wait):
    """Record the result of a prompt, book a success, post the callback.
    Return False when the prompt had already a result."""
    with simulator.lock:
        state = simulator.state
        prompt = state.prompts.get(checkout_request_id)
        if prompt is None or prompt.result is not None:
            return False
        prompt.result = result
        if state.locked_phones.get(prompt.phone) == checkout_request_id:
            del state.locked_phones[prompt.phone]
        entry = None
        if result[0] == 0:
            now = simulator.now()
            prompt.receipt = simulator.ids.receipt(now)
            entry = state.ledger.record(prompt.receipt, 'stk',
                prompt.shortcode, prompt.amount, prompt.phone,
                prompt.created, now, account=prompt.account_reference,
                party=prompt.party_b,
                transaction_type=prompt.transaction_type,
                checkout_request_id=checkout_request_id,
                merchant_request_id=prompt.merchant_request_id)
        balance_item = simulator.faults.stk_balance_item
        mirror = simulator.faults.stk_c2b_confirmation
    simulator.dispatcher.send('stk', prompt.callback_url,
        callback_payload(prompt, entry, balance_item), wait=wait)
    if entry and mirror:
        c2b.confirm(simulator, entry, wait)
    return True


def callback_payload(prompt, entry, balance_item=False):
    """The ``Body.stkCallback`` JSON; CallbackMetadata only on success, with
    the items of reference §4 (numbers as JSON numbers)."""
    code, description = prompt.result
    callback = {
        'MerchantRequestID': prompt.merchant_request_id,
        'CheckoutRequestID': prompt.checkout_request_id,
        'ResultCode': code,
        'ResultDesc': description,
        }
    if entry is not None:
        items = [
            {'Name': 'Amount', 'Value': float(entry['amount'])},
            {'Name': 'MpesaReceiptNumber', 'Value': entry['receipt']},
            ]
        if balance_item:
            items.append({'Name': 'Balance'})
        items += [
            {'Name': 'TransactionDate',
                'Value': int(clock.stamp(entry['time']))},
            {'Name': 'PhoneNumber', 'Value': int(entry['phone'])},
            ]
        callback['CallbackMetadata'] = {'Item': items}
    return {'Body': {'stkCallback': callback}}


def query(call):
    "``POST /mpesa/stkpushquery/v1/query``."
    simulator, body = call.simulator, call.json
    shortcode = _merchant(simulator, body)
    checkout_request_id = validate.text(body, 'CheckoutRequestID', 100)
    with simulator.lock:
        prompt = simulator.state.prompts.get(checkout_request_id)
        result = prompt and prompt.result
        pending_4999 = simulator.faults.stk_query_pending_4999
    if prompt is None or prompt.shortcode != shortcode:
        raise invalid('CheckoutRequestID')
    reply = {
        'ResponseCode': '0',
        'ResponseDescription': QUERY_ACCEPTED,
        'MerchantRequestID': prompt.merchant_request_id,
        'CheckoutRequestID': checkout_request_id,
        }
    if result is None:
        if not pending_4999:
            raise DarajaError(500, '500.001.1001', BEING_PROCESSED,
                request_id=checkout_request_id)
        result = (4999, 'The transaction is still under processing')
    reply.update(ResultCode=str(result[0]), ResultDesc=result[1])
    return reply
