# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Daraja time: Kenyan local time (EAT, UTC+3, no daylight saving) and the
text formats the API uses for it."""
import datetime as dt

EAT = dt.timezone(dt.timedelta(hours=3), 'EAT')
STAMP = '%Y%m%d%H%M%S'
DASHED = '%d-%m-%Y %H:%M:%S'


def now():
    "Return the current time in Nairobi."
    return dt.datetime.now(EAT)


def stamp(when):
    "Format as Daraja's ``YYYYMMDDHHmmss``."
    return when.strftime(STAMP)


def parse_stamp(text):
    "Parse ``YYYYMMDDHHmmss`` as Nairobi time; return None when invalid."
    if not (isinstance(text, str) and len(text) == 14 and text.isdigit()):
        return None
    try:
        return dt.datetime.strptime(text, STAMP).replace(tzinfo=EAT)
    except ValueError:
        return None


def dotted(when):
    "Format as B2C's ``DD.MM.YYYY HH:mm:ss``."
    return when.strftime('%d.%m.%Y %H:%M:%S')


def dashed(when):
    "Format as the org-portal statement's ``DD-MM-YYYY HH:MM:SS``."
    return when.strftime(DASHED)


def nairobi(when):
    "An aware datetime in Nairobi time; a naive one is taken as Nairobi's."
    if when.tzinfo is None:
        return when.replace(tzinfo=EAT)
    return when.astimezone(EAT)


def parse_nairobi(value, end_of_day=False):
    """A Nairobi time from a datetime (naive: Nairobi's), a date, or text
    written as the portal does (``DD-MM-YYYY HH:MM:SS``) or in ISO 8601
    (``YYYY-MM-DD[ HH:MM:SS]``, an offset is honoured).  A date alone is
    its first second, or with ``end_of_day`` its last.  Raise ValueError
    when it is none of these."""
    if isinstance(value, dt.datetime):
        return nairobi(value)
    if isinstance(value, dt.date):
        return nairobi(dt.datetime.combine(
            value, dt.time.max.replace(microsecond=0) if end_of_day
            else dt.time.min))
    text = str(value).strip()
    try:
        return nairobi(dt.datetime.strptime(text, DASHED))
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f'{text!r} is not a time (DD-MM-YYYY HH:MM:SS '
            'or YYYY-MM-DD HH:MM:SS, Nairobi)') from None
    if len(text) == 10:
        return parse_nairobi(when.date(), end_of_day)
    return nairobi(when)
