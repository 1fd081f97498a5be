# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The WSGI application of the callback benchmark: Tryton's own
(``trytond.application:app``, configured by TRYTOND_* environment
variables, with the pool of TRYTOND_DATABASE_NAMES loaded at import) plus
one baseline route, for the benchmark only.

``POST /<database_name>/bench/baseline`` goes through the same decorators
as the callback route (``with_pool``, ``with_transaction`` in read-write
mode with the same context) and runs ``SELECT 1`` so that PostgreSQL
really opens and commits a transaction (psycopg begins one lazily, at the
first statement); it does nothing else.

``POST /<database_name>/bench/durable`` goes through the same decorators,
inserts the request's body as one row of ``bench_durable`` (a table of an
id and a text, which the benchmark creates) and commits: the floor of any
route that stores what it received before it answers, since the commit
then waits for the write-ahead log to reach the disk.

Serve with: gunicorn --chdir bench app:app
"""
import json

from trytond.application import app
from trytond.protocols.wrappers import (
    HTTPStatus, Response, with_pool, with_transaction)
from trytond.transaction import Transaction

__all__ = ['app']


def reference_route(path):
    """Serve path with the decorators of the callback route (pool,
    read-write Tryton transaction, same context); the function runs its
    statements and the route answers as the callback route does"""
    def register(function):
        def route(request, pool):
            function(request, Transaction().connection.cursor())
            return Response(
                json.dumps({'ResultCode': 0, 'ResultDesc': "Accepted"}),
                HTTPStatus.OK, content_type='application/json')
        route.__name__ = function.__name__
        return app.route(path, methods={'POST'})(with_pool(with_transaction(
                    context={'_skip_warnings': True})(route)))
    return register


@reference_route('/<database_name>/bench/baseline')
def baseline(request, cursor):
    "Open a Tryton transaction on the database and do nothing else"
    cursor.execute('SELECT 1')
    cursor.fetchone()


@reference_route('/<database_name>/bench/durable')
def durable(request, cursor):
    "Store the body as one row and answer once it is committed"
    cursor.execute(
        'INSERT INTO bench_durable (body) VALUES (%s)',
        (request.get_data(as_text=True),))
