# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Money customers send on their own (C2B): the confirmation is a claim,
confirmed by Pull Transactions or Transaction Status; then it is recorded
in the ledger once per receipt and matched by the account's rules to a
sale, an invoice or a party, and a payment on the account's M-Pesa
journal is succeeded with the receipt through ``Ledger.settle``."""
import datetime as dt
import logging
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import Index, ModelView, fields
from trytond.wizard import Button, StateTransition, StateView, Wizard
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction, without_check_access

from . import daraja
from .common import (
    claim_row, lock_rows, nairobi_date, run_in_transaction, utc_now)
from .exceptions import MpesaAccountError
from .invoice import line_to_pay
from .matching import (
    DEFAULT_RULES, allocations_for, distribute, find_match, normalise)
from .event import NOT_ASKED, Question, load_body, unconfirmed
from .outcome import parse_callback

logger = logging.getLogger(__name__)

# How far around the claimed time Pull Transactions is asked
PULL_MARGIN = dt.timedelta(hours=1)
# The pushes whose result may still come: waiting, or held for review
WAITING_STATES = ['sending', 'pending', 'unknown', 'review']
VALIDATION_ACCEPTED = {'ResultCode': '0', 'ResultDesc': "Accepted"}
VALIDATION_REJECTED = {
    'ResultCode': 'C2B00012', 'ResultDesc': "Rejected: invalid account number"}


def pull_answer_kind(result):
    """What a Pull Transactions answer says: 'rows', 'empty' (no records)
    or 'unregistered' (the shortcode is not set up for Pull); Daraja gives
    both of the last two code 1001, with different words"""
    if result.ok:
        return 'rows'
    if 'no record' in (result.response_message or '').lower():
        return 'empty'
    return 'unregistered'


class Account(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.account'

    c2b_response_type = fields.Selection([
            ('Completed', "Completed"),
            ('Cancelled', "Cancelled"),
            ], "When Validation Does Not Answer", required=True,
        help="What M-Pesa does with a customer payment when the validation "
        "URL does not answer within 8 seconds.")
    c2b_reject_unknown = fields.Boolean(
        "Reject Unknown Account Numbers",
        help="With external validation enabled by Safaricom, refuse a "
        "customer payment whose account number matches no sale, invoice "
        "or party (the customer is told the account number is invalid).")
    c2b_rules = fields.One2Many(
        'account.payment.mpesa.rule', 'account', "Matching Rules",
        help="Tried in order: the first rule that finds anything decides; "
        "exactly one match pays it, several or none leave the receipt "
        "Unmatched.")
    c2b_registration = fields.Char(
        "C2B Registration", readonly=True,
        help="Daraja's last answer to the registration of the C2B URLs.")
    pull_registered = fields.Boolean(
        "Registered for Pull",
        help="The shortcode is registered for Pull Transactions: missed "
        "confirmations are recovered hourly, and confirmations are "
        "checked against it.")
    pull_nominated_number = fields.Char(
        "Pull Nominated Number",
        help="The Safaricom number nominated for the shortcode.")
    pull_until = fields.DateTime(
        "Pulled Until", readonly=True,
        help="The end of the last window asked of Pull Transactions.")
    pull_answer = fields.Char(
        "Last Pull Answer", readonly=True,
        help="The last kind of answer of Pull Transactions, said once in "
        "the log when it changes.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'register_c2b_urls': {
                    'icon': 'tryton-launch',
                    },
                'register_pull': {
                    'icon': 'tryton-launch',
                    },
                })

    @classmethod
    def default_c2b_response_type(cls):
        return 'Completed'

    @classmethod
    def default_c2b_reject_unknown(cls):
        return False

    @classmethod
    def default_pull_registered(cls):
        return False

    @classmethod
    def default_c2b_rules(cls):
        return [{'kind': k, 'sequence': (i + 1) * 10, 'oldest_first': True}
            for i, k in enumerate(DEFAULT_RULES)]

    @fields.depends('confirm_callbacks', 'pull_registered', 'initiator_name')
    def on_change_notify(self):
        notifications = super().on_change_notify()
        if (self.confirm_callbacks and not self.pull_registered
                and not self.initiator_name):
            notifications.append(('warning', gettext(
                        'account_mpesa.msg_account_c2b_cannot_confirm')))
        return notifications

    @property
    def mpesa_journal(self):
        "The M-Pesa payment journal of the account"
        Journal = Pool().get('account.payment.journal')
        journals = Journal.search([
                ('process_method', '=', 'mpesa'),
                ('mpesa_account', '=', self.id),
                ], order=[('id', 'ASC')], limit=1)
        return journals[0] if journals else None

    @property
    def c2b_confirmed_by(self):
        "How a C2B claim is confirmed: 'pull', 'status' or None"
        if self.pull_registered:
            return 'pull'
        with without_check_access():
            account = self.__class__(self.id)
            if account.initiator_name and account.initiator_password:
                return 'status'
        return None

    def c2b_pull(self, start, end):
        """Every row of Pull Transactions between start and end (naive
        UTC), all pages; the PullResult of the first page when it has no
        rows.  Writes nothing."""
        client = self.daraja_client()
        rows, offset = [], 0
        while True:
            result = client.pull_transactions(
                shortcode=self.party_b, start=start, end=end, offset=offset)
            if not result.ok or not result.transactions:
                if rows:
                    break
                return result, []
            rows.extend(result.transactions)
            offset += len(result.transactions)
            if len(result.transactions) < 100:
                break
        return result, rows

    def c2b_ask_status(self, receipt):
        """Ask Transaction Status about the receipt; the answer comes by
        callback.  Returns the OriginatorConversationID of the question."""
        with without_check_access():
            account = self.__class__(self.id)
            initiator = account.initiator_name
            credential = daraja.security_credential(
                account.initiator_password, account.certificate)
        answer = self.daraja_client().transaction_status(
            initiator_name=initiator, security_credential=credential,
            transaction_id=receipt, party_a=self.business_shortcode,
            result_url=self.callback_url('status/result'),
            queue_timeout_url=self.callback_url('status/timeout'),
            remarks="Customer payment")
        return answer.originator_conversation_id

    @classmethod
    @ModelView.button
    def register_c2b_urls(cls, accounts):
        """Register the confirmation and validation URLs with Daraja: v2,
        then v1 when the app's product is v1"""
        for account in accounts:
            client = account.daraja_client()
            values = dict(
                shortcode=account.party_b,
                confirmation_url=account.callback_url('c2b/confirmation'),
                validation_url=account.callback_url('c2b/validation'),
                response_type=account.c2b_response_type)
            try:
                try:
                    answer = client.register_c2b_urls(version=2, **values)
                except daraja.InvalidRequest as exception:
                    if 'v1' not in str(exception).lower() and (
                            'product' not in str(exception).lower()):
                        raise
                    answer = client.register_c2b_urls(version=1, **values)
            except daraja.DarajaError as exception:
                run_in_transaction(
                    cls._record_answer, account.id, 'c2b_registration',
                    str(exception.message or exception)[:250])
                raise MpesaAccountError(gettext(
                        'account_mpesa.msg_account_c2b_register_failed',
                        account=account.rec_name,
                        error=exception.message or exception)
                    ) from exception
            text = (answer.response_description or answer.response_code
                or '')[:250]
            run_in_transaction(
                cls._record_answer, account.id, 'c2b_registration', text)
            account.notify_user('tryton-ok', gettext(
                    'account_mpesa.msg_account_c2b_registered',
                    account=account.rec_name, answer=text))

    @classmethod
    def _record_answer(cls, account_id, name, value):
        """Record Daraja's answer on the account in a transaction of its
        own: asking Daraja may have renewed the account's token meanwhile"""
        cls.write([cls(account_id)], {name: value})

    @classmethod
    @ModelView.button
    def register_pull(cls, accounts):
        "Register the shortcode for Pull Transactions"
        for account in accounts:
            try:
                answer = account.daraja_client().register_pull(
                    shortcode=account.party_b,
                    nominated_number=account.pull_nominated_number or '',
                    callback_url=account.callback_url('c2b/confirmation'))
            except daraja.DarajaError as exception:
                raise MpesaAccountError(gettext(
                        'account_mpesa.msg_account_c2b_register_failed',
                        account=account.rec_name,
                        error=exception.message or exception)
                    ) from exception
            run_in_transaction(
                cls._record_answer, account.id, 'pull_registered',
                answer.registered)


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    mpesa_customer_initiated = fields.Boolean(
        "Paid by the Customer", readonly=True,
        states={
            'invisible': ~Eval('mpesa_customer_initiated'),
            },
        help="The customer paid the shortcode on their own (C2B).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # A customer's own payment may come with a hashed number only
        cls.mpesa_phone.states['required'] &= ~Bool(
            Eval('mpesa_customer_initiated'))
        cls.mpesa_phone.depends.add('mpesa_customer_initiated')

    @classmethod
    def default_mpesa_customer_initiated(cls):
        return False

    def _get_clearing_move(self, date=None):
        """The clearing move, its receivable line split in the parts the
        customer payment pays (one per invoice, then the credit)"""
        Line = Pool().get('account.move.line')
        move = super()._get_clearing_move(date=date)
        parts = Transaction().context.get('mpesa_clearing_parts', {}).get(
            str(self.id))
        if (move is None or getattr(move, 'id', None) is not None
                or not parts or len(parts) < 2):
            return move
        line, counterpart = move.lines
        lines = []
        for amount in parts:
            part = Line(
                account=line.account, party=line.party,
                debit=Decimal(0), credit=Decimal(amount))
            lines.append(part)
        move.lines = lines + [counterpart]
        return move

    @classmethod
    def mpesa_awaiting_receipt(cls):
        """The domain of the pushes whose receipt may still come: waiting
        for their result or held for review, or succeeded by a query,
        which gives no receipt"""
        return [
            ('kind', '=', 'receivable'),
            ('mpesa_customer_initiated', '!=', True),
            ['OR', [
                    ('state', '=', 'succeeded'),
                    ('mpesa_receipt', '=', None),
                    ], [
                    ('state', '=', 'processing'),
                    ('mpesa_state', 'in', WAITING_STATES),
                    ]],
            ]

    @classmethod
    def mpesa_stk_for_c2b(cls, outcome):
        """The push of the account awaiting its receipt that the customer
        payment is the C2B notification of: same amount, account reference
        and phone (plain or hashed), when there is exactly one; locked.
        Else None."""
        candidates = cls.search([
                ('journal.mpesa_account', '=', outcome.account),
                ('amount', '=', Decimal(outcome.amount)),
                *cls.mpesa_awaiting_receipt(),
                ])
        reference = normalise(outcome.bill_reference)
        payer = outcome.phone or ''
        found = []
        for payment in candidates:
            if normalise(payment.mpesa_reference) != reference:
                continue
            try:
                phone = daraja.normalize_msisdn(payment.mpesa_phone)
                if payer not in {phone, daraja.hash_msisdn(phone)}:
                    try:
                        if daraja.normalize_msisdn(payer) != phone:
                            continue
                    except daraja.InvalidPhoneNumber:
                        continue
            except daraja.InvalidPhoneNumber:
                continue
            found.append(payment)
        if len(found) != 1:
            return None
        lock_rows(cls, found)
        return cls(found[0].id)


class Ledger(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.transaction'

    c2b_move = fields.Many2One(
        'account.move', "Move", readonly=True, ondelete='RESTRICT',
        states={
            'invisible': ~Eval('c2b_move'),
            },
        help="The move of a receipt that is not a customer payment.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'match_wizard': {
                    'invisible': Eval('state') != 'unmatched',
                    'depends': ['state'],
                    },
                'unmatch': {
                    'invisible': ~((Eval('kind') == 'c2b')
                        & (Eval('state') == 'matched')),
                    'depends': ['kind', 'state'],
                    },
                })

    @classmethod
    @ModelView.button_action('account_mpesa.wizard_transaction_match')
    def match_wizard(cls, records):
        pass

    @classmethod
    def c2b_receive(cls, outcome, event=None):
        """Record a confirmed customer payment and match it; return the
        ledger record.  The receipt is recorded once: a receipt already in
        the ledger (its STK Push came first) is left as it is.  The caller
        commits.

        The account is claimed (``claim_row``): concurrent deliveries of
        one receipt wait for each other and the second, run again, sees the
        first's record, while the account's other callbacks are stored."""
        Account = Pool().get('account.payment.mpesa.account')
        claim_row(Account, outcome.account)
        record = cls.find(outcome)
        if record:
            return record
        stk = Pool().get('account.payment').mpesa_stk_for_c2b(outcome)
        if stk is not None:
            # The C2B notification of an STK Push: it settles the push
            cls.settle(outcome, stk, event)
            return cls.find(outcome)
        record = cls.record(outcome, None, event)
        record.c2b_match(outcome)
        return record

    def c2b_match(self, outcome=None):
        """Match the record by its account's rules: pay what exactly one
        candidate is owed, or leave it Unmatched with the reason"""
        match = find_match(self)
        if match.candidate is None:
            self.state = 'unmatched'
            self.note = match.reason
            self.save()
            return 'unmatched'
        allocations, rest, sale = allocations_for(match, self)
        return self.c2b_pay(
            match.candidate.party, allocations, rest, sale=sale,
            outcome=outcome)

    def c2b_outcome(self):
        "The outcome the record was made of"
        from .outcome import Outcome
        return Outcome(
            kind='c2b', source=self.source, account=self.account.id,
            receipt=self.receipt, result_code='0', amount=self.amount,
            time=self.transaction_time, phone=self.phone or '',
            bill_reference=self.account_number or '',
            name=self.payer_name or '')

    def c2b_pay(self, party, allocations, rest, sale=None, outcome=None):
        """Pay the receipt for the party: on the sale, or the amounts on
        its invoices and the rest as credit; one payment on the account's
        M-Pesa journal succeeded with the receipt.  The caller commits."""
        pool = Pool()
        Payment = pool.get('account.payment')
        Line = pool.get('account.move.line')
        outcome = outcome or self.c2b_outcome()
        journal = self.account.mpesa_journal
        if journal is None:
            self.state = 'unmatched'
            self.note = gettext('account_mpesa.msg_c2b_no_journal')
            self.save()
            return 'unmatched'
        line = None
        if len(allocations) == 1 and not rest:
            line = line_to_pay(*allocations[0])
        phone = outcome.phone or ''
        try:
            phone = daraja.normalize_msisdn(phone)
        except daraja.InvalidPhoneNumber:
            phone = None
        payment = Payment(
            company=self.company, journal=journal, kind='receivable',
            party=party, amount=Decimal(self.amount),
            date=nairobi_date(outcome.time), line=line,
            origin=sale, mpesa_phone=phone,
            mpesa_customer_initiated=True)
        payment.save()
        Payment.write([payment], {
                'state': 'processing', 'mpesa_state': 'pending'})
        payment = Payment(payment.id)
        parts = [str(a) for _, a in allocations] + (
            [str(rest)] if rest else [])
        with Transaction().set_context(
                mpesa_clearing_parts={str(payment.id): parts}):
            result = self.__class__.settle(outcome, payment, self.event)
        if result != 'succeeded':
            return result
        payment = Payment(payment.id)
        if allocations and payment.clearing_move:
            receivable = [l for l in payment.clearing_move.lines
                if l.account != journal.clearing_account]
            receivable.sort(key=lambda l: l.id)
            for (invoice, _), part in zip(allocations, receivable):
                self.c2b_pay_invoice(invoice, Line(part.id))
        return 'matched'

    @staticmethod
    def c2b_pay_invoice(invoice, line):
        """Put the credit line on the invoice: reconciled when it pays what
        is left, else a payment line of the invoice"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        Line = pool.get('account.move.line')
        invoice = Invoice(invoice.id)
        if line.reconciliation or invoice.state != 'posted':
            return
        lines = ([l for l in invoice.lines_to_pay if not l.reconciliation]
            + [l for l in invoice.payment_lines if not l.reconciliation]
            + [line])
        if not sum(l.debit - l.credit for l in lines):
            Line.reconcile(lines)
            Invoice.process([invoice])
        else:
            Invoice.add_payment_lines({invoice: [line]})

    def c2b_post_elsewhere(self, account, description=None):
        """Post the receipt to the account (it is not a customer payment):
        Dr the journal's clearing account, Cr the account, on the Nairobi
        date.  The caller commits."""
        pool = Pool()
        Move = pool.get('account.move')
        Line = pool.get('account.move.line')
        Period = pool.get('account.period')
        journal = self.account.mpesa_journal
        date = nairobi_date(self.transaction_time)
        amount = Decimal(self.amount)
        move = Move(
            journal=journal.clearing_journal, company=self.company,
            date=date, period=Period.find(self.company, date=date),
            description=' '.join(filter(None, [
                        self.receipt, description]))[:250])
        move.lines = [
            Line(account=journal.clearing_account, debit=amount,
                credit=Decimal(0)),
            Line(account=account, debit=Decimal(0), credit=amount,
                party=(self.company.party if account.party_required
                    else None)),
            ]
        move.save()
        Move.post([move])
        self.c2b_move = move
        self.state = 'matched'
        self.note = description or None
        self.save()

    @classmethod
    @ModelView.button
    def unmatch(cls, records):
        """Undo the match of customer payments: the payment is cancelled
        (its clearing move too) and the receipt goes back to Unmatched"""
        pool = Pool()
        Payment = pool.get('account.payment')
        Move = pool.get('account.move')
        Reconciliation = pool.get('account.move.reconciliation')
        Invoice = pool.get('account.invoice')
        for record in records:
            if record.kind != 'c2b' or record.state != 'matched':
                continue
            payment = record.payment
            if payment and not payment.mpesa_customer_initiated:
                # The C2B notification of an STK Push settled it: that
                # payment is the customer's request, not a match
                continue
            if record.c2b_move:
                move = record.c2b_move
                record.c2b_move = None
                record.save()
                Move.delete([move]) if move.state == 'draft' else (
                    Move.cancel_moves([move]) if hasattr(
                        Move, 'cancel_moves') else move.cancel())
            if payment:
                lines = list(payment.clearing_move.lines) if (
                    payment.clearing_move) else []
                reconciliations = list({
                        l.reconciliation for l in lines if l.reconciliation})
                invoices = list({
                        l.move.origin for r in reconciliations
                        for l in r.lines
                        if isinstance(l.move.origin, Invoice)})
                Reconciliation.delete(reconciliations)
                Invoice.process(Invoice.browse(invoices))
                Invoice.remove_payment_lines(lines)
                # As a failed payment does: its clearing move is cancelled
                Payment.write([payment], {'mpesa_state': 'done'})
                Payment.fail([payment])
            record.payment = None
            record.state = 'unmatched'
            record.note = gettext('account_mpesa.msg_c2b_unmatched_by_user')
            record.save()


class Event(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.event'

    c2b_status_request = fields.Char(
        "Status Question", readonly=True, strip=False,
        help="The OriginatorConversationID of the Transaction Status asked "
        "to confirm a customer payment.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.c2b_status_request, Index.Equality()),
                where=t.c2b_status_request != None))  # noqa: E711

    def question(self, outcome, payment):
        """The Pull or Transaction Status that confirming a customer
        payment needs, foreseen before its batch is applied so that a
        batch's confirmations ask Daraja together"""
        Ledger = Pool().get('account.payment.mpesa.transaction')
        if outcome.kind != 'c2b':
            return super().question(outcome, payment)
        if self.kind != 'c2b/validation' and self._c2b_to_confirm(
                outcome, Ledger.find(outcome)):
            verdict = self._confirm_c2b(outcome, NOT_ASKED)
            if isinstance(verdict, Question):
                return verdict
        return None

    def _c2b_to_confirm(self, outcome, record):
        """Whether the customer payment, whose ledger record is given (or
        None), is a claim Daraja must confirm before it is recorded"""
        return (record is None and outcome.is_claim
            and self.account.confirm_callbacks)

    def handle_customer_payment(self, outcome, answer):
        """Apply a C2B confirmation: a receipt already in the ledger is
        linked; a claim is confirmed first when the account says so; then
        the receipt is recorded and matched"""
        Ledger = Pool().get('account.payment.mpesa.transaction')
        if self.kind == 'c2b/validation':
            return 'done', self.error
        record = Ledger.find(outcome)
        if self._c2b_to_confirm(outcome, record):
            verdict = self._confirm_c2b(outcome, answer)
            if verdict is not None:
                return verdict
            record = Ledger.find(outcome)
        if record is not None:
            self.payment = record.payment
            return 'done', gettext(
                'account_mpesa.msg_c2b_already_recorded',
                receipt=record.receipt)
        record = Ledger.c2b_receive(outcome, event=self)
        self.payment = record.payment
        return 'done', record.note if record.state == 'unmatched' else None

    def _confirm_c2b(self, outcome, answer):
        """None when Daraja confirms the customer payment; else the event's
        state and note, or the Question to ask first"""
        account = self.account
        how = account.c2b_confirmed_by
        if how == 'pull':
            if answer is NOT_ASKED:
                return Question('pull', account.id, (
                        outcome.time - PULL_MARGIN,
                        outcome.time + PULL_MARGIN))
            if isinstance(answer, daraja.DarajaError):
                return 'pending', gettext(
                    'account_mpesa.msg_event_unconfirmed',
                    error=answer.message or answer)
            result, rows = answer
            if pull_answer_kind(result) == 'unregistered':
                return 'pending', gettext(
                    'account_mpesa.msg_event_unconfirmed',
                    error=result.response_message)
            row = {r.transaction_id: r for r in rows}.get(outcome.receipt)
            if row is None:
                return 'rejected', gettext(
                    'account_mpesa.msg_c2b_not_in_pull',
                    receipt=outcome.receipt)
            if Decimal(row.amount) != Decimal(outcome.amount):
                return 'rejected', gettext(
                    'account_mpesa.msg_c2b_contradicted',
                    receipt=outcome.receipt, claimed=outcome.amount,
                    fact=row.amount)
            return None
        if how == 'status':
            if isinstance(answer, daraja.DarajaError):
                return unconfirmed(answer)
            if isinstance(answer, str):
                self.c2b_status_request = answer
            elif answer is NOT_ASKED and not (
                    self.c2b_status_request and self.processed_at
                    and utc_now() - self.processed_at < account.query_delay):
                return Question('c2b_status', account.id, outcome.receipt)
            return 'pending', gettext(
                'account_mpesa.msg_event_unconfirmed_pending')
        return 'pending', gettext(
            'account_mpesa.msg_account_c2b_cannot_confirm')

    def _handle(self, outcome, answer, batch):
        if outcome.source == 'status' and outcome.status_request_id:
            claims = self.search([
                    ('account', '=', self.account.id),
                    ('c2b_status_request', '=', outcome.status_request_id),
                    ('kind', '=', 'c2b/confirmation'),
                    ])
            if claims:
                return self._judge_c2b_claims(outcome, claims)
        return super()._handle(outcome, answer, batch)

    def _judge_c2b_claims(self, fact, claims):
        """Judge the customer payments waiting for the Transaction Status
        that answered: recorded and matched when it confirms them, rejected
        when it denies them"""
        Ledger = Pool().get('account.payment.mpesa.transaction')
        if not fact.final:
            return 'done', None
        lock_rows(self.__class__, claims)
        for claim in self.browse(claims):
            if claim.state not in {'pending', 'error'}:
                continue
            outcome = parse_callback(
                claim.kind, claim.account.id,
                load_body(claim.body))
            if (fact.moved_money and fact.receipt == outcome.receipt
                    and (fact.amount is None
                        or Decimal(fact.amount) == Decimal(outcome.amount))):
                record = Ledger.c2b_receive(outcome, event=claim)
                claim.payment = record.payment
                claim.state, claim.error = 'done', None
            else:
                claim.state, claim.error = 'rejected', gettext(
                    'account_mpesa.msg_event_contradicted',
                    claimed='0', fact=fact.result_code,
                    desc=fact.result_desc)
                logger.warning(
                    "M-Pesa callback %d rejected: %s", claim.id, claim.error)
            claim.attempts += 1
            claim.processed_at = utc_now()
            claim.save()
        return 'done', None

    @classmethod
    def c2b_validation_answer(cls, event_id):
        """Daraja's answer to the validation event: accept, or reject an
        account number that matches nothing when the account says so.
        Records the verdict on the event; moves no money."""
        Ledger = Pool().get('account.payment.mpesa.transaction')
        event = cls(event_id)
        answer = VALIDATION_ACCEPTED
        note = "Accepted"
        if event.account.c2b_reject_unknown and event.state != 'invalid':
            outcome = parse_callback(
                event.kind, event.account.id,
                load_body(event.body))
            probe = Ledger(
                account=event.account, company=event.account.company,
                account_number=outcome.bill_reference, phone=outcome.phone,
                amount=outcome.amount)
            match = find_match(probe)
            if (normalise(outcome.bill_reference)
                    and match.candidate is None and match.rule is None):
                answer = VALIDATION_REJECTED
                note = match.reason
        event.state = 'done'
        event.error = note
        event.processed_at = utc_now()
        event.attempts += 1
        event.save()
        return answer


