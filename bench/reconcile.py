# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Benchmark of the reconciliation cron (``account.payment|mpesa_reconcile``)
over many M-Pesa payments still processing, against the Daraja simulator.

For each size, in a process of its own and a fresh copy of the base
database: the simulator (answer delay 0, a process of its own) gets one
real STK Push per payment; the payments are inserted in SQL as copies of a
payment that went through the real flow; the account's query rate is set
to 1,000,000/s so that the cron never sleeps; then the cron is run as
trytond-cron runs it (``ir.cron.run_once`` per company, in a transaction)
until every payment has been asked about once.  With the module's batch
of 500 (``[account_mpesa] reconcile_batch``) that is 2 runs for 1,000
payments and 20 for 10,000, each run's search included.

Outcomes (``--outcome``):

``pending`` (default)
    The customers never answer (phones ending in 9999): each STK Query
    says "being processed" and the cron records the check.  This is the
    cron's steady state and its most frequent work.
``success``
    The customers pay at once but every callback is lost (the simulator's
    ``drop_callbacks`` = 1): each STK Query says success and the cron
    settles the payment (lock, succeed, clearing move).

Every SQL statement Tryton sends is counted by wrapping the execute of
Tryton's psycopg cursor class, which every Tryton connection uses; the
commits are counted on psycopg's Connection.  Time in the HTTP calls to
the simulator is measured apart.

Usage: python bench/reconcile.py [--sizes 1000 10000] [--outcome pending]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

RUN_DB = 'mpesa_bench_reconcile'
WARM_UP = 20
CRON_METHOD = 'account.payment|mpesa_reconcile'


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: statements per payment constant (no growth with N); "
        "the largest size takes at most 1.1 x (N/N0) the time of the "
        "smallest (10,000 at most 11 x 1,000).")
    parser.add_argument(
        '--sizes', type=int, nargs='+', default=[1000, 10000],
        metavar='N', help="numbers of payments (default: 1000 10000)")
    parser.add_argument(
        '--outcome', choices=['pending', 'success'], nargs='+',
        default=['pending'],
        help="what the STK Query answers (default: pending); several "
        "outcomes are run one after the other")
    parser.add_argument(
        '--batch', type=int, default=None,
        help="[account_mpesa] reconcile_batch (default: the module's, 500)")
    parser.add_argument(
        '--reuse', action='store_true',
        help=f"reuse the base database {common.BASE_DB} if it exists "
        "(default: build it anew, about a minute)")
    parser.add_argument(
        '--profile', metavar='FILE',
        help="then run the smallest size once more under cProfile (not "
        "counted in the figures), write the stats to FILE, print the top")
    parser.add_argument(
        '--top', type=int, default=8,
        help="how many of the most frequent statements to show (default 8)")
    parser.add_argument(
        '--json', metavar='FILE', help="write the results to FILE as JSON")
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# The child: one size, one outcome

