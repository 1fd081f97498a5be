# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""M-Pesa Express through the client against the simulator: push, the
customer's answer, the callback at a local listener, and the query."""
import base64
import datetime as dt
import re
import time
from decimal import Decimal

import pytest

from trytond.modules.account_mpesa.daraja import (
    Pending, Throttled, parse_c2b, parse_stk_callback, result_message,
    stk_password)

from .conftest import (
    CONFIRM_HOOK, EAT, MSISDN, NEVER, PASSKEY, PHONE, PUSH, QUERY, SHORTCODE,
    STK_HOOK, TILL, VALIDATE_HOOK, WAIT, Api, make_client)

UTC = dt.timezone.utc


def test_stk_round_trip(api, sim, listener):
    "Token, push, pending query, answer, callback, final query"
    push = api.push(phone=NEVER, amount=Decimal('150'))
    assert push.response_code == '0'
    assert push.checkout_request_id.startswith('ws_CO_')
    assert push.merchant_request_id

    # What Daraja received: a token fetched once, then the push itself
    assert api.oauth_count() == 1
    sent, = api.requests(PUSH)
    body = sent['json']
    assert sent['status'] == 200
    assert body['PartyA'] == body['PhoneNumber'] == '254712349999'
    assert body['PartyB'] == body['BusinessShortCode'] == SHORTCODE
    assert body['TransactionType'] == 'CustomerPayBillOnline'
    assert body['Amount'] == 150
    stamp = dt.datetime.strptime(body['Timestamp'], '%Y%m%d%H%M%S')
    assert abs(stamp.replace(tzinfo=EAT) - dt.datetime.now(UTC)) \
        < dt.timedelta(minutes=1), 'Timestamp is not Nairobi time'
    assert body['Password'] == stk_password(
        SHORTCODE, PASSKEY, body['Timestamp'])
    assert base64.b64decode(body['Password']).decode() == (
        SHORTCODE + PASSKEY + body['Timestamp'])

    # The customer has not answered yet
    with pytest.raises(Pending) as info:
        api.query(push.checkout_request_id)
    assert info.value.code == '500.001.1001'
    assert info.value.http_status == 500
    assert listener.on(STK_HOOK) == []
    assert sim.ledger == []

    sim.answer(push.checkout_request_id, 'success')
    raw, = listener.wait(STK_HOOK)
    callback = parse_stk_callback(raw)
    entry, = sim.ledger
    assert callback.checkout_request_id == push.checkout_request_id
    assert callback.merchant_request_id == push.merchant_request_id
    assert callback.succeeded
    assert callback.result_code == '0'
    assert callback.amount == Decimal('150')
    assert re.fullmatch(r'[A-Z0-9]{10}', callback.receipt)
    assert callback.receipt == entry['receipt']
    assert entry['amount'] == 150
    assert callback.phone == '254712349999' == entry['phone']

    # TransactionDate is Nairobi's clock; the parsed time is aware UTC
    date = callback.metadata['TransactionDate']
    assert callback.transaction_time.utcoffset() == dt.timedelta(0)
    assert callback.transaction_time == entry['time'].replace(microsecond=0)
    assert str(date) == callback.transaction_time.astimezone(EAT).strftime(
        '%Y%m%d%H%M%S')
    assert str(date) != callback.transaction_time.strftime('%Y%m%d%H%M%S')

    result = api.query(push.checkout_request_id)
    assert result.succeeded
    assert result.result_code == '0'
    assert result.checkout_request_id == push.checkout_request_id
    assert result.merchant_request_id == push.merchant_request_id
    assert not result.pending
    assert len(api.requests(QUERY)) == 2
    assert api.oauth_count() == 1, 'the token was not reused'


def test_stk_answer_delay(make_sim, listener):
    "With an answer delay the query is Pending, then final"
    sim = make_sim(answer_delay=0.5)
    api = Api(make_client(sim.url), sim, listener)
    push = api.push(amount=7)
    with pytest.raises(Pending):
        api.query(push.checkout_request_id)
    callback = parse_stk_callback(listener.wait(STK_HOOK)[0])
    assert callback.succeeded
    assert callback.amount == 7
    assert callback.phone == MSISDN
    assert api.query(push.checkout_request_id).succeeded


def test_stk_pending_4999(api, sim):
    "The HTTP 200 ResultCode 4999 variant of pending is Pending too"
    sim.set_faults(stk_query_pending_4999=True)
    push = api.push(phone=NEVER)
    with pytest.raises(Pending) as info:
        api.query(push.checkout_request_id)
    assert info.value.code == '4999'
    assert info.value.http_status == 200
    sim.answer(push.checkout_request_id, 'cancelled')
    assert api.query(push.checkout_request_id).result_code == '1032'


@pytest.mark.parametrize('phone, code, words', [
        ('0712341032', '1032', 'cancelled'),
        ('0712340001', '1', 'insufficient'),
        ('0712342001', '2001', 'wrong M-Pesa PIN'),
        ('0712341037', '1037', 'could not be reached'),
        ])
def test_stk_failure(api, sim, listener, phone, code, words):
    "Each failed answer reaches both the callback and the query"
    push = api.push(phone=phone, amount=25)
    callback = parse_stk_callback(listener.wait(STK_HOOK)[0])
    assert callback.checkout_request_id == push.checkout_request_id
    assert callback.result_code == code
    assert not callback.succeeded
    assert callback.result_desc
    assert callback.amount is None
    assert callback.receipt == ''
    assert callback.phone is None
    assert callback.transaction_time is None
    assert callback.metadata == {}

    result = api.query(push.checkout_request_id)
    assert result.result_code == code
    assert not result.succeeded
    assert not result.pending
    assert result.result_desc == callback.result_desc
    assert words in result_message(result.result_code, 'stk')
    assert sim.ledger == []


