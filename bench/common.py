# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What the benchmarks share: the PostgreSQL settings, the base database
(built once by ``builddb.py`` in a process of its own, cloned for each
run), the simulator process, bulk payments made in SQL, and statistics.

Nothing here imports trytond: the scripts set the environment first.
"""
import datetime as dt
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYTHON = sys.executable

DEFAULT_URI = 'postgresql://root@127.0.0.1:5432/'
BASE_DB = 'mpesa_bench_base'
# The business of the end-to-end tests (tests/e2e/scenario.py)
CONSUMER_KEY = 'test-consumer-key'
CONSUMER_SECRET = 'test-consumer-secret'
SHORTCODE = '174379'
PASSKEY = (
    'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919')


def database_uri():
    "The server URI of TRYTOND_DATABASE_URI (set to the default if unset)"
    uri = os.environ.setdefault('TRYTOND_DATABASE_URI', DEFAULT_URI)
    if not uri.startswith('postgresql'):
        sys.exit("The benchmarks need PostgreSQL: TRYTOND_DATABASE_URI="
            "postgresql://...")
    return uri


def use_server(uri=None):
    """Take the server uri (when given, else TRYTOND_DATABASE_URI) and put
    the repository on the path, for the tests' business"""
    if uri:
        os.environ['TRYTOND_DATABASE_URI'] = uri
    database_uri()
    sys.path.insert(0, ROOT)


def connect(dbname='postgres', autocommit=True):
    "A plain psycopg connection to dbname on the benchmark server"
    import psycopg
    from urllib.parse import urlsplit
    uri = urlsplit(database_uri())
    return psycopg.connect(
        uri._replace(path='/' + dbname).geturl(), autocommit=autocommit)


def database_exists(name):
    with connect() as connection:
        return bool(connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s",
                (name,)).fetchone())


def drop_database(name):
    from psycopg import sql
    with connect() as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def clone_database(name, template=BASE_DB):
    "Drop name and make it a fresh copy of template"
    from psycopg import sql
    drop_database(name)
    with connect() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))


def ensure_base(reuse):
    """Build the base database in a process of its own (Tryton's test
    tools switch the pool to test mode), unless reuse and it exists"""
    if reuse and database_exists(BASE_DB):
        log(f"reusing database {BASE_DB}")
        return
    log(f"building database {BASE_DB} (about a minute)")
    start = time.monotonic()
    subprocess.run(
        [PYTHON, os.path.join(HERE, 'builddb.py'), BASE_DB], check=True,
        env=dict(os.environ, DB_NAME=BASE_DB, DB_CACHE=''))
    log(f"built {BASE_DB} in {time.monotonic() - start:.0f} s")


