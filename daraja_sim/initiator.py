# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What the initiator APIs share (B2C, Transaction Status, Reversal,
Account Balance): the initiator and SecurityCredential check, the
synchronous acceptance, and the ``{"Result": …}`` callback (reference §7,
§8, §10)."""
import dataclasses
import datetime as dt

from . import validate

ACCEPTED = 'Accept the service request successfully.'
PROCESSED = 'The service request is processed successfully.'
INVALID_INITIATOR = (2001, 'The initiator information is invalid.')
# [derived] No sample exists (reference §7.4): ResultType 1 with a
# transient code, so that it reads as "not final".
TIMED_OUT = (26, 'The service request has timed out.')
INTERNAL_URL = 'https://internalsandbox.safaricom.co.ke/mpesa/{}/v1/submit'
RESULT_PATHS = {'b2c': 'b2cresults', 'reversal': 'reversalresults',
    'balance': 'abresults', 'status': 'tsresults'}


@dataclasses.dataclass
class Order:
    "An accepted initiator request waiting for its result."

    api: str
    initiator: str
    credential: str
    command: str
    result_url: str
    timeout_url: str
    originator_conversation_id: str
    conversation_id: str
    received: dt.datetime
    reference: tuple
    fields: dict = dataclasses.field(default_factory=dict)


def read(call, api, initiator_field, commands, originator_id=None):
    """Check the fields all initiator APIs have and return the Order; the
    OriginatorConversationID is generated unless given (B2C v3)."""
    simulator, body = call.simulator, call.json
    initiator = validate.text(body, initiator_field, 100)
    credential = validate.text(body, 'SecurityCredential', 2048)
    command = validate.one_of(body, 'CommandID', commands)
    timeout_url = validate.url(body, 'QueueTimeOutURL')
    result_url = validate.url(body, 'ResultURL')
    validate.text(body, 'Remarks', 100, min_length=2)
    now = simulator.now()
    return Order(api=api, initiator=initiator, credential=credential,
        command=command, result_url=result_url, timeout_url=timeout_url,
        originator_conversation_id=(
            originator_id or simulator.ids.request_id()),
        conversation_id=simulator.ids.conversation_id(now), received=now,
        reference=('QueueTimeoutURL', INTERNAL_URL.format(RESULT_PATHS[api])))


def accepted(order):
    "The synchronous answer of an accepted request."
    return {
        'ConversationID': order.conversation_id,
        'OriginatorConversationID': order.originator_conversation_id,
        'ResponseCode': '0',
        'ResponseDescription': ACCEPTED,
        }


def _item(key, value):
    "A ``{Key, Value}`` pair; the Value is left out when None."
    return {'Key': key} if value is None else {'Key': key, 'Value': value}


def result(order, code, description, transaction_id, parameters=None,
        result_type=0):
    """The ``{"Result": …}`` callback body."""
    body = {
        'ResultType': result_type,
        'ResultCode': code,
        'ResultDesc': description,
        'OriginatorConversationID': order.originator_conversation_id,
        'ConversationID': order.conversation_id,
        'TransactionID': transaction_id,
        }
    if parameters is not None:
        body['ResultParameters'] = {
            'ResultParameter': [_item(k, v) for k, v in parameters]}
    body['ReferenceData'] = {'ReferenceItem': _item(*order.reference)}
    return {'Result': body}


def failure(simulator, order, code, description, result_type=0):
    "A result without parameters and with a zero-filled TransactionID."
    return result(order, code, description,
        simulator.ids.placeholder_receipt(simulator.now()),
        result_type=result_type)


def evaluate(simulator, order, settle):
    """``settle(simulator, order)`` when the initiator name and the
    decrypted SecurityCredential match, else the 2001 failure."""
    password = simulator.keys.decrypt_credential(order.credential)
    if (order.initiator != simulator.initiator_name
            or password != simulator.initiator_password):
        return failure(simulator, order, *INVALID_INITIATOR)
    return settle(simulator, order)


def complete(simulator, order, settle, wait):
    "Evaluate the order and post its result to the ResultURL."
    simulator.dispatcher.send(order.api, order.result_url,
        evaluate(simulator, order, settle), wait=wait)


def time_out(simulator, order, wait):
    """Post the order's queue time-out (callback kind ``<api>_timeout``)
    to its QueueTimeOutURL; the order is not carried out."""
    simulator.dispatcher.send(f'{order.api}_timeout', order.timeout_url,
        failure(simulator, order, *TIMED_OUT, result_type=1), wait=wait)
