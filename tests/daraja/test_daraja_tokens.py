# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The in-memory token store."""
import datetime as dt
import threading
import time

from trytond.modules.account_mpesa.daraja import MemoryTokenStore, TokenStore


class Fetcher:
    "A fetch callable counting its calls."

    def __init__(self, expires_in=3599, delay=0):
        self.calls = 0
        self.expires_in = expires_in
        self.delay = delay

    def __call__(self):
        self.calls += 1
        time.sleep(self.delay)
        return f'token-{self.calls}', self.expires_in


def test_empty_store():
    assert MemoryTokenStore().get() is None


def test_renew_then_get():
    store, fetch = MemoryTokenStore(), Fetcher()
    assert store.renew(fetch) == 'token-1'
    assert store.get() == 'token-1'
    # a valid token that is not stale is returned without fetching
    assert store.renew(fetch) == 'token-1'
    assert fetch.calls == 1


def test_renew_stale_token_fetches():
    store, fetch = MemoryTokenStore(), Fetcher()
    store.renew(fetch)
    assert store.renew(fetch, stale='token-1') == 'token-2'
    # another caller with the same stale token gets the renewed one
    assert store.renew(fetch, stale='token-1') == 'token-2'
    assert fetch.calls == 2


def test_expired_token_is_dropped():
    store, fetch = MemoryTokenStore(), Fetcher(expires_in=0)
    store.renew(fetch)
    assert store.get() is None
    assert store.renew(fetch) == 'token-2'


def test_concurrent_renewals_fetch_once():
    store, fetch = MemoryTokenStore(), Fetcher(delay=0.05)
    tokens = []
    threads = [
        threading.Thread(target=lambda: tokens.append(store.renew(fetch)))
        for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetch.calls == 1
    assert tokens == ['token-1'] * 10


def test_expiry_keeps_a_margin():
    now = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert TokenStore.expiry(3599, now) == now + dt.timedelta(seconds=3539)
    # never more than half the lifetime is cut
    assert TokenStore.expiry(60, now) == now + dt.timedelta(seconds=30)
