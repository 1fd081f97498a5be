# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Checks of request fields, run before anything is sent to Daraja.

Daraja answers a bad field with a terse ``Bad Request - Invalid <Field>``
(or, for STK, a failed prompt): these checks say what is wrong in words and
raise InvalidRequest.  Each returns the value to send.
"""
import re
from decimal import Decimal
from urllib.parse import urlsplit

from .errors import InvalidRequest

__all__ = [
    'check_amount', 'check_account_reference', 'check_description',
    'check_remarks', 'check_occasion', 'check_shortcode', 'check_url',
    'check_c2b_url', 'check_required', 'check_choice', 'clean_text']

# Daraja rejects most punctuation in free-text fields: keep to these.
_TEXT_CHARACTERS = re.compile(r'[A-Za-z0-9 ._-]')
_C2B_URL_WORDS = (
    'm-pesa', 'mpesa', 'safaricom', 'exe', 'exec', 'cmd', 'sql', 'query')


def check_amount(amount, *, field='Amount', minimum=1):
    """Return ``amount`` (int or Decimal) as whole shillings.

    M-Pesa moves whole shillings only: 10.5, zero and negative amounts are
    refused, as are floats (use Decimal).
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, Decimal)):
        raise InvalidRequest(
            f'{field} must be a whole number of shillings (int or Decimal).')
    if not Decimal(amount).is_finite() or amount != int(amount):
        raise InvalidRequest(
            f'{field} must be a whole number of shillings: M-Pesa does not '
            f'accept cents ({amount}).')
    if amount < minimum:
        raise InvalidRequest(
            f'{field} must be at least {minimum} shilling(s).')
    return int(amount)


def _check_text(value, field, minimum, maximum):
    "Check the length and characters of a free-text field."
    if not isinstance(value, str):
        raise InvalidRequest(f'{field} must be text.')
    value = value.strip()
    if not minimum <= len(value) <= maximum:
        raise InvalidRequest(
            f'{field} must have {minimum} to {maximum} characters '
            f'(it has {len(value)}).')
    bad = sorted({c for c in value if not _TEXT_CHARACTERS.fullmatch(c)})
    if bad:
        raise InvalidRequest(
            f'{field} may only hold letters, digits, spaces and . _ -; it '
            f'has {" ".join(map(repr, bad))}.')
    return value


def check_account_reference(value):
    "Check an STK AccountReference: 1 to 12 characters, shown on the phone."
    return _check_text(value, 'AccountReference', 1, 12)


def check_description(value):
    "Check an STK TransactionDesc: at most 13 characters."
    return _check_text(value, 'TransactionDesc', 0, 13)


def check_remarks(value):
    "Check the Remarks of B2C, Reversal, status and balance: 2 to 100."
    return _check_text(value, 'Remarks', 2, 100)


def check_occasion(value):
    "Check an optional Occasion: at most 100 characters."
    return _check_text(value, 'Occasion', 0, 100)


def clean_text(value, maximum):
    """Return ``value`` reduced to what Daraja accepts in free-text fields.

    Unsupported characters are dropped, blanks squeezed and the result cut to
    ``maximum`` characters; meant to build descriptions from names.
    """
    kept = ''.join(c for c in str(value) if _TEXT_CHARACTERS.fullmatch(c))
    return ' '.join(kept.split())[:maximum].strip()


def check_shortcode(value, field='ShortCode'):
    "Check a paybill, till or store number: 5 to 7 digits."
    text = str(value).strip() if isinstance(value, (str, int)) else ''
    if isinstance(value, bool) or not re.fullmatch(r'\d{5,7}', text):
        raise InvalidRequest(f'{field} must be a shortcode of 5 to 7 digits.')
    return text


def check_required(value, field):
    "Check that a text field is given and return it stripped."
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f'{field} is required.')
    return value.strip()


def check_choice(value, choices, field):
    "Check that ``value`` is one of ``choices`` and return it as text."
    text = str(value)
    if isinstance(value, bool) or text not in choices:
        raise InvalidRequest(
            f'{field} must be one of {", ".join(sorted(choices))}.')
    return text


def check_url(value, field):
    """Check a callback URL: an absolute http(s) URL without blanks.

    Stray blanks are the classic cause of ``Invalid CallBackURL``.
    """
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f'{field} is required.')
    if any(c.isspace() for c in value):
        raise InvalidRequest(f'{field} must not contain spaces.')
    parts = urlsplit(value)
    if parts.scheme not in {'http', 'https'} or not parts.netloc:
        raise InvalidRequest(f'{field} must be an absolute http(s) URL.')
    return value


def check_c2b_url(value, field):
    """Check a C2B Confirmation/Validation URL.

    On top of check_url, Daraja refuses URLs holding words such as
    "mpesa", "safaricom", "sql" or "query", in any case.
    """
    value = check_url(value, field)
    lower = value.lower()
    words = [w for w in _C2B_URL_WORDS if w in lower]
    if words:
        raise InvalidRequest(
            f'{field} must not contain the word(s) {", ".join(words)}: '
            'Daraja refuses such URLs.')
    return value
