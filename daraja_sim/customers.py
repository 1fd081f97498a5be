# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Virtual customers: how a phone answers the PIN prompt, and who it is.

The outcome comes, in order of precedence, from ``Simulator.answer``, from
``Simulator.set_customer``, or from the last four digits of the phone.
"""
import hashlib

# outcome -> (ResultCode, ResultDesc) of reference §6; 'never' has no answer.
OUTCOMES = {
    'success': (0, 'The service request is processed successfully.'),
    'cancelled': (1032, 'Request cancelled by user'),
    'insufficient': (1, 'The balance is insufficient for the transaction.'),
    'wrong_pin': (2001, 'The initiator information is invalid.'),
    'unreachable': (1037, 'DS timeout user cannot be reached'),
    'never': None,
    }
SUFFIXES = {
    '1032': 'cancelled',
    '0001': 'insufficient',
    '2001': 'wrong_pin',
    '1037': 'unreachable',
    '9999': 'never',
    }
FIRST_NAMES = ('JOHN', 'MARY', 'PETER', 'GRACE', 'JAMES', 'FAITH', 'DAVID',
    'MERCY')
MIDDLE_NAMES = ('KAMAU', 'ACHIENG', 'MUTUA', 'WANJIKU', 'KIPROTICH',
    'NJERI', 'OTIENO', 'WAMBUI')
LAST_NAMES = ('DOE', 'OMONDI', 'KARIUKI', 'CHEBET', 'MWANGI', 'ATIENO',
    'KIMANI', 'NYAMBURA')


def check_outcome(outcome):
    "Raise ValueError unless ``outcome`` is a known outcome name."
    if outcome not in OUTCOMES:
        raise ValueError(
            f'unknown outcome {outcome!r}; use one of {sorted(OUTCOMES)}')
    return outcome


def normalise(phone):
    """Write ``+2547…``, ``07…``, ``7…`` as ``2547…``, without the spaces
    and dashes people type."""
    phone = ''.join(str(phone).replace('-', ' ').split()).lstrip('+')
    if phone.startswith('0'):
        return '254' + phone[1:]
    if len(phone) == 9:
        return '254' + phone
    return phone


def outcome_for(overrides, phone):
    "The outcome of ``phone`` given the ``set_customer`` overrides."
    return overrides.get(phone) or SUFFIXES.get(phone[-4:], 'success')


def names(phone):
    "A stable (first, middle, last) name for a phone."
    index = int(hashlib.sha256(phone.encode()).hexdigest(), 16)
    return (FIRST_NAMES[index % 8], MIDDLE_NAMES[index // 8 % 8],
        LAST_NAMES[index // 64 % 8])


def public_name(phone):
    "``254705912645 - NICHOLAS JOHN SONGOK`` style party name."
    return f"{phone} - {' '.join(names(phone))}"


def masked(phone):
    "The statement's masking: ``25470****149``."
    return f'{phone[:5]}****{phone[-3:]}'


def statement_party(phone, mask=True):
    """The statement's Other Party Info: ``25470****149 - JOHN **** DOE``
    (the middle name masked too, as a public importer of portal files
    splits it), or unmasked ``254708374149 - JOHN KAMAU DOE``."""
    if not mask:
        return public_name(phone)
    first, _, last = names(phone)
    return f'{masked(phone)} - {first} **** {last}'


def c2b_msisdn(phone, form):
    "The C2B payload's MSISDN: ``'plain'``, ``'masked'`` or ``'hashed'``."
    if form == 'hashed':
        return hashlib.sha256(phone.encode()).hexdigest()
    if form == 'masked':
        return f'{phone[:4]} ***** {phone[-3:]}'
    return phone