def test_stk_failure_answered_by_hand(api, sim, listener):
    "A pending prompt answered later with a failure"
    push = api.push(phone=NEVER)
    sim.answer(push.checkout_request_id, 'wrong_pin')
    callback = parse_stk_callback(listener.wait(STK_HOOK)[0])
    assert callback.result_code == '2001'
    assert api.query(push.checkout_request_id).result_code == '2001'


def test_stk_till(make_sim, listener):
    "Buy goods: the store number as BusinessShortCode, the till as PartyB"
    sim = make_sim(till_number=TILL)
    api = Api(make_client(sim.url), sim, listener)
    push = api.push(
        amount=30, party_b=TILL, transaction_type='CustomerBuyGoodsOnline')
    body = api.requests(PUSH)[0]['json']
    assert body['BusinessShortCode'] == SHORTCODE
    assert body['PartyB'] == TILL
    assert body['TransactionType'] == 'CustomerBuyGoodsOnline'
    callback = parse_stk_callback(listener.wait(STK_HOOK)[0])
    assert callback.succeeded
    assert callback.amount == 30
    entry, = sim.ledger
    assert entry['party'] == TILL
    assert callback.receipt == entry['receipt']
    assert api.query(push.checkout_request_id).succeeded


@pytest.mark.parametrize('till, kind, party_b', [
        (TILL, 'CustomerBuyGoodsOnline', SHORTCODE),
        (TILL, 'CustomerPayBillOnline', TILL),
        (None, 'CustomerBuyGoodsOnline', TILL),
        ])
def test_stk_wrong_type_and_party(make_sim, listener, till, kind, party_b):
    "A TransactionType not matching PartyB fails with 2028"
    sim = make_sim(till_number=till)
    api = Api(make_client(sim.url), sim, listener)
    push = api.push(party_b=party_b, transaction_type=kind)
    callback = parse_stk_callback(listener.wait(STK_HOOK)[0])
    assert callback.result_code == '2028'
    assert not callback.succeeded
    result = api.query(push.checkout_request_id)
    assert result.result_code == '2028'
    assert 'not permitted' in result_message(result.result_code, 'stk')
    assert sim.ledger == []


def test_stk_subscriber_locked(api, sim):
    "A second prompt while one is pending is Throttled, and not created"
    first = api.push(phone=NEVER, amount=5)
    with pytest.raises(Throttled) as info:
        api.push(phone=NEVER, amount=6)
    assert info.value.code == '500.001.1001'
    assert 'lock subscriber' in info.value.message
    pending, = sim.pending
    assert pending['checkout_request_id'] == first.checkout_request_id
    assert [r['status'] for r in api.requests(PUSH)] == [200, 500]


def test_stk_callback_variants(api, sim, listener):
    "The value-less Balance item, and the C2B confirmation of a payment"
    api.client.register_c2b_urls(
        shortcode=SHORTCODE, confirmation_url=listener.url(CONFIRM_HOOK),
        validation_url=listener.url(VALIDATE_HOOK))
    sim.set_faults(stk_balance_item=True, stk_c2b_confirmation=True)
    push, raw = api.pay(amount=55)
    callback = parse_stk_callback(raw)
    assert callback.succeeded
    assert 'Balance' in callback.metadata
    assert callback.balance is None
    assert callback.amount == 55
    confirmation = parse_c2b(listener.wait(CONFIRM_HOOK)[0])
    assert confirmation.trans_id == callback.receipt
    assert confirmation.amount == 55
    assert confirmation.bill_ref_number == 'INV-0042'
    assert confirmation.matches_phone(PHONE)
    assert confirmation.trans_time == callback.transaction_time
    assert listener.on(VALIDATE_HOOK) == []


def test_stk_duplicate_callbacks(api, sim, listener):
    "A callback delivered twice parses to the same outcome"
    sim.set_faults(duplicate_callbacks=2)
    push = api.push(amount=4)
    first, second = map(parse_stk_callback, listener.wait(STK_HOOK, 2))
    assert first == second
    assert first.checkout_request_id == push.checkout_request_id
    assert len(sim.ledger) == 1


def _poll(api, checkout_request_id, timeout=WAIT):
    "Query until the prompt is no longer Pending (the polling plan)."
    deadline = time.monotonic() + timeout
    while True:
        try:
            return api.query(checkout_request_id)
        except Pending:
            assert time.monotonic() < deadline, 'still pending'
            time.sleep(0.05)


def test_stk_callback_lost_query_reconciles(api, sim, listener):
    "A callback that never arrives: the query still tells the outcome"
    sim.set_faults(drop_callbacks=1.0)
    push = api.push(amount=12)
    result = _poll(api, push.checkout_request_id)
    assert result.succeeded
    dropped, = sim.dropped_callbacks
    assert dropped['kind'] == 'stk'
    assert listener.on(STK_HOOK) == []
    entry, = sim.ledger
    assert entry['checkout_request_id'] == push.checkout_request_id


def test_stk_callback_before_response(api, sim, listener):
    "The callback may arrive before the push's answer"
    sim.set_faults(callback_before_response=True)
    push = api.push(phone='0712341032')
    callback = parse_stk_callback(listener.on(STK_HOOK)[0])
    assert callback.checkout_request_id == push.checkout_request_id
    assert callback.result_code == '1032'
    assert api.query(push.checkout_request_id).result_code == '1032'
