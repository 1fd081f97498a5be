# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Any body whatever, posted over real HTTP to every callback kind of a
real account, gets a documented answer (200 acknowledged, 400 malformed,
413 too large), never a 5xx, and changes no payment, move or ledger
record; a malformed body is stored once as a terminal event.

The bodies are drawn by hypothesis: JSON values, JSON objects of the
callbacks' shape with arbitrary values, raw JSON-like text (NaN, Infinity,
huge numbers, nesting thousands deep, lone surrogates, duplicate keys) and
arbitrary bytes (NUL, invalid UTF-8, BOMs, UTF-16)."""
import json
import os

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proteus import Model

from trytond.modules.account_mpesa.account import CALLBACK_KINDS

from .scenario import create_quotation, request_payment, run_cron, wait_for

pytestmark = pytest.mark.e2e

DOCUMENTED = {200, 400, 413}
EXAMPLES = settings(
    max_examples=60, deadline=None, derandomize=True, database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
        HealthCheck.data_too_large])
SIZE_LIMIT = 64 * 1024  # the account's default callback_size_limit
DEEP = 5000

# The names Daraja's callbacks use, so that drawn objects get near the
# shapes the parsers look for
NAMES = [
    'Body', 'stkCallback', 'MerchantRequestID', 'CheckoutRequestID',
    'ResultCode', 'ResultDesc', 'CallbackMetadata', 'Item', 'Name', 'Value',
    'Amount', 'MpesaReceiptNumber', 'TransactionDate', 'PhoneNumber',
    'Balance', 'Result', 'ResultType', 'OriginatorConversationID',
    'ConversationID', 'TransactionID', 'ResultParameters',
    'ResultParameter', 'Key', 'ReferenceData', 'ReferenceItem',
    'TransactionAmount', 'TransactionReceipt', 'ReceiverPartyPublicName',
    'TransactionCompletedDateTime', 'B2CUtilityAccountAvailableFunds',
    ]

scalars = (
    st.none() | st.booleans()
    | st.integers()
    | st.integers(min_value=-10 ** 400, max_value=10 ** 400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(['0', '00000', '1032', '', ' ', 'ws_CO_1', 'null']))
keys = st.sampled_from(NAMES) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(keys, children, max_size=6)),
    max_leaves=40)


@st.composite
def shaped(draw):
    "A JSON object of a callback's shape with arbitrary values in it"
    inner = draw(st.dictionaries(keys, json_values, max_size=8))
    if draw(st.booleans()):
        return {'Body': {'stkCallback': inner}}
    return {'Result': inner}


def nested(depth, kind):
    "JSON text nested depth deep: lists, objects or both"
    if kind == 'list':
        return '[' * depth + ']' * depth
    if kind == 'object':
        return '{"a":' * depth + '1' + '}' * depth
    return '[{"Body":' * (depth // 2) + 'null' + '}]' * (depth // 2)


SHALLOW = [0, 1, 100, 500]
ESCAPED_IDS = [
    'ws_CO_fuzz', 'ws_CO_\\ud800', '\\udfff', 'ws_\\u0000', '\\u0000']
DEEP_DEPTHS = [999, 1000, 1001, 3000, DEEP]


@st.composite
def raw_text(draw, depths=SHALLOW):
    "JSON-like text that json.dumps would not write, nested up to depths"
    token = draw(st.sampled_from([
                'NaN', '-NaN', 'Infinity', '-Infinity', '1e999', '-1e999',
                '1' * 5000, '-' + '9' * 4301, '0.' + '1' * 5000,
                '"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '01', '1.',
                '.5', '+1', '0x10', 'true false', '', ' ', 'nul', '"',
                '{"a": 1, "a": 2}', '{"a" 1}', '[1,]', '{,}',
                ]))
    depth = draw(st.sampled_from(depths))
    if depth:
        body = nested(depth, draw(st.sampled_from(['list', 'object', 'mix'])))
    else:
        body = token
    where = draw(st.sampled_from(['alone', 'stk', 'result', 'deep']))
    # A request id with an escape json.loads turns into a lone surrogate
    # or a NUL: a str the database cannot store as it is
    reference = draw(st.sampled_from(ESCAPED_IDS))
    if where == 'stk':
        body = ('{"Body": {"stkCallback": {"MerchantRequestID": "1", '
            '"CheckoutRequestID": "%s", "ResultCode": %s, '
            '"ResultDesc": "x", "CallbackMetadata": {"Item": [{"Name": '
            '"Amount", "Value": %s}]}}}}'
            % (reference, token, body or token))
    elif where == 'result':
        body = ('{"Result": {"ResultType": 0, "ResultCode": %s, '
            '"ResultDesc": "x", "OriginatorConversationID": "%s", '
            '"ConversationID": "AG_fuzz", "TransactionID": %s}}'
            % (token, reference, body or token))
    elif where == 'deep' and depth:
        body = body[:depth] + token + body[depth:]
    return body


@st.composite
def raw_bytes(draw):
    "Arbitrary bytes, alone or around JSON, in odd encodings"
    data = draw(st.binary(max_size=2000))
    json_text = json.dumps(draw(shaped()))
    return draw(st.sampled_from([
                data,
                b'\x00' + data,
                b'\xef\xbb\xbf' + json_text.encode(),
                b'\xff\xfe' + json_text.encode('utf-16-le'),
                json_text.encode('utf-16'),
                json_text.encode('utf-32'),
                json_text.encode()[:-1] + b'\x00}',
                json_text.encode().replace(b'"', b'"\xff', 1),
                b'\xc3\x28' + data,
                b'\xed\xa0\x80',  # an encoded surrogate: not UTF-8
                b'{"Body": "\x00"}',
                b'\x00' * draw(st.integers(1, 100)),
                ]))


# Well-formed callbacks (the request ids match no payment) whose strings
# get escapes that json.loads turns into a lone surrogate or a NUL
STK_TEXT = json.dumps({'Body': {'stkCallback': {
                'MerchantRequestID': 'MERCHANT',
                'CheckoutRequestID': 'ws_CO_CHECKOUT',
                'ResultCode': 0, 'ResultDesc': 'DESCRIPTION',
                'CallbackMetadata': {'Item': [
                        {'Name': 'Amount', 'Value': 1000},
                        {'Name': 'MpesaReceiptNumber', 'Value': 'RECEIPT'},
                        {'Name': 'TransactionDate', 'Value': 20261122101500},
                        {'Name': 'PhoneNumber', 'Value': 254712345678},
                        ]}}}})
RESULT_TEXT = json.dumps({'Result': {
            'ResultType': 0, 'ResultCode': 0, 'ResultDesc': 'DESCRIPTION',
            'OriginatorConversationID': 'ORIGINATOR',
            'ConversationID': 'AG_CONVERSATION', 'TransactionID': 'RECEIPT',
            'ResultParameters': {'ResultParameter': [
                    {'Key': 'TransactionAmount', 'Value': 1000},
                    {'Key': 'TransactionReceipt', 'Value': 'RECEIPT'},
                    ]}}})
ESCAPES = ['\\ud800', '\\udfff', '\\udfff\\ud800', '\\u0000', '\\ufeff',
    '\\uffff', '\\u202e', '\\\\', '\\"']


@st.composite
def escaped(draw):
    "A well-formed callback with escapes in one of its strings"
    text = draw(st.sampled_from([STK_TEXT, RESULT_TEXT]))
    word = draw(st.sampled_from([
                'MERCHANT', 'CHECKOUT', 'DESCRIPTION', 'RECEIPT',
                'ORIGINATOR', 'CONVERSATION']))
    escape = draw(st.sampled_from(ESCAPES))
    where = draw(st.sampled_from(['before', 'after', 'instead']))
    replacement = {'before': escape + word, 'after': word + escape,
        'instead': escape}[where]
    return text.replace(word, replacement)


oversize = st.sampled_from([
        b' ' * (SIZE_LIMIT + 1),
        b'[' * (SIZE_LIMIT + 1),
        json.dumps({'Body': 'x' * SIZE_LIMIT}).encode(),
        ])


def url(tryton_url, shop, kind):
    return (f"{tryton_url}/{os.environ['DB_NAME']}/daraja/"
        f"{shop.mpesa_account.callback_identifier}/{kind}")


def snapshot():
    "What a body must not change: payments, moves, ledger records"
    Payment = Model.get('account.payment')
    Move = Model.get('account.move')
    Ledger = Model.get('account.payment.mpesa.transaction')
    return {
        'payments': sorted(
            (p.id, p.state, p.mpesa_state, p.mpesa_message,
                p.mpesa_receipt, p.amount)
            for p in Payment.find([])),
        'moves': sorted((m.id, m.state) for m in Move.find([])),
        'ledger': sorted(
            (t.id, t.state, t.payment and t.payment.id)
            for t in Ledger.find([])),
        }


def settled_events():
    """Wait until the server processed every acknowledged event at least
    once (each is processed right after its answer); return them all"""
    Event = Model.get('account.payment.mpesa.event')

    def done():
        return not Event.find([
                ('state', '=', 'pending'), ('attempts', '=', 0)])
    assert wait_for(done, timeout=30), "acknowledged events not processed"
    return Event.find([])


@pytest.fixture
def pending_shop(shop, simulator):
    """The shop with one STK payment of a sale waiting for its customer,
    who never answers: what a body might wrongly settle"""
    simulator.set_customer('254712345678', 'never')
    sale = create_quotation(shop.customer, 1000)
    payment = request_payment(sale).form.payment
    assert payment.mpesa_state == 'pending'
    shop.before = snapshot()
    return shop


def post(tryton_url, shop, kind, body):
    if isinstance(body, str):
        body = body.encode('utf-8', 'surrogatepass')
    response = requests.post(
        url(tryton_url, shop, kind), data=body,
        headers={'Content-Type': 'application/json'}, timeout=60)
    assert response.status_code in DOCUMENTED, (
        f"{kind}: {response.status_code} {response.text[:200]!r} "
        f"for body {body[:300]!r} ({len(body)} bytes)")
    if response.status_code == 200:
        assert response.json()['ResultCode'] == 0
    elif response.status_code == 400:
        assert response.json()['ResultCode'] != 0
    return response


def check_unchanged(shop, kind, body):
    settled_events()
    assert snapshot() == shop.before, (
        f"{kind}: body {str(body)[:300]!r} changed the books")


kinds = st.sampled_from(sorted(CALLBACK_KINDS))


@EXAMPLES
@given(kind=kinds, value=json_values)
def test_json_values(pending_shop, tryton_url, kind, value):
    "Any JSON value: a documented answer, nothing changed"
    body = json.dumps(value)
    post(tryton_url, pending_shop, kind, body)
    check_unchanged(pending_shop, kind, body)


@EXAMPLES
@given(kind=kinds, value=shaped())
def test_shaped_objects(pending_shop, tryton_url, kind, value):
    "A callback's shape with arbitrary values: documented, nothing changed"
    body = json.dumps(value)
    post(tryton_url, pending_shop, kind, body)
    check_unchanged(pending_shop, kind, body)


@EXAMPLES
@given(kind=kinds, body=raw_text())
def test_raw_text(pending_shop, tryton_url, kind, body):
    "NaN, Infinity, huge numbers, deep nesting: documented, nothing changed"
    post(tryton_url, pending_shop, kind, body)
    check_unchanged(pending_shop, kind, body)


@EXAMPLES
@given(kind=kinds, body=raw_text(DEEP_DEPTHS))
def test_raw_text_deep(pending_shop, tryton_url, kind, body):
    "The same, nested 999 to 5,000 deep"
    post(tryton_url, pending_shop, kind, body)
    check_unchanged(pending_shop, kind, body)


@EXAMPLES
@given(kind=kinds, body=escaped())
def test_escaped_strings(pending_shop, tryton_url, kind, body):
    "Lone surrogates, NUL in a callback's strings: documented, unchanged"
    post(tryton_url, pending_shop, kind, body)
    check_unchanged(pending_shop, kind, body)


@EXAMPLES
@given(kind=kinds, body=raw_bytes())
def test_raw_bytes(pending_shop, tryton_url, kind, body):
    "NUL, invalid UTF-8, BOMs, UTF-16: documented, nothing changed"
    post(tryton_url, pending_shop, kind, body)
    check_unchanged(pending_shop, kind, body)


@settings(EXAMPLES, max_examples=3 * len(CALLBACK_KINDS))
@given(kind=kinds, body=oversize)
def test_oversize(pending_shop, tryton_url, kind, body):
    "A body over the account's limit: 413, not stored"
    response = post(tryton_url, pending_shop, kind, body)
    assert response.status_code == 413
    assert not Model.get('account.payment.mpesa.event').find([])
    check_unchanged(pending_shop, kind, body)


def test_deep_nesting_stored_once(shop, tryton_url):
    """A JSON body nested 5,000 deep is answered 400 and stored once as a
    terminal event, which the retry cron leaves alone"""
    Event = Model.get('account.payment.mpesa.event')
    body = nested(DEEP, 'list')
    response = requests.post(
        url(tryton_url, shop, 'stk'), data=body,
        headers={'Content-Type': 'application/json'}, timeout=60)
    assert response.status_code == 400, response.text[:200]
    event, = Event.find([])
    assert event.state == 'invalid'
    assert event.body == body
    assert event.error
    seen = (event.state, event.attempts, event.processed_at, event.error)

    run_cron('account.payment.mpesa.event|process_pending')
    event, = Event.find([])
    assert (event.state, event.attempts, event.processed_at,
        event.error) == seen
