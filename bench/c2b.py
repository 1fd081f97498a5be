# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Benchmarks of customer payments (C2B) on PostgreSQL, in three parts.

``routes``
    The confirmation route beside the baseline route, under gunicorn, as
    ``bench/callbacks.py`` measures the STK callback route (its server,
    load and report, in its database): at each number of senders, the
    baseline then confirmations of customer payments, each with a receipt
    of its own, matched by the payer's (hashed) phone to the customer and
    paid as credit.  The account's Confirm Callbacks is turned off, so
    that each confirmation is recorded, matched and paid without asking
    Pull Transactions.
``matching``
    In this process, the cost of matching one receipt by the account's
    rules (``find_match`` and ``allocations_for``, one read-only
    transaction per receipt), in ms and SQL statements, with N parties
    each with a mobile number, a code and one posted open invoice, for
    each N of ``--open`` (default 100 then 10,000): receipts by invoice
    number, by invoice payment reference (RF...), by party code, by phone
    hash, and matching nothing.  It must
    not grow with N: index lookups, no scans.
``validation``
    The validation route with *Reject Unknown Account Numbers* ticked (the
    rules run before the answer), under gunicorn, 8 senders, on the
    database of the last N: p50 and p99 of the answer, half of the account
    numbers an invoice's, half typos.

Options of ``bench/callbacks.py`` (``--senders``, ``--requests``,
``--duration``, ``--workers``, ``--queue``, ``--settle``, ``--reuse``...)
are taken as they are; those of this benchmark come first.

Usage: python bench/c2b.py [--parts routes matching validation]
    [--open 100 10000] [--receipts 200] [callbacks.py options]
