# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Benchmark of the STK callback route under gunicorn on PostgreSQL.

A fresh copy of the base database gets M-Pesa payments waiting for their
callback (inserted in SQL as copies of a payment that went through the real
flow).  ``trytond.application:app`` is served by gunicorn on a loopback
port through ``bench/app.py``, which adds a baseline route: the same
decorators as the callback route (pool, read-write Tryton transaction),
``SELECT 1``, nothing else; and a durable route, which also inserts the
body as one row: the floor of a route that stores before it answers.  At
each number of concurrent senders, the baseline, the durable route, then
the callback route get a bounded number of POSTs (each on a new
connection, as Daraja does), stopped early at a time bound; the settlement
of the callbacks is then waited for (the drain) before the next step.  The
steps run in rounds (``--rounds``, default 3) at each number of senders,
and the figures are the rounds' medians: a step lasts a second or less,
and a lone step's ratio moved by a third between runs.

Where the callbacks are processed (``--queue``):

``--queue 1`` (default), ``--queue N``
    ``[queue] worker = True``, as recommended for volume: the route stores
    the callback and its task on Tryton's queue and answers; a
    ``trytond-worker -n N`` settles them, under ``nice`` (``--worker-nice``,
    default 10) so that answering Daraja comes first.  The worker runs
    during the measured steps, at its priority.
``--queue 0``
    The module's default: each callback is settled in the answering
    gunicorn worker right after its answer; the settlement then bounds the
    throughput (not the latency).

Callbacks (``--kind``):

``pending`` (default)
    Valid successful STK callbacks, one per payment waiting for it: each
    is stored, answered, then settles its payment (lock, ledger receipt,
    succeed, clearing move).
``unknown``
    Valid callbacks whose CheckoutRequestID matches no payment: stored,
    answered, and processed to "pending" (nothing to settle).

Confirmation (``--confirm``):

