# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The routes Daraja calls back.

``POST /<database_name>/daraja/<identifier>/<kind>``: the identifier names
the M-Pesa account; the callback is stored and committed before it is
processed, and acknowledged only once stored.  It is then processed on
Tryton's task queue when ``[queue] worker`` is set, else in the same
process right after the answer is sent."""
import functools
import json
import logging
import threading

import trytond.config as config
from trytond import backend
from trytond.pool import Pool
from trytond.protocols.wrappers import (
    HTTPStatus, Response, abort, with_pool, with_transaction)
from trytond.transaction import Transaction
from trytond.worker import run_task
from trytond.wsgi import app

from .outcome import CALLBACK_KINDS


logger = logging.getLogger(__name__)

ACKNOWLEDGEMENT = {'ResultCode': 0, 'ResultDesc': "Accepted"}
# Where the route keeps the body it read in the request's environment
BODY = 'account_mpesa.body'
PROCESSING = threading.BoundedSemaphore(
    config.getint('account_mpesa', 'callback_processes', default=4))


def json_response(data, status=HTTPStatus.OK):
    return Response(
        json.dumps(data), status, content_type='application/json')


@app.route(
    '/<database_name>/daraja/<identifier>/<path:kind>', methods={'POST'})
@with_pool
@with_transaction(context={'_skip_warnings': True})
def callback(request, pool, identifier, kind):
    """Store a Daraja callback, queue its processing and acknowledge it.

    The event (and its task on the queue) is committed by with_transaction,
    which retries a database conflict, before the answer is sent; queued,
    the event is its transaction's first statement (``Event.receive``).  A
    refused address gets the answer of an unknown identifier."""
    Account = pool.get('account.payment.mpesa.account')
    Event = pool.get('account.payment.mpesa.event')
    gate = Account.callback_gate(identifier)
    if gate is None or kind not in CALLBACK_KINDS:
        abort(HTTPStatus.NOT_FOUND)
    address = gate.remote_address(
        request.remote_addr, request.headers.get('X-Forwarded-For'))
    if not gate.allows_address(address):
        logger.warning(
            "Callback %s refused from %s for account %d",
            kind, address, gate.account)
        abort(HTTPStatus.NOT_FOUND)
    limit = gate.size_limit
    if (request.content_length or 0) > limit:
        abort(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    if BODY not in request.environ:
        # Read once: with_transaction runs the route again after a conflict
        request.environ[BODY] = request.stream.read(limit + 1)
    body = request.environ[BODY]
    if len(body) > limit:
        abort(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    queued = config.getboolean('queue', 'worker', default=False)
    try:
        event_id, state = Event.receive(
            gate, kind, body.decode('utf-8', 'replace'), address,
            queue=queued)
    except backend.DatabaseOperationalError:
        # with_transaction starts the transaction again, then commits it
        # before the answer is sent
        raise
    except Exception:
        logger.error(
            "Callback %s for account %d could not be stored",
            kind, gate.account, exc_info=True)
        Transaction().rollback()
        return json_response(
            {'ResultCode': 1, 'ResultDesc': "Not stored"},
            HTTPStatus.SERVICE_UNAVAILABLE)
    if state == 'invalid':
        return json_response(
            {'ResultCode': 1, 'ResultDesc': "Malformed callback"},
            HTTPStatus.BAD_REQUEST)
    if kind == 'c2b/validation':
        # Daraja waits at most 8 s for the verdict; it moves no money
        return json_response(Event.c2b_validation_answer(event_id))
    response = json_response(ACKNOWLEDGEMENT)
    if not queued:
        # Acknowledge first: Daraja waits only for the answer
        response.call_on_close(functools.partial(
                process_event, pool.database_name, event_id))
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
