# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Benchmark of settling one STK callback in-process, against the floor
that Tryton itself sets, in one process and one PostgreSQL database.

A fresh copy of the base database gets M-Pesa payments of a sale waiting
for their callback (inserted in SQL as copies of a payment that went
through the real flow, each with a real STK Push to the simulator, whose
customers pay at once and whose callbacks are all dropped: the benchmark
holds the real bodies).  The payments are then settled by batches of
``--batch`` payments (one transaction each; default 50, the module's
default ``settle_batch``; 1 for one payment per transaction), three ways:

``floor``
    ``Payment.succeed`` of the batch's payments with the ``clearing_date``
    context on the same journal: Tryton's own settlement (state, clearing
    move, its reconciliation), what any settlement costs at least.
``confirm on``
    The callbacks stored by the route (``POST /<database>/daraja/<id>/stk``
    in-process, ``[queue] worker`` set so that the route only stores), then
    ``Event.process_in_batches(events, batch)``, as the queued task runs
    it (with a batch of 1: as the route's after-answer processing); the
    account's Confirm Callbacks on, so the settlement asks the simulator
    (answer delay 0) by STK Query first.
``confirm off``
    The same with Confirm Callbacks off.

(Without the account's ``confirm_callbacks`` field, one phase ``ours``.)
The phases take turns by blocks of payments (``--block``), so that a
change of the machine's load falls on all of them; the first payments of
each are a warm-up, not counted.  The sale's confirmation, a task that
``sale_payment`` queues the same way in every phase, is not run.

Every SQL statement Tryton sends is counted by wrapping the execute of
Tryton's psycopg cursor class (``common.Counting``); the benchmark's own
statements go through a connection of its own.

Usage: python bench/settle.py [--payments 200] [--batch 50] [--reuse]
"""
import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from reconcile import push_all  # noqa: E402

RUN_DB = 'mpesa_bench_settle'
WARM_UP = 10
TARGET = 1.5


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Targets (issues 10 and 13): settling with confirmation "
        f"on costs at most {TARGET} x the floor at the same batch size, the "
        f"confirming query included.")
    parser.add_argument(
        '--payments', type=int, default=200, metavar='N',
        help="payments measured per phase (default: 200)")
    parser.add_argument(
        '--batch', type=int, default=50, metavar='N',
        help="payments settled per transaction (default: 50)")
    parser.add_argument(
        '--block', type=int, metavar='N',
        help="payments in a row per phase before the next phase's turn "
        "(default: 25, or the batch when larger)")
    parser.add_argument(
        '--reuse', action='store_true',
        help=f"reuse the base database {common.BASE_DB} if it exists "
        "(default: build it anew, about a minute)")
    parser.add_argument(
        '--top', type=int, default=8,
        help="how many of the statements each way of settling sends beyond "
        "the floor's to show (default 8, 0 for none)")
    parser.add_argument(
        '--callers', action='store_true',
        help="print the statements of the 'confirm on' settlement by the "
        "module code that sent them")
    parser.add_argument(
        '--json', metavar='FILE', help="write the results to FILE as JSON")
    return parser.parse_args(argv)


def prepare(simulator, count):
    """count paid STK pushes and their dropped callbacks; the run database
    with a payment of one sale for each.  Return [(payment id, body)]"""
    simulator.control('faults', {'drop_callbacks': 1.0})
    rows = push_all(simulator, count, 'success')
    deadline = time.monotonic() + 120
    while True:
        state = simulator.control('state')
        if not state['pending']:
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the simulated customers did not pay")
        time.sleep(0.5)
    bodies = {c['json']['Body']['stkCallback']['CheckoutRequestID']:
        json.dumps(c['json']) for c in state['dropped_callbacks']
        if c['kind'] == 'stk'}
    common.set_account(
        RUN_DB, base_url=simulator.url, query_rate=1e6,
        daraja_token=None, daraja_token_expires=None)
    ids = common.insert_payments(RUN_DB, rows)
    return [(i, bodies[r[0]]) for i, r in zip(ids, rows)]


def start_tryton():
    "Load the pool of the run database; return the counting, not enabled"
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    counting = common.Counting()
    counting.install()
    Pool.start()
    with Transaction().start(RUN_DB, 0, readonly=True):
        Pool(RUN_DB).init()
    return counting


def make_sale(payment_ids):
    """A quoted sale of the customer; the payments become its payments.
    Return the company and the account's callback identifier and whether
    it has Confirm Callbacks"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(RUN_DB)
    Sale = pool.get('sale.sale')
    Line = pool.get('sale.line')
    Party = pool.get('party.party')
    Account = pool.get('account.payment.mpesa.account')
    with common.connect(RUN_DB) as connection:
        company, party = connection.execute(
            "SELECT company, party FROM account_payment WHERE id = %s",
            (payment_ids[0],)).fetchone()
    with Transaction().start(RUN_DB, 0, context={
                'company': company, '_skip_warnings': True}) as transaction:
        sale = Sale(party=Party(party), invoice_method='order')
        sale.on_change_party()
        sale.lines = [Line(
                type='line', description="Maize flour, 50 bags",
                quantity=1, unit_price=Decimal(1000))]
        sale.save()
        Sale.quote([sale])
        account, = Account.search([])
        identifier = account.callback_identifier
        confirmable = 'confirm_callbacks' in Account._fields
        transaction.commit()
    with common.connect(RUN_DB) as connection:
        connection.execute(
            "UPDATE account_payment SET origin = %s WHERE id = ANY(%s)",
            (f'sale.sale,{sale.id}', payment_ids))
    return company, identifier, confirmable


def set_confirm(value):
    "Confirm Callbacks on the account, through Tryton (its caches follow)"
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Account = Pool(RUN_DB).get('account.payment.mpesa.account')
    with Transaction().start(RUN_DB, 0) as transaction:
        Account.write(Account.search([]), {'confirm_callbacks': value})
        transaction.commit()


class Phase:
    "What one way of settling cost: time, statements, HTTP, by step"

    def __init__(self, name):
        self.name = name
        self.count = 0
        self.seconds = defaultdict(float)
        self.statements = defaultdict(int)
        self.http_seconds = 0.0
        self.http_calls = 0
        self.tasks = 0
        # step -> statement -> count
        self.by_statement = defaultdict(Counter)
        self.events = Counter()

    def measure(self, counting, step, func, *args):
        "Run func(*args), adding its time and statements to step"
        kept = counting.statements
        counting.statements = self.by_statement[step]
        before = counting.total
        http, calls = counting.http_time, counting.http_calls
        counting.enabled = True
        start = time.perf_counter()
        try:
            return func(*args)
        finally:
            self.seconds[step] += time.perf_counter() - start
            counting.enabled = False
            self.statements[step] += counting.total - before
            counting.statements = kept
            self.http_seconds += counting.http_time - http
            self.http_calls += counting.http_calls - calls


class Settler:
    "The three ways of settling one payment, in transactions of their own"

    def __init__(self, company, identifier):
        from trytond.config import set as set_config
        from trytond.pool import Pool
        from werkzeug.test import Client

        from trytond.wsgi import app

        self.set_config = set_config
        pool = Pool(RUN_DB)
        self.Payment = pool.get('account.payment')
        self.Event = pool.get('account.payment.mpesa.event')
        self.company = company
        self.client = Client(app)
        self.path = f'/{RUN_DB}/daraja/{identifier}/stk'
        self.lookup = common.connect(RUN_DB)

    def floor(self, payment_ids):
        """Payment.succeed as Tryton's dispatcher runs a call: the
        transaction started again with the table locks it asks for"""
        from trytond.modules.account_mpesa.common import nairobi_date
        from trytond.transaction import Transaction, TransactionError
        context = {'company': self.company, '_skip_warnings': True,
            'clearing_date': nairobi_date()}
        extras = {}
        while True:
            with Transaction().start(
                    RUN_DB, 0, context=context, **extras) as transaction:
                try:
                    self.Payment.succeed(self.Payment.browse(payment_ids))
                except TransactionError as exception:
                    transaction.rollback()
                    transaction.tasks.clear()
                    exception.fix(extras)
                    continue
                transaction.commit()
                return self.tasks(transaction)

    def store(self, body):
        "The route stores the callback (the queue set: it only stores)"
        self.set_config('queue', 'worker', 'True')
        try:
            response = self.client.post(
                self.path, data=body, content_type='application/json')
        finally:
            self.set_config('queue', 'worker', 'False')
        if response.status_code != 200:
            raise RuntimeError(
                f"the route answered {response.status_code}: "
                f"{response.get_data(as_text=True)[:200]}")
        reference = json.loads(body)['Body']['stkCallback'][
            'CheckoutRequestID']
        event_id, = self.lookup.execute(
            "SELECT max(id) FROM account_payment_mpesa_event "
            "WHERE reference = %s", (reference,)).fetchone()
        return event_id

    def process(self, event_ids):
        """As the queued task processes a batch (the route's after-answer
        processing for one), without its tasks"""
        from trytond.transaction import Transaction
        with Transaction().start(
                RUN_DB, 0, readonly=True) as transaction:
            self.Event.process_in_batches(
                self.Event.browse(event_ids), len(event_ids))
        return self.tasks(transaction)

    def tasks(self, transaction):
        "Drop the queued tasks (the sale's confirmation); return how many"
        count = len(transaction.tasks)
        transaction.tasks.clear()
        return count

    def event_state(self, event_id):
        return self.lookup.execute(
            "SELECT state FROM account_payment_mpesa_event WHERE id = %s",
            (event_id,)).fetchone()[0]


def settle(settler, phase, counting, work):
    "Settle a batch of (payment id, body)"
    if phase.name == 'floor':
        phase.tasks += phase.measure(
            counting, 'settle', settler.floor, [i for i, _ in work])
    else:
        event_ids = [phase.measure(counting, 'store', settler.store, body)
            for _, body in work]
        phase.tasks += phase.measure(
            counting, 'settle', settler.process, event_ids)
        for event_id in event_ids:
            phase.events[settler.event_state(event_id)] += 1
    phase.count += len(work)


def run(arguments):
    names = ['floor', 'confirm on', 'confirm off']
    batch = arguments.batch
    block = arguments.block or max(25, batch)
    warm_up = max(WARM_UP, batch)
    per_phase = warm_up + arguments.payments
    common.clone_database(RUN_DB)
    with common.SimulatorProcess(answer_delay=0) as simulator:
        common.log(f"  {per_phase * len(names)} paid STK pushes")
        work = prepare(simulator, per_phase * len(names))
        counting = start_tryton()
        company, identifier, confirmable = make_sale([w[0] for w in work])
        if not confirmable:
            names = ['floor', 'ours']
            common.log("  the account has no confirm_callbacks: one phase "
                "'ours' with the module as it is")
        settler = Settler(company, identifier)
        queues = {n: work[i::len(names)][:per_phase]
            for i, n in enumerate(names)}
        phases = {n: Phase(n) for n in names}
        warm = {n: Phase(n) for n in names}

        def turn(name, work, into):
            if confirmable and name != 'floor':
                set_confirm(name == 'confirm on')
            if arguments.callers and into is phases:
                counting.callers = Counter() if name == names[1] else None
            for i in range(0, len(work), batch):
                settle(settler, into[name], counting, work[i:i + batch])
            if counting.callers is not None:
                callers.update(counting.callers)
                counting.callers = None

        callers = Counter()
        common.log(f"  warming up on {warm_up} payments per phase")
        for name in names:
            turn(name, queues[name][:warm_up], warm)
        start = time.monotonic()
        for offset in range(warm_up, per_phase, block):
            for name in names:
                turn(name, queues[name][offset:offset + block], phases)
            common.log(f"  {min(offset + block, per_phase) - warm_up}/"
                f"{arguments.payments} per phase, "
                f"{time.monotonic() - start:.0f} s")
        check = verify()
        settler.lookup.close()
        if arguments.callers:
            print(f"\n{names[1]}: statements per payment by the module code "
                "that sent them (store and settle)")
            for (where, statement), number in callers.most_common(30):
                statement = ' '.join(statement.split())[:90]
                print(f"  {number / arguments.payments:5.2f}  {where}\n"
                    f"         {statement}")
        simulator_queries = sum(
            1 for r in simulator.control('state')['requests']
            if 'stkpushquery' in r.get('path', ''))
    from trytond import backend
    backend.Database(RUN_DB).close()
    common.drop_database(RUN_DB)
    return phases, check, simulator_queries


def verify():
    with common.connect(RUN_DB) as connection:
        payments = dict(connection.execute(
                "SELECT state || '/' || COALESCE(mpesa_state, '-'), "
                "count(*) FROM account_payment GROUP BY 1").fetchall())
        moves, = connection.execute(
            "SELECT count(*) FROM account_move "
            "WHERE origin LIKE 'account.payment,%'").fetchone()
    return {'payments': payments, 'clearing_moves': moves}


def report(phases, check, simulator_queries, arguments):
    floor = phases['floor']

    def per(phase, step):
        n = phase.count or 1
        return phase.seconds[step] / n * 1000, phase.statements[step] / n

    rows = []
    results = {}
    for phase in phases.values():
        settle_ms, settle_sql = per(phase, 'settle')
        store_ms, store_sql = per(phase, 'store')
        ratio_ms = settle_ms / per(floor, 'settle')[0]
        ratio_sql = settle_sql / per(floor, 'settle')[1]
        n = phase.count or 1
        results[phase.name] = {
            'payments': phase.count, 'settle_ms': settle_ms,
            'settle_statements': settle_sql, 'store_ms': store_ms,
            'store_statements': store_sql, 'ratio_ms': ratio_ms,
            'ratio_statements': ratio_sql,
            'http_ms': phase.http_seconds / n * 1000,
            'http_calls': phase.http_calls / n, 'tasks': phase.tasks / n,
            'events': dict(phase.events)}
        rows.append([
            phase.name, phase.count, f"{settle_ms:.1f}", f"{settle_sql:.1f}",
            f"{ratio_ms:.2f}", f"{ratio_sql:.2f}",
            f"{phase.http_seconds / n * 1000:.1f}",
            f"{phase.http_calls / n:.1f}",
            f"{store_ms:.1f}" if phase.name != 'floor' else '-',
            f"{store_sql:.1f}" if phase.name != 'floor' else '-',
            ', '.join(f'{c} {s}' for s, c in phase.events.items()) or '-'])
    print()
    print(f"machine: {common.machine()}")
    print(f"per payment, {arguments.batch} payment(s) per transaction; "
        "ratios to the floor's settlement at the same batch size")
    print(common.table(
            ['phase', 'payments', 'settle ms', 'statements', 'x floor ms',
                'x floor stmts', 'HTTP ms', 'HTTP calls', 'store ms',
                'store stmts', 'events'], rows))
    print()
    print(f"database: payments {check['payments']}, clearing moves "
        f"{check['clearing_moves']}; STK Queries the simulator answered: "
        f"{simulator_queries}")
    if arguments.top:
        floor_n = floor.count or 1
        for phase in phases.values():
            if phase is floor:
                continue
            n = phase.count or 1
            beyond = Counter({
                    q: c / n - floor.by_statement['settle'][q] / floor_n
                    for q, c in phase.by_statement['settle'].items()})
            print(f"\n{phase.name}: the settlement's statements beyond the "
                f"floor's, per payment (top {arguments.top})")
            for statement, extra in beyond.most_common(arguments.top):
                if extra <= 0:
                    break
                statement = ' '.join(statement.split())[:100]
                print(f"  {extra:+6.2f}  {statement}")
    ours = results.get('confirm on') or results.get('ours')
    good = ours['ratio_ms'] <= TARGET
    how = 'on' if 'confirm on' in results else '(as the module is)'
    print(f"\nsettling with confirmation {how} by batches of "
        f"{arguments.batch}: {ours['ratio_ms']:.2f} x the floor's "
        f"time, {ours['ratio_statements']:.2f} x its statements "
        f"(target <= {TARGET} x) {'OK' if good else 'MISSED'}")
    return results


def main(argv=None):
    arguments = parse_arguments(argv)
    common.database_uri()
    started = time.monotonic()
    common.log(f"machine: {common.machine()}")
    common.ensure_base(arguments.reuse)
    common.log(f"settle: {arguments.payments} payments per phase")
    phases, check, simulator_queries = run(arguments)
    results = report(phases, check, simulator_queries, arguments)
    if arguments.json:
        with open(arguments.json, 'w') as file:
            json.dump({'results': results, 'check': check,
                    'machine': common.machine(),
                    'date': dt.date.today().isoformat()}, file, indent=2)
    common.log(f"done in {time.monotonic() - started:.0f} s")


if __name__ == '__main__':
    main()
