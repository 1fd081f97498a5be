# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Daraja's result and error codes and what to tell people about them.

Codes come as numbers or text, and some are alphanumeric (``SFC_IC0003``,
``R000002``): they are always handled as text here.
"""

__all__ = [
    'TOKEN_ERROR_CODES', 'THROTTLE_CODES', 'PENDING_RESULT_CODE',
    'normalize_code', 'is_success_code', 'result_message']

# errorCodes meaning the access token was refused (they differ per API page).
TOKEN_ERROR_CODES = frozenset({
        '404.001.03', '404.001.04', '401.002.01', '400.003.01', '401.003.01'})
# errorCodes meaning "slow down": spike arrest and quota violations.
THROTTLE_CODES = frozenset({'500.003.02', '500.003.03'})
# The STK Query ResultCode some Daraja versions use for "still processing".
PENDING_RESULT_CODE = '4999'

# The APIs run on the G2 core whose codes differ from the STK ones.
_G2_APIS = frozenset({'b2c', 'reversal', 'status', 'balance'})
_INITIATOR = ('The initiator information is invalid: check the initiator '
    'name, its password and the M-Pesa certificate.')
_ACCOUNT = 'M-Pesa reported a problem with an account of the transaction.'

_MESSAGES = {
    '0': 'Completed successfully.',
    '1': "The customer's M-Pesa balance is insufficient.",
    '2': 'Declined: the amount is below the minimum allowed.',
    '3': 'Declined: the amount is above the maximum allowed per transaction.',
    '4': 'Declined: the customer would exceed the daily transfer limit.',
    '5': 'Declined: the account would fall below its minimum balance.',
    '6': 'The paying party is unknown to M-Pesa.',
    '7': 'The receiving party is unknown to M-Pesa.',
    '8': 'Declined: the receiving account would exceed its maximum balance.',
    '11': 'The paying account is not in a state that allows this '
        'transaction.',
    '12': _ACCOUNT,
    '13': _ACCOUNT,
    '14': _ACCOUNT,
    '15': 'M-Pesa detected a duplicate transaction.',
    '17': 'Declined: the same amount was requested from this customer less '
        'than 2 minutes ago; wait before asking again.',
    '18': _INITIATOR,
    '20': 'The initiator is unknown to M-Pesa.',
    '21': 'The initiator is not allowed to make this request.',
    '22': 'The initiator is not active.',
    '24': 'The request lacks mandatory fields.',
    '25': 'The request has invalid parameters.',
    '26': 'M-Pesa is too busy; try again later.',
    '29': 'The command is not valid for this request.',
    '1001': 'The customer is busy with another M-Pesa transaction; try '
        'again in a minute or two.',
    '1019': 'The request expired before the customer completed it.',
    '1025': 'The payment prompt could not be sent (the account reference '
        'may be too long).',
    '1032': 'The customer cancelled the payment request.',
    '1036': 'The payment prompt could not be delivered to the phone.',
    '1037': 'The customer could not be reached or did not enter the PIN in '
        'time.',
    '2001': 'The initiator information is invalid (for a payment prompt: '
        'the customer entered a wrong PIN).',
    '2006': "The customer's M-Pesa account status does not allow this "
        'transaction.',
    '2028': 'The request is not permitted for this shortcode: check the '
        'paybill/till number and the transaction type.',
    '2040': 'The recipient is not a registered M-Pesa customer.',
    '4999': 'The payment is still being processed.',
    '8006': 'The security credential is locked.',
    '9999': 'The payment prompt could not be sent to the phone.',
    'SFC_IC0003': 'The operator does not exist: check the shortcode, the '
        'transaction type or the recipient number.',
    'R000001': 'The transaction has already been reversed.',
    'R000002': 'The original transaction ID is invalid.',
    'C2B00011': 'Rejected: invalid phone number.',
    'C2B00012': 'Rejected: invalid account number.',
    'C2B00013': 'Rejected: invalid amount.',
    'C2B00014': 'Rejected: invalid KYC details.',
    'C2B00015': 'Rejected: invalid shortcode.',
    'C2B00016': 'Rejected: other error.',
    '400.002.02': 'Daraja rejected a field of the request.',
    '400.002.05': 'Daraja rejected the request payload.',
    '500.001.1001': 'M-Pesa refused the request (wrong credentials, unknown '
        'merchant or customer busy).',
    '500.002.1001': 'This OriginatorConversationID was already used.',
    '500.003.02': 'M-Pesa is limiting the request rate; try again later.',
    '500.003.03': 'The API quota is used up; try again later.',
    **dict.fromkeys(TOKEN_ERROR_CODES, 'Daraja refused the access token.'),
    }
_API_MESSAGES = {
    'stk': {
        '2001': 'The customer entered a wrong M-Pesa PIN.',
        '8006': "The customer's M-Pesa PIN is locked; the customer must "
            'call Safaricom.',
        'SFC_IC0003': 'The shortcode or transaction type is wrong (paybill '
            'or till).',
        },
    'g2': {
        '1': "The business's M-Pesa account balance is insufficient.",
        '17': 'M-Pesa had an internal failure; try again later.',
        '2001': _INITIATOR,
        '8006': "The API user's password is locked; reset it in the M-Pesa "
            'portal.',
        'SFC_IC0003': 'The recipient phone number does not exist on M-Pesa.',
        },
    }


def normalize_code(code):
    """Return a result code as text, or None when it is not a code.

    Integers and integral floats become their decimal text; text is stripped.
    """
    if isinstance(code, bool):
        return None
    if isinstance(code, float) and code.is_integer() and abs(code) < 1e18:
        code = int(code)
    if isinstance(code, int) and abs(code) < 10 ** 18:
        return str(code)
    if isinstance(code, str) and code.strip():
        return code.strip()
    return None


def is_success_code(code):
    "Tell whether ``code`` means success: 0, '0', '00000000'…"
    text = normalize_code(code)
    return bool(text) and set(text) == {'0'}


def result_message(code, api=None):
    """Return a short message for ``code`` meant for sales staff.

    ``api`` is one of 'stk', 'c2b', 'b2c', 'reversal', 'status', 'balance'
    (or None) because some codes mean different things per API: 2001 is a
    wrong PIN for STK but a wrong initiator password or certificate for B2C.
    """
    text = normalize_code(code)
    if text is None:
        return 'M-Pesa gave no result code.'
    if is_success_code(text):
        text = '0'
    group = 'g2' if api in _G2_APIS else api
    message = _API_MESSAGES.get(group, {}).get(text) or _MESSAGES.get(text)
    return message or f'M-Pesa answered with code {text}.'