class MatchStart(ModelView):
    "Match M-Pesa Receipt"
    __name__ = 'account.payment.mpesa.transaction.match.start'

    transactions = fields.Many2Many(
        'account.payment.mpesa.transaction', None, None, "Receipts",
        readonly=True,
        help="The receipts matched together, oldest first: each one is "
        "paid by a payment of its own, on its own date.")
    amount = fields.Numeric(
        "Amount", digits=(16, 2), readonly=True,
        help="The total of the receipts.")
    company = fields.Many2One('company.company', "Company", readonly=True)
    action = fields.Selection([
            ('customer', "Customer Payment"),
            ('other', "Not a Customer Payment"),
            ], "Action", required=True)
    party = fields.Many2One(
        'party.party', "Party",
        context={
            'company': Eval('company', -1),
            },
        states={
            'required': Eval('action') == 'customer',
            'invisible': Eval('action') != 'customer',
            },
        depends={'company'})
    lines = fields.One2Many(
        'account.payment.mpesa.transaction.match.line', None, "Invoices",
        states={
            'invisible': Eval('action') != 'customer',
            },
        help="The open invoices of the party and the amount to put on "
        "each, oldest first; the receipts, oldest first, pay them in this "
        "order; what is left is the customer's credit.")
    sale = fields.Many2One(
        'sale.sale', "Sale",
        domain=[
            ('party', '=', Eval('party', -1)),
            ('state', 'in', ['quotation', 'confirmed', 'processing']),
            ],
        states={
            'invisible': Eval('action') != 'customer',
            },
        help="Pay this sale with the receipts instead of invoices.")
    account = fields.Many2One(
        'account.account', "Account",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('type', '!=', None),
            ('closed', '!=', True),
            ],
        states={
            'required': Eval('action') == 'other',
            'invisible': Eval('action') != 'other',
            })
    description = fields.Char(
        "Description",
        states={
            'invisible': Eval('action') != 'other',
            })

    @fields.depends('party', 'amount', 'company', 'lines')
    def on_change_party(self):
        from .matching import oldest_first, open_invoices
        Line = Pool().get('account.payment.mpesa.transaction.match.line')
        if not self.party or not self.company:
            self.lines = []
            return
        allocations, _ = oldest_first(
            open_invoices(self.party, self.company), self.amount or 0)
        self.lines = [Line(invoice=i, amount=a) for i, a in allocations]


