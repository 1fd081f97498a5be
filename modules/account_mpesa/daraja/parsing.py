# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Tolerant readers of Daraja's JSON values, shared by all the parsers.

Daraja sends numbers as JSON numbers or text, codes as int or text, lists of
one element as a bare object, and items without values.  Every reader here
accepts those variants and raises only ParseError, naming the field but
never quoting its value (it may be personal data).
"""
import math
from decimal import Decimal, InvalidOperation

from .codes import normalize_code
from .errors import ParseError

__all__ = [
    'mapping', 'pick', 'text', 'code', 'decimal', 'named_values', 'Reader']

_MAX_INT = 10 ** 18


def mapping(value, field):
    "Return ``value`` if it is a JSON object, else raise ParseError."
    if not isinstance(value, dict):
        raise ParseError(f'{field} is not a JSON object')
    return value


def pick(data, *keys):
    "Return the value of the first of ``keys`` in ``data`` (for misspellings)."
    for key in keys:
        if key in data:
            return data[key]
    return None


def text(value, field, required=False):
    """Return an identifier or a description as text.

    Numbers are turned into text, None into '' unless ``required``.
    """
    if value is None or value == '':
        if required:
            raise ParseError(f'{field} is missing')
        return ''
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) \
            and abs(value) < _MAX_INT:
        return str(value)
    if isinstance(value, float) and value.is_integer() \
            and abs(value) < _MAX_INT:
        return str(int(value))
    raise ParseError(f'{field} is not text')


def code(value, field):
    "Return a result code as text (int or text accepted)."
    result = normalize_code(value)
    if result is None:
        raise ParseError(f'{field} is missing or is not a code')
    return result


def decimal(value, field, required=False):
    "Return an amount (JSON number or text) as a finite Decimal, or None."
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ParseError(f'{field} is missing')
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ParseError(f'{field} is not an amount')
    if isinstance(value, float) and not math.isfinite(value):
        raise ParseError(f'{field} is not a finite amount')
    if isinstance(value, int) and abs(value) >= _MAX_INT:
        raise ParseError(f'{field} is out of range')
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ParseError(f'{field} is not an amount') from None
    if not result.is_finite() or result.adjusted() > 18:
        raise ParseError(f'{field} is not a finite amount')
    return result


def named_values(value, name_key, field):
    """Return the list-or-object of ``{name_key: …, "Value": …}`` as a dict.

    None or a missing container gives {}; an item without "Value" maps to
    None.
    """
    if value is None or value == '':
        return {}
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ParseError(f'{field} is not a list')
    result = {}
    for item in value:
        item = mapping(item, f'{field} item')
        name = text(item.get(name_key), f'{field} {name_key}', required=True)
        result[name] = item.get('Value')
    return result


class Reader:
    """Typed access to the members of one JSON object.

    Each reader takes the key, or its spellings in order of preference, and
    names the first one in its errors.
    """

    def __init__(self, data, what):
        self.data = mapping(data, what)

    def get(self, *keys):
        "Return the raw value of the first key present, or None."
        return pick(self.data, *keys)

    def text(self, *keys, required=False):
        "Return the value as text (see ``text``)."
        return text(self.get(*keys), keys[0], required)

    def code(self, *keys):
        "Return the value as a result code (see ``code``)."
        return code(self.get(*keys), keys[0])

    def decimal(self, *keys, required=False):
        "Return the value as a Decimal or None (see ``decimal``)."
        return decimal(self.get(*keys), keys[0], required)