"""
import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import callbacks  # noqa: E402
import common  # noqa: E402

RUN_DB = callbacks.RUN_DB
PARTS = ['routes', 'matching', 'validation']
KINDS = ['invoice number', 'payment reference', 'party code',
    'phone hash', 'no match']
CUSTOMER_PHONE = '254712345678'
# Matching must not grow with the open invoices and parties
CONSTANT = 1.5
VALIDATION_SENDERS = 8
VALIDATION_P99_MS = 200
WARM_UP = 20


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets: confirmation throughput >= 50%% of the baseline's "
        "and p99 < 100 ms at 8 senders (as for STK callbacks); matching "
        "per receipt constant (statements equal, time within %sx from the "
        "smallest to the largest N); validation p99 < %d ms at %d senders."
        % (CONSTANT, VALIDATION_P99_MS, VALIDATION_SENDERS))
    add = parser.add_argument
    add('--parts', nargs='+', choices=PARTS, default=PARTS,
        help="which parts to run (default: all)")
    add('--open', type=int, nargs='+', default=[100, 10000], metavar='N',
        help="numbers of parties with an open invoice, growing (default: "
        "100 10000)")
    add('--receipts', type=int, default=200, metavar='N',
        help="receipts matched per kind and N (default 200)")
    add('--validations', type=int, default=1000, metavar='N',
        help="validation requests (default 1000)")
    arguments, rest = parser.parse_known_args(argv)
    server = callbacks.parse_arguments(rest)
    server.kind = 'C2B confirmations'
    for name, value in vars(arguments).items():
        setattr(server, name, value)
    return server


def trans_time(moment=None):
    "Daraja's TransTime: the Nairobi time as YYYYMMDDHHMMSS"
    moment = moment or dt.datetime.now(dt.timezone.utc)
    return (moment + dt.timedelta(hours=3)).strftime('%Y%m%d%H%M%S')


def c2b_body(receipt, amount, reference, msisdn):
    "The JSON body of a paybill confirmation or validation"
    return json.dumps({
            'TransactionType': 'Pay Bill', 'TransID': receipt,
            'TransTime': trans_time(), 'TransAmount': f'{amount}.00',
            'BusinessShortCode': common.SHORTCODE,
            'BillRefNumber': reference, 'InvoiceNumber': '',
            'OrgAccountBalance': '', 'ThirdPartyTransID': '',
            'MSISDN': msisdn, 'FirstName': 'WANJIKU', 'MiddleName': '',
            'LastName': 'KAMAU'}).encode()


def callback_identifier():
    with common.connect(RUN_DB) as connection:
        return connection.execute(
            "SELECT callback_identifier FROM "
            "account_payment_mpesa_account").fetchone()[0]


# Part 1: the confirmation route beside the baseline

def routes(arguments):
    """Throughput and latency of the confirmation route and the baseline
    at each number of senders; the confirmations settled between steps"""
    from trytond.modules.account_mpesa.daraja import hash_msisdn
    steps = len(arguments.senders)
    total = arguments.warm_up + steps * arguments.requests
    payer = hash_msisdn(CUSTOMER_PHONE)
    bodies = [c2b_body(f'BCC{i:07d}', 100 + i % 900, f'ref{i}', payer)
        for i in range(total)]
    path = f'/{RUN_DB}/daraja/{callback_identifier()}/c2b/confirmation'
    baseline = f'/{RUN_DB}/bench/baseline'
    results = []
    server = callbacks.Gunicorn(arguments)
    try:
        used = 0
        if arguments.warm_up:
            warm = max(arguments.senders)
            callbacks.load(server.port, baseline,
                [bodies[0]] * arguments.warm_up, warm, 60)
            callbacks.load(server.port, path, bodies[:arguments.warm_up],
                warm, 60)
            used = arguments.warm_up
            server.drain()
        for senders in arguments.senders:
            for route, sent in [
                    ('baseline', [bodies[0]] * arguments.requests),
                    ('callback', bodies[used:used + arguments.requests])]:
                latencies, statuses, elapsed = callbacks.load(
                    server.port, baseline if route == 'baseline' else path,
                    sent, senders, arguments.duration)
                results.append(callbacks.summary(
                        route, senders, latencies, statuses, elapsed))
            used += results[-1]['requests']
            result = results[-1]
            result['drain_seconds'] = server.drain()
            result['settled_per_second'] = result['ok'] / (
                result['seconds'] + result['drain_seconds'])
            common.log(f"{senders} senders: baseline "
                f"{results[-2]['per_second']:.0f}/s, confirmation "
                f"{result['per_second']:.0f}/s")
    finally:
        server.stop()
    print("\nPart 1: the confirmation route ('callback') beside the "
        "baseline")
    check = callbacks.verify(arguments.kind, used)
    with common.connect(RUN_DB) as connection:
        check['receipts'] = dict(connection.execute(
                "SELECT state, count(*) FROM "
                "account_payment_mpesa_transaction WHERE kind = 'c2b' "
                "GROUP BY state").fetchall())
    callbacks.report(results, arguments, check)
    print(f"ledger receipts by state: {check['receipts']}")
    return {'results': results, 'check': check}


# Part 2: matching against N open invoices and parties

def size_database(size, sizes):
    "The database of a size: the run database for the largest"
    return RUN_DB if size == max(sizes) else f'{RUN_DB}_{size}'


def populate(dbname, company, start, stop):
    """Parties start..stop-1, each with a code, a mobile number and one
    posted customer invoice, made through Tryton and committed by
    batches"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool(dbname)
    Party = pool.get('party.party')
    Invoice = pool.get('account.invoice')
    Account = pool.get('account.account')
    batch = 500
    for first in range(start, stop, batch):
        numbers = range(first, min(first + batch, stop))
        # Posting takes these locks (Tryton's dispatcher would restart)
        with Transaction().start(dbname, 0, context={
                    'company': company, '_skip_warnings': True},
                _lock_tables=['account_journal_period', 'ir_sequence_strict',
                    'ir_sequence']) as transaction:
            parties = Party.create([{
                        'name': f"Bench Customer {i}", 'code': f'BC-{i:05d}',
                        'addresses': [('create', [{}])],
                        'contact_mechanisms': [('create', [{
                                        'type': 'mobile',
                                        'value': '+' + phone(i)}])],
                        } for i in numbers])
            revenue, = Account.search([
                    ('type.revenue', '=', True), ('closed', '!=', True)],
                limit=1)
            invoices = []
            for i, party in zip(numbers, parties):
                invoice = Invoice(
                    type='out', party=party, invoice_date=dt.date.today(),
                    lines=[{'account': revenue, 'quantity': 1,
                            'unit_price': Decimal(100 + i % 900),
                            'description': "Maize flour"}])
                invoice.on_change_type()
                invoice.account = party.account_receivable_used
                invoice.invoice_address = party.address_get()
                invoices.append(invoice)
            Invoice.save(invoices)
            Invoice.post(invoices)
            transaction.commit()
    with common.connect(dbname) as connection:
        for table in ['party_party', 'party_contact_mechanism',
                'account_invoice', 'account_move_line', 'sale_sale']:
            connection.execute(f"VACUUM ANALYZE {table}")


def phone(i):
    "The mobile number of the i-th bench customer, as M-Pesa writes it"
    return f'25479{i:07d}'


