# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Realistic, unique identifiers (formats from reference §3, §4, §7.2)."""
import datetime as dt
import random
import string
import threading

ALPHANUMERIC = string.ascii_uppercase + string.digits
TOKEN_CHARACTERS = string.ascii_letters + string.digits
# A receipt's third character is the day of the month: 1-9, then A=10 ... V=31.
DAY_CHARACTERS = string.digits[1:] + string.ascii_uppercase


class Ids:
    """Generator of every identifier the simulator hands out.

    Identifiers never repeat within one generator (a receipt is unique the
    way a real M-Pesa receipt is).  ``seed`` makes the sequence repeatable.
    """

    def __init__(self, seed=None):
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._issued = set()
        self._counter = self._random.randrange(1_000_000, 4_000_000)

    def _unique(self, make):
        with self._lock:
            while True:
                value = make()
                if value not in self._issued:
                    self._issued.add(value)
                    return value

    def _choose(self, alphabet, length):
        return ''.join(self._random.choices(alphabet, k=length))

    def _hex(self, length):
        return self._choose('0123456789abcdef', length)

    @staticmethod
    def receipt_prefix(when):
        """The date part of a receipt: year letter (N=2019, S=2024, T=2025),
        month letter (A=January) and day character, as in ``SG632NMUAB``
        of 6 July 2024."""
        return (chr(ord('A') + (when.year - 2006) % 26)
            + string.ascii_uppercase[when.month - 1]
            + DAY_CHARACTERS[when.day - 1])

    def receipt(self, when):
        "A 10-character M-Pesa receipt such as ``TK60708BHZ``."
        prefix = self.receipt_prefix(when)
        return self._unique(lambda: prefix + self._choose(ALPHANUMERIC, 7))

    def placeholder_receipt(self, when):
        "The zero-filled TransactionID of a failed result (``NLJ0000000``)."
        return self.receipt_prefix(when) + '0000000'

    def checkout_request_id(self, when, phone):
        """``ws_CO_`` + ddMMyyyyHHmmss + milliseconds + the 9 digits after
        254, e.g. ``ws_CO_16122022001707470708374149``."""
        step = [0]

        def make():
            moment = when + dt.timedelta(milliseconds=step[0])
            step[0] += 1
            return (f"ws_CO_{moment.strftime('%d%m%Y%H%M%S')}"
                f"{moment.microsecond // 1000:03d}{phone[-9:]}")
        return self._unique(make)

    def request_id(self):
        """The newer hyphenated id used for MerchantRequestID, requestId and
        OriginatorConversationID: ``2654-4b64-97ff-b827b542881d3130``."""
        def make():
            self._counter += 1
            return (f'{self._hex(4)}-{self._hex(4)}-{self._hex(4)}-'
                f'{self._hex(12)}{self._counter}')
        return self._unique(make)

    def conversation_id(self, when):
        "``AG_YYYYMMDD_`` + 20 hex digits."
        return self._unique(
            lambda: f"AG_{when.strftime('%Y%m%d')}_{self._hex(20)}")

    def token(self):
        "A 28-character access token such as ``c9SQxWWhmdVRlyh0zh8gZDTkubVF``."
        return self._unique(lambda: self._choose(TOKEN_CHARACTERS, 28))
