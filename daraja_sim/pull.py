# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Pull Transactions: a minimal version.

The reference only names the API and its row fields (field notes §3.4), so
this follows public client code: ``POST /pulltransactions/v1/register``
with ``ShortCode``, ``RequestType``, ``NominatedNumber``, ``CallBackURL``;
``POST /pulltransactions/v1/query`` with ``ShortCode``, ``StartDate``,
``EndDate`` (``YYYY-MM-DD HH:MM:SS``, Nairobi) and ``OffSetValue``.  The
query answers HTTP 200 with ``ResponseCode`` ``1000`` and the rows in
``Response`` (one page of up to 100, as a list in a list), or ``1001``
both for no records and for a shortcode not registered for Pull.
"""
import datetime as dt

from . import clock, validate
from .c2b import collection_shortcode
from .errors import invalid
from .ledger import money

DATE_FORMAT = '%Y-%m-%d %H:%M:%S'
PAGE_SIZE = 100
TRANSACTION_TYPES = {
    'stk': 'c2b-pay-bill-debit',
    'CustomerPayBillOnline': 'c2b-pay-bill-debit',
    'CustomerBuyGoodsOnline': 'c2b-buy-goods-debit',
    }


def register(call):
    "``POST /pulltransactions/v1/register``."
    simulator, body = call.simulator, call.json
    shortcode = collection_shortcode(simulator, body)
    registration = {
        'RequestType': validate.text(body, 'RequestType', 20),
        'NominatedNumber': validate.text(
            body, 'NominatedNumber', 15, optional=True),
        'CallBackURL': validate.url(body, 'CallBackURL'),
        }
    with simulator.lock:
        simulator.state.pull_urls[shortcode] = registration
    return {
        'ResponseRefID': simulator.ids.request_id(),
        'ResponseStatus': '1000',
        'ShortCode': shortcode,
        'ResponseDescription': 'Success',
        }


def _date(body, name):
    value = validate.text(body, name, 19)
    try:
        return dt.datetime.strptime(value, DATE_FORMAT).replace(
            tzinfo=clock.EAT)
    except ValueError:
        raise invalid(name) from None


def _row(entry):
    return {
        'transactionId': entry['receipt'],
        'trxDate': entry['time'].strftime(DATE_FORMAT),
        'msisdn': int(entry['phone']),
        'transactiontype': TRANSACTION_TYPES[
            entry.get('command') or entry['kind']],
        'billreference': entry.get('account') or '',
        'amount': money(entry['amount']),
        }


def query(call):
    "``POST /pulltransactions/v1/query``: payments received in a window."
    simulator, body = call.simulator, call.json
    shortcode = collection_shortcode(simulator, body)
    start, end = _date(body, 'StartDate'), _date(body, 'EndDate')
    offset = int(validate.digits(body, 'OffSetValue')
        if 'OffSetValue' in body else 0)
    with simulator.lock:
        registered = shortcode in simulator.state.pull_urls
        entries = simulator.state.ledger.paid_in(shortcode, start, end)
    page = [_row(e) for e in entries[offset:offset + PAGE_SIZE]]
    reply = {'ResponseRefID': simulator.ids.request_id()}
    if not registered:
        reply.update(ResponseCode='1001',
            ResponseMessage='Organization Name not available', Response=[])
    elif not page:
        reply.update(ResponseCode='1001', ResponseMessage='No records found',
            Response=[])
    else:
        reply.update(ResponseCode='1000', ResponseMessage='Success',
            Response=[page])
    return reply