class MatchLine(ModelView):
    "Match M-Pesa Receipt Invoice"
    __name__ = 'account.payment.mpesa.transaction.match.line'

    invoice = fields.Many2One(
        'account.invoice', "Invoice", required=True,
        domain=[
            ('type', '=', 'out'),
            ('state', '=', 'posted'),
            ])
    amount = fields.Numeric(
        "Amount", digits=(16, 2), required=True,
        domain=[('amount', '>', 0)])


class Match(Wizard):
    "Match M-Pesa Receipt"
    __name__ = 'account.payment.mpesa.transaction.match'
    start = StateView(
        'account.payment.mpesa.transaction.match.start',
        'account_mpesa.transaction_match_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Match", 'match', 'tryton-ok', default=True),
            ])
    match = StateTransition()

    def receipts(self):
        """The receipts of the selection, oldest first, read again; refused
        unless all are Unmatched receipts of one M-Pesa account"""
        Ledger = Pool().get('account.payment.mpesa.transaction')
        records = sorted(Ledger.browse([r.id for r in self.records]),
            key=lambda r: (r.transaction_time, r.id))
        for record in records:
            if record.state != 'unmatched':
                raise MpesaAccountError(gettext(
                        'account_mpesa.msg_c2b_match_not_unmatched',
                        receipt=record.rec_name))
        if len({(r.company, r.account) for r in records}) > 1:
            raise MpesaAccountError(gettext(
                    'account_mpesa.msg_c2b_match_several_accounts'))
        return records

    def default_start(self, fields):
        records = self.receipts()
        return {
            'transactions': [r.id for r in records],
            'amount': sum(Decimal(r.amount) for r in records),
            'company': records[0].company.id,
            'action': 'customer',
            }

    def transition_match(self):
        """Match the receipts as the form says, each receipt by a payment
        (or a move) of its own; they are locked first and all refused when
        one was matched meanwhile.  The wizard's transaction commits."""
        Ledger = Pool().get('account.payment.mpesa.transaction')
        lock_rows(Ledger, self.records)
        records = self.receipts()
        form = self.start
        company = records[0].company
        if form.action == 'other':
            if form.account.company != company:
                raise MpesaAccountError(gettext(
                        'account_mpesa.msg_c2b_match_account_company',
                        account=form.account.rec_name))
            for record in records:
                record.c2b_post_elsewhere(form.account, form.description)
            return 'end'
        allocations = [(l.invoice, Decimal(l.amount)) for l in form.lines
            if l.amount]
        received = sum(Decimal(r.amount) for r in records)
        total = sum(a for _, a in allocations)
        for invoice in {i for i, _ in allocations}:
            put = sum(a for i, a in allocations if i == invoice)
            if invoice.party != form.party or put > invoice.amount_to_pay:
                raise MpesaAccountError(gettext(
                        'account_mpesa.msg_c2b_match_invoice_amount',
                        invoice=invoice.rec_name,
                        amount=invoice.amount_to_pay))
        if total > received:
            raise MpesaAccountError(gettext(
                    'account_mpesa.msg_c2b_match_too_much',
                    total=total, amount=received))
        if form.sale:
            if (form.sale.party != form.party
                    or form.sale.company != company
                    or form.sale.state not in {
                        'quotation', 'confirmed', 'processing'}):
                raise MpesaAccountError(gettext(
                        'account_mpesa.msg_c2b_match_sale',
                        sale=form.sale.rec_name))
            allocations = []
        shares = distribute([Decimal(r.amount) for r in records], allocations)
        for record, (parts, rest) in zip(records, shares):
            # The invoices as the previous receipts left them
            parts = [(i.__class__(i.id), a) for i, a in parts]
            record.c2b_pay(form.party, parts, rest, sale=form.sale)
        return 'end'
