# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The exceptions raised by the Daraja client.

Each class tells the caller what to do next, not what went wrong inside:

========================  ====================================================
``TokenError``            the access token could not be obtained or was
                          refused twice: check the consumer key/secret and the
                          products enabled on the Daraja app
``InvalidRequest``        Daraja (or the local checks) refused the request:
                          fix the data, do not retry as is
``DuplicateRequest``      the OriginatorConversationID was already used: the
                          earlier request reached Daraja
``Pending``               the STK prompt is still being processed: ask later
``Throttled``             too many requests: back off, then retry
``Unavailable``           Daraja could not be reached or failed before acting:
                          safe to retry later
``OutcomeUnknown``        a money-moving request may or may not have been
                          carried out: never resend, query its status instead
``ParseError``            a payload did not have the expected shape
========================  ====================================================

Every message is safe to show to a user: it never holds a secret nor an
unmasked phone number.
"""

__all__ = [
    'DarajaError', 'TokenError', 'InvalidRequest', 'InvalidPhoneNumber',
    'DuplicateRequest', 'Pending', 'Throttled', 'Unavailable',
    'OutcomeUnknown', 'ParseError']


class DarajaError(Exception):
    """Base class of all the client's errors.

    ``code`` is Daraja's errorCode or ResultCode as text (or None),
    ``message`` the human readable text and ``http_status`` the HTTP status
    of the answer (None when there was no answer).
    """

    def __init__(self, message, *, code=None, http_status=None):
        super().__init__(message)
        self.message = message
        self.code = None if code is None else str(code)
        self.http_status = http_status

    def __str__(self):
        if self.code:
            return f'{self.message} [{self.code}]'
        return self.message


class TokenError(DarajaError):
    "The OAuth access token could not be obtained or was refused."


class InvalidRequest(DarajaError):
    "The request was refused for its content; retrying it as is is useless."


class InvalidPhoneNumber(InvalidRequest):
    "A phone number is not a Kenyan mobile number."


class DuplicateRequest(InvalidRequest):
    "Daraja already received a request with this OriginatorConversationID."


class Pending(DarajaError):
    "The STK Push is still being processed; query again later."


class Throttled(DarajaError):
    "Daraja asks to slow down (spike arrest, quota or a busy subscriber)."


class Unavailable(DarajaError):
    "Daraja could not be reached or failed before acting; retry later."


class OutcomeUnknown(DarajaError):
    """A money-moving request was sent but its answer never came.

    The money may have moved: query the transaction (STK Query or Transaction
    Status) before anything else, never send the request again blindly.
    """


class ParseError(DarajaError):
    "A payload sent by Daraja does not have the expected shape."
