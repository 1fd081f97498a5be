# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Where the OAuth access token is kept between calls.

Daraja may invalidate a token when another one is issued for the same app,
so all the processes using one app should share one token: the Tryton
module implements TokenStore on its database, MemoryTokenStore serves a
single process.
"""
import abc
import datetime as dt
import threading

__all__ = ['TokenStore', 'MemoryTokenStore']


class TokenStore(abc.ABC):
    """A shared cache of one access token.

    Implementations must make ``renew`` atomic across everything sharing the
    store (a lock, a row lock…) so that a single fetch happens when several
    callers find the token stale at once.
    """
    #: seconds cut from the token's lifetime, to never send a dying token
    margin = 60

    @abc.abstractmethod
    def get(self):
        "Return the cached token if it is still valid, else None."

    @abc.abstractmethod
    def renew(self, fetch, stale=None):
        """Return a fresh token.

        Under the store's lock: if the stored token is still valid and is
        not ``stale`` (the token Daraja just refused), another caller renewed
        it meanwhile and it is returned; otherwise call ``fetch()``, which
        returns ``(token, expires_in_seconds)``, store the token with its
        expiry (see ``expiry``) and return it.
        """

    @classmethod
    def expiry(cls, expires_in, now=None):
        """Return when a token valid ``expires_in`` seconds from ``now``
        (aware UTC, default the current time) must be dropped.

        The safety margin is cut from the lifetime, but never more than half
        of it.
        """
        if now is None:
            now = dt.datetime.now(dt.timezone.utc)
        lifetime = expires_in - min(cls.margin, expires_in / 2)
        return now + dt.timedelta(seconds=max(lifetime, 0))


class MemoryTokenStore(TokenStore):
    "A TokenStore in the memory of one process, safe across threads."

    def __init__(self):
        self._lock = threading.Lock()
        self._token = None
        self._expires = None

    def _valid(self):
        "Return the stored token if it has not expired, else None."
        if self._token and dt.datetime.now(dt.timezone.utc) < self._expires:
            return self._token
        return None

    def get(self):
        with self._lock:
            return self._valid()

    def renew(self, fetch, stale=None):
        with self._lock:
            token = self._valid()
            if token and token != stale:
                return token
            token, expires_in = fetch()
            self._token, self._expires = token, self.expiry(expires_in)
            return token