def probes(dbname, company, count, size, rng):
    """(kind, account number, phone) of count receipts of each kind
    against the first size bench customers"""
    from trytond.modules.account_mpesa.daraja import hash_msisdn
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    chosen = [rng.randrange(size) for _ in range(count)]
    Invoice = Pool(dbname).get('account.invoice')
    with Transaction().start(dbname, 0, readonly=True, context={
                'company': company}):
        invoices = {i.party.code: (i.number, i.customer_payment_reference)
            for i in Invoice.search([
                    ('party.code', 'in', [f'BC-{i:05d}' for i in chosen]),
                    ('state', '=', 'posted')])}
    probes = []
    for n, i in enumerate(chosen):
        code = f'BC-{i:05d}'
        number, reference = invoices[code]
        probes += [
            ('invoice number', number.lower(), 'masked'),
            ('payment reference', reference.lower(), 'masked'),
            ('party code', f'#{code.lower()}', 'masked'),
            ('phone hash', 'typo', hash_msisdn(phone(i))),
            ('no match', f'NOPE{n}', '2547****678'),
            ]
    return probes


def match_once(Ledger, account, reference, payer):
    """Match a receipt not recorded (as validation probes one): the rules
    in order, then what it would pay"""
    from trytond.modules.account_mpesa.matching import (
        allocations_for, find_match)
    record = Ledger(
        account=account, company=account.company, account_number=reference,
        phone=payer, amount=Decimal(500))
    match = find_match(record)
    if match.candidate is not None:
        allocations_for(match, record)
    return match


class Matching:
    "What matching the receipts cost in one database, by kind"

    def __init__(self, dbname, company, receipts):
        self.dbname = dbname
        self.company = company
        self.receipts = receipts
        self.figures = {k: {'seconds': 0.0, 'statements': 0, 'count': 0,
                'matched': 0} for k in KINDS}

    def run(self, counting, start, stop):
        """Match receipts start..stop-1, one read-only transaction each;
        counted unless in the warm-up"""
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        pool = Pool(self.dbname)
        Ledger = pool.get('account.payment.mpesa.transaction')
        Account = pool.get('account.payment.mpesa.account')
        for n in range(start, min(stop, len(self.receipts))):
            kind, reference, payer = self.receipts[n]
            with Transaction().start(self.dbname, 0, readonly=True,
                    context={'company': self.company}):
                account, = Account.search([])
                before = counting.total
                counting.enabled = n >= WARM_UP * len(KINDS)
                begin = time.perf_counter()
                match = match_once(Ledger, account, reference, payer)
                elapsed = time.perf_counter() - begin
                if counting.enabled:
                    counting.enabled = False
                    figure = self.figures[kind]
                    figure['seconds'] += elapsed
                    figure['statements'] += counting.total - before
                    figure['count'] += 1
                    figure['matched'] += match.candidate is not None

    def result(self):
        return {k: {'ms': f['seconds'] / f['count'] * 1000,
                'statements': f['statements'] / f['count'],
                'matched': f['matched'], 'count': f['count']}
            for k, f in self.figures.items()}


def start_pool(dbname):
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(dbname, 0, readonly=True):
        Pool(dbname).init()


def matching(arguments):
    """A database per N of --open, each the copy of the previous one with
    more parties; the receipts matched by turns in each, by blocks, so
    that a change of the machine's load falls on all"""
    from trytond import backend
    from trytond.pool import Pool
    counting = common.Counting()
    counting.install()
    Pool.start()
    with common.connect(RUN_DB) as connection:
        company, = connection.execute(
            "SELECT id FROM company_company").fetchone()
    sizes = sorted(arguments.open)
    rng = random.Random(14)
    made, runs = 0, {}
    start_pool(RUN_DB)
    for size in sizes:
        begin = time.monotonic()
        populate(RUN_DB, company, made, size)
        made = size
        common.log(f"  {size} parties with an open invoice "
            f"(+{time.monotonic() - begin:.0f} s)")
        dbname = size_database(size, sizes)
        if dbname != RUN_DB:
            backend.Database(RUN_DB).close()
            common.clone_database(dbname, template=RUN_DB)
            start_pool(dbname)
        runs[size] = Matching(dbname, company, probes(
                dbname, company, WARM_UP + arguments.receipts, size, rng))
    block = 25 * len(KINDS)
    for offset in range(0, len(runs[sizes[0]].receipts), block):
        for size in sizes:
            runs[size].run(counting, offset, offset + block)
    by_size = {size: run.result() for size, run in runs.items()}
    for size in sizes:
        if size_database(size, sizes) != RUN_DB:
            backend.Database(size_database(size, sizes)).close()
            common.drop_database(size_database(size, sizes))
    report_matching(by_size)
    return by_size


