# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Fault switches and behaviour variants, all off (or as today's Daraja)
by default.

Faults:

``duplicate_callbacks``
    Deliver each callback N times (1 = once).
``concurrent_duplicates``
    Send those copies at the same moment from N threads.
``drop_callbacks``, ``drop_seed``
    Drop this fraction (0..1) of callbacks, drawn from a seeded generator.
``callback_delay``
    Seconds to wait before sending a callback.
``callback_before_response``
    Deliver the callbacks (STK, and every other result) and wait for them
    before the API response is returned.
``error_5xx_ratio``, ``error_5xx_seed``
    Answer this fraction of API requests with 500 or 503 and a Daraja
    envelope, without acting on them.
``slow_response``
    Seconds to stall before answering; the request still takes effect.
``invalidate_token_on_reissue``
    A new token invalidates all earlier ones.
``spike_arrest``
    Answer every API request with ``500.003.02 Spike Arrest Violation``.
``b2c_queue_timeout``
    Post a timeout to the QueueTimeOutURL instead of the B2C result; the
    payout does not happen...
``late_result_after_timeout``
    ...unless this is set: then the payout happens and its real result is
    posted to the ResultURL this many seconds after the timeout.
``balance_queue_timeout``
    Post a timeout to the QueueTimeOutURL instead of the Account Balance
    result.

Variants of the real API (reference §13):

``c2b_msisdn``
    ``'hashed'`` (SHA-256 hex, today's sandbox), ``'masked'`` or
    ``'plain'``.
``c2b_register_once``
    Production rule: a second C2B registration gives ``500.003.1001``.
``stk_balance_item``
    Add the value-less ``{"Name": "Balance"}`` item of 2019 callbacks.
``stk_query_pending_4999``
    Answer a pending STK Query with HTTP 200 and ResultCode 4999.
``stk_c2b_confirmation``
    A successful STK payment also fires the shortcode's C2B confirmation.
``expires_in_number``
    OAuth ``expires_in`` as a JSON number rather than a string.

Faults apply to the Daraja API only: not to OAuth (so that a client can
still get a token) nor to the control API.
"""
import dataclasses
import random

MSISDN_FORMS = ('hashed', 'masked', 'plain')


@dataclasses.dataclass
class Faults:
    "The current switches; change them with ``update``."

    duplicate_callbacks: int = 1
    concurrent_duplicates: bool = False
    drop_callbacks: float = 0.0
    drop_seed: int = 0
    callback_delay: float = 0.0
    callback_before_response: bool = False
    error_5xx_ratio: float = 0.0
    error_5xx_seed: int = 0
    slow_response: float = 0.0
    invalidate_token_on_reissue: bool = False
    spike_arrest: bool = False
    b2c_queue_timeout: bool = False
    late_result_after_timeout: float | None = None
    balance_queue_timeout: bool = False
    c2b_msisdn: str = 'hashed'
    c2b_register_once: bool = False
    stk_balance_item: bool = False
    stk_query_pending_4999: bool = False
    stk_c2b_confirmation: bool = False
    expires_in_number: bool = False

    def __post_init__(self):
        self._drop_random = random.Random(self.drop_seed)
        self._error_random = random.Random(self.error_5xx_seed)

    def update(self, **changes):
        """Check and apply ``changes``; the others keep their value.

        Raise TypeError for an unknown name and ValueError for a bad value.
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in fields:
                raise TypeError(f'unknown fault: {name}')
            changes[name] = self._check(name, fields[name].type, value)
        for name, value in changes.items():
            setattr(self, name, value)
        if 'drop_seed' in changes or 'drop_callbacks' in changes:
            self._drop_random = random.Random(self.drop_seed)
        if 'error_5xx_seed' in changes or 'error_5xx_ratio' in changes:
            self._error_random = random.Random(self.error_5xx_seed)

    @staticmethod
    def _check(name, kind, value):
        if name == 'c2b_msisdn':
            if value not in MSISDN_FORMS:
                raise ValueError(f'{name} must be one of {MSISDN_FORMS}')
            return value
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f'{name} must be true or false')
            return value
        if value is None and kind not in (int, float):
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f'{name} must be a number')
        if value < 0 or (name.endswith('_ratio') or name == 'drop_callbacks'
                ) and value > 1:
            raise ValueError(f'{name} is out of range')
        return int(value) if kind is int else float(value)

    def as_dict(self):
        "The switches as plain data."
        return dataclasses.asdict(self)

    def drop(self):
        "Draw whether the next callback is dropped."
        return (self.drop_callbacks > 0
            and self._drop_random.random() < self.drop_callbacks)

    def error_status(self):
        "Draw the 5xx status for the next API request, or None."
        if self.error_5xx_ratio <= 0:
            return None
        draw = self._error_random.random()
        if draw >= self.error_5xx_ratio:
            return None
        return 503 if draw < self.error_5xx_ratio / 2 else 500
