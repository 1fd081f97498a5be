# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The routes Daraja calls back.

``POST /<database_name>/daraja/<identifier>/<kind>``: the identifier names
the M-Pesa account; the callback is stored and committed before it is
processed, and acknowledged only once stored.  It is then processed on
Tryton's task queue when ``[queue] worker`` is set, else in the same
process right after the answer is sent."""
import functools
import ipaddress
import json
import logging
import threading

import trytond.config as config
from trytond.pool import Pool
from trytond.protocols.wrappers import (
    HTTPStatus, Response, abort, with_pool, with_transaction)
from trytond.transaction import Transaction
from trytond.worker import run_task
from trytond.wsgi import app


logger = logging.getLogger(__name__)

ACKNOWLEDGEMENT = {'ResultCode': 0, 'ResultDesc': "Accepted"}
PROCESSING = threading.BoundedSemaphore(
    config.getint('account_mpesa', 'callback_processes', default=4))


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
    if not accounts or kind not in Event.callback_kinds():
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
    response = json_response(ACKNOWLEDGEMENT)
    if config.getboolean('queue', 'worker', default=False):
        Event.__queue__.process([event])
    else:
        # Acknowledge first: Daraja waits only for the answer
        response.call_on_close(functools.partial(
                process_event, pool.database_name, event.id))
    return response


def process_event(database_name, event_id):
    """Process the event once its callback was answered, a few at a time
    per process so that a burst of callbacks does not take every database
    connection from the answering of the next ones"""
    Event = Pool(database_name).get('account.payment.mpesa.event')
    with PROCESSING:
        with Transaction().start(
                database_name, 0, readonly=True) as transaction:
            Event.process([Event(event_id)])
        # The tasks the processing queued, as with_transaction runs them
        while transaction.tasks:
            run_task(database_name, transaction.tasks.pop())