def phone(i, outcome):
    "A distinct Kenyan number per payment, whose customer acts as outcome"
    if outcome == 'pending':
        # The suffix 9999 never answers; 10,000 per prefix
        prefix = ('2547', '2541', '2547', '2541')[i // 10000 % 4]
        return f'{prefix}{i % 10000:04d}9999'
    # No suffix of daraja_sim.customers ends in 00: the customer pays
    return f'2547{i % 1000000:06d}00'


def push_all(simulator, count, outcome):
    """One STK Push per payment to the simulator; return the rows of
    insert_payments"""
    from trytond.modules.account_mpesa import daraja

    local = threading.local()

    def push(i):
        if not hasattr(local, 'client'):
            local.client = daraja.Client(
                simulator.url, common.CONSUMER_KEY, common.CONSUMER_SECRET)
        amount = 100 + i % 900
        number = phone(i, outcome)
        answer = local.client.stk_push(
            business_shortcode=common.SHORTCODE, passkey=common.PASSKEY,
            amount=amount, phone=number,
            callback_url='http://127.0.0.1:9/bench/daraja/x/stk',
            account_reference=f'BENCH{i}', description='Bench')
        return (answer.checkout_request_id, answer.merchant_request_id,
            number, amount)

    rows = []
    with ThreadPoolExecutor(8) as executor:
        for n, row in enumerate(executor.map(push, range(count)), 1):
            rows.append(row)
            if n % 2000 == 0 or n == count:
                common.log(f"  {n}/{count} STK pushes sent")
    return rows


def open_payments():
    with common.connect(RUN_DB) as connection:
        return dict(connection.execute(
                "SELECT CASE WHEN state = 'processing' AND "
                "mpesa_checked_at IS NULL THEN 'unchecked' ELSE "
                "state || '/' || COALESCE(mpesa_state, '-') END, count(*) "
                "FROM account_payment GROUP BY 1").fetchall())


def child(arguments):
    size, = arguments.sizes
    outcome, = arguments.outcome
    if arguments.batch:
        os.environ['TRYTOND_ACCOUNT_MPESA__RECONCILE_BATCH'] = str(
            arguments.batch)
    common.clone_database(RUN_DB)
    with common.SimulatorProcess(answer_delay=0) as simulator:
        if outcome == 'success':
            simulator.control('faults', {'drop_callbacks': 1.0})
        start = time.monotonic()
        rows = push_all(simulator, size + WARM_UP, outcome)
        if outcome == 'success':
            # The customers answer at once, on the simulator's threads
            deadline = time.monotonic() + 120
            while simulator.control('state')['pending']:
                if time.monotonic() > deadline:
                    raise TimeoutError("the simulated customers did not pay")
                time.sleep(0.5)
        common.set_account(
            RUN_DB, base_url=simulator.url, query_rate=1e6,
            daraja_token=None, daraja_token_expires=None)
        warm_up = common.insert_payments(
            RUN_DB, rows[:WARM_UP], delete_model=False)
        counting = start_tryton()
        common.log(f"  warming up on {WARM_UP} payments")
        warm(warm_up)
        common.insert_payments(RUN_DB, rows[WARM_UP:])
        common.log(f"  {size} payments ready in "
            f"{time.monotonic() - start:.0f} s")
        result = run_cron(size, outcome, arguments, counting)
        result['simulator_requests'] = sum(
            1 for r in simulator.control('state')['requests']
            if 'stkpushquery' in r.get('path', ''))
    common.drop_database(RUN_DB)
    print(json.dumps(result))


def start_tryton():
    "Load the pool of the run database, counting from now on"
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    counting = common.Counting()
    counting.install()
    Pool.start()
    with Transaction().start(RUN_DB, 0, readonly=True):
        Pool(RUN_DB).init()
    return counting


def warm(payment_ids):
    """Reconcile the payments, then take them out of the way: the caches of
    the measured runs are warm, as in a long-running cron worker"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Payment = Pool(RUN_DB).get('account.payment')
    with common.connect(RUN_DB) as connection:
        company, = connection.execute(
            "SELECT company FROM account_payment WHERE id = %s",
            (payment_ids[0],)).fetchone()
    with Transaction().start(
            RUN_DB, 0, context={'company': company}) as transaction:
        Payment.mpesa_reconcile(Payment.browse(payment_ids))
        transaction.commit()
    with common.connect(RUN_DB) as connection:
        connection.execute(
            "UPDATE account_payment SET state = 'failed', "
            "mpesa_state = 'done' WHERE id = ANY(%s)", (payment_ids,))


def run_cron(size, outcome, arguments, counting):
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(RUN_DB)
    Cron = pool.get('ir.cron')
    with Transaction().start(RUN_DB, 0, readonly=True):
        cron, = Cron.search([('method', '=', CRON_METHOD)])
        cron_id = cron.id

    def done():
        counts = open_payments()
        return not counts.get('unchecked') and (
            outcome == 'pending' or not counts.get('processing/pending'))

    def run_once():
        # As trytond-cron does it (ir.cron.run), in a transaction
        with Transaction().start(
                RUN_DB, 0, context={'_skip_warnings': True}) as transaction:
            with transaction.set_context(_cron=CRON_METHOD):
                Cron.run_once([Cron(cron_id)])
            transaction.commit()

    profiler = None
    if arguments.profile:
        import cProfile
        profiler = cProfile.Profile()
        counting.callers = Counter()
    runs = 0
    elapsed = 0.0
    left = open_payments()
    while not done():
        counting.enabled = True
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        run_once()
        if profiler:
            profiler.disable()
        elapsed += time.perf_counter() - start
        counting.enabled = False
        runs += 1
        before, left = left, open_payments()
        common.log(f"  run {runs}: {elapsed:.1f} s so far, {left}")
        if left == before:
            raise RuntimeError("the cron run changed no payment")
    if profiler:
        profiler.dump_stats(arguments.profile)
        with open(arguments.profile + '.callers.json', 'w') as file:
            json.dump([
                    {'count': n, 'caller': c, 'statement': q}
                    for (c, q), n in counting.callers.most_common()],
                file, indent=1)
    top = sorted(counting.statements.items(), key=lambda kv: -kv[1])
    return {
        'outcome': outcome,
        'payments': size,
        'runs': runs,
        'seconds': elapsed,
        'queries': counting.total,
        'commits': counting.commits,
        'sql_seconds': sum(counting.statement_time.values()),
        'http_seconds': counting.http_time,
        'http_calls': counting.http_calls,
        'log_lines': dict(counting.log_lines),
        'final': open_payments(),
        'top': [
            {'count': n, 'seconds': counting.statement_time[q],
                'statement': q}
            for q, n in top[:arguments.top]],
        }


# The parent: build, run each size, print

def main(argv=None):
    arguments = parse_arguments(argv)
    common.database_uri()
    if arguments.child:
        return child(arguments)
    started = time.monotonic()
    common.log(f"machine: {common.machine()}")
    common.ensure_base(arguments.reuse)
    results = []
    for outcome in arguments.outcome:
        for size in arguments.sizes:
            common.log(f"reconcile: {size} payments, outcome {outcome}")
            command = [common.PYTHON, os.path.abspath(__file__), '--child',
                '--sizes', str(size), '--outcome', outcome, '--top',
                str(arguments.top)]
            if arguments.batch:
                command += ['--batch', str(arguments.batch)]
            output = subprocess.run(
                command, check=True, stdout=subprocess.PIPE, text=True,
                cwd=common.ROOT).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
    report(results, arguments)
    if arguments.profile:
        size = min(arguments.sizes)
        outcome = arguments.outcome[0]
        common.log(f"profiling: {size} payments, outcome {outcome} "
            "(not in the figures above)")
        subprocess.run(
            [common.PYTHON, os.path.abspath(__file__), '--child',
                '--sizes', str(size), '--outcome', outcome,
                '--profile', arguments.profile],
            check=True, stdout=subprocess.DEVNULL, cwd=common.ROOT)
        print(f"\nStatements per payment by the module code that sent "
            f"them ({size} payments, outcome {outcome}):")
        with open(arguments.profile + '.callers.json') as file:
            for row in json.load(file)[:arguments.top * 2]:
                statement = ' '.join(row['statement'].split())[:90]
                print(f"  {row['count'] / size:5.2f}  {row['caller']}\n"
                    f"         {statement}")
        import pstats
        print(f"\nProfile of {size} payments, outcome {outcome} "
            f"(cumulative, cProfile; {arguments.profile}):")
        pstats.Stats(arguments.profile, stream=sys.stdout).sort_stats(
            'cumulative').print_stats(
            r'account_mpesa|modelstorage|modelsql|requests/sessions', 30)
    if arguments.json:
        with open(arguments.json, 'w') as file:
            json.dump(results, file, indent=2)
    common.log(f"done in {time.monotonic() - started:.0f} s")


def report(results, arguments):
    rows = []
    print()
    print(f"machine: {common.machine()}")
    for r in results:
        n = r['payments']
        rows.append([
            r['outcome'], n, r['runs'], f"{r['seconds']:.1f}",
            f"{r['seconds'] / n * 1000:.2f}",
            f"{r['queries'] / n:.1f}", f"{r['commits'] / n:.2f}",
            f"{r['sql_seconds'] / n * 1000:.2f}",
            f"{r['http_seconds'] / n * 1000:.2f}",
            ', '.join(f"{v / n:.2f} {k}" for k, v in sorted(
                    r['log_lines'].items())) or '0',
            ', '.join(f'{v} {k}' for k, v in sorted(r['final'].items())),
            ])
    print()
    print(common.table(
            ['outcome', 'payments', 'runs', 'time s', 'ms/payment',
                'queries/payment', 'commits/payment', 'SQL ms/payment',
                'HTTP ms/payment', 'log lines/payment', 'payments after'],
            rows))
    print()
    ok = True
    for outcome in arguments.outcome:
        sized = sorted(
            (r for r in results if r['outcome'] == outcome),
            key=lambda r: r['payments'])
        if len(sized) < 2:
            continue
        small, large = sized[0], sized[-1]
        factor = large['payments'] / small['payments']
        time_ratio = large['seconds'] / small['seconds']
        query_ratio = ((large['queries'] / large['payments'])
            / (small['queries'] / small['payments']))
        time_target = factor * 1.1
        time_ok = time_ratio <= time_target
        # "Constant": within 5% (the searches of the runs are shared)
        query_ok = query_ratio <= 1.05
        ok &= time_ok and query_ok
        print(f"{outcome}: time {large['payments']}/{small['payments']} = "
            f"{time_ratio:.2f}x (target <= {time_target:.0f}x) "
            f"{'OK' if time_ok else 'MISSED'}; queries/payment ratio "
            f"{query_ratio:.3f} (target constant, <= 1.05) "
            f"{'OK' if query_ok else 'MISSED'}")
    for r in results:
        n = r['payments']
        print(f"\nMost frequent statements, {r['outcome']}, {n} payments "
            "(per payment, ms per payment):")
        for t in r['top']:
            statement = ' '.join(t['statement'].split())
            if len(statement) > 160:
                statement = statement[:157] + '...'
            print(f"  {t['count'] / n:6.2f}  {t['seconds'] / n * 1000:6.3f}"
                f"  {statement}")
    print()
    print("targets met" if ok else "targets MISSED")


if __name__ == '__main__':
    main()