def ensure_built(name, script, reuse):
    """Build the database name by running ``script --build`` in a process
    of its own (Tryton's test tools switch the pool to test mode), unless
    reuse and it exists"""
    if reuse and database_exists(name):
        log(f"reusing database {name}")
        return
    log(f"building database {name} (a minute or two)")
    start = time.monotonic()
    drop_database(name)
    subprocess.run(
        [PYTHON, script, '--build'], check=True,
        env=dict(os.environ, DB_NAME=name, DB_CACHE=''), cwd=ROOT)
    log(f"built {name} in {time.monotonic() - start:.0f} s")


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_http(url, timeout=60, process=None):
    "Wait until url answers (any HTTP status)"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited: {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def terminate(process, timeout):
    "Stop process: SIGTERM, then SIGKILL if it still runs after timeout"
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SimulatorProcess:
    """The Daraja simulator (``python -m daraja_sim``) in a process of its
    own on a loopback port, so that its work is not counted in the
    benchmark process; options are more of its command line options"""

    def __init__(self, answer_delay=0.0, options=()):
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.process = subprocess.Popen(
            [PYTHON, '-m', 'daraja_sim', '--port', str(self.port),
                '--answer-delay', str(answer_delay), '--quiet',
                '--consumer-key', CONSUMER_KEY,
                '--consumer-secret', CONSUMER_SECRET,
                '--shortcode', SHORTCODE, '--passkey', PASSKEY,
                *options],
            cwd=ROOT, stdout=subprocess.DEVNULL)
        wait_http(self.url + '/__sim__/faults', process=self.process)

    def control(self, path, data=None):
        request = urllib.request.Request(
            f'{self.url}/__sim__/{path}',
            data=json.dumps(data).encode() if data is not None else None,
            headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self):
        terminate(self.process, 10)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def insert_payments(dbname, rows, requested_ago=dt.timedelta(minutes=10),
        delete_model=True, values=None):
    """Insert M-Pesa payments still processing, copies of the one payment
    of the base database (made by the real flow: submit, process, STK
    Push), each with its own (checkout_request_id, merchant_request_id,
    phone, amount) from rows; the model payment is deleted.  values maps
    more columns to the SQL expression they take instead of the model's.
    Return the ids.  One COPY and one INSERT ... SELECT: seconds for
    10,000."""
    requested_at = (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        - requested_ago).replace(microsecond=0)
    with connect(dbname, autocommit=False) as connection:
        model_id, = connection.execute(
            "SELECT min(id) FROM account_payment").fetchone()
        columns = [r[0] for r in connection.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'account_payment' AND table_schema = "
                "current_schema() ORDER BY ordinal_position")]
        changed = {
            'mpesa_checkout_request_id': 'n.checkout',
            'mpesa_merchant_request_id': 'n.merchant',
            'mpesa_phone': 'n.phone',
            'amount': 'n.amount',
            'mpesa_requested_at': '%(requested_at)s',
            'create_date': '%(requested_at)s',
            'write_date': 'NULL',
            'mpesa_checked_at': 'NULL',
            **(values or {}),
            }
        kept = [c for c in columns if c != 'id']
        connection.execute(
            "CREATE TEMP TABLE new_payment (seq int, checkout text, "
            "merchant text, phone text, amount numeric) ON COMMIT DROP")
        with connection.cursor().copy(
                "COPY new_payment FROM STDIN") as copy:
            for i, row in enumerate(rows):
                copy.write_row((i, *row))
        names = ', '.join('"%s"' % c for c in kept)
        values = ', '.join(changed.get(c, 'p."%s"' % c) for c in kept)
        ids = [r[0] for r in connection.execute(
                f"INSERT INTO account_payment ({names}) SELECT {values} "
                "FROM new_payment n, account_payment p WHERE p.id = "
                "%(model)s ORDER BY n.seq RETURNING id",
                {'model': model_id, 'requested_at': requested_at})]
        if delete_model:
            connection.execute(
                "DELETE FROM account_payment WHERE id = %s", (model_id,))
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE account_payment")
    return ids


def set_account(dbname, **values):
    "Write columns of the M-Pesa account of the database"
    with connect(dbname) as connection:
        connection.execute(
            "UPDATE account_payment_mpesa_account SET "
            + ', '.join(f'{k} = %({k})s' for k in values), values)


def start_tryton(dbname):
    "Load the pool of dbname; return a Counting installed, not enabled"
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    counting = Counting()
    counting.install()
    Pool.start()
    with Transaction().start(dbname, 0, readonly=True):
        Pool(dbname).init()
    return counting


def print_profile(path, title, pattern, count):
    "Print the top count functions matching pattern of cProfile's stats"
    import pstats
    print(f"\nProfile of {title} (cumulative, cProfile; {path}):")
    pstats.Stats(path, stream=sys.stdout).sort_stats(
        'cumulative').print_stats(pattern, count)


