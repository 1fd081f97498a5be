# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The callback inbox: every callback Daraja sends, stored raw before it is
processed; a callback is a claim, confirmed with Daraja before the ledger
applies it when its account says so."""
import json
import logging
from collections import Counter, defaultdict
from contextlib import nullcontext
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter

from sql import Select
from sql.aggregate import Max
from sql.functions import CurrentTimestamp

import trytond.config as config
from trytond import backend
from trytond.i18n import gettext
from trytond.ir.cron import str2bigint
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import daraja
from .account import reusing_daraja_clients
from .common import (
    company_domain, lock_rows, run_in_transaction, summary, thread_transaction,
    utc_now)
from .inflow import Inflow
from .ledger import SETTLE_BATCH, Batch
from .outcome import CALLBACK_KINDS, from_stk_query, parse_callback

logger = logging.getLogger(__name__)

# States whose events are processed no more, and purged after the retention
FINISHED = ['done', 'ignored', 'rejected', 'invalid']
# The errors of a confirming question that say nothing about the callback
PASSING = (daraja.Unavailable, daraja.Throttled, daraja.TokenError)
# The answer of a question not asked yet
NOT_ASKED = object()
# How many of a batch's questions are asked of Daraja at the same time
QUESTIONS_AT_ONCE = config.getint(
    'account_mpesa', 'questions_at_once', default=8)
# The query of the processing task waiting on the queue, by database name
WAITING_TASK = {}
# How long, in milliseconds, a run of the queued processing waits at most
# for the routes that hold the inbox before it ends
INBOX_WAIT = config.getint('account_mpesa', 'inbox_wait', default=50)
# Above how many callbacks a second coming in the queued settlement gives
# way to their answering, and for how many seconds in a row at most
BURST_RATE = config.getfloat('account_mpesa', 'burst_rate', default=100)
BURST_PAUSE = config.getfloat('account_mpesa', 'burst_pause', default=3)


def load_body(body):
    """The JSON value of a callback body (text), refusing what Python's json
    module would take but Daraja never sends: NaN and infinities, and
    nesting deeper than the interpreter can parse"""
    def refuse(constant):
        raise ValueError(f"{constant} is not a number")
    try:
        return json.loads(body, parse_constant=refuse)
    except RecursionError as exception:
        raise ValueError("the body is nested too deeply") from exception


class Question:
    """What Daraja must be asked to confirm a callback: an STK Query about
    its CheckoutRequestID, a Transaction Status about its payout or its
    receipt ('c2b_status'), or Pull Transactions over a window ('pull')"""

    def __init__(self, kind, account, reference):
        self.kind, self.account, self.reference = kind, account, reference

    def ask(self):
        """Ask Daraja in a read-only transaction of its own; return the
        answer or the DarajaError"""
        with Transaction().new_transaction(readonly=True):
            return self.answer()

    @classmethod
    def ask_all(cls, questions):
        """Ask Daraja the questions, QUESTIONS_AT_ONCE at a time: each share
        in a read-only transaction (and a thread) of its own; return the
        answers, DarajaErrors or other exceptions, in order.  The questions
        that only read are asked once for all who need them (``coalesce``).

        Daraja answers a question in a few hundred milliseconds: one after
        the other, the questions of a batch would bound its settlement."""
        asked, which = cls.coalesce(questions)
        answers = cls._ask_shares(asked)
        return [answers[i] for i in which]

    @classmethod
    def coalesce(cls, questions):
        """The questions to ask so as to answer all of them, and for each
        of them the index of the one that answers it: the same STK Query is
        asked once, and the Pull windows of an account that overlap are
        asked as one window, whose rows hold those of each.  A Transaction
        Status is asked for each: its answer is the id of its own result."""
        asked, which, queries, pulls = [], [None] * len(questions), {}, {}
        for i, question in enumerate(questions):
            if question.kind == 'stk':
                key = question.account, question.reference
                if key not in queries:
                    queries[key] = len(asked)
                    asked.append(question)
                which[i] = queries[key]
            elif question.kind == 'pull':
                pulls.setdefault(question.account, []).append(i)
            else:
                which[i] = len(asked)
                asked.append(question)
        for account, indices in pulls.items():
            indices.sort(key=lambda i: questions[i].reference)
            windows = []
            for i in indices:
                start, end = questions[i].reference
                if windows and start <= windows[-1][1]:
                    windows[-1][1] = max(windows[-1][1], end)
                else:
                    windows.append([start, end])
                which[i] = len(asked) + len(windows) - 1
            asked.extend(cls('pull', account, tuple(w)) for w in windows)
        return asked, which

    @staticmethod
    def _ask_shares(questions):
        "Ask the questions, a share per thread (``ask_all``)"
        if len(questions) < 2:
            shares = [questions]
        else:
            shares = [questions[i::QUESTIONS_AT_ONCE]
                for i in range(min(len(questions), QUESTIONS_AT_ONCE))]
        start = thread_transaction()

        def ask(share, thread=True):
            answers = []
            with (start() if thread else
                    Transaction().new_transaction(readonly=True)), \
                    reusing_daraja_clients():
                for question in share:
                    try:
                        answers.append(question.answer())
                    except Exception as exception:
                        answers.append(exception)
            return answers
        if len(shares) == 1:
            answered = [ask(shares[0], thread=False)]
        else:
            with ThreadPoolExecutor(len(shares)) as executor:
                answered = list(executor.map(ask, shares))
        answers = [None] * len(questions)
        for i, share in enumerate(answered):
            answers[i::len(shares)] = share
        return answers

    def answer(self):
        """Ask Daraja in the current transaction, which it does not write;
        return the answer or the DarajaError"""
        pool = Pool()
        Account = pool.get('account.payment.mpesa.account')
        Payment = pool.get('account.payment')
        try:
            if self.kind == 'stk':
                return Account(self.account).stk_query(self.reference)
            if self.kind == 'pull':
                return Account(self.account).c2b_pull(*self.reference)
            if self.kind == 'c2b_status':
                return Account(self.account).c2b_ask_status(
                    self.reference)
            return Payment(self.reference).mpesa_ask_status()
        except daraja.DarajaError as exception:
            return exception


class Event(ModelSQL, ModelView):
    "M-Pesa Callback Event"
    __name__ = 'account.payment.mpesa.event'

    account = fields.Many2One(
        'account.payment.mpesa.account', "Account", required=True,
        readonly=True, ondelete='CASCADE')
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    kind = fields.Selection(
        [(k.name, k.label) for k in CALLBACK_KINDS.values()], "Kind",
        required=True, readonly=True)
    remote_address = fields.Char("Remote Address", readonly=True)
    received_at = fields.DateTime("Received At", required=True, readonly=True)
    body = fields.Text("Body", readonly=True)
    state = fields.Selection([
            ('pending', "Pending"),
            ('done', "Done"),
            ('ignored', "Ignored"),
            ('rejected', "Rejected"),
            ('invalid', "Invalid"),
            ('error', "Error"),
            ], "State", required=True, readonly=True, sort=False,
        help="Rejected: Daraja contradicted the callback, which changed "
        "nothing.  Invalid: the body is not a callback of its kind; it is "
        "kept as it came and never processed.")
    error = fields.Text(
        "Error", readonly=True,
        states={
            'invisible': ~Eval('error'),
            })
    attempts = fields.Integer("Attempts", required=True, readonly=True)
    processed_at = fields.DateTime(
        "Last Processed", readonly=True,
        help="When processing was last tried.")
    reference = fields.Char(
        "Reference", readonly=True, strip=False,
        help="The CheckoutRequestID or ConversationID the callback is about.")
    payment = fields.Many2One(
        'account.payment', "Payment", readonly=True, ondelete='SET NULL')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(['pending', 'error'])),
                Index(t, (t.reference, Index.Equality())),
                })
        cls._order.insert(0, ('received_at', 'DESC'))
        cls._buttons.update({
                'process': {
                    'invisible': ~Eval('state').in_(['pending', 'error']),
                    'icon': 'tryton-launch',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'pending'

    @classmethod
    def default_attempts(cls):
        return 0

    @classmethod
    def receive(cls, gate, kind, body, remote_address, queue=False):
        """Store a callback as it came, for the account of the CallbackGate
        gate, and return the event's id and state; the caller commits
        before the event is processed.  With queue, the transaction first
        holds the inbox (``hold_inbox``) and has the worker process the
        event (``_waiting_task``).  A body that is not a callback of the
        kind is stored once as an 'invalid' event with the reason.

        One INSERT, not the ORM's create, and on PostgreSQL one round trip
        for it all (psycopg's pipeline): Daraja waits for the answer."""
        transaction = Transaction()
        database = transaction.database
        state, reference, error = 'pending', None, None
        try:
            reference = parse_callback(
                kind, gate.account, load_body(body)).reference
        except (ValueError, TypeError, daraja.ParseError) as exception:
            state = 'invalid'
            error = gettext(
                'account_mpesa.msg_event_malformed', error=exception)
        table = cls.__table__()
        columns = [
            table.create_uid, table.create_date, table.account, table.company,
            table.kind, table.remote_address, table.received_at, table.body,
            table.state, table.error, table.attempts, table.reference]
        values = [
            transaction.user, CurrentTimestamp(), gate.account, gate.company,
            kind, remote_address, utc_now(), body.replace('\x00', '\ufffd'),
            state, error, cls.default_attempts(), reference]
        connection = transaction.connection
        returning = [table.id] if database.has_returning() else None
        with (connection.pipeline() if backend.name == 'postgresql'
                else nullcontext()):
            if queue:
                cls.hold_inbox()
                waiting = cls._waiting_task()
                if returning:
                    # Looked for by the INSERT itself: a statement less
                    returning.append(waiting)
            cursor = connection.cursor()
            cursor.execute(*table.insert(columns, [values], returning))
        if returning:
            event_id, *task_id = cursor.fetchone()
        else:
            event_id = database.lastid(cursor)
            if queue:
                cursor.execute(*Select([waiting]))
                task_id = cursor.fetchone()
        if queue and state == 'pending' and task_id[0] is None:
            cls.__queue__.process_queued([cls(event_id)])
        return event_id, state

    @classmethod
    def process_waiting(cls, account_id, reference):
        """Process the pending events of the account about the request with
        reference, each in a transaction of its own.  They are looked for in
        a fresh transaction: the caller's may predate them."""
        def waiting():
            return [e.id for e in cls.search([
                        ('account', '=', account_id),
                        ('reference', '=', reference),
                        ('state', '=', 'pending'),
                        ])]
        cls.process(cls.browse(run_in_transaction(waiting)))

    @classmethod
    @ModelView.button
    def process(cls, events):
        "Process the events, each in transactions of its own"
        cls.process_in_batches(events, 1)

    @classmethod
    def process_in_batches(cls, events, size):
        """Process the events by batches of at most size events of one
        account, each batch in transactions of its own.

        What Daraja must be asked to confirm the callbacks of a batch is
        found and asked first in a read-only transaction that locks
        nothing; the batch is then applied with the answers in one
        transaction.  A batch that fails is applied again one event at a
        time, so that one bad event holds up only itself.  An event whose
        payment is not known yet stays 'pending' for the retry; an event
        whose processing fails is kept as 'error' with the reason.
        """
        cls._process_batches(cls._batches([e.id for e in events], size))

    @classmethod
    def _batches(cls, ids, size):
        "The event ids by batches of at most size ids of one account"
        if size > 1:
            by_account = defaultdict(list)
            # The caller's transaction may predate the events
            with Transaction().new_transaction(readonly=True):
                for event in cls.browse(ids):
                    by_account[event.account.id].append(event.id)
        else:
            by_account = {None: ids}
        for ids in by_account.values():
            for start in range(0, len(ids), size):
                yield ids[start:start + size]

    @classmethod
    def _process_batches(cls, batches):
        """Process the batches of event ids, in order.  The questions of a
        batch are asked (``_ask_first``) in a thread of their own while the
        batch before it is applied: Daraja answers while the database
        works, not after.  Asking early is safe: a batch is applied under
        its payments' locks, whatever its answers say."""
        start = thread_transaction()

        def ask(event_ids):
            with start():
                return cls._ask_first(event_ids)
        with ThreadPoolExecutor(1) as executor:
            previous = None
            for event_ids in batches:
                asking = executor.submit(ask, event_ids)
                if previous is not None:
                    cls._process_batch(*previous)
                previous = event_ids, asking
            if previous is not None:
                cls._process_batch(*previous)

    @classmethod
    def _process_batch(cls, event_ids, asking):
        "Apply the batch with the answers of asking, its _ask_first future"
        asked, failed = asking.result()
        for event_id, exception in failed.items():
            cls._process_failed(event_id, exception)
        ids = [i for i in event_ids if i not in failed]
        if len(ids) > 1:
            answers = {i: a for i, (_, a) in asked.items()}
            try:
                # A conflict too is left to the events one by one
                late = run_in_transaction(
                    cls._apply, ids, answers, retries=0)
            except Exception:
                logger.warning(
                    "M-Pesa batch of %d callbacks failed, processing them "
                    "one by one", len(ids), exc_info=True)
                late = dict.fromkeys(ids)
            else:
                cls._process_waiting_after(asked, late)
        else:
            late = dict.fromkeys(ids)
        for event_id, question in late.items():
            if question is None:
                # Alone, with the answer already had
                question, answer = asked.get(event_id, (None, NOT_ASKED))
            else:
                # A question the read-only step could not foresee
                answer = question.ask()
            cls._process_alone(event_id, question, answer)

    @classmethod
    def _process_alone(cls, event_id, question, answer):
        "Apply the event alone: a batch of one"
        try:
            late = run_in_transaction(
                cls._apply, [event_id], {event_id: answer}).get(event_id)
            if late is not None:
                question, answer = late, late.ask()
                run_in_transaction(
                    cls._apply, [event_id], {event_id: answer})
            cls._process_waiting_after({event_id: (question, answer)}, {})
        except Exception as exception:
            cls._process_failed(event_id, exception)

    @classmethod
    def _process_failed(cls, event_id, exception):
        logger.warning("M-Pesa event %d failed", event_id, exc_info=exception)
        run_in_transaction(cls._record_error, event_id, exception)

    @classmethod
    def _process_waiting_after(cls, asked, late):
        """Process the results of the questions asked that may have come
        before the question's id was committed"""
        for event_id, (question, answer) in asked.items():
            if (event_id not in late and question is not None
                    and isinstance(answer, str)):
                cls.process_waiting(question.account, answer)

    @classmethod
    def process_queued(cls, events):
        """Process the callbacks never tried yet, the oldest first, by
        batches of an account's (``[account_mpesa] settle_batch``), until
        none is left once the inbox is drained (``_queued_after``): the task
        that the routes queue (``receive``).  Each batch is taken in a
        transaction of its own, so that the callbacks committed meanwhile
        are found too.  Before each batch, the run gives way to a burst of
        callbacks coming in (``Inflow``, ``[account_mpesa] burst_rate``).

        The runs wait for each other (a lock held by the task's own
        transaction): with several worker processes, two runs would ask
        Daraja the same questions and wait for each other's events."""
        transaction = Transaction()
        database = transaction.database
        if database.has_select_for():
            transaction.connection.cursor().execute(*Select([
                        database.lock_id(
                            str2bigint(f'{cls.__name__},process_queued'),
                            timeout=True)]))

        inflow = Inflow(cls._newest_id, BURST_RATE, BURST_PAUSE,
            first=min((e.id for e in events), default=None))

        def batches():
            after = 0
            while True:
                waited = inflow.give_way()
                if waited >= inflow.look:
                    logger.debug(
                        "M-Pesa settlement gave way %.1f s to callbacks "
                        "coming in", waited)
                ids = cls._queued_after(after)
                if ids is None:
                    # The inbox stayed held: the next run looks again
                    cls.__queue__.process_queued(events)
                    return
                if not ids:
                    return
                after = ids[-1]
                yield from cls._batches(ids, SETTLE_BATCH)
        cls._process_batches(batches())

    @classmethod
    def _newest_id(cls):
        "The id of the newest callback, in a transaction of its own"
        table = cls.__table__()
        with Transaction().new_transaction(readonly=True) as transaction:
            cursor = transaction.connection.cursor()
            cursor.execute(*table.select(Max(table.id)))
            newest, = cursor.fetchone()
        return newest or 0

    @classmethod
    def _queued_after(cls, after):
        """The ids of the next batch of callbacks never tried, after id
        after, each in a read-only transaction of its own.  When none is
        left, the inbox is drained first: the routes that hold it
        (``hold_inbox``) may count on this run's task, so they are waited
        for, at most INBOX_WAIT, and looked at again; None when they take
        longer."""
        def search():
            return [e.id for e in cls.search([
                        ('state', '=', 'pending'),
                        ('processed_at', '=', None),
                        ('id', '>', after),
                        ], order=[('id', 'ASC')], limit=SETTLE_BATCH)]
        with Transaction().new_transaction(readonly=True):
            ids = search()
        if ids or backend.name != 'postgresql':
            return ids
        # Read-write: PostgreSQL refuses a SHARE lock to a read-only one
        with Transaction().new_transaction() as transaction:
            cursor = transaction.connection.cursor()
            cursor.execute(f"SET LOCAL lock_timeout = '{INBOX_WAIT}ms'")
            try:
                # Before any query: the snapshot is taken after the lock
                cursor.execute(f'LOCK "{cls._table}" IN SHARE MODE')
            except backend.DatabaseOperationalError:
                transaction.rollback()
                return None
            return search()

    @classmethod
    def hold_inbox(cls):
        """Hold the inbox until the transaction ends, so that a run of
        ``process_queued`` that the caller counts on does not end before
        its callback is committed (``_queued_after``).  On PostgreSQL, to
        be the first statement of the transaction: its snapshot is then
        taken after the lock, and sees the runs that ended before."""
        if backend.name == 'postgresql':
            Transaction().connection.cursor().execute(
                f'LOCK "{cls._table}" IN ROW EXCLUSIVE MODE')

    @classmethod
    def _waiting_task(cls):
        """The query of the id of a ``process_queued`` task waiting on the
        queue (NULL when none waits), which ``receive`` runs with the INSERT
        of the event.  ``receive`` queues a task when none waits; else it
        counts on that one, which the worker runs until it finds no
        callback in an inbox no route holds.  The waiting task is neither
        locked nor signalled: a burst of callbacks makes no NOTIFY storm.

        Tryton's queue has no such coalescing: a task per callback would
        cap the settlement at the worker's pace of taking tasks (it pauses
        up to 100 ms before each), whatever the batches."""
        Queue = Pool().get('ir.queue')
        database = Transaction().database
        waiting = WAITING_TASK.get(database.name)
        if waiting is None:
            # The same for every callback: built once, by Tryton's search,
            # which knows how the backend reads the task's data
            waiting = WAITING_TASK[database.name] = Queue.search([
                    ('name', '=', 'default'),
                    ('dequeued_at', '=', None),
                    ('scheduled_at', '=', None),
                    ('expected_at', '=', None),
                    ('data.model', '=', cls.__name__),
                    ('data.method', '=', 'process_queued'),
                    ], order=[], limit=1, query=True)
        return waiting

    @classmethod
    def process_pending(cls, events=None):
        """Process again the callbacks left pending or in error (a cron).

        An event is tried again once its account's query delay, doubled at
        each attempt, has passed since its last try, up to the account's
        number of attempts; then it is left in 'error' with the reason, for
        an accountant.  Each event is processed in transactions of its
        own.  Logs one summary line.
        """
        if events is None:
            events = cls.search([
                    ('state', 'in', ['pending', 'error']),
                    *company_domain(),
                    ], order=[('received_at', 'ASC'), ('id', 'ASC')])
        now = utc_now()
        due, exhausted = [], []
        for event in events:
            if event.attempts >= event.account.event_attempts:
                if event.state == 'pending':
                    exhausted.append(event.id)
            elif (not event.processed_at
                    or event.processed_at + event.account.query_delay
                    * 2 ** max(event.attempts - 1, 0) <= now):
                due.append(event)
        for event_id in exhausted:
            run_in_transaction(
                cls._record_error, event_id,
                gettext('account_mpesa.msg_event_exhausted'))
        cls.process_in_batches(due, SETTLE_BATCH)
        counts = Counter(cls(e.id).state for e in due)
        counts['given up'] = len(exhausted)
        logger.info("M-Pesa callbacks retried: %s", summary(counts))
        return counts

    @classmethod
    def purge(cls):
        """Delete the finished callbacks (processed, rejected or invalid)
        older than their account's retention (a cron)"""
        Account = Pool().get('account.payment.mpesa.account')
        now = utc_now()
        count = 0
        for account in Account.search([
                    *company_domain(),
                    ]):
            events = cls.search([
                    ('account', '=', account.id),
                    ('state', 'in', FINISHED),
                    ('received_at', '<', now - account.event_retention),
                    ])
            cls.delete(events)
            count += len(events)
        logger.info("M-Pesa callbacks purged: %d", count)

    @classmethod
    def _ask_first(cls, event_ids):
        """Find what Daraja must be asked to confirm each event, in the
        current transaction (read-only, of its own: it locks nothing), and
        ask it (``Question.ask_all``); return the Question and its answer
        by event id (None and NOT_ASKED when there is none), and the
        exception by event id of those that failed"""
        Payment = Pool().get('account.payment')
        asked, failed, claims = {}, {}, []
        for event in cls.browse(event_ids):
            asked[event.id] = None, NOT_ASKED
            if event.state not in {'pending', 'error'}:
                continue
            try:
                outcome = parse_callback(
                    event.kind, event.account.id, load_body(event.body))
            except (ValueError, TypeError, daraja.ParseError):
                continue
            claims.append((event, outcome))
        try:
            payments = Payment.mpesa_lookup_all(
                [o for _, o in claims], lock=False)
        except Exception as exception:
            return asked, {e.id: exception for e, _ in claims}
        questions = {}
        for (event, outcome), payment in zip(claims, payments):
            try:
                question = event.question(outcome, payment)
            except Exception as exception:
                failed[event.id] = exception
            else:
                if question is not None:
                    questions[event.id] = question
        answers = Question.ask_all(list(questions.values()))
        for (event_id, question), answer in zip(questions.items(), answers):
            if isinstance(answer, Exception) and not isinstance(
                    answer, daraja.DarajaError):
                failed[event_id] = answer
            else:
                asked[event_id] = question, answer
        return asked, failed

    def question(self, outcome, payment):
        """The Question that confirming the event's claim needs first, or
        None, given the payment that made the outcome's request (read, not
        locked); reads only and locks nothing"""
        Payment = Pool().get('account.payment')
        if not (outcome.final and outcome.is_claim
                and outcome.kind in {'stk', 'b2c', 'reversal'}
                and self.account.confirm_callbacks):
            return None
        if payment is None:
            payment = Payment.mpesa_adoptable(outcome)
        if payment is None or payment.mpesa_agrees(outcome):
            return None
        if outcome.kind == 'stk':
            return Question(
                'stk', outcome.account, outcome.checkout_request_id)
        if payment.state == 'processing' and payment.mpesa_status_due(
                utc_now()):
            return Question('status', outcome.account, payment.id)
        return None

    @classmethod
    def _record_error(cls, event_id, exception):
        event = cls(event_id)
        event.state = 'error'
        event.error = str(exception)
        event.attempts += 1
        event.processed_at = utc_now()
        event.save()

    @classmethod
    def _apply(cls, event_ids, answers):
        """Process the events, locked, with Daraja's answers to their
        questions by event id; return the Questions to ask first by event
        id, whose events are left as they are.  The caller commits.

        The callbacks about payouts and STK Pushes go through one
        ``Batch`` of the ledger, flushed before a callback about a payment
        or receipt that an earlier one of the flush is about (a repeated
        delivery); the others are applied one after the other, after
        them."""
        lock_rows(cls, event_ids)
        events = [e for e in cls.browse(event_ids)
            if e.state in {'pending', 'error'}]
        work = [(e, parse_callback(e.kind, e.account.id, load_body(e.body)))
            for e in events]
        together, alone = [], []
        for event, outcome in work:
            if (outcome.is_claim and outcome.final
                    and outcome.kind in {'stk', 'b2c', 'reversal'}):
                together.append((event, outcome))
            else:
                alone.append([(event, outcome)])
        late, processed = {}, []
        for round_, prefetched in (
                [(r, True) for r in Batch.rounds(together, itemgetter(1))]
                + [(r, False) for r in alone]):
            batch = Batch()
            if prefetched:
                batch.prefetch(o for _, o in round_)
            for event, outcome in round_:
                verdict = event._handle(
                    outcome, answers.get(event.id, NOT_ASKED), batch)
                if isinstance(verdict, Question):
                    late[event.id] = verdict
                else:
                    event._record_verdict(*verdict)
                    processed.append(event)
            batch.flush()
        cls.save(processed)
        return late

    def _record_verdict(self, state, note):
        self.attempts += 1
        self.state = state
        self.error = note
        self.processed_at = utc_now()
        if state == 'rejected':
            logger.warning(
                "M-Pesa callback %d rejected: %s", self.id, note)

    def _handle(self, outcome, answer, batch):
        """Apply the outcome of the callback with the ledger's batch;
        return the event's new state and note, or the Question to ask
        Daraja first"""
        pool = Pool()
        Payment = pool.get('account.payment')
        Ledger = pool.get('account.payment.mpesa.transaction')
        if outcome.kind == 'c2b':
            return self.handle_customer_payment(outcome, answer)
        payment = batch.payment(outcome)
        self.payment = payment
        if not outcome.final:
            if payment is None or payment.mpesa_state == 'sending':
                # A time-out that beat the commit of our own request's
                # answer: processed once it is committed
                return 'pending', None
            if outcome.source == 'callback' and outcome.kind != 'status':
                payment.mpesa_timed_out()
            return 'done', None
        adoptable = None
        if payment is None:
            adoptable = Payment.mpesa_adoptable(outcome)
            if adoptable is None:
                # The callback beat the commit of our own request, or is
                # about a request whose answer we never got
                return 'pending', None
        if outcome.is_claim and self.account.confirm_callbacks:
            verdict = self._confirm(outcome, payment or adoptable, answer)
            if verdict is not None:
                return verdict
        if payment is None:
            payment = self.payment = adoptable.mpesa_adopt(outcome)
        Ledger.settle(outcome, payment, event=self, batch=batch)
        if outcome.source == 'status':
            batch.flush()
            self._judge_claims(payment)
        return 'done', None

    def _confirm(self, outcome, payment, answer):
        """None when Daraja confirms the claim; else the event's state and
        note, or the Question to ask Daraja first"""
        if payment.mpesa_agrees(outcome):
            # A repeat of what settled the payment: nothing to confirm
            return None
        if outcome.kind == 'stk':
            return self._confirm_stk(outcome, answer)
        return self._confirm_payout(outcome, payment, answer)

    @staticmethod
    def _confirm_stk(outcome, answer):
        "Confirm an STK result by Daraja's answer to an STK Query"
        if answer is NOT_ASKED:
            return Question(
                'stk', outcome.account, outcome.checkout_request_id)
        if isinstance(answer, daraja.DarajaError):
            return unconfirmed(answer)
        fact = from_stk_query(outcome.account, answer)
        if fact is None:
            return 'pending', gettext(
                'account_mpesa.msg_event_unconfirmed_pending')
        if fact.checkout_request_id != outcome.checkout_request_id:
            return 'pending', gettext(
                'account_mpesa.msg_mpesa_unexpected_answer',
                reference=fact.checkout_request_id)
        if (fact.succeeded != outcome.succeeded
                or (not fact.succeeded
                    and fact.result_code != outcome.result_code)):
            return 'rejected', gettext(
                'account_mpesa.msg_event_contradicted',
                claimed=outcome.result_code, fact=fact.result_code,
                desc=fact.result_desc)
        return None

    @staticmethod
    def _confirm_payout(outcome, payment, answer):
        """Confirm a payout result by Transaction Status: its answer comes
        by callback, settles the payout and judges the claims then"""
        if payment.state != 'processing':
            return contradicted(outcome, payment)
        if isinstance(answer, daraja.DarajaError):
            return unconfirmed(answer)
        if isinstance(answer, str):
            payment.__class__.mpesa_record_status_request(payment.id, answer)
        elif answer is NOT_ASKED and payment.mpesa_status_due(utc_now()):
            return Question('status', outcome.account, payment.id)
        return 'pending', gettext(
            'account_mpesa.msg_event_unconfirmed_pending')

    def _judge_claims(self, payment):
        """Judge the payout results waiting for the confirmation that the
        payout's Transaction Status just gave: done when they agree with
        what settled it, rejected otherwise"""
        if payment.state == 'processing':
            return
        claims = self.search([
                ('account', '=', self.account.id),
                ('reference', '=', payment.mpesa_originator_conversation_id),
                ('kind', 'in', ['b2c/result', 'reversal/result']),
                ('state', '=', 'pending'),
                ])
        lock_rows(self.__class__, claims)
        for claim in claims:
            outcome = parse_callback(
                claim.kind, claim.account.id, load_body(claim.body))
            claim.state, claim.error = (
                ('done', None) if payment.mpesa_agrees(outcome)
                else contradicted(outcome, payment))
            claim.payment = payment
            claim.attempts += 1
            claim.processed_at = utc_now()
            if claim.state == 'rejected':
                logger.warning(
                    "M-Pesa callback %d rejected: %s", claim.id, claim.error)
        self.__class__.save(claims)


def contradicted(outcome, payment):
    "The state and note of a claim that what settled the payment denies"
    return 'rejected', gettext(
        'account_mpesa.msg_event_contradicted',
        claimed=outcome.result_code, fact=payment.mpesa_result_code or '',
        desc=payment.mpesa_message or '')


def unconfirmed(error):
    """The state and note of a claim Daraja could not confirm: to try again
    after a passing error, rejected when Daraja refuses the question (it
    does not know the request)"""
    if isinstance(error, PASSING):
        return 'pending', gettext(
            'account_mpesa.msg_event_unconfirmed',
            error=error.message or error)
    return 'rejected', gettext(
        'account_mpesa.msg_event_unknown_request',
        error=error.message or error)
