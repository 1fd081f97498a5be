# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The balances of the account's shortcode: Check Balance sends Daraja's
Account Balance request, whose result comes by callback.  A result is a
claim: it is believed only when it answers the account's latest request,
and it moves no money."""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import without_check_access

from . import daraja
from .common import lock_rows, run_in_transaction, utc_now
from .exceptions import MpesaAccountError

# Set by the module alone, from Daraja's answers; no RPC call writes them
BALANCE_FIELDS = {
    'balance_request', 'balance_conversation', 'balance_requested_at',
    'balance_working', 'balance_utility', 'balance_reported_at',
    'balance_accounts', 'balance_error',
    }
CENT = Decimal('0.01')


def available(balance):
    "The available amount of an AccountBalance (else its current), to cents"
    if balance is None:
        return None
    amount = balance.available if balance.available is not None else (
        balance.current)
    return None if amount is None else amount.quantize(CENT)


class Account(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.account'

    # The ids of the latest Account Balance request: only a result that
    # carries them is believed, so they are in no view
    balance_request = fields.Char(
        "Balance Request", readonly=True, strip=False)
    balance_conversation = fields.Char(
        "Balance Conversation", readonly=True, strip=False)
    balance_requested_at = fields.DateTime(
        "Balance Asked At", readonly=True,
        help="When the balance was last asked of M-Pesa.")
    balance_working = fields.Numeric(
        "Working Account", digits=(16, 2), readonly=True,
        help="The available balance of the shortcode's Working Account, "
        "as M-Pesa last reported it.")
    balance_utility = fields.Numeric(
        "Utility Account", digits=(16, 2), readonly=True,
        help="The available balance of the Utility Account, which pays "
        "B2C payouts, as M-Pesa last reported it.")
    balance_reported_at = fields.DateTime(
        "Balances Reported At", readonly=True,
        help="When M-Pesa computed the balances shown.")
    balance_accounts = fields.Text(
        "Balances of All Accounts", readonly=True,
        help="Every account of the shortcode as M-Pesa last reported it.")
    balance_error = fields.Text(
        "Last Balance Error", readonly=True,
        states={
            'invisible': ~Eval('balance_error'),
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'check_balance': {
                    'icon': 'tryton-refresh',
                    },
                })

    @classmethod
    def copy(cls, accounts, default=None):
        default = default.copy() if default is not None else {}
        for name in BALANCE_FIELDS:
            default.setdefault(name, None)
        return super().copy(accounts, default=default)

    @classmethod
    def check_modification(cls, mode, accounts, values=None, external=False):
        """Refuse an RPC create or write that sets the balances or their
        request: only Daraja's answers set them"""
        super().check_modification(
            mode, accounts, values=values, external=external)
        if not external or mode not in {'create', 'write'}:
            return
        for account in accounts:
            refused = (BALANCE_FIELDS & values.keys() if mode == 'write'
                else {n for n in BALANCE_FIELDS
                    if getattr(account, n, None) is not None})
            if refused:
                raise AccessError(gettext(
                        'account_mpesa.msg_account_balance_fields',
                        account=account.rec_name,
                        fields=', '.join(sorted(
                                cls._fields[n].string for n in refused))))

    @classmethod
    @ModelView.button
    def check_balance(cls, accounts):
        """Send the Account Balance request of each account and record its
        ids, each step in a transaction of its own; the balances come by
        callback"""
        Event = Pool().get('account.payment.mpesa.event')
        for account in accounts:
            name = account.rec_name
            try:
                initiator = account._balance_initiator()
                run_in_transaction(cls._balance_record, account.id, {
                        'balance_request': None,
                        'balance_conversation': None,
                        'balance_requested_at': utc_now()})
                answer = account._balance_ask(*initiator)
            except daraja.DarajaError as exception:
                error = exception.message or str(exception)
                run_in_transaction(cls._balance_record, account.id, {
                        'balance_error': error})
                raise MpesaAccountError(gettext(
                        'account_mpesa.msg_account_balance_refused',
                        account=name, error=error)) from exception
            run_in_transaction(cls._balance_record, account.id, {
                    'balance_request': answer.originator_conversation_id,
                    'balance_conversation': answer.conversation_id or None})
            # Its result may have come before its ids were committed
            Event.process_waiting(
                account.id, answer.originator_conversation_id)
            account.notify_user('tryton-info', gettext(
                    'account_mpesa.msg_account_balance_asked',
                    account=name))

    def _balance_initiator(self):
        """The initiator name and SecurityCredential of the account, read
        whoever the user is; refuse an account without them"""
        with without_check_access():
            account = self.__class__(self.id)
            missing = [
                self.__class__._fields[n].string
                for n in ['initiator_name', 'initiator_password',
                    'certificate']
                if not getattr(account, n)]
            if missing:
                raise MpesaAccountError(gettext(
                        'account_mpesa.msg_account_balance_setup_missing',
                        account=account.rec_name, fields=', '.join(missing)))
            return account.initiator_name, daraja.security_credential(
                account.initiator_password, account.certificate)

    def _balance_ask(self, initiator, credential):
        """Send the Account Balance request of the shortcode; return
        Daraja's AcceptedRequest.  Writes nothing."""
        return self.daraja_client().account_balance(
            initiator_name=initiator, security_credential=credential,
            party_a=self.business_shortcode,
            result_url=self.callback_url('balance/result'),
            queue_timeout_url=self.callback_url('balance/timeout'),
            remarks="Balance")

    @classmethod
    def _balance_record(cls, account_id, values):
        "Record values of the balance fields.  The caller commits."
        with without_check_access():
            cls.write([cls(account_id)], values)

    def balance_answers(self, outcome):
        """Whether the balance result or time-out answers the latest
        request: its OriginatorConversationID, and its ConversationID when
        both are known"""
        return bool(self.balance_request) and (
            outcome.originator_conversation_id == self.balance_request) and (
            not (outcome.conversation_id and self.balance_conversation)
            or outcome.conversation_id == self.balance_conversation)

    def balance_values(self, outcome, received_at):
        "The values of the balance fields that the answer to it says"
        if not outcome.final:
            return {'balance_error': gettext(
                    'account_mpesa.msg_account_balance_timeout')}
        if not outcome.succeeded:
            return {'balance_error': gettext(
                    'account_mpesa.msg_account_balance_failed',
                    code=outcome.result_code,
                    message=outcome.result_desc or daraja.result_message(
                        outcome.result_code, outcome.api))}
        by_name = {''.join(b.account.split()).lower(): b
            for b in outcome.balances}
        return {
            'balance_working': available(by_name.get('workingaccount')),
            'balance_utility': available(by_name.get('utilityaccount')),
            'balance_reported_at': outcome.time or received_at,
            'balance_accounts': '\n'.join(gettext(
                        'account_mpesa.msg_account_balance_line',
                        account=b.account, currency=b.currency,
                        **{k: '-' if v is None else v for k, v in [
                                ('available', available(b)),
                                ('current', b.current),
                                ('reserved', b.reserved),
                                ('uncleared', b.uncleared)]})
                for b in outcome.balances),
            'balance_error': None,
            }


class Event(metaclass=PoolMeta):
    __name__ = 'account.payment.mpesa.event'

    def _handle(self, outcome, answer, batch):
        if outcome.kind == 'balance':
            return self.handle_balance(outcome)
        return super()._handle(outcome, answer, batch)

    def handle_balance(self, outcome):
        """Record what an Account Balance result or time-out says on its
        account when it answers the account's latest request; else reject
        it.  Locks the account; the caller commits."""
        Account = Pool().get('account.payment.mpesa.account')
        lock_rows(Account, [self.account.id])
        account = Account(self.account.id)
        if not account.balance_answers(outcome):
            asked = account.balance_requested_at
            if (not account.balance_request and asked
                    and asked <= self.received_at
                    < asked + account.query_delay):
                # The ids of our request are not committed yet
                return 'pending', None
            return 'rejected', gettext(
                'account_mpesa.msg_account_balance_not_asked',
                reference=outcome.originator_conversation_id)
        Account._balance_record(
            account.id, account.balance_values(outcome, self.received_at))
        return 'done', None
