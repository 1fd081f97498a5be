# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The Daraja client: one instance per Daraja app (consumer key/secret).

Methods take plain keyword arguments, check them locally, send them and
return parsed dataclasses; failures raise the DarajaError subclasses of
``errors``.  The rules every call follows:

* the access token comes from the TokenStore; when Daraja refuses it, it is
  renewed once and the call retried once, then TokenError is raised;
* money-moving requests (STK Push, B2C, Reversal, C2B simulation) are sent
  exactly once: no answer means OutcomeUnknown;
* other requests are retried a bounded number of times while Daraja is
  Unavailable;
* no secret and no unmasked phone number reaches a log line or an error.
"""
import logging
import time

import requests

from .codes import is_success_code, result_message
from .errors import (
    InvalidRequest, OutcomeUnknown, ParseError, Pending, TokenError,
    Unavailable)
from .fields import (
    check_account_reference, check_amount, check_c2b_url, check_choice,
    check_description, check_occasion, check_remarks, check_required,
    check_shortcode, check_url)
from .parsing import decimal, mapping, text
from .phone import mask_msisdn, normalize_msisdn
from .responses import (
    parse_accepted, parse_pull_registration, parse_pull_transactions,
    parse_stk_push_response, parse_stk_query)
from .security import stk_password
from .times import nairobi_datetime, nairobi_timestamp, to_utc
from .tokens import MemoryTokenStore
from .transport import Transport

__all__ = ['Client', 'SANDBOX_URL', 'PRODUCTION_URL']

logger = logging.getLogger(__name__)

SANDBOX_URL = 'https://sandbox.safaricom.co.ke'
PRODUCTION_URL = 'https://api.safaricom.co.ke'

OAUTH_PATH = '/oauth/v1/generate'
STK_PUSH_PATH = '/mpesa/stkpush/v1/processrequest'
STK_QUERY_PATH = '/mpesa/stkpushquery/v1/query'
B2C_PATH = '/mpesa/b2c/v3/paymentrequest'
C2B_REGISTER_PATH = '/mpesa/c2b/v{version}/registerurl'
C2B_SIMULATE_PATH = '/mpesa/c2b/v{version}/simulate'
TRANSACTION_STATUS_PATH = '/mpesa/transactionstatus/v1/query'
REVERSAL_PATH = '/mpesa/reversal/v1/request'
ACCOUNT_BALANCE_PATH = '/mpesa/accountbalance/v1/query'
PULL_REGISTER_PATH = '/pulltransactions/v1/register'
PULL_QUERY_PATH = '/pulltransactions/v1/query'

STK_TRANSACTION_TYPES = {'CustomerPayBillOnline', 'CustomerBuyGoodsOnline'}
B2C_COMMANDS = {'BusinessPayment', 'SalaryPayment', 'PromotionPayment'}
C2B_COMMANDS = STK_TRANSACTION_TYPES
C2B_RESPONSE_TYPES = {'Completed', 'Cancelled'}
C2B_VERSIONS = {'1', '2'}
IDENTIFIER_TYPES = {'1', '2', '4'}
# Daraja's token lifetime, when its answer does not say.
DEFAULT_TOKEN_LIFETIME = 3600


class Client:
    """A Daraja app at ``base_url`` (SANDBOX_URL, PRODUCTION_URL or a
    simulator).

    ``timeout`` is the requests ``(connect, read)`` timeout of every call;
    ``token_store`` keeps the access token (a new MemoryTokenStore by
    default); ``retries`` and ``backoff`` bound the retries of requests that
    move no money while Daraja is Unavailable (sleeping ``backoff``, then
    twice as long…).
    """

    def __init__(self, base_url, consumer_key, consumer_secret, *,
            token_store=None, timeout=(5, 30), session=None, retries=2,
            backoff=0.5):
        self.token_store = (
            MemoryTokenStore() if token_store is None else token_store)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._transport = Transport(
            base_url, session or requests.Session(), timeout)
        self._credentials = (consumer_key, consumer_secret)

    def __repr__(self):
        return f'{type(self).__name__}({self._transport.base_url!r})'

    def close(self):
        "Close the connections the client keeps open to Daraja."
        self._transport.session.close()

    @property
    def base_url(self):
        "The Daraja base URL, without trailing slash."
        return self._transport.base_url

    # Tokens and the request pipeline

    def token(self):
        "Return a valid access token, from the store or freshly fetched."
        return self.token_store.get() or self.token_store.renew(
            self._fetch_token)

    def renew_token(self):
        """Replace the stored token with a new one from Daraja, e.g. to
        check the credentials."""
        return self.token_store.renew(
            self._fetch_token, stale=self.token_store.get())

    def _fetch_token(self):
        "Ask Daraja for a token; return (token, expires_in seconds)."
        def call():
            return self._transport.request(
                'GET', OAUTH_PATH, 'the access token request',
                params={'grant_type': 'client_credentials'},
                auth=self._credentials, secrets=self._credentials)
        try:
            data = mapping(self._retrying(call, money=False), 'OAuth answer')
            token = text(data.get('access_token'), 'access_token',
                required=True)
            expires_in = decimal(data.get('expires_in'), 'expires_in')
        except (InvalidRequest, ParseError) as exc:
            raise TokenError(
                f'No access token from Daraja ({exc.message}). Check the '
                'consumer key and secret.', code=exc.code,
                http_status=exc.http_status) from None
        logger.info('New Daraja access token obtained')
        if expires_in is None:
            return token, DEFAULT_TOKEN_LIFETIME
        return token, max(int(expires_in), 0)

    def _retrying(self, call, money):
        "Return ``call()``, retried while Unavailable unless ``money``."
        attempts = 1 if money else 1 + self.retries
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except Unavailable:
                if attempt == attempts:
                    raise
                delay = self.backoff * 2 ** (attempt - 1)
                logger.info(
                    'Daraja unavailable, attempt %s of %s; retrying in '
                    '%.1f s', attempt, attempts, delay)
                time.sleep(delay)

    def _authorized(self, path, payload, what, money, secrets):
        "POST with the token; renew it once if Daraja refuses it."
        def send(token, *stale):
            return self._transport.request(
                'POST', path, what, money=money, json=payload,
                headers={'Authorization': f'Bearer {token}'},
                secrets=(*secrets, *self._credentials, token, *stale))
        token = self.token()
        try:
            return send(token)
        except TokenError:
            logger.info('Daraja refused the access token; renewing it')
        fresh = self.token_store.renew(self._fetch_token, stale=token)
        try:
            return send(fresh, token)
        except TokenError as exc:
            raise TokenError(
                f'{exc.message} (also with a renewed access token: check '
                'that the Daraja app has this API product)', code=exc.code,
                http_status=exc.http_status) from None

    def _post(self, path, payload, what, parse, *, money=False, secrets=()):
        "Send ``payload`` to ``path`` and return ``parse(answer)``."
        data = self._retrying(
            lambda: self._authorized(path, payload, what, money, secrets),
            money)
        try:
            return parse(data)
        except ParseError as exc:
            if not money:
                raise
            raise OutcomeUnknown(
                f'Daraja accepted {what} with an unreadable answer '
                f'({exc.message}): it may have been carried out. Query its '
                'status before doing anything else.',
                http_status=200) from None

    def _accepted(self, path, payload, what, api, *, money=False,
            secrets=()):
        "Send a request answered by an AcceptedRequest; refuse non-zero."
        answer = self._post(
            path, payload, what, parse_accepted, money=money,
            secrets=secrets)
        if not answer.accepted:
            raise InvalidRequest(
                answer.response_description
                or result_message(answer.response_code, api),
                code=answer.response_code, http_status=200)
        logger.info(
            'Daraja accepted %s: ConversationID %s, '
            'OriginatorConversationID %s',
            what, answer.conversation_id or '-',
            answer.originator_conversation_id or '-')
        return answer

    # M-Pesa Express (STK Push)

    def _stk_password(self, shortcode, passkey):
        "Return the Timestamp and the matching STK Password."
        timestamp = nairobi_timestamp()
        return timestamp, stk_password(shortcode, passkey, timestamp)

    def stk_push(self, *, business_shortcode, passkey, amount, phone,
            callback_url, account_reference, description, party_b=None,
            transaction_type='CustomerPayBillOnline'):
        """Send the PIN prompt asking ``phone`` to pay ``amount``.

        For a paybill ``party_b`` defaults to ``business_shortcode``; for a
        till pass the till number and ``CustomerBuyGoodsOnline`` (with the
        store number as ``business_shortcode``).  Return StkPushResponse;
        OutcomeUnknown means the prompt may have been sent: query it.
        """
        shortcode = check_shortcode(business_shortcode, 'BusinessShortCode')
        msisdn = normalize_msisdn(phone)
        payload = {
            'BusinessShortCode': shortcode,
            'TransactionType': check_choice(
                transaction_type, STK_TRANSACTION_TYPES, 'TransactionType'),
            'Amount': check_amount(amount),
            'PartyA': msisdn,
            'PartyB': check_shortcode(
                shortcode if party_b is None else party_b, 'PartyB'),
            'PhoneNumber': msisdn,
            'CallBackURL': check_url(callback_url, 'CallBackURL'),
            'AccountReference': check_account_reference(account_reference),
            'TransactionDesc': check_description(description),
            }
        payload['Timestamp'], payload['Password'] = self._stk_password(
            shortcode, passkey)
        logger.info(
            'STK Push: KES %s from %s for %s', payload['Amount'],
            mask_msisdn(msisdn), payload['AccountReference'])
        answer = self._post(
            STK_PUSH_PATH, payload, 'the STK Push', parse_stk_push_response,
            money=True, secrets=(passkey, payload['Password']))
        if not is_success_code(answer.response_code):
            raise InvalidRequest(
                answer.response_description
                or result_message(answer.response_code, 'stk'),
                code=answer.response_code, http_status=200)
        logger.info(
            'STK Push accepted: CheckoutRequestID %s',
            answer.checkout_request_id)
        return answer

    def stk_query(self, *, business_shortcode, passkey, checkout_request_id):
        """Return the StkQueryResult of an STK Push.

        Raise Pending while the customer has not answered the prompt.
        """
        shortcode = check_shortcode(business_shortcode, 'BusinessShortCode')
        timestamp, password = self._stk_password(shortcode, passkey)
        payload = {
            'BusinessShortCode': shortcode,
            'Password': password,
            'Timestamp': timestamp,
            'CheckoutRequestID': check_required(
                checkout_request_id, 'CheckoutRequestID'),
            }
        result = self._post(
            STK_QUERY_PATH, payload, 'the STK Query', parse_stk_query,
            secrets=(passkey, password))
        if result.pending:
            raise Pending(
                result.result_desc or result_message(result.result_code),
                code=result.result_code, http_status=200)
        # A question the reconciliation asks per payment: its run logs the
        # summary
        logger.debug(
            'STK Query of %s: result %s', result.checkout_request_id,
            result.result_code)
        return result

    # Initiator APIs (B2C, Transaction Status, Reversal, Account Balance)

    def _initiator_request(self, path, what, api, fields, *, initiator,
            security_credential, remarks, result_url, queue_timeout_url,
            occasion='', money=False, initiator_key='Initiator',
            occasion_key='Occasion'):
        "Check and send a request of the initiator APIs."
        payload = {
            initiator_key: check_required(initiator, initiator_key),
            'SecurityCredential': check_required(
                security_credential, 'SecurityCredential'),
            **fields,
            'Remarks': check_remarks(remarks),
            'QueueTimeOutURL': check_url(queue_timeout_url, 'QueueTimeOutURL'),
            'ResultURL': check_url(result_url, 'ResultURL'),
            }
        if check_occasion(occasion):
            payload[occasion_key] = occasion.strip()
        return self._accepted(
            path, payload, what, api, money=money,
            secrets=(security_credential,))

    @staticmethod
    def _party(party_a, identifier_type):
        "Return the PartyA and IdentifierType fields."
        return {
            'PartyA': check_shortcode(party_a, 'PartyA'),
            'IdentifierType': check_choice(
                identifier_type, IDENTIFIER_TYPES, 'IdentifierType'),
            }

    def b2c(self, *, originator_conversation_id, initiator_name,
            security_credential, command_id='BusinessPayment', amount,
            party_a, phone, remarks, queue_timeout_url, result_url,
            occasion=''):
        """Pay ``amount`` from the B2C shortcode ``party_a`` to ``phone``.

        ``originator_conversation_id`` must be unique per payout (Daraja
        refuses a reuse with DuplicateRequest).  Return AcceptedRequest; the
        result comes to ``result_url``.  OutcomeUnknown means the payout may
        have been made: query it with transaction_status.
        """
        msisdn = normalize_msisdn(phone)
        fields = {
            'OriginatorConversationID': check_required(
                originator_conversation_id, 'OriginatorConversationID'),
            'CommandID': check_choice(command_id, B2C_COMMANDS, 'CommandID'),
            'Amount': check_amount(amount),
            'PartyA': check_shortcode(party_a, 'PartyA'),
            'PartyB': msisdn,
            }
        logger.info(
            'B2C %s: KES %s to %s', fields['OriginatorConversationID'],
            fields['Amount'], mask_msisdn(msisdn))
        return self._initiator_request(
            B2C_PATH, 'the B2C payment', 'b2c', fields,
            initiator=initiator_name, initiator_key='InitiatorName',
            security_credential=security_credential, remarks=remarks,
            result_url=result_url, queue_timeout_url=queue_timeout_url,
            occasion=occasion, occasion_key='Occassion',  # Daraja's spelling
            money=True)

    def transaction_status(self, *, initiator_name, security_credential,
            transaction_id=None, originator_conversation_id=None, party_a,
            identifier_type='4', result_url, queue_timeout_url, remarks,
            occasion=''):
        """Ask for the status of a transaction, by its receipt
        (``transaction_id``) or by the OriginatorConversationID of the
        request.  Return AcceptedRequest; the result comes to
        ``result_url``.
        """
        if not (transaction_id or originator_conversation_id):
            raise InvalidRequest(
                'TransactionID or OriginatorConversationID is required.')
        fields = {
            'CommandID': 'TransactionStatusQuery',
            **self._party(party_a, identifier_type),
            }
        if transaction_id:
            fields['TransactionID'] = check_required(
                transaction_id, 'TransactionID')
        if originator_conversation_id:
            fields['OriginalConversationID'] = check_required(
                originator_conversation_id, 'OriginatorConversationID')
        return self._initiator_request(
            TRANSACTION_STATUS_PATH, 'the transaction status query', 'status',
            fields, initiator=initiator_name,
            security_credential=security_credential, remarks=remarks,
            result_url=result_url, queue_timeout_url=queue_timeout_url,
            occasion=occasion)

    def reversal(self, *, initiator_name, security_credential,
            transaction_id, amount, receiver_party, result_url,
            queue_timeout_url, remarks, occasion=''):
        """Reverse the transaction ``transaction_id`` (a receipt) of
        ``amount`` received on the shortcode ``receiver_party``.

        Return AcceptedRequest; the result comes to ``result_url``.
        OutcomeUnknown means the reversal may have been made.
        """
        fields = {
            'CommandID': 'TransactionReversal',
            'TransactionID': check_required(transaction_id, 'TransactionID'),
            'Amount': check_amount(amount),
            'ReceiverParty': check_shortcode(receiver_party, 'ReceiverParty'),
            'RecieverIdentifierType': '11',  # Daraja's spelling
            }
        logger.info(
            'Reversal of %s: KES %s', fields['TransactionID'],
            fields['Amount'])
        return self._initiator_request(
            REVERSAL_PATH, 'the reversal', 'reversal', fields,
            initiator=initiator_name,
            security_credential=security_credential, remarks=remarks,
            result_url=result_url, queue_timeout_url=queue_timeout_url,
            occasion=occasion, money=True)

    def account_balance(self, *, initiator_name, security_credential,
            party_a, identifier_type='4', result_url, queue_timeout_url,
            remarks):
        """Ask for the balances of the shortcode ``party_a`` (only one's
        own shortcode can be asked about).

        Return AcceptedRequest; the result comes to ``result_url`` (read it
        with ``parse_result``: ``balances`` and ``completed_at``), or a
        time-out to ``queue_timeout_url``.  Daraja never resends either.
        """
        fields = {
            'CommandID': 'AccountBalance',
            **self._party(party_a, identifier_type),
            }
        return self._initiator_request(
            ACCOUNT_BALANCE_PATH, 'the account balance query', 'balance',
            fields, initiator=initiator_name,
            security_credential=security_credential, remarks=remarks,
            result_url=result_url, queue_timeout_url=queue_timeout_url)

    # C2B

    def register_c2b_urls(self, *, shortcode, confirmation_url,
            validation_url, response_type='Completed', version=2):
        """Register the C2B confirmation and validation URLs of
        ``shortcode`` (API ``version`` 2 or 1, as the app's product).

        In production this works once; a second call gets InvalidRequest
        with code 500.003.1001.
        """
        payload = {
            'ShortCode': check_shortcode(shortcode),
            'ResponseType': check_choice(
                response_type, C2B_RESPONSE_TYPES, 'ResponseType'),
            'ConfirmationURL': check_c2b_url(
                confirmation_url, 'ConfirmationURL'),
            'ValidationURL': check_c2b_url(validation_url, 'ValidationURL'),
            }
        path = C2B_REGISTER_PATH.format(
            version=check_choice(version, C2B_VERSIONS, 'version'))
        return self._accepted(path, payload, 'the C2B URL registration', 'c2b')

    def simulate_c2b(self, *, shortcode, amount, msisdn, bill_ref_number='',
            command_id='CustomerPayBillOnline', version=2):
        """Simulate a customer paying ``shortcode`` (sandbox only).

        Sent once like a payment, since a resend would pay twice.
        """
        command_id = check_choice(command_id, C2B_COMMANDS, 'CommandID')
        phone = normalize_msisdn(msisdn)
        payload = {
            'ShortCode': check_shortcode(shortcode),
            'CommandID': command_id,
            'Amount': check_amount(amount),
            'Msisdn': phone,
            'BillRefNumber': bill_ref_number or (
                None if command_id == 'CustomerBuyGoodsOnline' else ''),
            }
        path = C2B_SIMULATE_PATH.format(
            version=check_choice(version, C2B_VERSIONS, 'version'))
        logger.info(
            'C2B simulation: KES %s from %s', payload['Amount'],
            mask_msisdn(phone))
        return self._accepted(
            path, payload, 'the C2B simulation', 'c2b', money=True)

    # Pull Transactions

    def register_pull(self, *, shortcode, nominated_number, callback_url,
            request_type='Pull'):
        """Register ``shortcode`` for Pull Transactions.

        ``nominated_number`` is the Safaricom number nominated for the
        shortcode.  Return PullRegistration (code 1000, or 1001 when it
        already was registered).
        """
        payload = {
            'ShortCode': check_shortcode(shortcode),
            'RequestType': check_required(request_type, 'RequestType'),
            'NominatedNumber': '0' + normalize_msisdn(nominated_number)[3:],
            'CallBackURL': check_url(callback_url, 'CallBackURL'),
            }
        return self._post(
            PULL_REGISTER_PATH, payload, 'the Pull registration',
            parse_pull_registration)

    def pull_transactions(self, *, shortcode, start, end, offset=0):
        """Return the PullResult of the transactions of ``shortcode``
        between the datetimes ``start`` and ``end`` (naive means UTC).

        ``offset`` pages through long answers.  Code 1001 (no record, or the
        shortcode is not registered for Pull) is an answer, not an error:
        the caller decides whether and when to say it.
        """
        if not to_utc(start) < to_utc(end):
            raise InvalidRequest(
                'The start of the period must be before its end.')
        if isinstance(offset, bool) or not isinstance(offset, int) \
                or offset < 0:
            raise InvalidRequest('OffSetValue must be a positive integer.')
        shortcode = check_shortcode(shortcode)
        payload = {
            'ShortCode': shortcode,
            'StartDate': nairobi_datetime(start).strftime('%Y-%m-%d %H:%M:%S'),
            'EndDate': nairobi_datetime(end).strftime('%Y-%m-%d %H:%M:%S'),
            'OffSetValue': str(offset),
            }
        result = self._post(
            PULL_QUERY_PATH, payload, 'the Pull Transactions query',
            parse_pull_transactions)
        # A question a scheduled run asks again and again: the run says
        # what the answers mean
        logger.debug(
            'Pull Transactions of %s answered %s: %s', shortcode,
            result.response_code, result.response_message or '-')
        return result
