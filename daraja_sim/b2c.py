# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""B2C payouts, v1 and v3 (reference §7)."""
import functools

from . import clock, customers, initiator, validate
from .errors import DarajaError, invalid

COMMANDS = ('SalaryPayment', 'BusinessPayment', 'PromotionPayment')
MIN_AMOUNT, MAX_AMOUNT = 10, 250_000
BELOW_MINIMUM = (2, 'Declined due to limit rule: '
    'less than the minimum transaction amount.')
ABOVE_MAXIMUM = (3, 'Declined due to limit rule: '
    'greater than the maximum transaction amount.')
INSUFFICIENT = (1, 'The balance is insufficient for the transaction.')


def payment(call):
    "``POST /mpesa/b2c/{v1,v3}/paymentrequest``."
    simulator, body = call.simulator, call.json
    originator_id = None
    if call.args['version'] == 'v3':
        originator_id = validate.text(body, 'OriginatorConversationID', 100)
    order = initiator.read(call, 'b2c', 'InitiatorName', COMMANDS,
        originator_id)
    order.fields.update(
        amount=validate.whole_amount(body, 'Amount'),
        phone=validate.msisdn(body, 'PartyB'))
    if validate.digits(body, 'PartyA') != simulator.b2c_shortcode:
        raise invalid('PartyA')
    occasion = 'Occassion' if 'Occassion' in body else 'Occasion'
    validate.text(body, occasion, 100, optional=True)
    with simulator.lock:
        seen = simulator.state.originator_ids
        if order.originator_conversation_id in seen:
            raise DarajaError(
                500, '500.002.1001', 'Duplicate OriginatorConversationID.')
        seen.add(order.originator_conversation_id)
    call.defer(functools.partial(_respond, simulator, order))
    return initiator.accepted(order)


def _respond(simulator, order, wait):
    """Post the result, or with the ``b2c_queue_timeout`` fault a timeout
    (then, with ``late_result_after_timeout``, the payout still happens
    and its result follows later)."""
    with simulator.lock:
        timeout = simulator.faults.b2c_queue_timeout
        late = simulator.faults.late_result_after_timeout
    dispatcher = simulator.dispatcher
    if not timeout:
        dispatcher.send('b2c', order.result_url, _execute(simulator, order),
            wait=wait)
        return
    initiator.time_out(simulator, order, wait)
    if late is not None:
        simulator.scheduler.call_later(late, functools.partial(
                dispatcher.send, 'b2c', order.result_url,
                _execute(simulator, order)))


def _execute(simulator, order):
    "Pay out if the credentials, limits and float allow; return the result."
    return initiator.evaluate(simulator, order, _pay)


def _pay(simulator, order):
    amount, phone = order.fields['amount'], order.fields['phone']
    if amount < MIN_AMOUNT:
        return initiator.failure(simulator, order, *BELOW_MINIMUM)
    if amount > MAX_AMOUNT:
        return initiator.failure(simulator, order, *ABOVE_MAXIMUM)
    shortcode = simulator.b2c_shortcode
    with simulator.lock:
        ledger = simulator.state.ledger
        if not ledger.covers(shortcode, [amount]):
            entry = None
        else:
            now = simulator.now()
            entry = ledger.record(simulator.ids.receipt(now), 'b2c',
                shortcode, amount, phone, order.received, now,
                command=order.command,
                originator_conversation_id=order.originator_conversation_id,
                conversation_id=order.conversation_id)
    if entry is None:
        return initiator.failure(simulator, order, *INSUFFICIENT)
    return initiator.result(order, 0, initiator.PROCESSED, entry['receipt'], [
            ('TransactionAmount', amount),
            ('TransactionReceipt', entry['receipt']),
            ('ReceiverPartyPublicName', customers.public_name(phone)),
            ('TransactionCompletedDateTime', clock.dotted(entry['time'])),
            ('B2CUtilityAccountAvailableFunds', float(entry['balance'])),
            ('B2CWorkingAccountAvailableFunds', 0.0),
            ('B2CRecipientIsRegisteredCustomer', 'Y'),
            ('B2CChargesPaidAccountAvailableFunds', 0.0),
            ])
