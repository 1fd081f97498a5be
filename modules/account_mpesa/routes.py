# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The routes Daraja calls back.

``POST /<database_name>/daraja/<identifier>/<kind>``: the identifier names
the M-Pesa account; the callback is stored and committed before it is
processed, and acknowledged only once stored."""
import ipaddress
import json
import logging

from trytond.protocols.wrappers import (
    HTTPStatus, Response, abort, with_pool, with_transaction)
from trytond.transaction import Transaction
from trytond.wsgi import app

from .event import KINDS

logger = logging.getLogger(__name__)

ACKNOWLEDGEMENT = {'ResultCode': 0, 'ResultDesc': "Accepted"}


def remote_address(request, account):
    """The address of the caller: the X-Forwarded-For entry added by the
    nearest untrusted hop when the peer is a trusted proxy"""
    proxies = account.networks('trusted_proxies')
    hops = [request.remote_addr] + [
        h.strip() for h in reversed(
            request.headers.get('X-Forwarded-For', '').split(','))
        if h.strip()]
    for hop in hops[:-1]:
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return hop
        if not any(address in n for n in proxies):
            return hop
    return hops[-1]


def json_response(data, status=HTTPStatus.OK):
    return Response(
        json.dumps(data), status, content_type='application/json')


@app.route(
    '/<database_name>/daraja/<identifier>/<path:kind>', methods={'POST'})
@with_pool
@with_transaction(context={'_skip_warnings': True})
def callback(request, pool, identifier, kind):
    "Store a Daraja callback, queue its processing and acknowledge it"
    Account = pool.get('account.payment.mpesa.account')
    Event = pool.get('account.payment.mpesa.event')
    accounts = Account.search([
            ('callback_identifier', '=', identifier),
            ], limit=1)
    if not accounts or kind not in KINDS:
        abort(HTTPStatus.NOT_FOUND)
    account, = accounts
    address = remote_address(request, account)
    if not account.allows_address(address):
        logger.warning(
            "Callback %s refused from %s for account %d",
            kind, address, account.id)
        abort(HTTPStatus.FORBIDDEN)
    limit = account.callback_size_limit
    if (request.content_length or 0) > limit:
        abort(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        abort(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    transaction = Transaction()
    try:
        event = Event.receive(
            account, kind, body.decode('utf-8', 'replace'), address)
        transaction.commit()
    except Exception:
        logger.error(
            "Callback %s for account %d could not be stored",
            kind, account.id, exc_info=True)
        transaction.rollback()
        return json_response(
            {'ResultCode': 1, 'ResultDesc': "Not stored"},
            HTTPStatus.SERVICE_UNAVAILABLE)
    if event.state == 'error':
        return json_response(
            {'ResultCode': 1, 'ResultDesc': "Malformed callback"},
            HTTPStatus.BAD_REQUEST)
    Event.__queue__.process([event])
    return json_response(ACKNOWLEDGEMENT)
