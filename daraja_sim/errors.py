# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Daraja's synchronous error envelope (reference §1.3)."""


class DarajaError(Exception):
    """An API answer of ``{requestId, errorCode, errorMessage}``.

    ``request_id`` is usually generated when the envelope is built; the STK
    Query pending answer uses the CheckoutRequestID instead.
    """

    def __init__(self, status, code, message, request_id=None):
        super().__init__(f'{code} {message}')
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id

    def envelope(self, request_id):
        "Return the JSON body, using ``request_id`` unless one was fixed."
        return {
            'requestId': self.request_id or request_id,
            'errorCode': self.code,
            'errorMessage': self.message,
            }


def invalid(field):
    "The ``400.002.02 Bad Request - Invalid <Field>`` error."
    return DarajaError(400, '400.002.02', f'Bad Request - Invalid {field}')


def merchant(message):
    "A ``500.001.1001`` error (the code Daraja overloads for STK)."
    return DarajaError(500, '500.001.1001', message)
