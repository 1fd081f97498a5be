# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Transaction Status, Reversal and Account Balance (reference §10)."""
import functools

from . import clock, customers, initiator, validate
from .errors import invalid
from .ledger import PAID_IN, REASON_TYPES, SETTLEMENT, UTILITY, money

# [derived] the reference gives no sample for an unknown transaction.
NOT_FOUND = (2032, 'The transaction receipt number does not exist.')
INVALID_ORIGINAL = ('R000002', 'The OriginalTransactionID is invalid.')
ALREADY_REVERSED = ('R000001', 'The transaction is already reversed.')
ACCOUNTS = ('Working Account', 'Float Account', 'Utility Account',
    'Charges Paid Account', 'Organization Settlement Account')


def account_line(name, amount):
    "``Utility Account|KES|228037.00|228037.00|0.00|0.00``."
    return f'{name}|KES|{money(amount)}|{money(amount)}|0.00|0.00'


def _organisation(simulator, shortcode):
    return f'{shortcode} - {simulator.organization_name}'


def _accept(call, order, settle):
    call.defer(functools.partial(
            initiator.complete, call.simulator, order, settle))
    return initiator.accepted(order)


def status(call):
    """``POST /mpesa/transactionstatus/v1/query`` by TransactionID or
    OriginalConversationID."""
    body = call.json
    order = initiator.read(call, 'status', 'Initiator',
        ('TransactionStatusQuery',))
    receipt = validate.text(body, 'TransactionID', 20, optional=True)
    originator_id = (
        validate.text(body, 'OriginalConversationID', 100, optional=True)
        or validate.text(
            body, 'OriginatorConversationID', 100, optional=True))
    if not (receipt or originator_id):
        raise invalid('TransactionID')
    validate.digits(body, 'PartyA')
    validate.one_of(body, 'IdentifierType', ('1', '2', '4'))
    order.reference = ('Occasion',
        validate.text(body, 'Occasion', 100, optional=True))
    order.fields.update(receipt=receipt, originator_id=originator_id)
    return _accept(call, order, _status)


def _status(simulator, order):
    receipt = order.fields['receipt']
    with simulator.lock:
        ledger = simulator.state.ledger
        entry = (ledger.find(receipt=receipt) if receipt
            else ledger.find(originator_conversation_id=(
                    order.fields['originator_id'])))
        entry = entry and dict(entry)
    if entry is None:
        return initiator.failure(simulator, order, *NOT_FOUND)
    customer = customers.public_name(entry['phone'])
    organisation = _organisation(simulator, entry['shortcode'])
    debit, credit = ((customer, organisation) if entry['paid_in']
        else (organisation, customer))
    return initiator.result(order, 0, initiator.PROCESSED,
        simulator.ids.placeholder_receipt(simulator.now()), [
            ('DebitPartyName', debit),
            ('CreditPartyName', credit),
            ('OriginatorConversationID',
                entry.get('originator_conversation_id')),
            ('InitiatedTime', clock.stamp(entry['initiated'])),
            ('DebitAccountType', 'Utility Account'),
            ('DebitPartyCharges', None),
            ('TransactionReason', None),
            ('ReasonType',
                REASON_TYPES[entry.get('command') or entry['kind']]),
            ('TransactionStatus', 'Completed'),
            ('FinalisedTime', clock.stamp(entry['time'])),
            ('Amount', str(entry['amount'])),
            ('ConversationID', entry.get('conversation_id')),
            ('ReceiptNo', entry['receipt']),
            ])


def reversal(call):
    "``POST /mpesa/reversal/v1/request`` of a payment received."
    body = call.json
    order = initiator.read(call, 'reversal', 'Initiator',
        ('TransactionReversal',))
    receipt = validate.text(body, 'TransactionID', 10, 10)
    if not receipt.isalnum():
        raise invalid('TransactionID')
    order.fields.update(receipt=receipt,
        amount=validate.whole_amount(body, 'Amount'),
        receiver=validate.digits(body, 'ReceiverParty'))
    validate.one_of(body, 'RecieverIdentifierType', ('11',))  # sic
    return _accept(call, order, _reverse)


def _reverse(simulator, order):
    """Reverse the whole of a received payment (STK or C2B) to the
    receiver shortcode; B2C payouts cannot be reversed (reference §10.2)."""
    fields = order.fields
    with simulator.lock:
        ledger = simulator.state.ledger
        original = ledger.find(receipt=fields['receipt'])
        if (original is None or original['kind'] not in PAID_IN
                or original['amount'] != fields['amount']
                or fields['receiver'] not in simulator.collection_shortcodes):
            problem = INVALID_ORIGINAL
        elif original['reversed']:
            problem = ALREADY_REVERSED
        else:
            problem = None
            original['reversed'] = True
            now = simulator.now()
            entry = ledger.record(simulator.ids.receipt(now),
                'reversal', original['shortcode'], original['amount'],
                original['phone'], order.received, now,
                original=original['receipt'],
                originator_conversation_id=order.originator_conversation_id,
                conversation_id=order.conversation_id)
    if problem:
        return initiator.failure(simulator, order, *problem)
    return initiator.result(order, 0, initiator.PROCESSED, entry['receipt'], [
            ('DebitAccountBalance',
                account_line('Utility Account', entry['balance'])),
            ('Amount', float(entry['amount'])),
            ('TransCompletedTime', int(clock.stamp(entry['time']))),
            ('OriginalTransactionID', entry['original']),
            ('Charge', 0.0),
            ('CreditPartyPublicName', customers.public_name(entry['phone'])),
            ('DebitPartyPublicName',
                _organisation(simulator, entry['shortcode'])),
            ])


def balance(call):
    "``POST /mpesa/accountbalance/v1/query`` of one's own shortcode."
    simulator, body = call.simulator, call.json
    order = initiator.read(call, 'balance', 'Initiator', ('AccountBalance',))
    party = validate.digits(body, 'PartyA')
    if party not in (simulator.shortcode, simulator.b2c_shortcode):
        raise invalid('PartyA')
    validate.one_of(body, 'IdentifierType', ('4',))
    order.fields['party'] = party
    with simulator.lock:
        timeout = simulator.faults.balance_queue_timeout
    if timeout:
        call.defer(functools.partial(initiator.time_out, simulator, order))
        return initiator.accepted(order)
    return _accept(call, order, _balance)


def _balance(simulator, order):
    """The shortcode's balances when the result is made: its Utility and
    Organization Settlement Accounts as the ledger has them, the other
    accounts at zero (see ``ledger``)."""
    with simulator.lock:
        ledger = simulator.state.ledger
        balances = {name: ledger.balance(order.fields['party'], name)
            for name in (UTILITY, SETTLEMENT)}
    value = '&'.join(account_line(name, balances.get(name, 0))
        for name in ACCOUNTS)
    now = simulator.now()
    return initiator.result(order, '0',
        'The service request is processed successfully',
        simulator.ids.placeholder_receipt(now), [
            ('AccountBalance', value),
            ('BOCompletedTime', clock.stamp(now)),
            ], result_type='0')
