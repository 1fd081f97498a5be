# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""C2B: URL registration, customer payments (simulate) with validation and
confirmation notifications (reference §9)."""
import dataclasses
import functools

from . import clock, customers, validate
from .errors import DarajaError, invalid
from .ledger import money

TRANSACTION_TYPES = {
    'CustomerPayBillOnline': 'Pay Bill',
    'CustomerBuyGoodsOnline': 'Buy Goods',
    }
# Words Daraja refuses in callback URLs, in any case (reference §11.1).
FORBIDDEN_WORDS = ('m-pesa', 'mpesa', 'safaricom', 'exec', 'exe', 'cmd',
    'sql', 'query')
MAX_AMOUNT = 250_000
VALIDATION_TIMEOUT = 8
ACCEPTED = 'Accept the service request successfully.'


@dataclasses.dataclass
class Registration:
    "The URLs registered for a shortcode."

    shortcode: str
    response_type: str
    confirmation_url: str
    validation_url: str
    version: str


@dataclasses.dataclass
class Payment:
    "A customer paying a paybill or till from the phone."

    shortcode: str
    command: str
    amount: int
    phone: str
    reference: str


def collection_shortcode(simulator, body):
    "The ``ShortCode`` field: the paybill or the till."
    shortcode = validate.digits(body, 'ShortCode', 5, 7)
    if shortcode not in simulator.collection_shortcodes:
        raise invalid('ShortCode')
    return shortcode


def _check_words(field, url):
    lowered = url.lower()
    for word in FORBIDDEN_WORDS:
        if word in lowered:
            raise DarajaError(400, '400.003.02',
                f'Bad Request - Invalid {field} - URL has the word '
                f'{word.upper()}')


def register(call):
    "``POST /mpesa/c2b/{v1,v2}/registerurl``."
    simulator, body = call.simulator, call.json
    shortcode = collection_shortcode(simulator, body)
    response_type = validate.one_of(
        body, 'ResponseType', ('Completed', 'Cancelled'))
    confirmation_url = validate.url(body, 'ConfirmationURL')
    validation_url = validate.url(body, 'ValidationURL', optional=True)
    for field, url in (('ValidationURL', validation_url),
            ('ConfirmationURL', confirmation_url)):
        if url:
            _check_words(field, url)
    with simulator.lock:
        registrations = simulator.state.c2b_urls
        if (simulator.faults.c2b_register_once
                and shortcode in registrations):
            raise DarajaError(
                500, '500.003.1001', 'Urls are already registered.')
        registrations[shortcode] = Registration(shortcode, response_type,
            confirmation_url, validation_url, call.args['version'])
    return {
        'OriginatorCoversationID': simulator.ids.request_id(),  # sic
        'ResponseCode': '0',
        'ResponseDescription': 'Success',
        }


def simulate(call):
    "``POST /mpesa/c2b/{v1,v2}/simulate``: a customer pays (sandbox only)."
    simulator, body = call.simulator, call.json
    payment = Payment(
        shortcode=collection_shortcode(simulator, body),
        command=validate.one_of(body, 'CommandID', TRANSACTION_TYPES),
        amount=validate.whole_amount(body, 'Amount', 1, MAX_AMOUNT),
        phone=validate.msisdn(body, 'Msisdn'),
        reference=validate.text(
            body, 'BillRefNumber', 20, optional=True) or '')
    call.defer(functools.partial(pay, simulator, payment))
    reply = {
        'OriginatorCoversationID': simulator.ids.request_id(),  # sic
        'ResponseCode': '0',
        'ResponseDescription': ACCEPTED,
        }
    if call.args['version'] == 'v1':
        reply['ConversationID'] = simulator.ids.conversation_id(
            simulator.now())
    return reply


def notification(payment, receipt, when, msisdn_form, balance='',
        third_party_id=''):
    "The validation/confirmation JSON; every value is a string."
    first, middle, last = customers.names(payment.phone)
    return {
        'TransactionType': TRANSACTION_TYPES[payment.command],
        'TransID': receipt,
        'TransTime': clock.stamp(when),
        'TransAmount': money(payment.amount),
        'BusinessShortCode': payment.shortcode,
        'BillRefNumber': payment.reference,
        'InvoiceNumber': '',
        'OrgAccountBalance': balance,
        'ThirdPartyTransID': third_party_id,
        'MSISDN': customers.c2b_msisdn(payment.phone, msisdn_form),
        'FirstName': first,
        'MiddleName': middle,
        'LastName': last,
        }


def pay(simulator, payment, wait=False):
    """Carry out a customer payment: validation (when registered and
    enabled), booking, confirmation.  Return the ledger entry, or None when
    the customer's phone fails or the validation refuses."""
    with simulator.lock:
        state = simulator.state
        outcome = customers.outcome_for(state.customers, payment.phone)
        registration = state.c2b_urls.get(payment.shortcode)
        msisdn_form = simulator.faults.c2b_msisdn
    if outcome != 'success':
        return None
    now = simulator.now()
    receipt = simulator.ids.receipt(now)
    third_party_id = ''
    if (registration and registration.validation_url
            and simulator.c2b_validation):
        accepted, third_party_id = _validate(simulator, registration,
            notification(payment, receipt, now, msisdn_form))
        if not accepted:
            return None
    with simulator.lock:
        entry = dict(simulator.state.ledger.record(receipt, 'c2b',
                simulator.shortcode, payment.amount, payment.phone, now,
                now, account=payment.reference,
                command=payment.command, party=payment.shortcode))
    confirm(simulator, entry, wait, third_party_id)
    return entry


def _validate(simulator, registration, payload):
    """Ask the ValidationURL; return (accepted, ThirdPartyTransID).  No
    usable answer within 8 s applies the registered ResponseType."""
    records = simulator.dispatcher.send('c2b_validation',
        registration.validation_url, payload, wait=True,
        timeout=VALIDATION_TIMEOUT)
    for record in records:
        reply = record.get('reply')
        if 200 <= record.get('status', 0) < 300 and isinstance(reply, dict):
            return (str(reply.get('ResultCode')) == '0',
                str(reply.get('ThirdPartyTransID') or ''))
    return registration.response_type == 'Completed', ''


def confirm(simulator, entry, wait, third_party_id=''):
    """Send the confirmation of a booked payment to the ConfirmationURL
    registered for the shortcode paid, if any.  Also used for an STK
    payment with the ``stk_c2b_confirmation`` variant."""
    party = entry['party']
    with simulator.lock:
        registration = simulator.state.c2b_urls.get(party)
        msisdn_form = simulator.faults.c2b_msisdn
    if registration is None:
        return
    command = entry.get('command') or (
        'CustomerBuyGoodsOnline' if party == simulator.till_number
        else 'CustomerPayBillOnline')
    payment = Payment(party, command, entry['amount'], entry['phone'],
        entry['account'])
    simulator.dispatcher.send('c2b_confirmation',
        registration.confirmation_url,
        notification(payment, entry['receipt'], entry['time'], msisdn_form,
            money(entry['balance']), third_party_id), wait=wait)
