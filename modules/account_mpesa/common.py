# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Helpers shared by the models: units of work in transactions of their
own, row locks, and time (Tryton stores naive UTC, M-Pesa lives in
Nairobi)."""
import datetime as dt
import random
import time
from decimal import Decimal

from sql import Column, For, Literal
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, TransactionError

from .daraja.times import NAIROBI


def utc_now():
    "The current time as Tryton stores it: naive UTC"
    return dt.datetime.now(dt.timezone.utc).replace(
        tzinfo=None, microsecond=0)


def nairobi_date(moment=None):
    """The Nairobi date of an aware or naive-UTC moment (now when None): the
    posting date of an M-Pesa transaction"""
    if moment is None:
        moment = dt.datetime.now(dt.timezone.utc)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(NAIROBI).date()


def lock_rows(Model, ids):
    """Lock the rows of the records until the database transaction ends,
    waiting for a concurrent holder.

    Unlike ``ModelSQL.lock``, which restarts the Tryton transaction to take
    its locks at the start, this works in loops that commit after each
    record.  On PostgreSQL it is ``SELECT ... FOR UPDATE`` (a row changed by
    a concurrent transaction meanwhile raises a serialization error, to be
    retried); SQLite has no row locks, so a no-op write takes the database
    write lock, which serializes the writers the same way.  The records'
    values cached by the transaction are dropped, to be read after the
    lock.
    """
    ids = list(map(int, ids))
    if not ids:
        return
    transaction = Transaction()
    # What the transaction read of the rows before the lock may be stale
    for cache in transaction.cache.values():
        if Model.__name__ in cache:
            records = cache[Model.__name__]
            for id_ in ids:
                records.pop(id_, None)
    table = Model.__table__()
    cursor = transaction.connection.cursor()
    where = table.id.in_(ids)
    if backend.name == 'sqlite':
        cursor.execute(*table.update([table.id], [table.id], where=where))
    else:
        # In the order of the ids: batches that share rows do not deadlock
        cursor.execute(*table.select(
                Literal(1), where=where, order_by=[table.id],
                for_=For('UPDATE')))


def claim_row(Model, id_):
    """Serialize the transactions that claim the record, until each ends.

    A write that changes nothing (of a column no foreign key reads) takes
    the row's write lock: a claimer that waited for a concurrent one gets a
    serialization error on PostgreSQL and is run again by
    ``run_in_transaction``, then sees what the other committed, as with a
    lock taken at the start of the transaction.  Unlike ``ModelSQL.lock``
    (``FOR UPDATE``), it does not hold up the inserts of rows that refer to
    the record: their foreign key checks go on."""
    table = Model.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.update(
            [table.write_date], [table.write_date],
            where=table.id == int(id_)))


def run_in_transaction(func, *args, retries=10):
    """Run func(*args) in a transaction of its own and commit it.

    As Tryton's dispatcher does, the work is run again when Tryton asks for
    its locks to be taken at the start (TransactionError) and, a bounded
    number of times with a growing random pause, when a lock cannot be had
    or a concurrent update conflicts.  func must therefore not talk to
    Daraja: only database work is repeated safely.  The caller's
    transaction must hold no write lock (SQLite).
    """
    extras = {}
    count = 0
    while True:
        try:
            with Transaction().new_transaction(**extras) as transaction:
                try:
                    result = func(*args)
                    transaction.commit()
                    return result
                except TransactionError as exception:
                    transaction.rollback()
                    exception.fix(extras)
                    continue
        except backend.DatabaseOperationalError:
            if count >= retries:
                raise
            count += 1
            time.sleep(random.uniform(0, 0.05 * 2 ** min(count, 6)))


def thread_transaction():
    """Return a function that starts, in the thread that calls it, a
    read-only transaction on the current transaction's database, as its
    user and with its context: a thread has no transaction of its own"""
    transaction = Transaction()
    database, user, context = (
        transaction.database.name, transaction.user,
        dict(transaction.context))

    def start():
        return Transaction().start(
            database, user, readonly=True, context=context)
    return start


def summary(counts):
    "The counts by outcome of a scheduled run, for its one log line"
    return ', '.join(
        f'{n} {k}' for k, n in sorted(counts.items()) if n) or (
        "nothing to do")


def company_domain():
    """The domain of the records of the context's company, or of every
    company when there is none (a cron registered for no company)"""
    company = Transaction().context.get('company')
    return [('company', '=', company)] if company else []


def select_in(query, values):
    """The rows of query(slice) for the slices of values, within the
    backend's limit of parameters: one query per slice, not per value.

    Plain SQL, not ModelStorage.search: a search instantiates its records,
    and Tryton checks the ids shared by a batch of records for each one
    (quadratic in the batch), which the tens of thousands of rows of a
    month's statement cannot afford."""
    cursor = Transaction().connection.cursor()
    for sub in grouped_slice(sorted(values), backend.MAX_QUERY_PARAMS):
        cursor.execute(*query(list(sub)))
        yield from cursor


def decimal(value):
    "An amount as the database returns it (a float of SQLite's sums too)"
    if isinstance(value, float):
        value = str(value)
    return Decimal(value or 0)


def create_rows(Model, vlist):
    """Create records of Model from the values of vlist in multi-row
    INSERTs; return their ids in order.  The caller commits.

    Not ModelSQL.create: it evaluates the PYSON domain of every relational
    field for each record (milliseconds per record, minutes for the tens of
    thousands of rows of a month's statement).  Only for the records the
    module makes from values it has checked set-wise against the same
    rules, of models with no defaults, history or hooks that matter here;
    every value is given, none is computed."""
    transaction = Transaction()
    database = transaction.database
    table = Model.__table__()
    names = sorted({n for values in vlist for n in values})
    fields = [Model._fields[n] for n in names]
    columns = [Column(table, n) for n in names] + [
        table.create_uid, table.create_date]
    cursor = transaction.connection.cursor()
    ids = []
    size = max(1, backend.MAX_QUERY_PARAMS // len(columns))
    for sub in grouped_slice(vlist, size):
        rows = [[f.sql_format(values.get(f.name)) for f in fields]
            + [transaction.user, CurrentTimestamp()] for values in sub]
        if database.has_returning() and database.has_multirow_insert():
            cursor.execute(*table.insert(columns, rows, [table.id]))
            ids.extend(r[0] for r in cursor)
        else:
            for row in rows:
                cursor.execute(*table.insert(columns, [row]))
                ids.append(database.lastid(cursor))
    return ids
