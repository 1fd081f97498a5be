# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Test settings shared by the whole suite.

The backend comes from ``TRYTOND_DATABASE_URI`` (SQLite when unset) and the
database name from ``DB_NAME``.  SQLite's ``:memory:`` database lives in
one connection only, so end-to-end tests, whose Tryton server runs in
another thread, use a file database in a temporary folder instead.

``DB_CACHE`` keeps activated databases between tests and runs.  Unless it
is given, the cache is tied to a digest of the module's files, so that a
change of the module never restores a database built by an older one.
"""
import glob
import hashlib
import os
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, '.cache')


def module_digest():
    "A digest of the files that make the module's test databases"
    digest = hashlib.sha256()
    module = os.path.join(ROOT, 'modules', 'account_mpesa')
    names = [name
        for pattern in ['*.py', '*.xml', 'view/*.xml', 'tryton.cfg']
        for name in sorted(glob.glob(os.path.join(module, pattern)))]
    # The business the cached databases are built with
    names.append(os.path.join(ROOT, 'tests', 'e2e', 'scenario.py'))
    for name in names:
        with open(name, 'rb') as file:
            digest.update(file.read())
    return digest.hexdigest()[:12]


def drop_postgresql_cache(uri):
    "Drop the template databases that Tryton's DB_CACHE left in PostgreSQL"
    import psycopg
    from psycopg import sql

    with psycopg.connect(
            uri.rstrip('/') + '/postgres', autocommit=True) as connection:
        names = [r[0] for r in connection.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'test-%'")]
        for name in names:
            connection.execute(
                sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


def drop_foreign_database(uri, name):
    """Drop the database name when it exists but is not a Tryton database
    (a server may come with an empty database called test): Tryton's test
    tools see only Tryton databases, and would fail to create it"""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
            uri.rstrip('/') + '/postgres', autocommit=True) as connection:
        if not connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s",
                (name,)).fetchone():
            return
    with psycopg.connect(
            uri.rstrip('/') + '/' + name, autocommit=True) as connection:
        if connection.execute(
                "SELECT to_regclass('ir_module') IS NOT NULL").fetchone()[0]:
            return
    with psycopg.connect(
            uri.rstrip('/') + '/postgres', autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


os.environ.setdefault('TRYTOND_DATABASE_URI', 'sqlite://')
BACKEND = os.environ['TRYTOND_DATABASE_URI'].split(':', 1)[0]
if BACKEND == 'sqlite':
    if os.environ.get('DB_NAME', ':memory:') == ':memory:':
        # Not account_mpesa_test: the name is in the C2B URLs, and Daraja
        # refuses URLs with "mpesa" in them
        os.environ['DB_NAME'] = 'shop_test'
    os.environ.setdefault(
        'TRYTOND_DATABASE__PATH', tempfile.mkdtemp(prefix='account_mpesa-'))
    os.environ.setdefault(
        'DB_CACHE', os.path.join(CACHE, f'sqlite-{module_digest()}'))
else:
    os.environ.setdefault('DB_NAME', 'test')
    drop_foreign_database(
        os.environ['TRYTOND_DATABASE_URI'], os.environ['DB_NAME'])
    if 'DB_CACHE' not in os.environ:
        stamp = os.path.join(CACHE, f'postgresql-{module_digest()}')
        if not os.path.exists(stamp):
            drop_postgresql_cache(os.environ['TRYTOND_DATABASE_URI'])
            os.makedirs(CACHE, exist_ok=True)
            open(stamp, 'w').close()
        os.environ['DB_CACHE'] = 'postgresql://'


def pytest_collection_modifyitems(config, items):
    "Skip, saying why, the tests that need PostgreSQL when it is not used"
    import pytest

    if BACKEND == 'postgresql':
        return
    skip = pytest.mark.skip(reason=(
            "needs PostgreSQL (row locks, concurrent transactions); "
            "run with TRYTOND_DATABASE_URI=postgresql://..."))
    for item in items:
        if 'postgresql' in item.keywords:
            item.add_marker(skip)
