# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""HTTP exchanges with Daraja and the mapping of failures to DarajaError.

The mapping matters most for money-moving requests (STK Push, B2C,
Reversal): a failure before the request left is Unavailable (safe to send
again later), an explicit Daraja error is a definite answer, but a request
sent without a readable answer is OutcomeUnknown (the money may have moved).
"""
import logging
import time

import requests
# requests' own transport layer, to tell "not sent" from "sent, no answer"
from urllib3.exceptions import ConnectTimeoutError

from .codes import THROTTLE_CODES, TOKEN_ERROR_CODES
from .errors import (
    DuplicateRequest, InvalidRequest, OutcomeUnknown, Pending, Throttled,
    TokenError, Unavailable)
from .responses import parse_error
from .security import redact

__all__ = ['Transport']

logger = logging.getLogger(__name__)

_NOT_SENT = (
    requests.exceptions.ConnectTimeout, requests.exceptions.SSLError,
    requests.exceptions.ProxyError)
_BAD_URL = (
    requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema)
# 500.001.1001 covers several answers, told apart by their text.
_BUSY_CODE = '500.001.1001'
_ALREADY_REGISTERED_CODE = '500.003.1001'


def _not_sent(exc):
    "Tell whether the request surely never left (refused, connect timeout)."
    if isinstance(exc, _NOT_SENT):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], 'reason', exc.args[0])
        return isinstance(reason, ConnectTimeoutError)
    return False


def transport_error(exc, what, money):
    "Return the DarajaError for a request ``what`` that got no answer."
    if isinstance(exc, _BAD_URL):
        return InvalidRequest('The Daraja base URL is not valid.')
    if _not_sent(exc):
        return Unavailable(
            f'Daraja could not be reached for {what}; nothing was sent. '
            'Try again later.')
    lost = ('timed out' if isinstance(exc, requests.exceptions.Timeout)
        else 'was interrupted')
    if money:
        return OutcomeUnknown(
            f'The answer to {what} {lost}: it may have been carried out. '
            'Query its status before doing anything else; do not send it '
            'again.')
    return Unavailable(f'The answer to {what} {lost}. Try again later.')


def answer_error(status, data, what, money, secrets):
    "Return the DarajaError for a non-2xx answer (or a 2xx error envelope)."
    envelope = parse_error(data)
    code = envelope.code if envelope else None
    message = redact(envelope.message, secrets) if envelope else ''
    message = message or f'Daraja answered {what} with HTTP {status}.'
    lower = message.lower()
    options = {'code': code, 'http_status': status}
    if status == 401 or code in TOKEN_ERROR_CODES:
        return TokenError(message, **options)
    if status == 429 or code in THROTTLE_CODES:
        return Throttled(message, **options)
    if code == _BUSY_CODE:
        if 'being processed' in lower:
            return Pending(message, **options)
        if 'lock subscriber' in lower:
            return Throttled(message, **options)
        return InvalidRequest(message, **options)
    if code == '500.002.1001':
        return DuplicateRequest(message, **options)
    if code == _ALREADY_REGISTERED_CODE and (
            'already registered' in lower or 'duplicate' in lower):
        return InvalidRequest(message, **options)
    if 400 <= status < 500:
        return InvalidRequest(message, **options)
    if money and envelope is None:
        return OutcomeUnknown(
            f'Daraja answered {what} with HTTP {status} without saying '
            'whether it was carried out. Query its status before doing '
            'anything else; do not send it again.', **options)
    return Unavailable(message, **options)


class Transport:
    "Send requests to one Daraja base URL with one session and timeout."

    def __init__(self, base_url, session, timeout):
        self.base_url = base_url.rstrip('/')
        self.session = session
        self.timeout = timeout

    def request(self, method, path, what, *, money=False, secrets=(),
            **kwargs):
        """Send a request and return the JSON of a 2xx answer.

        Return None when a 2xx body is not JSON; raise the matching
        DarajaError otherwise, its message redacted of ``secrets``.
        """
        start = time.monotonic()
        try:
            response = self.session.request(
                method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.exceptions.RequestException as exc:
            error = transport_error(exc, what, money)
            logger.warning(
                '%s %s failed: %s (%s)', method, path, error.message,
                type(exc).__name__)
            raise error from exc
        status = response.status_code
        logger.debug(
            '%s %s: HTTP %s in %.2f s', method, path, status,
            time.monotonic() - start)
        try:
            data = response.json()
        except ValueError:
            data = None
        if 200 <= status < 300 and parse_error(data) is None:
            return data
        error = answer_error(status, data, what, money, secrets)
        # A prompt still being processed is a normal state, asked about
        # again by every reconciliation run: not a warning
        log = logger.debug if isinstance(error, Pending) else logger.warning
        log('%s %s: Daraja error %s (HTTP %s): %s', method, path,
            error.code or '-', status, error.message)
        raise error
