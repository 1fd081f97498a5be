# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Each error class of the client, produced by the simulator's answers and
fault switches over real HTTP."""
import datetime as dt

import pytest

from trytond.modules.account_mpesa.daraja import (
    Client, InvalidRequest, MemoryTokenStore, OutcomeUnknown, Pending,
    Throttled, TokenError, Unavailable, parse_result, parse_stk_callback)

from .conftest import (
    B2C, B2C_SHORTCODE, BALANCE, CONFIRM_HOOK, CONSUMER_KEY, NEVER, OAUTH,
    PASSKEY, PHONE, PULL_QUERY, PUSH, QUERY, RESULT_HOOK, REVERSAL, SHORTCODE,
    STATUS, STK_HOOK, VALIDATE_HOOK, Api, make_client, new_id, wait_for)

SLOW = 1.0       # seconds the simulator stalls with slow_response
READ = 0.4       # the read timeout of the impatient client


# InvalidRequest: Daraja's message for a field it refuses

@pytest.mark.parametrize('options, message', [
        ({'passkey': 'not-the-passkey'}, 'Wrong credentials'),
        ({'business_shortcode': '999999'}, 'Merchant does not exist'),
        ])
def test_stk_push_refused(api, sim, options, message):
    "Wrong passkey or unknown shortcode: InvalidRequest, no prompt"
    with pytest.raises(InvalidRequest) as info:
        api.push(**options)
    assert type(info.value) is InvalidRequest
    assert info.value.message == message
    assert info.value.code == '500.001.1001'
    assert info.value.http_status == 500
    assert sim.pending == []
    assert len(api.requests(PUSH)) == 1, 'a refused push was resent'


def test_stk_query_wrong_passkey(api, sim):
    push = api.push(phone=NEVER)
    with pytest.raises(InvalidRequest) as info:
        api.query(push.checkout_request_id, passkey='not-the-passkey')
    assert type(info.value) is InvalidRequest
    assert info.value.message == 'Wrong credentials'
    assert len(api.requests(QUERY)) == 1, 'an InvalidRequest was retried'


def test_stk_query_unknown_checkout(api, sim):
    with pytest.raises(InvalidRequest) as info:
        api.query('ws_CO_01012025000000000712345678')
    assert info.value.message == 'Bad Request - Invalid CheckoutRequestID'
    assert info.value.code == '400.002.02'


def test_stk_amount_above_maximum(api, sim):
    "The client leaves the maximum to Daraja, whose message comes through"
    with pytest.raises(InvalidRequest) as info:
        api.push(amount=250_001)
    assert info.value.message == 'Bad Request - Invalid Amount'
    assert info.value.code == '400.002.02'
    assert info.value.http_status == 400


# TokenError and token renewal

def test_bad_consumer_credentials(sim, listener):
    "Wrong consumer key/secret: TokenError, and nothing else is sent"
    client = Client(sim.url, 'wrong-key', 'wrong-secret', backoff=0)
    api = Api(client, sim, listener)
    with pytest.raises(TokenError) as info:
        api.push()
    assert info.value.code == '400.008.01'
    assert info.value.http_status == 400
    assert 'consumer key and secret' in info.value.message
    assert 'wrong-secret' not in str(info.value)
    assert [r['path'] for r in sim.requests] == [OAUTH], (
        'a refused OAuth request was retried or the push was sent')


def test_bad_consumer_secret_renew_token(sim):
    "renew_token checks the credentials"
    client = Client(sim.url, CONSUMER_KEY, 'wrong-secret', backoff=0)
    with pytest.raises(TokenError):
        client.renew_token()
    assert len(sim.requests) == 1


def _days(n):
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=n)


def _pending_checkout(api):
    "Prepare an STK Query: a prompt nobody answers."
    return api.push(phone=NEVER).checkout_request_id


def _query(api, checkout):
    "Query the prompt; Pending is its answer."
    try:
        return api.query(checkout)
    except Pending as exc:
        return exc


# name -> (path, HTTP status of a refused token, prepare(api),
#     call(api, prepared)); prepare runs before the token or fault change
CALLS = {
    'stk_push': (PUSH, 404, None, lambda api, _: api.push()),
    'stk_query': (QUERY, 404, _pending_checkout, _query),
    'b2c': (B2C, 401, None, lambda api, _: api.b2c()),
    'status': (STATUS, 400, None, lambda api, _: api.status(
            originator_conversation_id=new_id())),
    'reversal': (REVERSAL, 404, None,
        lambda api, _: api.reversal('SAB1234567', 5)),
    'balance': (BALANCE, 401, None, lambda api, _: api.balance()),
    'c2b_register': ('/mpesa/c2b/v2/registerurl', 400, None,
        lambda api, _: api.client.register_c2b_urls(
            shortcode=SHORTCODE,
            confirmation_url=api.listener.url(CONFIRM_HOOK),
            validation_url=api.listener.url(VALIDATE_HOOK))),
    'pull': (PULL_QUERY, 404, None, lambda api, _:
        api.client.pull_transactions(
            shortcode=SHORTCODE, start=_days(-1), end=_days(0))),
    }


def prepare(api, name):
    "Fetch the token and run the call's preparation; return a runner."
    path, status, setup, call = CALLS[name]
    api.client.token()
    prepared = setup(api) if setup else None
    return lambda: call(api, prepared)


@pytest.mark.parametrize('name', sorted(CALLS))
def test_token_renewed_after_invalidation(api, sim, name):
    "A refused token is renewed once and the call retried once"
    path, status = CALLS[name][:2]
    run = prepare(api, name)
    sim.invalidate_tokens()
    run()
    assert api.oauth_count() == 2
    answered = 500 if name == 'stk_query' else 200   # pending is HTTP 500
    assert [r['status'] for r in api.requests(path)][-2:] == [
        status, answered]
    if name == 'stk_push':
        assert len(sim.pending) + len(sim.ledger) == 1
    if name == 'b2c':
        # Daraja puts the refused token in its message
        refused = api.requests(path)[0]['response']['errorMessage']
        assert refused.startswith('Error Occurred - Invalid Access Token - ')


def test_token_invalidated_by_reissue(api, sim, listener):
    "Another process fetching a token makes ours stale: renewed once"
    sim.set_faults(invalidate_token_on_reissue=True)
    api.push(amount=11)
    other = make_client(sim.url)
    other.token()                     # invalidates the first client's token
    assert api.oauth_count() == 2
    api.push(phone='0722000042', amount=12)
    assert api.oauth_count() == 3
    assert [r['status'] for r in api.requests(PUSH)] == [200, 404, 200]
    listener.wait(STK_HOOK, 2)
    assert sorted(e['amount'] for e in sim.ledger) == [11, 12]


def test_token_refused_twice(make_sim, listener):
    "A token refused again after renewal is TokenError"
    sim = make_sim(token_lifetime=0)
    api = Api(make_client(sim.url), sim, listener)
    with pytest.raises(TokenError) as info:
        api.push()
    assert 'renewed access token' in info.value.message
    assert info.value.code == '404.001.03'
    assert api.oauth_count() == 2
    assert [r['status'] for r in api.requests(PUSH)] == [404, 404]
    assert sim.pending == []


def test_expires_in_as_number(api, sim, listener):
    sim.set_faults(expires_in_number=True)
    api.push()
    api.push(phone='0722000042')
    assert api.oauth_count() == 1


# Throttled

@pytest.mark.parametrize('name', sorted(CALLS))
def test_spike_arrest(api, sim, name):
    "Spike arrest is Throttled, not retried"
    path = CALLS[name][0]
    run = prepare(api, name)
    sim.set_faults(spike_arrest=True)
    with pytest.raises(Throttled) as info:
        run()
    assert info.value.code == '500.003.02'
    assert 'Spike Arrest' in info.value.message
    assert [r['status'] for r in api.requests(path)][-1:] == [500]
    assert len([r for r in api.requests(path) if r['status'] == 500]) == 1
    assert sim.ledger == []


# Unavailable

@pytest.mark.parametrize('retries', [0, 2, 4])
def test_5xx_query_retried_then_unavailable(sim, listener, retries):
    "A non-money request is retried ``retries`` times, then Unavailable"
    api = Api(make_client(sim.url, retries=retries), sim, listener)
    push = api.push(phone=NEVER)
    sim.set_faults(error_5xx_ratio=1.0)
    with pytest.raises(Unavailable) as info:
        api.query(push.checkout_request_id)
    assert info.value.http_status in {500, 503}
    statuses = [r['status'] for r in api.requests(QUERY)]
    assert len(statuses) == 1 + retries
    assert set(statuses) <= {500, 503}
    assert api.oauth_count() == 1


def test_5xx_query_recovers(sim, api):
    "Two failures then an answer: the retries absorb them"
    push = api.push(phone=NEVER)
    sim.set_faults(error_5xx_ratio=0.5, error_5xx_seed=7)
    with pytest.raises(Pending):
        api.query(push.checkout_request_id)
    codes = [r['response']['errorCode'] for r in api.requests(QUERY)]
    assert codes == ['500.003.1001', '503.001.01', '500.001.1001']


@pytest.mark.parametrize('name', ['stk_push', 'b2c', 'reversal'])
def test_5xx_money_not_retried(api, sim, name):
    "A money request answered 5xx is Unavailable and sent once"
    path = CALLS[name][0]
    run = prepare(api, name)
    sim.set_faults(error_5xx_ratio=1.0)
    with pytest.raises(Unavailable):
        run()
    assert len(api.requests(path)) == 1
    assert sim.pending == [] and sim.ledger == []


def test_connection_refused_oauth(refused_url):
    "Nothing listening: Unavailable, nothing was sent"
    client = make_client(refused_url)
    with pytest.raises(Unavailable) as info:
        client.token()
    assert 'nothing was sent' in info.value.message
    assert info.value.http_status is None


@pytest.mark.parametrize('method', ['stk_push', 'b2c'])
def test_connection_refused_money(refused_url, method):
    "A money request that could not connect is Unavailable, not Unknown"
    store = MemoryTokenStore()
    store.renew(lambda: ('stored-token', 3600))
    client = make_client(refused_url, token_store=store)
    with pytest.raises(Unavailable) as info:
        if method == 'stk_push':
            client.stk_push(
                business_shortcode=SHORTCODE, passkey=PASSKEY, amount=1,
                phone=PHONE, callback_url='http://127.0.0.1:9/cb',
                account_reference='INV-1', description='Sale')
        else:
            client.b2c(
                originator_conversation_id=new_id(), initiator_name='x',
                security_credential='Y3JlZA==', amount=10,
                party_a=B2C_SHORTCODE, phone=PHONE, remarks='Refund',
                queue_timeout_url='http://127.0.0.1:9/t',
                result_url='http://127.0.0.1:9/r')
    assert not isinstance(info.value, OutcomeUnknown)
    assert 'nothing was sent' in info.value.message


# OutcomeUnknown: sent once, never resent, then learnt by a query

@pytest.fixture
def slow(sim, listener):
    "An impatient client of a simulator stalling its answers"
    api = Api(make_client(sim.url, timeout=(1, READ)), sim, listener)
    api.client.token()
    sim.set_faults(slow_response=SLOW)
    return api


def test_outcome_unknown_stk_push(slow, sim, listener):
    with pytest.raises(OutcomeUnknown) as info:
        slow.push(amount=19)
    assert 'do not send it again' in info.value.message
    assert len(slow.requests(PUSH)) == 1, 'the push was resent'
    sim.set_faults(slow_response=0)

    # the push took effect: its callback comes, and the query agrees
    callback = parse_stk_callback(listener.wait(STK_HOOK)[0])
    assert callback.succeeded
    answer = slow.requests(PUSH)[0]['response']   # the answer we missed
    assert callback.checkout_request_id == answer['CheckoutRequestID']
    result = slow.query(callback.checkout_request_id)
    assert result.succeeded
    assert len(slow.requests(PUSH)) == 1
    entry, = sim.ledger
    assert entry['amount'] == 19


def test_outcome_unknown_stk_push_pending(slow, sim):
    "Right after the timeout the query says Pending, then the outcome"
    with pytest.raises(OutcomeUnknown):
        slow.push(phone=NEVER, amount=3)
    sim.set_faults(slow_response=0)
    # the answer the client missed, once the simulator has given it
    checkout = wait_for(lambda: slow.requests(PUSH)[0].get('response'))[
        'CheckoutRequestID']
    with pytest.raises(Pending):
        slow.query(checkout)
    sim.answer(checkout, 'insufficient')
    assert slow.query(checkout).result_code == '1'
    assert len(slow.requests(PUSH)) == 1


def test_outcome_unknown_b2c(slow, sim, listener):
    ocid = new_id()
    with pytest.raises(OutcomeUnknown):
        slow.b2c(amount=500, originator_conversation_id=ocid)
    assert len(slow.requests(B2C)) == 1, 'the payout was resent'
    sim.set_faults(slow_response=0)

    # Transaction Status by OriginatorConversationID tells the payout
    paid = parse_result(listener.wait(RESULT_HOOK)[0])
    query = slow.status(originator_conversation_id=ocid,
        party_a=B2C_SHORTCODE)
    status = parse_result(slow.result(query.conversation_id))
    entry, = sim.ledger
    assert status.succeeded
    assert status.transaction_status == 'Completed'
    assert status.receipt == entry['receipt'] == paid.receipt
    assert status.amount == 500
    assert len(slow.requests(B2C)) == 1


def test_outcome_unknown_reversal(make_sim, listener):
    sim = make_sim()
    api = Api(make_client(sim.url, timeout=(1, READ)), sim, listener)
    push, raw = api.pay(amount=70)
    receipt = parse_stk_callback(raw).receipt
    sim.set_faults(slow_response=SLOW)
    with pytest.raises(OutcomeUnknown):
        api.reversal(receipt, 70)
    assert len(api.requests(REVERSAL)) == 1, 'the reversal was resent'
    sim.set_faults(slow_response=0)
    result = parse_result(listener.wait(RESULT_HOOK)[0])
    assert result.succeeded
    assert result.parameter('OriginalTransactionID') == receipt
    assert [e['kind'] for e in sim.ledger] == ['stk', 'reversal']
    assert len(api.requests(REVERSAL)) == 1


def test_outcome_unknown_c2b_simulate(slow, sim, listener):
    "A C2B simulation pays like a customer: sent once too"
    sim.set_faults(slow_response=0)
    slow.client.register_c2b_urls(
        shortcode=SHORTCODE, confirmation_url=listener.url(CONFIRM_HOOK),
        validation_url=listener.url(VALIDATE_HOOK))
    sim.set_faults(slow_response=SLOW)
    with pytest.raises(OutcomeUnknown):
        slow.client.simulate_c2b(shortcode=SHORTCODE, amount=8, msisdn=PHONE)
    assert len(slow.requests('/mpesa/c2b/v2/simulate')) == 1
    listener.wait(CONFIRM_HOOK)
    assert len(sim.ledger) == 1


def test_read_timeout_query_retried(slow, sim):
    "A query moves no money: a read timeout is retried, then Unavailable"
    sim.set_faults(slow_response=0)
    push = slow.push(phone=NEVER)
    sim.set_faults(slow_response=SLOW)
    with pytest.raises(Unavailable) as info:
        slow.query(push.checkout_request_id)
    assert 'timed out' in info.value.message
    assert len(slow.requests(QUERY)) == 1 + slow.client.retries
