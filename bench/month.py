# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Benchmark of a simulated month of a busy shop (issue 12): the module
settles a month's M-Pesa traffic against the Daraja simulator, then the
month's org-portal statement is imported and tied out.

The month, at ``--scale`` 1: 10,000 STK Pushes (10% cancelled by the
customer, 1% never answered), 2,000 customer payments to the paybill (C2B;
95% with an invoice number for account number, 5% mistyped from a phone
no customer has), 200 refunds by B2C and 20 by Reversal; 5% of the
simulator's callbacks dropped, 10% of those delivered sent a second time.

Everything the module settles goes through it, over HTTP:

- The base database (built once, in a process of its own, by Tryton's
  test tools) is the business of the end-to-end tests with
  ``account_statement``, a statement journal, the M-Pesa crons given the
  company and an approver of payouts.  A copy of it is served as
  ``bench/callbacks.py`` serves its database: gunicorn with Tryton's WSGI
  application on a loopback port and a ``trytond-worker`` that settles
  the callbacks queued by the routes, by batches.
- The simulator (``python -m daraja_sim``, a process of its own, charges
  on, its B2C shortcode the paybill so that payouts are on the paybill's
  statement) drops 5% of its callbacks (``drop_callbacks``, seeded).  Its
  clock is the real one, as the module's: the month is the current
  calendar month in Nairobi, compressed into the run's minutes (moving the
  simulator's clock alone would put it out of step with the module's
  query delays and Pull windows).
