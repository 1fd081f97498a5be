# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The M-Pesa account: one Daraja app and shortcode, its credentials, its
callback URLs and its shared OAuth token."""
import contextvars
import datetime as dt
import ipaddress
import logging
import socket
import uuid
from contextlib import contextmanager
from decimal import Decimal
from urllib.parse import urlsplit
from typing import NamedTuple

import trytond.config as config
from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access
from trytond.url import http_host

from . import daraja
from .common import lock_rows, run_in_transaction
from .exceptions import MpesaAccountError, MpesaConnectionError
from .outcome import CALLBACK_KINDS

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = config.getfloat(
    'account_mpesa', 'connect_timeout', default=5)
READ_TIMEOUT = config.getfloat('account_mpesa', 'read_timeout', default=30)
# What reusing_daraja_clients keeps, by (what, account id)
_REUSED = contextvars.ContextVar('account_mpesa_daraja_reused', default=None)


@contextmanager
def reusing_daraja_clients():
    """Within the block, each account's Daraja client and STK credentials
    are made once and reused: one connection to Daraja, one read of the
    token and of the secrets, for a thread asking many questions in one
    transaction.  The clients are closed at its end."""
    reused = {}
    token = _REUSED.set(reused)
    try:
        yield
    finally:
        _REUSED.reset(token)
        for value in reused.values():
            if isinstance(value, daraja.Client):
                value.close()


def parse_networks(text):
    "The networks listed one per line in text"
    return [ipaddress.ip_network(line.strip(), strict=False)
        for line in (text or '').splitlines() if line.strip()]


class CallbackGate(NamedTuple):
    """What the callback route checks a request against: the account
    named by a callback identifier, read once and cached"""
    account: int
    company: int
    ip_allow_list: str
    trusted_proxies: str
    size_limit: int

    def allows_address(self, address):
        "Tell whether a callback from address is accepted"
        networks = parse_networks(self.ip_allow_list)
        if not networks:
            return True
        try:
            address = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(address in n for n in networks)

    def remote_address(self, peer, forwarded_for):
        """The address of the caller: the X-Forwarded-For entry added by
        the nearest untrusted hop when the peer is a trusted proxy"""
        proxies = parse_networks(self.trusted_proxies)
        hops = [peer] + [
            h.strip() for h in reversed((forwarded_for or '').split(','))
            if h.strip()]
        for hop in hops[:-1]:
            try:
                address = ipaddress.ip_address(hop)
            except ValueError:
                return hop
            if not any(address in n for n in proxies):
                return hop
        return hops[-1]


# The addresses Safaricom's callbacks are known to come from (no official
# list is published; see doc/production.rst)
SAFARICOM_CALLBACK_ADDRESSES = [
    '196.201.214.200', '196.201.214.206', '196.201.214.207',
    '196.201.214.208', '196.201.213.114', '196.201.213.44',
    '196.201.212.127', '196.201.212.128', '196.201.212.129',
    '196.201.212.132', '196.201.212.136', '196.201.212.138',
    '196.201.212.69', '196.201.212.74',
    ]
# Changing one of these fields makes the stored OAuth token stale
TOKEN_FIELDS = {
    'environment', 'base_url', 'consumer_key', 'consumer_secret',
    'passkey', 'initiator_name', 'initiator_password', 'certificate'}


def is_private_url(url):
    """Tell whether every address the host of url resolves to is a loopback
    or private one"""
    try:
        host = urlsplit(url or '').hostname
    except ValueError:
        return False
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    addresses = {ipaddress.ip_address(i[4][0].split('%')[0]) for i in infos}
    return bool(addresses) and all(
        a.is_loopback or a.is_private for a in addresses)


SECRETS = {
    'consumer_key', 'consumer_secret', 'passkey', 'initiator_password',
    'certificate', 'daraja_token', 'daraja_token_expires'}


class Account(ModelSQL, ModelView):
    "M-Pesa Account"
    __name__ = 'account.payment.mpesa.account'
    _callback_gates = Cache(
        'account.payment.mpesa.account.callback_gate', context=False)

    company = fields.Many2One('company.company', "Company", required=True)
    name = fields.Char("Name", required=True)
    environment = fields.Selection([
            ('sandbox', "Sandbox"),
            ('production', "Production"),
            ('custom', "Custom URL"),
            ], "Environment", required=True,
        help="Where Daraja is: Safaricom's sandbox, production, or another "
        "base URL such as the local simulator.")
    base_url = fields.Char(
        "Base URL",
        states={
            'required': Eval('environment') == 'custom',
            'invisible': Eval('environment') != 'custom',
            },
        help="The address of a Daraja simulator: only a loopback or "
        "private address is accepted. Sandbox and Production talk to "
        "Safaricom's hosts only.")
    shortcode_type = fields.Selection([
            ('paybill', "Paybill"),
            ('till', "Till (Buy Goods)"),
            ], "Shortcode Type", required=True)
    business_shortcode = fields.Char(
        "Business Shortcode", required=True,
        help="The paybill number, or for a till the store (HO) number "
        "given at Go-Live.")
    till_number = fields.Char(
        "Till Number",
        states={
            'required': Eval('shortcode_type') == 'till',
            'invisible': Eval('shortcode_type') != 'till',
            },
        help="The till that receives the money (PartyB).")
    consumer_key = fields.Char("Consumer Key", required=True, strip=False)
    consumer_secret = fields.Char(
        "Consumer Secret", required=True, strip=False)
    passkey = fields.Char("Passkey", required=True, strip=False)
    initiator_name = fields.Char("Initiator Name")
    initiator_password = fields.Char("Initiator Password", strip=False)
    certificate = fields.Binary(
        "Certificate", filename='certificate_name',
        help="Safaricom's public certificate from the Daraja portal, used "
        "to encrypt the initiator password.")
    certificate_name = fields.Char("Certificate Name")
    b2c_shortcode = fields.Char("B2C Shortcode")
    reversal_enabled = fields.Boolean(
        "Reversals",
        help="The initiator has the Reversal role: refunds can reverse the "
        "original receipt.")
    payout_four_eyes = fields.Boolean(
        "Approver Differs from Submitter",
        help="A payout must be approved by another user than the one who "
        "submitted it.")
    confirm_callbacks = fields.Boolean(
        "Confirm Callbacks",
        help="Ask Daraja to confirm every callback that would settle or "
        "fail a payment (STK Query, Transaction Status) before it is "
        "applied: a callback is plain JSON that anyone who learns the URL "
        "can send.")
    stk_minimum = fields.Numeric(
        "STK Minimum", digits=(16, 0), required=True,
        domain=[('stk_minimum', '>=', 1)])
    stk_maximum = fields.Numeric(
        "STK Maximum", digits=(16, 0), required=True,
        domain=[('stk_maximum', '>=', Eval('stk_minimum', 1))])
    b2c_minimum = fields.Numeric(
        "B2C Minimum", digits=(16, 0), required=True,
        domain=[('b2c_minimum', '>=', 1)])
    b2c_maximum = fields.Numeric(
        "B2C Maximum", digits=(16, 0), required=True,
        domain=[('b2c_maximum', '>=', Eval('b2c_minimum', 1))])
    callback_base_url = fields.Char(
        "Callback Base URL",
        help="The public HTTPS address of this Tryton server as Safaricom "
        "reaches it, e.g. https://erp.example.co.ke. "
        "Leave empty to use the server's own host name.")
    callback_identifier = fields.Char(
        "Callback Identifier", readonly=True, strip=False)
    callback_urls = fields.Function(
        fields.Text("Callback URLs",
            help="Give these URLs to Safaricom. "
            "They stop working when the identifier is renewed."),
        'get_callback_urls')
    callback_size_limit = fields.Integer(
        "Callback Size Limit", required=True,
        domain=[('callback_size_limit', '>', 0)],
        help="The largest callback body accepted, in bytes.")
    ip_allow_list = fields.Text(
        "Allowed IP Addresses",
        help="One address or network per line. "
        "A production account starts with the addresses Safaricom's "
        "callbacks are known to come from. "
        "Empty accepts callbacks from anywhere.")
    trusted_proxies = fields.Text(
        "Trusted Proxies",
        help="One address or network per line: the reverse proxies whose "
        "X-Forwarded-For header is believed.")
    query_delay = fields.TimeDelta(
        "Query Delay", required=True,
        domain=[('query_delay', '>=', dt.timedelta(0))],
        help="How long a payment waits for its callback before M-Pesa is "
        "asked about it, and between two questions.")
    review_deadline = fields.TimeDelta(
        "Review Deadline", required=True,
        domain=[('review_deadline', '>', dt.timedelta(0))],
        help="How long after the request a payment without a final answer "
        "goes to review.")
    query_rate = fields.Float(
        "Queries per Second", required=True,
        domain=[('query_rate', '>', 0)],
        help="The most questions per second sent to Daraja by the "
        "reconciliation.")
    event_attempts = fields.Integer(
        "Callback Attempts", required=True,
        domain=[('event_attempts', '>', 0)],
        help="How many times a callback is processed before it is left in "
        "error.")
    event_retention = fields.TimeDelta(
        "Callback Retention", required=True,
        domain=[('event_retention', '>=', dt.timedelta(0))],
        help="How long processed callbacks are kept.")
    daraja_token = fields.Char("Daraja Token", readonly=True, strip=False)
    daraja_token_expires = fields.DateTime(
        "Daraja Token Expires", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('callback_identifier_unique', Unique(t, t.callback_identifier),
                'account_mpesa.msg_account_callback_identifier_unique'),
            ]
        cls._buttons.update({
                'new_identifier': {
                    'icon': 'tryton-refresh',
                    },
                'test_connection': {
                    'icon': 'tryton-launch',
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_environment(cls):
        return 'sandbox'

    @classmethod
    def default_shortcode_type(cls):
        return 'paybill'

    @classmethod
    def default_payout_four_eyes(cls):
        return True

    @classmethod
    def default_confirm_callbacks(cls):
        return True

    @classmethod
    def default_stk_minimum(cls):
        return Decimal(1)

    @classmethod
    def default_stk_maximum(cls):
        return Decimal(250_000)

    @classmethod
    def default_b2c_minimum(cls):
        return Decimal(10)

    @classmethod
    def default_b2c_maximum(cls):
        return Decimal(250_000)

    @classmethod
    def default_callback_size_limit(cls):
        return 64 * 1024

    @classmethod
    def default_query_delay(cls):
        return dt.timedelta(minutes=2)

    @classmethod
    def default_review_deadline(cls):
        return dt.timedelta(hours=24)

    @classmethod
    def default_query_rate(cls):
        return 2.0

    @classmethod
    def default_event_attempts(cls):
        return 5

    @classmethod
    def default_event_retention(cls):
        return dt.timedelta(days=90)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('callback_identifier'):
            values['callback_identifier'] = uuid.uuid4().hex
        if (mode == 'create' and values.get('environment') == 'production'
                and 'ip_allow_list' not in values):
            values['ip_allow_list'] = '\n'.join(
                SAFARICOM_CALLBACK_ADDRESSES)
        if mode == 'write' and values.keys() & TOKEN_FIELDS:
            values.setdefault('daraja_token', None)
            values.setdefault('daraja_token_expires', None)
        return values

    @fields.depends('environment', 'ip_allow_list')
    def on_change_environment(self):
        if self.environment == 'production' and not self.ip_allow_list:
            self.ip_allow_list = '\n'.join(SAFARICOM_CALLBACK_ADDRESSES)

    @fields.depends('ip_allow_list')
    def on_change_notify(self):
        notifications = super().on_change_notify()
        if not (self.ip_allow_list or '').strip():
            notifications.append(('warning', gettext(
                        'account_mpesa.msg_account_ip_allow_list_empty')))
        return notifications

    @classmethod
    def copy(cls, accounts, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('callback_identifier', None)
        default.setdefault('daraja_token', None)
        default.setdefault('daraja_token_expires', None)
        return super().copy(accounts, default=default)

    @property
    def daraja_base_url(self):
        if self.environment == 'custom':
            return self.base_url
        return {
            'sandbox': daraja.SANDBOX_URL,
            'production': daraja.PRODUCTION_URL,
            }[self.environment]

    @property
    def party_b(self):
        "The credit party of an STK Push: the paybill or the till"
        if self.shortcode_type == 'till':
            return self.till_number
        return self.business_shortcode

    @property
    def stk_transaction_type(self):
        if self.shortcode_type == 'till':
            return 'CustomerBuyGoodsOnline'
        return 'CustomerPayBillOnline'

    def callback_url(self, kind):
        "The URL Daraja calls back for the kind of callback"
        assert kind in CALLBACK_KINDS, kind
        base = (self.callback_base_url or http_host()).rstrip('/')
        database = Transaction().database.name
        return f'{base}/{database}/daraja/{self.callback_identifier}/{kind}'

    def get_callback_urls(self, name):
        if not self.callback_identifier:
            return None
        return '\n'.join(self.callback_url(k) for k in CALLBACK_KINDS)

    def _reused(self, what, make):
        "make(), or what reusing_daraja_clients keeps of it for the account"
        reused = _REUSED.get()
        if reused is None:
            return make()
        key = what, self.id
        if key not in reused:
            reused[key] = make()
        return reused[key]

    def _secrets(self, *names):
        """This account with only the fields names read, whoever the user
        is: the questions of a batch read them once a share, and reading
        every field of the account cost ten times more"""
        with without_check_access():
            values, = self.read([self.id], names)
        return self.__class__(**values)

    def daraja_client(self):
        """A Daraja client for this account sharing the stored token.

        The secrets are read whoever the user is: they go to Daraja only."""
        def make():
            account = self._secrets(
                'environment', 'base_url', 'consumer_key', 'consumer_secret')
            return daraja.Client(
                account.daraja_base_url,
                account.consumer_key, account.consumer_secret,
                token_store=TokenStore(account.id),
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        return self._reused('client', make)

    @property
    def stk_credentials(self):
        "BusinessShortCode and passkey, read whoever the user is"
        def read():
            account = self._secrets('business_shortcode', 'passkey')
            return account.business_shortcode, account.passkey
        return self._reused('stk', read)

    def stk_query(self, checkout_request_id):
        """Ask Daraja about the STK Push with checkout_request_id; None
        while the customer has not answered.  Writes nothing."""
        shortcode, passkey = self.stk_credentials
        try:
            return self.daraja_client().stk_query(
                business_shortcode=shortcode, passkey=passkey,
                checkout_request_id=checkout_request_id)
        except daraja.Pending:
            return None

    @classmethod
    def callback_gate(cls, identifier):
        """The CallbackGate of the account with the callback identifier, or
        None.  Cached per process: the route answers Daraja without reading
        the account; a change reaches the other processes as Tryton's caches
        do (``[cache] clean_timeout``).  Read in a transaction of its own:
        the route's callback is its transaction's first statement
        (``Event.receive``)."""
        gate = cls._callback_gates.get(identifier, -1)
        if gate != -1:
            return gate
        gate = None
        with Transaction().new_transaction(readonly=True), \
                without_check_access():
            accounts = cls.search([
                    ('callback_identifier', '=', identifier),
                    ], limit=1)
            if accounts:
                account, = accounts
                gate = CallbackGate(
                    account=account.id, company=account.company.id,
                    ip_allow_list=account.ip_allow_list,
                    trusted_proxies=account.trusted_proxies,
                    size_limit=account.callback_size_limit)
        return cls._callback_gates.set(identifier, gate)

    @classmethod
    def on_modification(cls, mode, accounts, field_names=None):
        super().on_modification(mode, accounts, field_names=field_names)
        cls._callback_gates.clear()

    @classmethod
    def validate_fields(cls, accounts, field_names):
        super().validate_fields(accounts, field_names)
        if field_names & {'environment', 'base_url'}:
            for account in accounts:
                if (account.environment == 'custom'
                        and not is_private_url(account.base_url)):
                    raise MpesaAccountError(gettext(
                            'account_mpesa.msg_account_base_url_private',
                            url=account.base_url,
                            account=account.rec_name))
        if field_names & {'ip_allow_list', 'trusted_proxies'}:
            for account in accounts:
                for name in ['ip_allow_list', 'trusted_proxies']:
                    try:
                        parse_networks(getattr(account, name))
                    except ValueError as exception:
                        raise MpesaAccountError(gettext(
                                'account_mpesa.msg_account_bad_network',
                                account=account.rec_name,
                                error=exception)) from exception

    @classmethod
    @ModelView.button
    def new_identifier(cls, accounts):
        "Replace the callback identifier: the previous URLs stop working"
        for account in accounts:
            account.callback_identifier = uuid.uuid4().hex
        cls.save(accounts)

    @classmethod
    @ModelView.button
    def test_connection(cls, accounts):
        "Get a token from Daraja and tell the user how it went"
        for account in accounts:
            try:
                account.daraja_client().renew_token()
            except daraja.DarajaError as exception:
                raise MpesaConnectionError(gettext(
                        'account_mpesa.msg_account_connection_failed',
                        account=account.rec_name,
                        error=exception.message or exception)) from exception
            account.notify_user(
                'tryton-ok',
                gettext('account_mpesa.msg_account_connection_succeeded',
                    account=account.rec_name))


class TokenStore(daraja.TokenStore):
    """The OAuth token of an account kept in the database so that every
    server process shares it.

    A renewal locks the account row in a transaction of its own, re-reads
    and asks Daraja only when no other process renewed meanwhile; it
    commits before returning."""

    def __init__(self, account_id):
        self.account_id = account_id
        # The token and its expiry as this store last read or stored them:
        # a store lives as long as its client, and a token that Daraja
        # refuses meanwhile is renewed (``daraja.Client``)
        self._known = None

    def _read(self):
        "The account's stored token and its expiry while it is valid, or None"
        Account = Pool().get('account.payment.mpesa.account')
        table = Account.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(
                table.daraja_token, table.daraja_token_expires,
                where=table.id == self.account_id))
        row = cursor.fetchone()
        if row and row[0] and row[1]:
            expires = row[1]
            if isinstance(expires, str):
                expires = dt.datetime.fromisoformat(expires)
            if expires > dt.datetime.utcnow():
                return row[0], expires
        return None

    def _valid(self):
        "The token known to this store, unless it expired"
        if self._known and self._known[1] > dt.datetime.utcnow():
            return self._known[0]
        return None

    def get(self):
        if self._valid() is None:
            self._known = self._read()
        return self._valid()

    def renew(self, fetch, stale=None):
        Account = Pool().get('account.payment.mpesa.account')

        def locked_renew():
            # A renewal that waited for another's lock gets a serialization
            # error here, before asking Daraja, and is run again: it then
            # reads the token the other committed
            lock_rows(Account, [self.account_id])
            stored = self._read()
            if stored and stored[0] != stale:
                return stored
            token, expires_in = fetch()
            expires = dt.datetime.utcnow() + dt.timedelta(
                seconds=max(int(expires_in) - 60, 0))
            table = Account.__table__()
            Transaction().connection.cursor().execute(*table.update(
                    [table.daraja_token, table.daraja_token_expires],
                    [token, expires],
                    where=table.id == self.account_id))
            return token, expires
        self._known = run_in_transaction(locked_renew)
        return self._known[0]
