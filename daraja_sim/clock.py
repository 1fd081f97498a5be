# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Daraja time: Kenyan local time (EAT, UTC+3, no daylight saving) and the
text formats the API uses for it."""
import datetime as dt

EAT = dt.timezone(dt.timedelta(hours=3), 'EAT')
STAMP = '%Y%m%d%H%M%S'


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
    return when.strftime('%d-%m-%Y %H:%M:%S')
