# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Daraja's clock: every time it sends or expects is Africa/Nairobi local
time (EAT, UTC+3, no daylight saving).  Parsed times are returned as
timezone-aware UTC datetimes; naive datetimes given to us are taken as UTC,
the way Tryton stores them."""
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ParseError

__all__ = [
    'NAIROBI', 'nairobi_timestamp', 'nairobi_datetime', 'to_utc',
    'parse_timestamp', 'parse_time']

try:
    NAIROBI = ZoneInfo('Africa/Nairobi')
except ZoneInfoNotFoundError:  # no tz database; Kenya keeps UTC+3 all year
    NAIROBI = dt.timezone(dt.timedelta(hours=3), 'EAT')

_FORMATS = (
    '%d.%m.%Y %H:%M:%S',  # B2C TransactionCompletedDateTime
    '%Y-%m-%d %H:%M:%S',  # Pull Transactions dates
    )


def to_utc(value):
    "Return the aware UTC form of ``value``; naive values are taken as UTC."
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def nairobi_datetime(now=None):
    "Return ``now`` (default: the current time) on Nairobi's clock."
    if now is None:
        return dt.datetime.now(NAIROBI)
    return to_utc(now).astimezone(NAIROBI)


def nairobi_timestamp(now=None):
    "Return ``now`` (default: the current time) as Daraja's YYYYMMDDHHmmss."
    return nairobi_datetime(now).strftime('%Y%m%d%H%M%S')


def _utc(value, field):
    "Return ``value`` (naive means Nairobi) as aware UTC."
    if value.tzinfo is None:
        value = value.replace(tzinfo=NAIROBI)
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ParseError(f'{field} is out of range') from None


def parse_timestamp(value, field='time'):
    """Parse a Nairobi YYYYMMDDHHmmss stamp (number or text) to aware UTC.

    Raise ParseError naming ``field`` when the value is not such a stamp.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if 0 <= value < 10 ** 14 else ''
    elif isinstance(value, str):
        text = value.strip()
    else:
        text = ''
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        raise ParseError(f'{field} is not a YYYYMMDDHHmmss time stamp')
    try:
        return _utc(dt.datetime.strptime(text, '%Y%m%d%H%M%S'), field)
    except ValueError:
        raise ParseError(f'{field} is not a valid date and time') from None


def parse_time(value, field='time'):
    """Parse any time format Daraja uses to an aware UTC datetime.

    Accepts YYYYMMDDHHmmss (number or text), ``DD.MM.YYYY HH:mm:ss``,
    ``YYYY-MM-DD HH:mm:ss`` and ISO 8601; times without an offset are Nairobi
    time.  Raise ParseError naming ``field`` otherwise.
    """
    if not isinstance(value, str) or value.strip().isdigit():
        return parse_timestamp(value, field)
    text = value.strip()
    for format_ in _FORMATS:
        try:
            return _utc(dt.datetime.strptime(text, format_), field)
        except ValueError:
            continue
    try:
        return _utc(dt.datetime.fromisoformat(text), field)
    except ValueError:
        raise ParseError(f'{field} is not a time') from None