``on`` (default, the module's default)
    The account's Confirm Callbacks is on: each callback is confirmed by an
    STK Query to the Daraja simulator (a process of its own, answer delay
    0) before it settles.  The payments are made by real STK Pushes to the
    simulator, whose customers pay at once (their callbacks are dropped:
    the benchmark sends its own).
``off``
    Confirm Callbacks off: the callbacks settle as they come.

The queued processing applies the callbacks by batches of an account's
(``--batch``, default the module's ``[account_mpesa] settle_batch``).

Targets (issue 13): callback throughput >= 50% of the baseline's at every
level; p99 latency < 100 ms at 8 senders; callbacks settled per second
from the step's first request to the end of its drain >= 50 at 8 and 32
senders.

Usage: python bench/callbacks.py [--senders 1 8 32] [--requests 1000]
    [--queue N] [--worker-nice N] [--confirm on|off] [--batch N]
"""
import argparse
import functools
import http.client
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

RUN_DB = 'mpesa_bench_callbacks'
RESULT_DESC = 'The service request is processed successfully.'
PROFILED = 200


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: callback throughput >= 50% of the baseline's; "
        "p99 < 100 ms at 8 senders; settled >= 50/s at 8 and 32 senders.")
    add = parser.add_argument
    add('--senders', type=int, nargs='+', default=[1, 8, 32], metavar='N',
        help="numbers of concurrent senders (default: 1 8 32)")
    add('--requests', type=int, default=1000,
        help="requests per route and number of senders (default 1000)")
    add('--rounds', type=int, default=3,
        help="rounds of the three routes at each number of senders; the "
        "figures are their medians (default 3)")
    add('--duration', type=float, default=20,
        help="at most this many seconds per route and number of senders "
        "(default 20)")
    add('--kind', choices=['pending', 'unknown'], default='pending',
        help="callbacks for payments waiting for them (default) or for "
        "unknown CheckoutRequestIDs")
    add('--workers', type=int, default=4,
        help="gunicorn workers (default 4)")
    add('--worker-class', default='sync', choices=['sync', 'gthread'],
        help="gunicorn worker class (default sync)")
    add('--threads', type=int, default=1,
        help="threads per gthread worker (default 1)")
    add('--queue', type=int, default=1, metavar='PROCESSES',
        help="process the callbacks on Tryton's task queue ([queue] worker "
        "= True) with a trytond-worker of this many processes (default 1); "
        "0: in the answering gunicorn worker after the answer, the "
        "module's default")
    add('--worker-nice', type=int, default=10, metavar='N',
        help="niceness of the trytond-worker (default 10)")
    add('--worker-timeout', type=int, default=1, metavar='SECONDS',
        help="the trytond-worker's --timeout, as doc/production.rst "
        "recommends (default 1; Tryton's default is 60)")
    add('--settle', choices=['during', 'after'], default='during',
        help="with --queue: run the trytond-worker during the measured "
        "requests (default), or start it once they are answered, so that "
        "the route is measured alone and the settlement in the drain")
    add('--confirm', choices=['on', 'off'], default='on',
        help="the account's Confirm Callbacks: on (default), each callback "
        "is confirmed by an STK Query to the simulator; off")
    add('--daraja-latency', type=float, default=0, metavar='SECONDS',
        help="with --confirm on, the simulator answers each STK Query "
        "after this many seconds, as Daraja does in about 0.3 s (default "
        "0)")
    add('--batch', type=int, metavar='N',
        help="callbacks applied together by the queued processing "
        "([account_mpesa] settle_batch; default: the module's)")
    add('--lone', type=int, default=20, metavar='N',
        help="then send N callbacks one at a time, each once the previous "
        "one is processed, timing each from its sending to its settlement "
        "(default 20; 0 for none)")
    add('--warm-up', type=int, default=40,
        help="unmeasured requests per route before the first step "
        "(default 40)")
    add('--reuse', action='store_true',
        help=f"reuse the base database {common.BASE_DB} if it exists "
        "(default: build it anew, about a minute)")
    add('--profile', metavar='FILE',
        help="then send 200 more callbacks one at a time to the application "
        "in this process (no gunicorn) under cProfile, counting the SQL "
        "statements of the answer and of the processing after it; write the "
        "stats to FILE and print the top (not counted in the figures)")
    add('--json', metavar='FILE', help="write the results to FILE as JSON")
    return parser.parse_args(argv)


# The callbacks

def receipt(i):
    "A unique M-Pesa receipt number of 10 characters"
    return f'BNC{i:07d}'


def stk_callback(checkout, merchant, phone, amount, number):
    "The JSON body of a successful STK callback (as daraja_sim sends it)"
    return json.dumps({'Body': {'stkCallback': {
                    'MerchantRequestID': merchant,
                    'CheckoutRequestID': checkout,
                    'ResultCode': 0,
                    'ResultDesc': RESULT_DESC,
                    'CallbackMetadata': {'Item': [
                            {'Name': 'Amount', 'Value': float(amount)},
                            {'Name': 'MpesaReceiptNumber',
                                'Value': receipt(number)},
                            {'Name': 'TransactionDate',
                                'Value': int(time.strftime('%Y%m%d%H%M%S'))},
                            {'Name': 'PhoneNumber', 'Value': int(phone)},
                            ]},
                    }}}).encode()


def paid_pushes(simulator, count):
    """count STK Pushes to the simulator, paid at once, their callbacks
    dropped; return their (checkout, merchant, phone, amount)"""
    from reconcile import push_all
    simulator.control('faults', {'drop_callbacks': 1.0})
    rows = push_all(simulator, count, 'success')
    deadline = time.monotonic() + 300
    while simulator.control('state')['pending']:
        if time.monotonic() > deadline:
            raise TimeoutError("the simulated customers did not pay")
        time.sleep(0.5)
    return rows


def payment_rows(count):
    "(checkout, merchant, phone, amount) of count payments"
    return [(f'ws_CO_BENCH{i:08d}', f'bench-{i:08d}',
            f'2547{i % 1000000:06d}00', 100 + i % 900)
        for i in range(count)]


# The server

class Gunicorn:
    "trytond's WSGI application under gunicorn on a loopback port"

    def __init__(self, arguments, database=RUN_DB):
        self.port = common.free_port()
        self.database = database
        self.log = tempfile.NamedTemporaryFile(
            prefix='bench-gunicorn-', suffix='.log', delete=False)
        self.arguments = arguments
        self.env = env = dict(os.environ,
            TRYTOND_DATABASE_NAMES=database,
            TRYTOND_LOGGING_LEVEL='30')
        if arguments.batch:
            env['TRYTOND_ACCOUNT_MPESA__SETTLE_BATCH'] = str(arguments.batch)
        self.worker = None
        if arguments.queue:
            env['TRYTOND_QUEUE__WORKER'] = 'True'
            if arguments.settle == 'during':
                self.start_worker()
        self.process = subprocess.Popen(
            [common.PYTHON, '-m', 'gunicorn', '--chdir', common.HERE,
                '--bind', f'127.0.0.1:{self.port}',
                '--workers', str(arguments.workers),
                '--worker-class', arguments.worker_class,
                '--threads', str(arguments.threads),
                '--backlog', '2048', '--timeout', '120',
                '--log-level', 'warning', 'app:app'],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited, see {self.log.name}")
            try:
                status, _ = post(
                    self.port, f'/{database}/bench/baseline', b'{}')
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn did not answer, see "
                    f"{self.log.name}")
            time.sleep(0.5)

    def start_worker(self):
        "Start the trytond-worker (when processing on the queue)"
        if not self.arguments.queue or self.worker is not None:
            return
        self.worker = subprocess.Popen(
            [os.path.join(os.path.dirname(common.PYTHON), 'trytond-worker'),
                '-d', self.database, '-n', str(self.arguments.queue),
                '-t', str(self.arguments.worker_timeout)],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            # Its own process group, to be stopped whole, but the bench's
            # session: Linux weighs a session of its own (an autogroup) as
            # much as the one of gunicorn, whatever the worker's niceness
            process_group=0,
            preexec_fn=functools.partial(os.nice, self.arguments.worker_nice))

    def drain(self):
        """Wait for the settlement of the callbacks answered (starting the
        trytond-worker for it with --settle after); return seconds"""
        self.start_worker()
        seconds = wait_processed(self.database)
        if self.arguments.settle == 'after':
            self.stop_worker()
        return seconds

    def stop(self):
        common.terminate(self.process, 30)
        self.stop_worker()

    def stop_worker(self):
        worker, self.worker = self.worker, None
        if worker is not None and worker.poll() is None:
            # The worker's pool processes are in its session's group
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


def post(port, path, body, timeout=30):
    "POST body on a new connection; return (status, body)"
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        connection.request('POST', path, body, {
                'Content-Type': 'application/json'})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def load(port, path, bodies, senders, duration):
    """Send the bodies from senders threads, each request on a new
    connection, stopping at duration; return (latencies, statuses,
    elapsed)"""
    lock = threading.Lock()
    position = iter(range(len(bodies)))
    latencies, statuses = [], []
    start = time.perf_counter()
    deadline = start + duration
    finished = [start]

    def sender():
        while True:
            with lock:
                i = next(position, None)
            if i is None or time.perf_counter() > deadline:
                return
            begin = time.perf_counter()
            try:
                status, _ = post(port, path, bodies[i])
            except OSError as exception:
                status = type(exception).__name__
            end = time.perf_counter()
            with lock:
                latencies.append(end - begin)
                statuses.append(status)
                finished[0] = max(finished[0], end)

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, finished[0] - start


def events_unprocessed(database=RUN_DB):
    with common.connect(database) as connection:
        return connection.execute(
            "SELECT count(*) FROM account_payment_mpesa_event "
            "WHERE processed_at IS NULL").fetchone()[0]


def settle_alone(server, path, body, timeout=60):
    """Send one callback and wait for its processing (polled every 2 ms);
    return the seconds from sending it to its event processed"""
    reference = json.loads(body)['Body']['stkCallback']['CheckoutRequestID']
    with common.connect(RUN_DB) as connection:
        start = time.perf_counter()
        post(server.port, path, body)
        while not connection.execute(
                "SELECT 1 FROM account_payment_mpesa_event WHERE "
                "reference = %s AND processed_at IS NOT NULL",
                (reference,)).fetchone():
            if time.perf_counter() - start > timeout:
                raise TimeoutError("a lone callback was not processed")
            time.sleep(0.002)
        return time.perf_counter() - start


def wait_processed(database=RUN_DB, timeout=600):
    "Wait for the processing of the callbacks; return seconds"
    start = time.monotonic()
    while events_unprocessed(database):
        if time.monotonic() - start > timeout:
            raise TimeoutError("callbacks still unprocessed")
        time.sleep(0.2)
    return time.monotonic() - start


def measure(route, port, path, bodies, senders, duration):
    """Send the bodies to the route (load); return its summary with the
    CPU seconds by process while they were sent"""
    before = common.cpu_seconds()
    latencies, statuses, elapsed = load(port, path, bodies, senders, duration)
    after = common.cpu_seconds()
    result = summary(route, senders, latencies, statuses, elapsed)
    result['cpu'] = {'requests': {k: after[k] - before[k] for k in after}}
    return result


def summary(route, senders, latencies, statuses, elapsed):
    ok = sum(1 for s in statuses if s == 200)
    return {
        'route': route,
        'senders': senders,
        'requests': len(statuses),
        'ok': ok,
        'errors': {str(s): statuses.count(s) for s in set(statuses)
            if s != 200},
        'seconds': elapsed,
        'per_second': ok / elapsed if elapsed else 0,
        'p50_ms': common.percentile(latencies, 0.5) * 1000,
        'p99_ms': common.percentile(latencies, 0.99) * 1000,
        'max_ms': max(latencies, default=float('nan')) * 1000,
        'latencies': latencies,
        }


def combine(rounds):
    """One route's rounds at one number of senders as one summary: the
    medians of the rates, the percentiles of all the latencies, the CPU
    seconds summed"""
    def median(key):
        return statistics.median(r[key] for r in rounds)
    latencies = [t for r in rounds for t in r['latencies']]
    combined = summary(rounds[0]['route'], rounds[0]['senders'], latencies,
        [200] * len(latencies), 0)
    combined.update(
        requests=sum(r['requests'] for r in rounds),
        ok=sum(r['ok'] for r in rounds),
        errors=dict(sum((Counter(r['errors']) for r in rounds), Counter())),
        seconds=median('seconds'),
        per_second=median('per_second'))
    if 'drain_seconds' in rounds[0]:
        combined.update(
            drain_seconds=median('drain_seconds'),
            settled_per_second=median('settled_per_second'))
    combined['cpu'] = {phase: dict(sum(
                (Counter(r['cpu'][phase]) for r in rounds), Counter()))
        for phase in rounds[0]['cpu']}
    return combined


def main(argv=None):
    arguments = parse_arguments(argv)
    common.database_uri()
    started = time.monotonic()
    common.log(f"machine: {common.machine()}")
    common.ensure_base(arguments.reuse)
    common.clone_database(RUN_DB)
    with common.connect(RUN_DB) as connection:
        connection.execute(
            "CREATE TABLE bench_durable (id serial PRIMARY KEY, body text)")
    steps = len(arguments.senders) * arguments.rounds
    total = arguments.warm_up + steps * arguments.requests + (
        arguments.lone + (PROFILED if arguments.profile else 0))
    simulator = None
    if arguments.confirm == 'on':
        simulator = common.SimulatorProcess(answer_delay=0)
        rows = paid_pushes(simulator, total)
        if arguments.daraja_latency:
            simulator.control('faults', {'drop_callbacks': 1.0,
                    'slow_response': arguments.daraja_latency})
        common.set_account(
            RUN_DB, base_url=simulator.url, daraja_token=None,
            daraja_token_expires=None)
    else:
        rows = payment_rows(total)
        common.set_account(RUN_DB, confirm_callbacks=False)
    if arguments.kind == 'pending':
        common.insert_payments(RUN_DB, rows)
    else:
        rows = [(f'ws_CO_UNKNOWN{i:08d}', *r[1:])
            for i, r in enumerate(rows)]
    with common.connect(RUN_DB) as connection:
        identifier, = connection.execute(
            "SELECT callback_identifier FROM "
            "account_payment_mpesa_account").fetchone()
    callback_bodies = [
        stk_callback(*row, number=i) for i, row in enumerate(rows)]
    baseline_body = callback_bodies[0]
    callback_path = f'/{RUN_DB}/daraja/{identifier}/stk'
    baseline_path = f'/{RUN_DB}/bench/baseline'
    durable_path = f'/{RUN_DB}/bench/durable'
    common.log(f"{len(rows)} callbacks ready ({arguments.kind}); starting "
        f"gunicorn: {arguments.workers} {arguments.worker_class} workers x "
        f"{arguments.threads} threads")

    server = Gunicorn(arguments)
    results, lone = [], []
    try:
        used = 0
        warm = max(arguments.senders)
        if arguments.warm_up:
            for path in [baseline_path, durable_path]:
                load(server.port, path,
                    [baseline_body] * arguments.warm_up, warm, 60)
            load(server.port, callback_path,
                callback_bodies[:arguments.warm_up], warm, 60)
            used = arguments.warm_up
            server.drain()
            common.log(f"warmed up with {arguments.warm_up} requests a route")
        for senders, round_ in itertools.product(
                arguments.senders, range(arguments.rounds)):
            for route, path in [
                    ('baseline', baseline_path), ('durable', durable_path)]:
                results.append(measure(
                        route, server.port, path,
                        [baseline_body] * arguments.requests, senders,
                        arguments.duration))
            result = measure(
                'callback', server.port, callback_path,
                callback_bodies[used:used + arguments.requests], senders,
                arguments.duration)
            used += result['requests']
            during = common.cpu_seconds()
            result['drain_seconds'] = server.drain()
            after = common.cpu_seconds()
            result['cpu']['drain'] = {k: after[k] - during[k] for k in after}
            result['settled_per_second'] = result['ok'] / (
                result['seconds'] + result['drain_seconds'])
            results.append(result)
            common.log(f"{senders} senders, round {round_ + 1}: baseline "
                f"{results[-3]['per_second']:.0f}/s, durable "
                f"{results[-2]['per_second']:.0f}/s, callback "
                f"{result['per_second']:.0f}/s")
        for body in callback_bodies[used:used + arguments.lone]:
            lone.append(settle_alone(server, callback_path, body))
        used += len(lone)
    finally:
        server.stop()
        if simulator is not None:
            simulator.stop()
    check = verify(arguments.kind, used)
    report(results, arguments, check)
    if lone:
        print(f"lone callbacks, sent one at a time: answered then settled "
            f"in {common.percentile(lone, 0.5) * 1000:.0f} ms at the median, "
            f"{common.percentile(lone, 0.9) * 1000:.0f} ms at the 90th "
            f"percentile, {max(lone) * 1000:.0f} ms at most ({len(lone)} "
            "callbacks)")
    profile = None
    if arguments.profile:
        common.log(f"profiling {PROFILED} callbacks in this process")
        profile = profile_callbacks(
            callback_path, callback_bodies[used:used + PROFILED], arguments)
    if arguments.json:
        with open(arguments.json, 'w') as file:
            json.dump({'results': [
                        {k: v for k, v in r.items() if k != 'latencies'}
                        for r in results],
                    'check': check,
                    'profile': profile}, file, indent=2)
    os.unlink(server.log.name)
    common.drop_database(RUN_DB)
    common.log(f"done in {time.monotonic() - started:.0f} s")


def profile_callbacks(path, bodies, arguments):
    """Send the callbacks one by one to the WSGI application in this
    process under cProfile, counting statements by phase: the answer, then
    the processing the route runs once the answer is closed"""
    import cProfile
    import pstats
    os.environ['TRYTOND_DATABASE_NAMES'] = RUN_DB
    counting = common.Counting()
    counting.install()
    counting.callers = Counter()
    import app as bench_app
    from werkzeug.test import Client
    client = Client(bench_app.app)
    phases = {p: {'seconds': 0.0, 'queries': 0}
        for p in ['answer', 'processing']}
    profiler = cProfile.Profile()
    responses = []
    counting.enabled = True
    for body in bodies:
        for phase in ['answer', 'processing']:
            before = counting.total
            start = time.perf_counter()
            profiler.enable()
            if phase == 'answer':
                response = client.post(
                    path, data=body, content_type='application/json',
                    buffered=False)
                response.get_data()
                responses.append(response.status_code)
            else:
                response.close()
            profiler.disable()
            phases[phase]['seconds'] += time.perf_counter() - start
            phases[phase]['queries'] += counting.total - before
    counting.enabled = False
    profiler.dump_stats(arguments.profile)
    n = len(bodies)
    print(f"\nIn-process profile of {n} callbacks ({arguments.kind}; "
        f"statuses {dict(Counter(responses))}):")
    for phase, figures in phases.items():
        print(f"  {phase:<10} {figures['seconds'] / n * 1000:7.2f} ms, "
            f"{figures['queries'] / n:5.1f} statements per callback")
    print("\nStatements per callback by the module code that sent them:")
    for (where, statement), count in counting.callers.most_common(24):
        statement = ' '.join(statement.split())[:90]
        print(f"  {count / n:5.2f}  {where}\n         {statement}")
    print(f"\nProfile (cumulative, cProfile; {arguments.profile}):")
    pstats.Stats(arguments.profile, stream=sys.stdout).sort_stats(
        'cumulative').print_stats(
        r'account_mpesa|modelstorage|modelsql|trytond/(transaction|wsgi)',
        30)
    return {phase: {k: v / n for k, v in figures.items()}
        for phase, figures in phases.items()}


def verify(kind, sent):
    "What the callbacks did to the database"
    with common.connect(RUN_DB) as connection:
        events = dict(connection.execute(
                "SELECT state, count(*) FROM account_payment_mpesa_event "
                "GROUP BY state").fetchall())
        payments = dict(connection.execute(
                "SELECT state, count(*) FROM account_payment "
                "GROUP BY state").fetchall())
        moves, = connection.execute(
            "SELECT count(*) FROM account_move "
            "WHERE origin LIKE 'account.payment,%'").fetchone()
    return {'kind': kind, 'sent': sent, 'events': events,
        'payments': payments, 'clearing_moves': moves}


def report(results, arguments, check):
    """Print the medians of the rounds by number of senders and route, and
    the figures against the targets"""
    rounds = {}
    for r in results:
        rounds.setdefault(r['senders'], {}).setdefault(
            r['route'], []).append(r)
    ratios = {senders: {route: [r['per_second'] / b['per_second']
                for r, b in zip(routes[route], routes['baseline'])]
            for route in ['durable', 'callback']}
        for senders, routes in rounds.items()}
    rows, by_level = [], {}
    for senders, routes in rounds.items():
        for route in ['baseline', 'durable', 'callback']:
            r = by_level.setdefault(senders, {})[route] = combine(
                routes[route])
            ratio = each = drain = settled = ''
            if route != 'baseline':
                ratio = f"{statistics.median(ratios[senders][route]):.0%}"
                each = ' '.join(
                    f"{x * 100:.0f}" for x in ratios[senders][route])
            if route == 'callback':
                drain = f"{r['drain_seconds']:.1f}"
                settled = f"{r['settled_per_second']:.1f}"
            rows.append([
                senders, route, r['requests'], f"{r['per_second']:.1f}",
                f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.1f}", ratio, each, drain, settled,
                ', '.join(f'{n} x {s}' for s, n in r['errors'].items())
                or '-'])
    print()
    print(f"machine: {common.machine()}")
    print(f"gunicorn: {arguments.workers} {arguments.worker_class} workers x "
        f"{arguments.threads} threads; callbacks: {arguments.kind}; "
        f"Confirm Callbacks {arguments.confirm}; "
        "processed " + (f"by trytond-worker -n {arguments.queue} -t "
            f"{arguments.worker_timeout} at nice "
            f"{arguments.worker_nice}, {arguments.settle} the requests, "
            f"batches of {arguments.batch or 'the default size'}"
            if arguments.queue else "in the answering worker"))
    print(f"{arguments.rounds} rounds of {arguments.requests} requests a "
        "route: rates are the rounds' medians, latencies over all rounds, "
        "'/base' the median of the rounds' ratios to the baseline, each "
        "round's in %")
    print(common.table(
            ['senders', 'route', 'requests', 'req/s', 'p50 ms', 'p99 ms',
                'max ms', '/base', 'rounds %', 'drain s', 'settled/s',
                'errors'], rows))
    print()
    print("CPU milliseconds a request by process while each route was "
        "sent, then CPU seconds a round of the callbacks' drain (all "
        "processes of the machine; 'other' holds the senders):")
    for senders, routes in by_level.items():
        for route, r in routes.items():
            spent = {k: v / r['requests'] * 1000
                for k, v in r['cpu']['requests'].items() if v > 0}
            print(f"  {senders:>2} senders, {route:<8}: " + ', '.join(
                    f"{k} {v:.2f}" for k, v in sorted(
                        spent.items(), key=lambda i: -i[1]) if v >= 0.01)
                + f" (total {sum(spent.values()):.2f})")
            if 'drain' in r['cpu']:
                print(f"  {senders:>2} senders, drain   : " + ', '.join(
                        f"{k} {v / arguments.rounds:.1f} s" for k, v in
                        sorted(r['cpu']['drain'].items(),
                            key=lambda i: -i[1])
                        if v / arguments.rounds >= 0.05))
    print()
    print(f"database: events {check['events']}, payments "
        f"{check['payments']}, clearing moves {check['clearing_moves']} "
        f"for {check['sent']} callbacks")
    ok = True
    for senders in by_level:
        ratio = statistics.median(ratios[senders]['callback'])
        good = ratio >= 0.5
        ok &= good
        print(f"throughput at {senders} senders: callback/baseline "
            f"{ratio:.0%} (target >= 50%) {'OK' if good else 'MISSED'}")
    for senders in [8, 32]:
        if senders in by_level:
            settled = by_level[senders]['callback']['settled_per_second']
            good = settled >= 50
            ok &= good
            print(f"settled at {senders} senders: {settled:.1f}/s (target "
                f">= 50/s) {'OK' if good else 'MISSED'}")
    if 8 in by_level:
        p99 = by_level[8]['callback']['p99_ms']
        good = p99 < 100
        ok &= good
        print(f"p99 at 8 senders: {p99:.1f} ms (target < 100 ms) "
            f"{'OK' if good else 'MISSED'}")
    errors = sum(r['requests'] - r['ok'] for r in results)
    if errors:
        ok = False
        print(f"{errors} requests not answered 200")
    print("targets met" if ok else "targets MISSED")


if __name__ == '__main__':
    main()