- The STK payments are inserted in SQL as approved payments (10,000 sales
  through the ORM would take longer than the month's settlement), then
  processed by ``account.payment.process``: the module queues each push
  and the trytond-worker sends it to the simulator, whose customers answer
  after ``--answer-delay`` seconds by the suffix of their phone (``1032``
  cancels, ``9999`` never answers).  Their callbacks reach the routes and
  are confirmed by STK Query (Confirm Callbacks is on, as by default).
- The C2B customers are parties with a posted invoice each (made through
  the ORM as ``bench/c2b.py`` makes them); they pay with
  ``POST /__sim__/c2b``.  The account registers its C2B URLs and Pull
  Transactions through its buttons; confirmations are confirmed by Pull.
- Refunds go through the Refund wizard on succeeded STK payments, are
  approved by another user and processed; the worker sends the B2C or
  Reversal, whose results come back to the routes.
- The traffic comes in ten slices while the crons (reconcile, pending
  callbacks, Pull Transactions, clearing moves posting) run beside it, a
  round a minute as trytond-cron would run them, with the account's
  default query delay (2 min) and query rate (2 a second).  Then 10% of
  the callbacks delivered are sent again as they were (a Daraja retry),
  and the crons run until nothing but the never-answered pushes is left.
- The simulator sweeps the Utility Account to the bank; the month's XLSX
  (``GET /__sim__/statement.xlsx?from=...&to=...``) is imported with the
  statement import wizard (format ``mpesa``, which sets the M-Pesa lines)
  and tied out.  The tie-out's counts by class and its unexplained
  differences are printed (target: none).

Then ``bench/statement.py`` measures the import and tie-out time per row
at 1,000, 10,000 and 50,000 rows (``--sizes``; none to skip it), in
processes of its own; its figures are printed with the month's.

Usage: python bench/month.py [--scale 0.1] [--uri postgresql://...]
    [--reuse] [--sizes 1000 10000 50000] [--json FILE]
"""
import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import builddb  # noqa: E402
import c2b  # noqa: E402
import callbacks  # noqa: E402
import common  # noqa: E402
import statement  # noqa: E402

BASE_DB = 'mpesa_bench_month_base'
# Not 'mpesa': Daraja refuses callback URLs with the word
RUN_DB = 'bench_month'
NAIROBI = ZoneInfo('Africa/Nairobi')
# A month at scale 1 (issue 12)
MONTH = {'stk': 10000, 'c2b': 2000, 'b2c': 200, 'reversal': 20}
CANCELLED, UNANSWERED = 0.10, 0.01
MISTYPED = 0.05
DROPPED, DUPLICATED = 0.05, 0.10
SEED = 12
SLICES = 10
# trytond-cron's pace: a look at the scheduled tasks every minute
CRON_PERIOD = 60
CRONS = [
    'account.payment|mpesa_reconcile',
    'account.payment.mpesa.event|process_pending',
    'account.payment.mpesa.account|pull_transactions',
    'account.payment.journal|cron_post_clearing_moves',
    ]
APPROVER = 'approver'


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: no unexplained difference in the month's tie-out; "
        "the statement's time per row constant, the 50,000-row month "
        "imported and tied out in under two minutes.")
    add = parser.add_argument
    add('--scale', type=float, default=1.0,
        help="the month's traffic times this (default 1: 10,000 STK "
        "Pushes; 0.1 for a quick run)")
    add('--answer-delay', type=float, default=2.0, metavar='SECONDS',
        help="seconds before a simulated customer answers (default 2)")
    add('--sizes', type=int, nargs='*', default=[1000, 10000, 50000],
        metavar='N', help="rows of bench/statement.py's statements "
        "(default: 1000 10000 50000; none: skip it)")
    add('--uri', help="the PostgreSQL server (default: "
        "TRYTOND_DATABASE_URI, else " + common.DEFAULT_URI + ")")
    add('--reuse', action='store_true',
        help=f"reuse the base databases ({BASE_DB} and bench/statement.py's) "
        "if they exist")
    add('--settle-timeout', type=float, default=3600, metavar='SECONDS',
        help="give up waiting for the month to settle after this long "
        "(default 3600: the whole month takes about half an hour here)")
    add('--json', metavar='FILE', help="write the results to FILE as JSON")
    add('--build', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def server_arguments():
    """bench/callbacks.py's server as its defaults run it, but with a
    trytond-worker of 2 processes at the priority of the others: here it
    sends the pushes and payouts too, and the month's pace is its"""
    arguments = callbacks.parse_arguments([])
    arguments.queue = 2
    arguments.worker_nice = 0
    return arguments


# The base database: built in a process of its own (Tryton's test tools)

def build():
    from proteus import Model

    statement.activate()
    builddb.give_crons_company()
    User = Model.get('res.user')
    Group = Model.get('res.group')
    approver = User(name="Approver", login=APPROVER)
    approver.groups.extend(Group.find([
                ('name', 'in', ['Payment', 'Payment Approval', 'Accounting']),
                ]))
    approver.save()
    # The model of the STK payments inserted in SQL: a draft
    Payment = Model.get('account.payment')
    PaymentJournal = Model.get('account.payment.journal')
    Party = Model.get('party.party')
    journal, = PaymentJournal.find([('process_method', '=', 'mpesa')])
    customer, = Party.find([('name', '=', "Wanjiku Kamau")])
    Payment(journal=journal, kind='receivable', party=customer,
        amount=Decimal(100), mpesa_phone='254712345678').save()
    from trytond import backend
    backend.Database(os.environ['DB_NAME']).close()


# The month

def month_dates():
    """The first and last day of the current month in Nairobi; refuse to
    start in its last hour"""
    now = dt.datetime.now(NAIROBI)
    first = now.date().replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    if dt.datetime.combine(following, dt.time(), NAIROBI) - now < (
            dt.timedelta(hours=1)):
        sys.exit("The month ends in Nairobi within the hour: run it later")
    return first, following - dt.timedelta(days=1)


def stk_phone(i, outcome):
    "A distinct phone per push, whose customer acts as outcome"
    return {'cancelled': f'2547{i:04d}1032', 'never': f'2541{i:04d}9999',
        'success': f'2547{i:06d}00'}[outcome]


def stk_plan(count, rng):
    "(phone, amount) of each push: 10% cancelled, 1% never answered"
    outcomes = (['cancelled'] * round(count * CANCELLED)
        + ['never'] * round(count * UNANSWERED))
    outcomes += ['success'] * (count - len(outcomes))
    rng.shuffle(outcomes)
    return [(stk_phone(i, o), 100 + (i * 37) % 4900)
        for i, o in enumerate(outcomes)]


def c2b_plan(count, rng, invoices):
    """(phone, amount, account number, matches) of each customer payment:
    the invoice's number from its customer's phone, or a mistyped number
    from a phone no customer has"""
    typos = set(rng.sample(range(count), round(count * MISTYPED)))
    plan = []
    for i in range(count):
        number, amount = invoices[i]
        if i in typos:
            plan.append((f'25478{i:07d}', amount, f'{number}X{i}', False))
        else:
            plan.append((c2b.phone(i), amount, number, True))
    return plan


def invoices():
    """(number, amount) of the invoice of each customer made by
    bench/c2b.py's populate, in the order of the customers"""
    numbers = dict(count(
            "SELECT p.code, i.number FROM account_invoice i "
            "JOIN party_party p ON p.id = i.party WHERE p.code LIKE 'BC-%'"))
    return [(numbers[f'BC-{i:05d}'], 100 + i % 900)
        for i in range(len(numbers))]


def sliced(items, n):
    "The items in n slices of nearly equal length"
    return [items[len(items) * k // n:len(items) * (k + 1) // n]
        for k in range(n)]


class Shop:
    "The business in the run database, driven in this process"

    def __init__(self, simulator, server):
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        self.simulator = simulator
        self.server = server
        self.pool = Pool(RUN_DB)
        with Transaction().start(RUN_DB, 0, readonly=True):
            self.company = self.pool.get('company.company').search([])[0].id
            self.approver, = self.pool.get('res.user').search([
                    ('login', '=', APPROVER)])
            Cron = self.pool.get('ir.cron')
            self.crons = [Cron.search([('method', '=', m)])[0].id
                for m in CRONS]
        self.cron_rounds = 0
        self.cron_seconds = 0.0
        self.cron_failures = []

    def run(self, func, user=0):
        "func() in a transaction of the company, committed"
        return statement.in_transaction(RUN_DB, self.company, func, user)[0]

    def setup_c2b(self):
        "Register the C2B URLs and Pull Transactions, as the buttons do"
        Account = self.pool.get('account.payment.mpesa.account')

        common.set_account(RUN_DB, pull_nominated_number='0712345678')
        # Each button records Daraja's answer in a transaction of its own
        self.run(lambda: Account.register_c2b_urls(Account.search([])))
        self.run(lambda: Account.register_pull(Account.search([])))

    def process(self, payment_ids):
        "Process the approved payments: the module queues their pushes"
        Payment = self.pool.get('account.payment')
        self.run(lambda: Payment.process(Payment.browse(payment_ids)))

    def refund(self, payment_id, method, amount):
        """The Refund wizard on a payment, then the approver approves and
        processes the refund: the module queues its B2C or Reversal"""
        from trytond.transaction import Transaction
        Refund = self.pool.get('account.payment.mpesa.refund', type='wizard')
        Payment = self.pool.get('account.payment')

        def create():
            session_id, _, _ = Refund.create()
            with Transaction().set_context(
                    active_model='account.payment', active_id=payment_id,
                    active_ids=[payment_id]):
                wizard = Refund(session_id)
                wizard.start.amount = Decimal(amount)
                wizard.start.method = method
                wizard.start.reason = "Goods returned"
                wizard.transition_create_()
                refund_id = wizard.start.payment.id
            Refund.delete(session_id)
            return refund_id
        refund_id = self.run(create, user=1)

        def approve_and_process():
            refund = Payment(refund_id)
            Payment.approve([refund])
            Payment.process([refund])
        self.run(approve_and_process, user=self.approver.id)

    def cron_round(self):
        """Run each cron once, as trytond-cron runs it: a task that fails
        is rolled back and logged, and the others run"""
        from trytond.transaction import Transaction
        Cron = self.pool.get('ir.cron')
        start = time.perf_counter()
        for method, cron_id in zip(CRONS, self.crons):
            with Transaction().start(
                    RUN_DB, 0, context={'_skip_warnings': True}
                    ) as transaction:
                try:
                    with transaction.set_context(_cron=method):
                        Cron.run_once([Cron(cron_id)])
                except Exception as exception:
                    transaction.rollback()
                    self.cron_failures.append(f'{method}: {exception!r}')
                    common.log(f"  the cron {method} failed: "
                        f"{exception!r}")
                else:
                    transaction.commit()
        self.cron_rounds += 1
        self.cron_seconds += time.perf_counter() - start


class Crons(threading.Thread):
    "trytond-cron beside the traffic: a round of the tasks every minute"

    def __init__(self, shop):
        super().__init__(name='crons', daemon=True)
        self.shop = shop
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stopping.wait(CRON_PERIOD):
                self.shop.cron_round()
        except Exception as exception:
            common.log(f"the crons stopped: {exception!r}")
            self.error = exception

    def stop(self):
        self.stopping.set()
        self.join()
        if self.error:
            raise self.error


def count(query, params=None):
    "The rows of a query on the run database"
    with common.connect(RUN_DB) as connection:
        return connection.execute(query, params).fetchall()


def refundable(used, wanted, rng, timeout):
    """wanted succeeded STK payments with their receipt, not refunded yet:
    (id, amount), drawn at random, once there are that many (or fewer
    after timeout).  A push succeeded by a query gets its receipt later
    (the C2B notification, the statement): it cannot be refunded before."""
    deadline = time.monotonic() + timeout
    while True:
        rows = count(
            "SELECT id, amount FROM account_payment WHERE kind = "
            "'receivable' AND state = 'succeeded' AND "
            "mpesa_checkout_request_id IS NOT NULL AND "
            "COALESCE(mpesa_receipt, '') <> '' AND NOT (id = ANY(%s)) "
            "ORDER BY id", (list(used),))
        if len(rows) >= wanted or time.monotonic() > deadline:
            return rng.sample(rows, min(wanted, len(rows)))
        time.sleep(5)


def pay_c2b(simulator, plan):
    "The customers pay the paybill; return how many were paid"
    def pay(row):
        phone, amount, reference, _ = row
        return simulator.control('c2b', {
                'phone': phone, 'amount': amount,
                'bill_ref_number': reference})['paid']
    with ThreadPoolExecutor(4) as executor:
        return sum(executor.map(pay, plan))


def quiet(timeout):
    """Wait until the trytond-worker has run every queued task and no
    callback waits to be processed"""
    deadline = time.monotonic() + timeout
    while count(
            "SELECT (SELECT count(*) FROM ir_queue WHERE finished_at IS "
            "NULL) + (SELECT count(*) FROM account_payment_mpesa_event "
            "WHERE processed_at IS NULL)")[0][0]:
        if time.monotonic() > deadline:
            raise TimeoutError("queued tasks or callbacks left unprocessed")
        time.sleep(1)


def resend(simulator, server, rng):
    """Send 10% of the callbacks the simulator delivered once more, as it
    sent them (a Daraja retry); return how many"""
    delivered = [c for c in simulator.control('state')['callbacks']
        if c.get('status') == 200 and not c['url'].endswith('/validation')]
    chosen = rng.sample(delivered, round(len(delivered) * DUPLICATED))
    by_path = {}
    for callback in chosen:
        path = urllib.parse.urlsplit(callback['url']).path
        by_path.setdefault(path, []).append(
            json.dumps(callback['json']).encode())
    for path, bodies in by_path.items():
        callbacks.load(server.port, path, bodies, 4, 600)
    return len(chosen)


def unsettled(never):
    "What keeps the month from being settled, by kind (empty when none)"
    left = Counter()
    for state, mpesa_state, phone, n in count(
            "SELECT state, mpesa_state, mpesa_phone, count(*) "
            "FROM account_payment WHERE state IN ('approved', 'processing') "
            "GROUP BY 1, 2, 3"):
        if not (phone in never and mpesa_state == 'pending'):
            left[f'{state}/{mpesa_state}'] += n
    return left


def settle(shop, plan, never, paid_c2b, timeout):
    """Run the crons until only the never-answered pushes are open and the
    ledger holds every customer payment"""
    deadline = time.monotonic() + timeout
    while True:
        quiet(max(deadline - time.monotonic(), 1))
        shop.cron_round()
        quiet(max(deadline - time.monotonic(), 1))
        left = unsettled(never)
        c2b_known, = count(
            "SELECT count(*) FROM account_payment_mpesa_transaction "
            "WHERE kind = 'c2b'")[0]
        if c2b_known < paid_c2b:
            left['c2b not in the ledger'] = paid_c2b - c2b_known
        if not left:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the month did not settle: {dict(left)}")
        common.log(f"  waiting for {dict(left)}")
        time.sleep(15)


def drive(shop, arguments, rng):
    """The month's traffic in slices, the crons between them; then the
    duplicates and the crons until settled.  Return the figures."""
    scale = arguments.scale
    simulator, server = shop.simulator, shop.server
    sizes = {k: max(round(v * scale), 1) for k, v in MONTH.items()}
    pushes = stk_plan(sizes['stk'], rng)
    never = {p for p, _ in pushes if p.endswith('9999')}
    common.log(f"  {sizes['c2b']} customers with an open invoice")
    c2b.populate(RUN_DB, shop.company, 0, sizes['c2b'])
    # Posting queued each invoice's report for the worker: before the month
    quiet(arguments.settle_timeout)
    receipts = c2b_plan(sizes['c2b'], rng, invoices())
    payment_ids = common.insert_payments(
        RUN_DB, [(None, None, p, a) for p, a in pushes], values={
            'state': "'approved'", 'mpesa_requested_at': 'NULL',
            'mpesa_state': 'NULL', 'mpesa_attempts': '0',
            'mpesa_account_reference': "'SHOP'"})
    refunds = [('b2c', k) for k in range(sizes['b2c'])] + [
        ('reversal', k) for k in range(sizes['reversal'])]
    rng.shuffle(refunds)
    refunded, paid_c2b = set(), 0
    start = time.monotonic()
    crons = Crons(shop)
    crons.start()
    for k, (stk, pays, gives) in enumerate(zip(
                sliced(payment_ids, SLICES), sliced(receipts, SLICES),
                # The refunds in the second half of the month
                [[]] * (SLICES // 2) + sliced(refunds, SLICES
                    - SLICES // 2))):
        shop.process(stk)
        paid_c2b += pay_c2b(simulator, pays)
        for (method, _), (payment_id, amount) in zip(
                gives, refundable(refunded, len(gives), rng,
                    arguments.settle_timeout)):
            refunded.add(payment_id)
            shop.refund(payment_id, method,
                amount if method == 'reversal' else max(amount // 2, 10))
        common.log(f"  slice {k + 1}/{SLICES}: {len(stk)} pushes, "
            f"{len(pays)} customer payments, {len(gives)} refunds "
            f"({time.monotonic() - start:.0f} s)")
    crons.stop()
    traffic = time.monotonic() - start
    quiet(arguments.settle_timeout)
    duplicated = resend(simulator, server, rng)
    common.log(f"  {duplicated} callbacks sent again; settling")
    settle(shop, pushes, never, paid_c2b, arguments.settle_timeout)
    settled = time.monotonic() - start
    state = simulator.control('state')
    return {
        'planned': sizes, 'paid_c2b': paid_c2b,
        'mistyped': sum(1 for r in receipts if not r[3]),
        'refunds': len(refunded), 'traffic_seconds': traffic,
        'settled_seconds': settled, 'duplicated': duplicated,
        'delivered': sum(1 for c in state['callbacks']
            if c.get('status') == 200),
        'dropped': len(state['dropped_callbacks']),
        'cron_rounds': shop.cron_rounds, 'cron_seconds': shop.cron_seconds,
        'cron_failures': shop.cron_failures,
        }


def export(simulator, first, last):
    "The month's statement of the paybill as the portal exports it"
    query = urllib.parse.urlencode(
        {'from': first.isoformat(), 'to': last.isoformat()})
    with urllib.request.urlopen(
            f'{simulator.url}/__sim__/statement.xlsx?{query}',
            timeout=120) as response:
        return response.read()


def books():
    "What the month left in the database, by table and state"
    return {
        'payments': count(
            "SELECT CASE WHEN kind = 'payable' THEN mpesa_payout_method "
            "WHEN mpesa_checkout_request_id IS NULL AND state = 'succeeded' "
            "THEN 'c2b' ELSE 'stk' END, state, count(*) "
            "FROM account_payment GROUP BY 1, 2 ORDER BY 1, 2"),
        'ledger': count(
            "SELECT kind, state, count(*) FROM "
            "account_payment_mpesa_transaction GROUP BY 1, 2 ORDER BY 1, 2"),
        'events': count(
            "SELECT kind, state, count(*) FROM account_payment_mpesa_event "
            "GROUP BY 1, 2 ORDER BY 1, 2"),
        }


def unexplained(tieout_id):
    "The tie-out's unexplained lines"
    return count(
        "SELECT kind, receipt, statement_amount, ledger_amount, "
        "books_amount, note FROM account_payment_mpesa_tieout_line "
        "WHERE tieout = %s AND status = 'difference' ORDER BY sequence",
        (tieout_id,))


def per_row(arguments):
    "bench/statement.py's figures at --sizes, in processes of its own"
    if not arguments.sizes:
        return []
    with tempfile.NamedTemporaryFile(suffix='.json') as output:
        command = [common.PYTHON, statement.__file__, '--json', output.name,
            '--sizes', *map(str, arguments.sizes)]
        if arguments.reuse:
            command.append('--reuse')
        subprocess.run(command, check=True, cwd=common.ROOT,
            stdout=subprocess.DEVNULL)
        return json.load(open(output.name))


def main(argv=None):
    arguments = parse_arguments(argv)
    common.use_server(arguments.uri)
    if arguments.build:
        return build()
    started = time.monotonic()
    first, last = month_dates()
    common.log(f"machine: {common.machine()}")
    common.ensure_built(BASE_DB, os.path.abspath(__file__), arguments.reuse)
    common.clone_database(RUN_DB, BASE_DB)
    # The module queues its requests for the trytond-worker, as in
    # production with [queue] worker
    os.environ['TRYTOND_QUEUE__WORKER'] = 'True'
    rng = random.Random(SEED)
    with common.SimulatorProcess(
            answer_delay=arguments.answer_delay,
            options=['--b2c-shortcode', common.SHORTCODE]) as simulator:
        simulator.control('faults', {
                'drop_callbacks': DROPPED, 'drop_seed': SEED})
        server = callbacks.Gunicorn(server_arguments(), RUN_DB)
        try:
            with urllib.request.urlopen(
                    simulator.url + '/__sim__/certificate') as response:
                certificate = response.read()
            common.set_account(
                RUN_DB, base_url=simulator.url, daraja_token=None,
                daraja_token_expires=None,
                callback_base_url=f'http://127.0.0.1:{server.port}',
                b2c_shortcode=common.SHORTCODE, initiator_name='testapi',
                initiator_password='Safaricom999!*!',
                certificate=certificate, reversal_enabled=True)
            counting = common.start_tryton(RUN_DB)
            shop = Shop(simulator, server)
            shop.setup_c2b()
            common.log(f"the month of {first:%B %Y}, scale "
                f"{arguments.scale}")
            month = drive(shop, arguments, rng)
            simulator.control('sweep', {})
            data = export(simulator, first, last)
        finally:
            server.stop()
    month['books'] = books()
    common.log(f"importing and tying out the month's statement "
        f"({len(data) / 1e6:.1f} MB)")
    tieout = statement.import_and_tie_out(data, counting, database=RUN_DB)
    tieout['differences'] = unexplained(tieout['tieout'])
    month['elapsed'] = time.monotonic() - started
    common.log("bench/statement.py: time per row at "
        f"{', '.join(map(str, arguments.sizes)) or 'no size'}")
    rows = per_row(arguments)
    ok = report(arguments, first, month, tieout, rows)
    if arguments.json:
        with open(arguments.json, 'w') as file:
            json.dump({'month': month, 'tieout': tieout, 'per_row': rows,
                    'machine': common.machine()}, file, indent=2,
                default=str)
    common.drop_database(RUN_DB)
    common.log(f"done in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def report(arguments, first, month, tieout, rows):
    "Print the month, its tie-out and the time per row; targets met?"
    planned = month['planned']
    print()
    print(f"machine: {common.machine()}")
    print(f"the month of {first:%B %Y} at scale {arguments.scale}: "
        f"{planned['stk']} STK Pushes ({CANCELLED:.0%} cancelled, "
        f"{UNANSWERED:.0%} never answered), {planned['c2b']} customer "
        f"payments ({month['mistyped']} mistyped), {planned['b2c']} B2C "
        f"refunds and {planned['reversal']} reversals ({month['refunds']} "
        "made); callbacks: "
        f"{month['delivered']} delivered, {month['dropped']} dropped, "
        f"{month['duplicated']} sent twice")
    print(f"traffic in {month['traffic_seconds']:.0f} s, settled in "
        f"{month['settled_seconds']:.0f} s ({month['cron_rounds']} cron "
        f"rounds, {month['cron_seconds']:.0f} s in the crons); whole run "
        f"before bench/statement.py {month['elapsed']:.0f} s")
    print(f"cron runs failed: {len(month['cron_failures'])}")
    for failure in month['cron_failures']:
        print(f"  {failure}")
    for name, headers in [
            ('payments', ['payment', 'state', 'count']),
            ('ledger', ['ledger kind', 'state', 'count']),
            ('events', ['callback', 'state', 'count'])]:
        print()
        print(common.table(headers, month['books'][name]))
    print()
    n = tieout['rows']
    print(common.table(
            ['statement rows', 'lines', 'import s', 'tie-out s',
                'import ms/row', 'tie-out ms/row', 'unexplained', 'to do'],
            [[n, tieout['lines'], f"{tieout['import']:.1f}",
                    f"{tieout['tie_out']:.1f}",
                    f"{tieout['import'] / n * 1000:.2f}",
                    f"{tieout['tie_out'] / n * 1000:.2f}",
                    tieout['unexplained'], tieout['to_do']]]))
    print()
    print("tie-out counts by class:")
    print(common.table(['class', 'count'], [
                line.rsplit(': ', 1) for line in
                (tieout['counts'] or '').splitlines()]))
    print("checks: " + ', '.join(
            f'{k} {v}' for k, v in sorted(tieout['checks'].items())))
    print()
    print(f"unexplained differences: {tieout['unexplained']} (target 0)")
    if tieout['differences']:
        print(common.table(
                ['class', 'receipt', 'statement', 'ledger', 'books', 'note'],
                tieout['differences'][:30]))
    ok = tieout['unexplained'] == 0
    if rows:
        print("\nbench/statement.py, import and tie-out per row:")
        ok = statement.report(rows) and ok
    print("month targets met" if ok else "month targets MISSED")
    return ok


if __name__ == '__main__':
    sys.exit(main())
