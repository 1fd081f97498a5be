# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The ``Simulator``: configuration, state, and the Python control API."""
import dataclasses
import datetime as dt
import threading

from . import bookings, c2b, clock, customers, statement, stk
from .app import Application
from .callbacks import Dispatcher, Scheduler
from .faults import Faults
from .ids import Ids
from .keys import KeyPair
from .ledger import ACCOUNTS, UTILITY
from .server import Server
from .state import State

DEFAULT_CONSUMER_KEY = 'daraja-sim-consumer-key'
DEFAULT_CONSUMER_SECRET = 'daraja-sim-consumer-secret'
SANDBOX_SHORTCODE = '174379'
SANDBOX_PASSKEY = (
    'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919')
SANDBOX_B2C_SHORTCODE = '600000'
SANDBOX_INITIATOR_NAME = 'testapi'
SANDBOX_INITIATOR_PASSWORD = 'Safaricom999!*!'


class Simulator:
    """A local Daraja: ``start()`` it, point a client at ``url``.

    The virtual customer answers an STK prompt ``answer_delay`` seconds
    after the push was answered (B2C, status, reversal and balance results
    and C2B notifications follow the same delay).  ``b2c_float`` is the
    opening balance of the B2C shortcode.  ``c2b_validation`` says whether
    external validation is enabled for the shortcode (the ValidationURL is
    called).  ``charges`` takes Safaricom's tariff on every transaction
    (see ``tariff``).  ``key_file`` keeps the key pair across runs
    (created when missing); without it a key pair is generated once per
    process.  ``seed`` makes identifiers repeatable.
    """

    def __init__(self, consumer_key=DEFAULT_CONSUMER_KEY,
            consumer_secret=DEFAULT_CONSUMER_SECRET,
            shortcode=SANDBOX_SHORTCODE, passkey=SANDBOX_PASSKEY,
            till_number=None, b2c_shortcode=SANDBOX_B2C_SHORTCODE,
            initiator_name=SANDBOX_INITIATOR_NAME,
            initiator_password=SANDBOX_INITIATOR_PASSWORD,
            answer_delay=0.0, token_lifetime=3599,
            check_timestamp_minutes=None, b2c_float=1_000_000,
            organization_name='Daraja Simulator', c2b_validation=True,
            charges=True, key_file=None, seed=None):
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.shortcode = str(shortcode)
        self.passkey = passkey
        self.till_number = str(till_number) if till_number else None
        self.b2c_shortcode = str(b2c_shortcode)
        self.initiator_name = initiator_name
        self.initiator_password = initiator_password
        self.answer_delay = answer_delay
        self.token_lifetime = token_lifetime
        self.check_timestamp_minutes = check_timestamp_minutes
        self.b2c_float = b2c_float
        self.organization_name = organization_name
        self.c2b_validation = c2b_validation
        self.charges = charges
        self.clock_offset = dt.timedelta(0)
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.keys = KeyPair.from_file(key_file) if key_file else (
            KeyPair.shared())
        self.ids = Ids(seed)
        self.faults = Faults()
        self.state = self._new_state()
        self.scheduler = Scheduler()
        self.dispatcher = Dispatcher(self)
        self.application = Application(self)
        self._server = None

    def _new_state(self):
        return State({self.shortcode: 0, self.b2c_shortcode: self.b2c_float},
            self.ids.receipt, self.charges)

    @property
    def collection_shortcodes(self):
        "The shortcodes customers pay to: the paybill and the till."
        return {self.shortcode, self.till_number} - {None}

    # Serving

    def start(self, host='127.0.0.1', port=0, quiet=True):
        "Serve on ``host:port`` (0: any free port) in a thread; return self."
        if self._server is None:
            self._server = Server(self.application, host, port, quiet)
        return self

    @property
    def url(self):
        "The base URL once started, e.g. ``http://127.0.0.1:41234``."
        return self._server.url if self._server else None

    def stop(self):
        "Stop serving and drop scheduled work (a restart is possible)."
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.scheduler.close()
        self.scheduler = Scheduler()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # Control

    def reset(self):
        """Forget all state, faults and logs, and go back to real time;
        keep credentials, keys and settings."""
        with self.lock:
            self.scheduler.clear()
            self.clock_offset = dt.timedelta(0)
            self.faults = Faults()
            self.state = self._new_state()
            self._changed.notify_all()

    def set_faults(self, **faults):
        "Change fault switches (see ``daraja_sim.faults``); others stay."
        with self.lock:
            self.faults.update(**faults)

    def now(self):
        "The simulator's time in Nairobi: real time moved by ``set_clock``."
        return clock.now() + self.clock_offset

    def set_clock(self, now=None, offset=None):
        """Move the simulator's time: to ``now`` (a Nairobi time, see
        ``clock.parse_nairobi``) from which it runs on, or by ``offset``
        seconds from real time; neither: back to real time.  Transactions,
        receipts and results take this time, the logs keep real time.
        Return the new time."""
        if now is not None and offset is not None:
            raise ValueError('give now or offset, not both')
        if now is not None:
            moved = clock.parse_nairobi(now) - clock.now()
        else:
            moved = dt.timedelta(seconds=float(offset or 0))
        with self.lock:
            self.clock_offset = moved
        return self.now()

    def set_charges(self, charges):
        "Take Safaricom's charges on the transactions from now on, or not."
        with self.lock:
            self.charges = bool(charges)
            self.state.ledger.charges = self.charges

    def set_customer(self, phone, outcome):
        "Make ``phone`` answer with ``outcome`` (None: back to its suffix)."
        phone = customers.normalise(phone)
        with self.lock:
            if outcome is None:
                self.state.customers.pop(phone, None)
            else:
                self.state.customers[phone] = customers.check_outcome(outcome)

    def answer(self, checkout_request_id, outcome):
        "Resolve a pending STK prompt now (see ``stk.answer``)."
        stk.answer(self, checkout_request_id, outcome)

    def c2b_payment(self, phone, amount, bill_ref_number='', shortcode=None,
            command='CustomerPayBillOnline'):
        """A customer pays the paybill (or ``shortcode``) from ``phone``,
        with notifications as for C2B simulate; return the ledger entry,
        or None when the payment did not go through."""
        payment = c2b.Payment(str(shortcode or self.shortcode), command,
            int(amount), customers.normalise(phone), bill_ref_number)
        return c2b.pay(self, payment, wait=True)

    def book(self, transactions):
        """Book completed transactions straight into the ledger at the
        times given, without requests or callbacks; return their entries
        (see ``bookings``)."""
        return bookings.book(self, transactions)

    def sweep(self, shortcode=None, amount=None, when=None):
        """Move ``amount`` (default: all of it) of the Utility balance of
        ``shortcode`` (default: the paybill) to its Organization Settlement
        Account at ``when`` (default: now); return the sweep."""
        when = self.now() if when is None else clock.parse_nairobi(when)
        with self.lock:
            return self.state.ledger.sweep(
                self._known_shortcode(shortcode), when, amount)

    def invalidate_tokens(self):
        "Make every access token issued so far invalid."
        with self.lock:
            self.state.tokens.clear()

    def record(self, state, name, record):
        "Append to one of a state's logs and wake ``wait_callbacks``."
        with self._changed:
            getattr(state, name).append(record)
            self._changed.notify_all()

    def wait_callbacks(self, n, timeout=10):
        """Block until ``n`` callback attempts were made; return them.
        Raise TimeoutError when they are not made in time."""
        with self._changed:
            if not self._changed.wait_for(
                    lambda: len(self.state.callbacks) >= n, timeout):
                raise TimeoutError(f'{len(self.state.callbacks)} of {n} '
                    f'callbacks after {timeout} s')
            return self.callbacks

    # Reading

    def _copies(self, name):
        with self.lock:
            return [dict(r) for r in getattr(self.state, name)]

    @property
    def requests(self):
        "The API request log: ``{method, path, json, time, status, …}``."
        return self._copies('requests')

    @property
    def callbacks(self):
        """Callback attempts: ``{kind, url, json, time, status|error,
        reply}``; ``kind`` is stk, b2c, b2c_timeout, status, reversal,
        balance, balance_timeout, c2b_validation or c2b_confirmation."""
        return self._copies('callbacks')

    @property
    def dropped_callbacks(self):
        "The callbacks the ``drop_callbacks`` fault did not send."
        return self._copies('dropped')

    @property
    def ledger(self):
        "The completed transactions (see ``ledger.Ledger``)."
        with self.lock:
            return self.state.ledger.entries()

    @property
    def pending(self):
        "The STK prompts the customer has not answered."
        with self.lock:
            return [dataclasses.asdict(p)
                for p in self.state.prompts.values() if p.result is None]

    @property
    def certificate_pem(self):
        "The certificate to encrypt SecurityCredentials with (PEM bytes)."
        return self.keys.certificate_pem

    def _known_shortcode(self, shortcode):
        shortcode = str(shortcode or self.shortcode)
        if shortcode not in self.state.ledger.shortcodes():
            raise ValueError(f'{shortcode} is not a shortcode of the '
                'simulator (payments to the till are on the statement of '
                'its store number)')
        return shortcode

    def _statement(self, shortcode, start, end, account):
        "The statement's header and lines (see ``statement_csv``)."
        start = clock.parse_nairobi(start) if start else None
        end = clock.parse_nairobi(end, end_of_day=True) if end else None
        if start and end and start > end:
            raise ValueError('the period ends before it starts')
        if account not in ACCOUNTS:
            raise ValueError(f'account must be one of {ACCOUNTS}')
        reported = self.now()
        with self.lock:
            shortcode = self._known_shortcode(shortcode)
            lines = self.state.ledger.statement(shortcode, account, start,
                end)
        times = [line['time'] for line in lines.lines] or [reported]
        return statement.Header(self.organization_name, shortcode, account,
            start or times[0].replace(hour=0, minute=0, second=0,
                microsecond=0),
            end or max(times[-1], reported), reported), lines

    def statement_csv(self, shortcode=None, start=None, end=None,
            account=UTILITY, **form):
        """The org-portal statement of one account (default: the Utility
        Account) of ``shortcode`` (default: the paybill) for the lines
        completed from ``start`` to ``end`` (Nairobi, see
        ``clock.parse_nairobi``; default: all), as CSV text; ``form`` is
        what ``statement.Form`` takes (mask, minus, charge_receipt)."""
        return statement.to_csv(
            *self._statement(shortcode, start, end, account),
            statement.Form(**form))

    def statement_xlsx(self, shortcode=None, start=None, end=None,
            account=UTILITY, **form):
        """The same statement as the portal's Excel file (bytes); ``form``
        adds ``date_cells``: times as date cells rather than text."""
        return statement.to_xlsx(
            *self._statement(shortcode, start, end, account),
            statement.Form(**form))

    def snapshot(self):
        "Everything ``GET /__sim__/state`` shows."
        with self.lock:
            return {
                'requests': self.requests,
                'callbacks': self.callbacks,
                'dropped_callbacks': self.dropped_callbacks,
                'ledger': self.ledger,
                'pending': self.pending,
                'faults': self.faults.as_dict(),
                'customers': dict(self.state.customers),
                'c2b_urls': {k: dataclasses.asdict(v)
                    for k, v in self.state.c2b_urls.items()},
                'config': {
                    'shortcode': self.shortcode,
                    'till_number': self.till_number,
                    'b2c_shortcode': self.b2c_shortcode,
                    'initiator_name': self.initiator_name,
                    'answer_delay': self.answer_delay,
                    'token_lifetime': self.token_lifetime,
                    'charges': self.charges,
                    'clock_offset': self.clock_offset.total_seconds(),
                    },
                }