def percentile(values, fraction):
    "The nearest-rank percentile of values (sorted or not)"
    if not values:
        return float('nan')
    ordered = sorted(values)
    rank = max(int(-(-fraction * len(ordered) // 1)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def machine():
    "The machine, for the reader of the figures: cores and load"
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} (1, 5, 15 min)"


CPU_GROUPS = [
    ('trytond-worker', 'trytond-worker'), ('gunicorn', 'gunicorn'),
    ('daraja_sim', 'simulator'), ('postgres', 'postgres')]


def cpu_seconds():
    """The CPU seconds (user and system) used so far by the processes of
    the machine, by group: trytond-worker, gunicorn, simulator, postgres
    and the rest (Linux /proc; processes that ended are not counted)"""
    ticks = os.sysconf('SC_CLK_TCK')
    groups = Counter()
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as file:
                command = file.read().replace(b'\0', b' ').decode(
                    'utf-8', 'replace')
            with open(f'/proc/{pid}/stat') as file:
                fields = file.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        group = next(
            (g for k, g in CPU_GROUPS if k in command), 'other')
        groups[group] += (int(fields[11]) + int(fields[12])) / ticks
    return groups


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr,
        flush=True)


def table(headers, rows):
    "A plain text table"
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append('  '.join(
                c.rjust(w) if n and i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths))))
        if not n:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def caller():
    """Where the module's code is in the stack: its innermost frame in
    account_mpesa, with the outermost one below the cron when different"""
    import traceback
    frames = [f for f in traceback.extract_stack()
        if '/account_mpesa/' in f.filename]
    if not frames:
        return '(outside account_mpesa)'

    def name(frame):
        return (f"{os.path.basename(frame.filename)}:{frame.lineno} "
            f"{frame.name}")
    inner = name(frames[-1])
    chased = [f for f in frames if f.name not in {
            'mpesa_reconcile', 'run_in_transaction'}]
    outer = name(chased[0]) if chased else None
    return inner if outer in {None, inner} else f"{outer} > {inner}"


class Counting:
    """Counts the statements sent through Tryton's cursors (by normalized
    text, with their time), the commits, and the time in HTTP requests"""

    NUMBERS = re.compile(r"(%s)(, %s)+")
    COLUMNS = re.compile(r'^SELECT ((?:"a"\."\w+" AS "\w+", )+"a"\."\w+" AS "\w+") FROM')

    @classmethod
    def key(cls, query):
        """The statement with its lists of parameters shortened and the
        columns of a record read counted (their order varies)"""
        query = cls.NUMBERS.sub(r'\1, ...', str(query))
        query = cls.COLUMNS.sub(
            lambda m: f"SELECT [{m.group(1).count(' AS ')} columns] FROM",
            query)
        return query or "(empty statement: the connection pool's check)"

    def __init__(self):
        self.statements = Counter()
        self.statement_time = defaultdict(float)
        self.commits = 0
        self.http_time = 0.0
        self.http_calls = 0
        self.log_lines = Counter()
        self.enabled = False
        # (module code, statement) -> count, when profiling
        self.callers = None

    def install(self):
        import psycopg
        import requests
        from trytond.backend.postgresql import database

        counting = self
        execute = database.LoggingCursor.execute

        def counted_execute(cursor, query, params=None, **kwargs):
            if not counting.enabled:
                return execute(cursor, query, params, **kwargs)
            start = time.perf_counter()
            try:
                return execute(cursor, query, params, **kwargs)
            finally:
                key = counting.key(query)
                counting.statements[key] += 1
                counting.statement_time[key] += time.perf_counter() - start
                if counting.callers is not None:
                    counting.callers[(caller(), key)] += 1
        database.LoggingCursor.execute = counted_execute

        commit = psycopg.Connection.commit

        def counted_commit(connection):
            # Only the commits that end a transaction begun on the server
            if counting.enabled and (connection.info.transaction_status
                    != psycopg.pq.TransactionStatus.IDLE):
                counting.commits += 1
            return commit(connection)
        psycopg.Connection.commit = counted_commit

        request = requests.Session.request

        def timed_request(session, *args, **kwargs):
            if not counting.enabled:
                return request(session, *args, **kwargs)
            start = time.perf_counter()
            try:
                return request(session, *args, **kwargs)
            finally:
                counting.http_time += time.perf_counter() - start
                counting.http_calls += 1
        requests.Session.request = timed_request

        class CountingHandler(logging.Handler):
            "Count the log lines by level instead of printing them"
            def emit(self, record):
                if counting.enabled:
                    counting.log_lines[record.levelname] += 1
                if record.levelno >= logging.ERROR:
                    sys.stderr.write(self.format(record) + '\n')
        logging.basicConfig(level=logging.INFO, handlers=[CountingHandler()])

    @property
    def total(self):
        return sum(self.statements.values())
