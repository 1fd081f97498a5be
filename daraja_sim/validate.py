# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Request field checks.

Each check reads one field of a JSON body and raises the reference's
``400.002.02 Bad Request - Invalid <Field>`` when it does not hold.
Numbers may come as JSON numbers or strings (reference §1.2); values are
never stripped, because stray whitespace is an error in Daraja too.
"""
import re
import urllib.parse

from .errors import invalid

MSISDN = re.compile(r'254[17]\d{8}')
URL = re.compile(r'https?://\S+')


def text(body, name, max_length, min_length=1, optional=False):
    """Return the field as text of ``min_length`` to ``max_length``
    characters; an absent or empty optional field gives None."""
    value = body.get(name)
    if optional and value in (None, ''):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise invalid(name)
    value = str(value)
    if not min_length <= len(value) <= max_length:
        raise invalid(name)
    return value


def digits(body, name, min_length=1, max_length=20):
    "Return the field as a string of digits."
    value = text(body, name, max_length, min_length)
    if not value.isdigit():
        raise invalid(name)
    return value


def msisdn(body, name):
    "Return a Safaricom number of the form ``2547XXXXXXXX``/``2541XXXXXXXX``."
    value = text(body, name, 12, 12)
    if not MSISDN.fullmatch(value):
        raise invalid(name)
    return value


def whole_amount(body, name, minimum=1, maximum=None):
    """Return a whole number of shillings as int.

    Decimals are refused even when integral (``"100.00"`` is an ``Invalid
    Amount`` in Daraja, reference §3)."""
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        amount = value
    elif isinstance(value, str) and value.isdigit():
        amount = int(value)
    else:
        raise invalid(name)
    if amount < minimum or (maximum is not None and amount > maximum):
        raise invalid(name)
    return amount


def one_of(body, name, choices):
    "Return the field when it is exactly one of ``choices``."
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or value not in choices:
        raise invalid(name)
    return value


def url(body, name, optional=False):
    "Return an http(s) URL with a host and no whitespace."
    value = text(body, name, 2048, optional=optional)
    if value is None:
        return None
    if not URL.fullmatch(value) or not urllib.parse.urlsplit(value).netloc:
        raise invalid(name)
    return value