def report_matching(by_size):
    sizes = sorted(by_size)
    small, large = sizes[0], sizes[-1]
    rows = []
    for kind in KINDS:
        for size in sizes:
            f = by_size[size][kind]
            rows.append([kind, size, f"{f['ms']:.2f}",
                f"{f['statements']:.1f}", f"{f['matched']}/{f['count']}"])
    print("\nPart 2: matching one receipt by the rules (find_match and "
        "allocations_for), the sizes by turns")
    print(f"machine: {common.machine()}")
    print(common.table(
            ['kind', 'open', 'ms', 'statements', 'matched'], rows))
    ok = True
    for kind in KINDS:
        a, b = by_size[small][kind], by_size[large][kind]
        time_ratio = b['ms'] / a['ms']
        good = (b['statements'] == a['statements']
            and time_ratio <= CONSTANT)
        ok &= good
        print(f"{kind}: {large} / {small} open: time {time_ratio:.2f}x, "
            f"statements {b['statements']:.1f} / {a['statements']:.1f} "
            f"(target: equal statements, time <= {CONSTANT}x) "
            f"{'OK' if good else 'MISSED'}")
    expected = {'no match': 0}
    for kind in KINDS:
        f = by_size[large][kind]
        if f['matched'] != expected.get(kind, f['count']):
            ok = False
            print(f"{kind}: matched {f['matched']} of {f['count']}: WRONG")
    print("matching constant" if ok else "matching NOT constant")


# Part 3: validation under 8 senders

def validation(arguments):
    """p50 and p99 of the validation route's answer with Reject Unknown
    Account Numbers, VALIDATION_SENDERS senders"""
    common.set_account(RUN_DB, c2b_reject_unknown=True)
    with common.connect(RUN_DB) as connection:
        numbers = [r[0] for r in connection.execute(
                "SELECT number FROM account_invoice "
                "WHERE state = 'posted' ORDER BY id LIMIT %s",
                (arguments.validations,)).fetchall()]
    bodies = [c2b_body(f'BCV{i:07d}', 100,
            numbers[i % len(numbers)] if i % 2 and numbers else f'typo{i}',
            '2547****678')
        for i in range(arguments.validations + arguments.warm_up)]
    path = f'/{RUN_DB}/daraja/{callback_identifier()}/c2b/validation'
    server = callbacks.Gunicorn(arguments)
    try:
        callbacks.load(server.port, path, bodies[:arguments.warm_up],
            VALIDATION_SENDERS, 60)
        latencies, statuses, elapsed = callbacks.load(
            server.port, path, bodies[arguments.warm_up:],
            VALIDATION_SENDERS, arguments.duration * 3)
        server.drain()
    finally:
        server.stop()
    result = callbacks.summary('validation', VALIDATION_SENDERS, latencies,
        statuses, elapsed)
    with common.connect(RUN_DB) as connection:
        result['verdicts'] = dict(connection.execute(
                "SELECT CASE error WHEN 'Accepted' THEN 'accepted' "
                "ELSE 'rejected' END, count(*) "
                "FROM account_payment_mpesa_event "
                "WHERE kind = 'c2b/validation' GROUP BY 1").fetchall())
    print("\nPart 3: the validation route, Reject Unknown Account Numbers "
        "ticked")
    print(f"machine: {common.machine()}")
    print(common.table(
            ['senders', 'requests', 'ok', 'req/s', 'p50 ms', 'p99 ms',
                'max ms'],
            [[VALIDATION_SENDERS, result['requests'], result['ok'],
                    f"{result['per_second']:.1f}",
                    f"{result['p50_ms']:.1f}", f"{result['p99_ms']:.1f}",
                    f"{result['max_ms']:.1f}"]]))
    print(f"verdicts: {result['verdicts']}")
    good = result['p99_ms'] < VALIDATION_P99_MS and not result['errors']
    print(f"validation p99 at {VALIDATION_SENDERS} senders: "
        f"{result['p99_ms']:.1f} ms (target < {VALIDATION_P99_MS} ms) "
        f"{'OK' if good else 'MISSED'}")
    return result


def main(argv=None):
    arguments = parse_arguments(argv)
    common.database_uri()
    started = time.monotonic()
    common.log(f"machine: {common.machine()}")
    common.ensure_base(arguments.reuse)
    common.clone_database(RUN_DB)
    # Recorded, matched and paid without asking Pull Transactions
    common.set_account(RUN_DB, confirm_callbacks=False)
    results = {}
    for part in PARTS:
        if part in arguments.parts:
            common.log(f"part {part}")
            results[part] = globals()[part](arguments)
    if arguments.json:
        with open(arguments.json, 'w') as file:
            json.dump(dict(results, machine=common.machine(),
                    date=dt.date.today().isoformat()), file, indent=2,
                default=str)
    from trytond import backend
    if 'matching' in arguments.parts:
        backend.Database(RUN_DB).close()
    common.drop_database(RUN_DB)
    common.log(f"done in {time.monotonic() - started:.0f} s")


if __name__ == '__main__':
    main()
