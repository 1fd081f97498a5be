# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Kenyan mobile numbers (MSISDN): normalising, masking and hashing.

Daraja wants ``2547XXXXXXXX`` or ``2541XXXXXXXX``: twelve digits, no ``+``.
C2B notifications now carry the SHA-256 of that form instead of the number.
"""
import hashlib
import re

import phonenumbers

from .errors import InvalidPhoneNumber

__all__ = ['normalize_msisdn', 'mask_msisdn', 'hash_msisdn', 'mask_phones']

_ALLOWED = re.compile(r'[0-9\s+().-]+')
_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
# What looks like a Kenyan mobile number inside free text.
_PHONE_IN_TEXT = re.compile(r'(?<!\d)(?:\+?254|0)?[17]\d{8}(?!\d)')


def normalize_msisdn(value):
    """Return ``value`` as Daraja's ``2547XXXXXXXX``/``2541XXXXXXXX``.

    Accept ``07…``, ``01…``, ``7…``, ``1…``, ``+254…`` and ``254…`` with spaces
    or dashes, as text or integer.  Raise InvalidPhoneNumber for anything
    that is not a Kenyan mobile number.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        text, problem = '', 'is missing'
    elif isinstance(value, int) and not 0 < value < 10 ** 15:
        text, problem = '', 'is not a valid phone number'
    else:
        text = str(value).strip()
        msisdn, problem = _parse(text)
        if problem is None:
            return msisdn
    shown = f' {mask_msisdn(text)}' if text else ''
    raise InvalidPhoneNumber(
        f'The phone number{shown} {problem}: expected a Kenyan mobile number '
        'such as 07XXXXXXXX or 2547XXXXXXXX.')


def _parse(text):
    "Return (msisdn, None) for a Kenyan mobile number, else (None, problem)."
    if not text:
        return None, 'is missing'
    if not _ALLOWED.fullmatch(text):
        return None, 'has characters that are not digits'
    number = _valid_number(text, 'KE')
    if number is None:
        foreign = _valid_number('+' + re.sub(r'\D', '', text), None)
        if foreign is not None:
            return None, 'is not a Kenyan number'
        return None, 'is not a valid phone number'
    if phonenumbers.region_code_for_number(number) != 'KE':
        return None, 'is not a Kenyan number'
    msisdn = f'{number.country_code}{number.national_number}'
    if (phonenumbers.number_type(number) not in _MOBILE_TYPES
            or not re.fullmatch(r'254[17]\d{8}', msisdn)):
        return None, 'is not a mobile number'
    return msisdn, None


def _valid_number(text, region):
    "Return the parsed phone number if ``text`` is a valid one, else None."
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def mask_msisdn(value):
    """Return ``value`` with its middle digits hidden: ``2547*****678``.

    At most the first four and the last three digits stay visible (fewer for
    short values); other characters are kept as they are.
    """
    text = '' if value is None else str(value)
    count = sum(c.isdigit() for c in text)
    head, tail = min(4, count // 3), min(3, count // 4)
    masked, seen = [], 0
    for char in text:
        if char.isdigit():
            seen += 1
            if head < seen <= count - tail:
                char = '*'
        masked.append(char)
    return ''.join(masked)


def mask_phones(text):
    "Return ``text`` with every Kenyan mobile number in it masked."
    return _PHONE_IN_TEXT.sub(lambda match: mask_msisdn(match.group()), text)


def hash_msisdn(value):
    """Return the SHA-256 hex digest of the normalised number.

    It is the form Safaricom sends as MSISDN in C2B notifications.
    """
    return hashlib.sha256(normalize_msisdn(value).encode('ascii')).hexdigest()
