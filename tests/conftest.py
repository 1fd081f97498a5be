# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Test settings shared by the whole suite.

The backend comes from ``TRYTOND_DATABASE_URI`` (SQLite when unset) and the
database name from ``DB_NAME``.  SQLite's ``:memory:`` database lives in
one connection only, so end-to-end tests, whose Tryton server runs in
another thread, use a file database in a temporary folder instead.
``DB_CACHE`` keeps activated databases between tests and runs.
"""
import os
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

os.environ.setdefault('TRYTOND_DATABASE_URI', 'sqlite://')
BACKEND = os.environ['TRYTOND_DATABASE_URI'].split(':', 1)[0]
if BACKEND == 'sqlite':
    if os.environ.get('DB_NAME', ':memory:') == ':memory:':
        os.environ['DB_NAME'] = 'account_mpesa_test'
    os.environ.setdefault(
        'TRYTOND_DATABASE__PATH', tempfile.mkdtemp(prefix='account_mpesa-'))
    os.environ.setdefault(
        'DB_CACHE', os.path.join(ROOT, '.cache', 'sqlite'))
else:
    os.environ.setdefault('DB_NAME', 'test')
    os.environ.setdefault('DB_CACHE', 'postgresql://')
