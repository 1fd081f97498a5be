# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The callback inbox: every callback Daraja sends, stored raw before it is
processed."""
import json
import logging
from collections import Counter

from sql.functions import CurrentTimestamp

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import daraja
from .account import CALLBACK_KINDS
from .common import (
    company_domain, lock_rows, run_in_transaction, summary, utc_now)

logger = logging.getLogger(__name__)



class Event(ModelSQL, ModelView):
    "M-Pesa Callback Event"
    __name__ = 'account.payment.mpesa.event'

    account = fields.Many2One(
        'account.payment.mpesa.account', "Account", required=True,
        readonly=True, ondelete='CASCADE')
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    kind = fields.Selection(
        [(k, k) for k in CALLBACK_KINDS], "Kind", required=True,
        readonly=True)
    remote_address = fields.Char("Remote Address", readonly=True)
    received_at = fields.DateTime("Received At", required=True, readonly=True)
    body = fields.Text("Body", readonly=True)
    state = fields.Selection([
            ('pending', "Pending"),
            ('done', "Done"),
            ('ignored', "Ignored"),
            ('error', "Error"),
            ], "State", required=True, readonly=True, sort=False)
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

    @property
    def processor(self):
        return getattr(self, '_process_' + self.kind.replace('/', '_'))

    @classmethod
    def callback_kinds(cls):
        """The kinds of callback processed, each with the function that
        checks the shape of a body and returns the request it is about"""
        return {
            'stk': lambda data: (
                daraja.parse_stk_callback(data).checkout_request_id),
            }

    @classmethod
    def receive(cls, gate, kind, body, remote_address):
        """Store a callback as it came, for the account of the CallbackGate
        gate, and return the event's id and state; the caller commits
        before the event is processed.  A body that is not a JSON object of
        the kind's shape is stored as an 'error' event with the reason.

        One INSERT, not the ORM's create: Daraja waits for the answer, and
        the values are all made here."""
        transaction = Transaction()
        database = transaction.database
        state, reference, error = 'pending', None, None
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            reference = cls.callback_kinds()[kind](data)
        except (ValueError, daraja.ParseError) as exception:
            state = 'error'
            error = gettext('account_mpesa.msg_event_malformed', error=exception)
        table = cls.__table__()
        columns = [
            table.create_uid, table.create_date, table.account, table.company,
            table.kind, table.remote_address, table.received_at, table.body,
            table.state, table.error, table.attempts, table.reference]
        values = [
            transaction.user, CurrentTimestamp(), gate.account, gate.company,
            kind, remote_address, utc_now(), body,
            state, error, cls.default_attempts(), reference]
        cursor = transaction.connection.cursor()
        if database.has_returning():
            cursor.execute(*table.insert(columns, [values], [table.id]))
            event_id, = cursor.fetchone()
        else:
            cursor.execute(*table.insert(columns, [values]))
            event_id = database.lastid(cursor)
        return event_id, state

    @classmethod
    def enqueue(cls, event_id):
        """Put the processing of the event on Tryton's task queue in the
        caller's transaction: the task ``__queue__.process`` would make, in
        one INSERT without the ORM's checks (Daraja waits for the answer)"""
        Queue = Pool().get('ir.queue')
        transaction = Transaction()
        database = transaction.database
        queue = Queue.__table__()
        data = {
            'model': cls.__name__,
            'method': 'process',
            'user': transaction.user,
            'context': {},
            'instances': [event_id],
            'args': [],
            'kwargs': {},
            }
        transaction.connection.cursor().execute(*queue.insert(
                [queue.create_uid, queue.create_date, queue.name, queue.data,
                    queue.enqueued_at],
                [[transaction.user, CurrentTimestamp(), 'default',
                        Queue.data.sql_format(data),
                        Queue.default_enqueued_at()]]))
        if database.has_channel():
            database.notify(transaction.connection, Queue.__name__, '')

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
        """Process the events, each in a transaction of its own.

        An event whose payment is not known yet stays 'pending' for the
        retry; an event whose processing fails is kept as 'error' with the
        reason; the others go on.  Concurrent deliveries of one callback
        conflict on the payment's row and are retried.
        """
        for event in events:
            try:
                run_in_transaction(cls._process_one, event.id)
            except Exception as exception:
                logger.warning(
                    "M-Pesa event %d failed", event.id, exc_info=True)
                run_in_transaction(cls._record_error, event.id, exception)

    @classmethod
    def process_pending(cls, events=None):
        """Process again the callbacks left pending or in error (a cron).

        An event is tried again once its account's query delay, doubled at
        each attempt, has passed since its last try, up to the account's
        number of attempts; then it is left in 'error' with the reason, for
        an accountant.  Each event is
        processed in a transaction of its own.  Logs one summary line.
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
        cls.process(due)
        counts = Counter(cls(e.id).state for e in due)
        counts['given up'] = len(exhausted)
        logger.info("M-Pesa callbacks retried: %s", summary(counts))

    @classmethod
    def purge(cls):
        """Delete the processed callbacks older than their account's
        retention (a cron)"""
        Account = Pool().get('account.payment.mpesa.account')
        now = utc_now()
        count = 0
        for account in Account.search([
                    *company_domain(),
                    ]):
            events = cls.search([
                    ('account', '=', account.id),
                    ('state', '=', 'done'),
                    ('received_at', '<', now - account.event_retention),
                    ])
            cls.delete(events)
            count += len(events)
        logger.info("M-Pesa callbacks purged: %d", count)

    @classmethod
    def _record_error(cls, event_id, exception):
        event = cls(event_id)
        event.state = 'error'
        event.error = str(exception)
        event.attempts += 1
        event.processed_at = utc_now()
        event.save()

    @classmethod
    def _process_one(cls, event_id):
        lock_rows(cls, [event_id])
        event = cls(event_id)
        if event.state not in {'pending', 'error'}:
            return
        event.attempts += 1
        event.state = event.processor(json.loads(event.body))
        event.error = None
        event.processed_at = utc_now()
        event.save()

    def _process_stk(self, data):
        "Apply an STK callback to its payment; return the event's new state"
        pool = Pool()
        Payment = pool.get('account.payment')
        Ledger = pool.get('account.payment.mpesa.transaction')
        callback = daraja.parse_stk_callback(data)
        payment = (
            Payment.mpesa_lock_request(callback.checkout_request_id)
            or Payment.mpesa_adopt(self.account, callback))
        if payment is None:
            # The callback beat the commit of our own push, or is about a
            # push whose answer we never got
            return 'pending'
        # The payment's lock serializes concurrent deliveries from here
        ledger = None
        if callback.succeeded and callback.receipt:
            ledger = Ledger.record_stk(self.account, callback, event=self)
        payment.mpesa_apply(self.account, callback, ledger)
        self.payment = payment
        return 'done'
