# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""One token shared by several clients and threads, against a simulator
where each new token invalidates the earlier ones."""
import datetime as dt
import threading

from trytond.modules.account_mpesa.daraja import (
    MemoryTokenStore, Pending, PullResult, StkQueryResult)

from .conftest import NEVER, PUSH, QUERY, SHORTCODE, Api, make_client

THREADS = 8          # spread over the two clients
CALLS = 10           # per thread and phase
TIMEOUT = 20


def _work(api, checkout, start, end):
    "Alternate STK Queries and Pull queries; return the results."
    results = []
    for i in range(CALLS):
        if i % 2:
            results.append(api.client.pull_transactions(
                    shortcode=SHORTCODE, start=start, end=end))
        else:
            try:
                results.append(api.query(checkout))
            except Pending as exc:
                results.append(exc)
    return results


def _phase(apis, checkout):
    "Run the calls from THREADS threads at once; return results, errors."
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    end = start + dt.timedelta(hours=2)
    barrier = threading.Barrier(THREADS)
    results, errors = [], []
    lock = threading.Lock()

    def run(api):
        barrier.wait()
        try:
            done = _work(api, checkout, start, end)
        except Exception as exc:  # reported below
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.extend(done)
    threads = [threading.Thread(target=run, args=(apis[i % len(apis)],))
        for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), 'a thread hung'
    return results, errors


def test_shared_token_store(make_sim, listener):
    "Two clients, many threads, one store: one OAuth call per renewal"
    sim = make_sim()
    sim.set_faults(invalidate_token_on_reissue=True)
    setup = Api(make_client(sim.url), sim, listener)
    checkout = setup.push(phone=NEVER).checkout_request_id
    oauth = setup.oauth_count()
    assert oauth == 1

    store = MemoryTokenStore()
    apis = [Api(make_client(sim.url, token_store=store), sim, listener)
        for _ in range(2)]

    # Both clients start with an empty store, all threads at once
    results, errors = _phase(apis, checkout)
    assert errors == []
    assert len(results) == THREADS * CALLS
    assert all(isinstance(r, (Pending, StkQueryResult, PullResult))
        for r in results)
    assert setup.oauth_count() - oauth == 1, (
        'the threads fetched more than one token')
    refused = [r for r in setup.requests(QUERY) if r['status'] == 404]
    assert refused == [], 'a token was invalidated by another fetch'

    # Every token invalidated: every thread is refused, one renewal
    sim.invalidate_tokens()
    before = len(sim.requests)
    results, errors = _phase(apis, checkout)
    assert errors == []
    assert len(results) == THREADS * CALLS
    assert setup.oauth_count() - oauth == 2, (
        'more than one renewal for one invalidation')
    refused = [r for r in sim.requests[before:] if r['status'] in {404, 400}]
    assert 1 <= len(refused) <= THREADS
    assert len(setup.requests(PUSH)) == 1


def test_separate_stores_fight(make_sim, listener):
    """Control: without a shared store, each client fetches its own token
    and invalidates the other's (what the shared store prevents)"""
    sim = make_sim()
    sim.set_faults(invalidate_token_on_reissue=True)
    first, second = (Api(make_client(sim.url), sim, listener)
        for _ in range(2))
    checkout = first.push(phone=NEVER).checkout_request_id
    for api in (second, first, second):
        try:
            api.query(checkout)
        except Pending:
            pass
    assert first.oauth_count() == 4
    assert [r['status'] for r in first.requests(QUERY)].count(404) == 2
