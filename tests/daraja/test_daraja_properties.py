# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Property tests: whatever arrives, parsers answer or raise ParseError."""
import copy
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trytond.modules.account_mpesa.daraja import (
    InvalidPhoneNumber, InvalidRequest, ParseError, check_amount,
    mask_msisdn, normalize_msisdn, parse_accepted, parse_account_balance,
    parse_c2b, parse_pull_registration, parse_pull_transactions,
    parse_result, parse_stk_callback, parse_stk_push_response,
    parse_stk_query)

from .conftest import load

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.decimals().map(str) | st.text(max_size=16)
    | st.from_regex(r'\d{14}', fullmatch=True))
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=16)


def _result_views(result):
    "Read every derived property of a Result."
    return (result.succeeded, result.amount, result.receipt,
        result.recipient_name, result.completed_at,
        result.transaction_status, result.balances)


def _c2b_views(payment):
    return payment.matches_phone('0712345678')


PARSERS = {
    'stk_callback': (parse_stk_callback, None, [
            'stk_callback_success', 'stk_callback_success_balance',
            'stk_callback_cancelled']),
    'c2b': (parse_c2b, _c2b_views, ['c2b_plain', 'c2b_masked', 'c2b_hashed']),
    'result': (parse_result, _result_views, [
            'b2c_result_success', 'b2c_result_failure',
            'transaction_status_result', 'reversal_result_success',
            'reversal_result_failure', 'account_balance_result']),
    'stk_query': (parse_stk_query, None, ['stk_query_success']),
    'stk_push': (parse_stk_push_response, None, ['stk_push_response']),
    'accepted': (parse_accepted, None, [
            'b2c_response', 'c2b_register_response',
            'c2b_simulate_v1_response']),
    'pull': (parse_pull_transactions, None, ['pull_response']),
    'pull_registration': (parse_pull_registration, None, []),
    }


def _check(name, data):
    "Parse ``data``: a result (views readable) or ParseError, nothing else."
    parse, views, _ = PARSERS[name]
    try:
        parsed = parse(data)
        if views:
            views(parsed)
    except ParseError:
        pass


def _paths(data, prefix=()):
    "Every path to a value inside ``data``."
    items = (data.items() if isinstance(data, dict)
        else enumerate(data) if isinstance(data, list) else ())
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


@st.composite
def mutated_samples(draw):
    "A sample payload with one value replaced by arbitrary JSON, or removed."
    name = draw(st.sampled_from(
            [n for n, (_, _, samples) in PARSERS.items() if samples]))
    data = copy.deepcopy(load(draw(st.sampled_from(PARSERS[name][2]))))
    path = draw(st.sampled_from(list(_paths(data))))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        parent[path[-1]] = draw(JSON)
    else:
        del parent[path[-1]]
    return name, data


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), JSON)
def test_arbitrary_json(name, data):
    _check(name, data)


@settings(max_examples=500, deadline=None)
@given(mutated_samples())
def test_mutated_samples(sample):
    _check(*sample)


@settings(deadline=None)
@given(st.from_regex(r'[0-9a-fA-F *+]{0,70}', fullmatch=True) | JSON)
def test_c2b_msisdn_forms(msisdn):
    "Whatever MSISDN arrives, it is classified and compared safely."
    data = load('c2b_hashed')
    data['MSISDN'] = msisdn
    _check('c2b', data)


@settings(deadline=None)
@given(st.text() | st.from_regex(
        r'([A-Za-z ]*\|KES(\|-?\d{1,6}\.\d\d){0,5}&?){1,3}', fullmatch=True))
def test_account_balance_strings(value):
    try:
        for balance in parse_account_balance(value):
            assert balance.current is None or isinstance(
                balance.current, Decimal)
    except ParseError:
        pass


@settings(deadline=None)
@given(st.one_of(st.text(), st.integers(), st.none(), st.floats()))
def test_normalize_msisdn_answers_or_refuses(value):
    try:
        msisdn = normalize_msisdn(value)
    except InvalidPhoneNumber as exc:
        # the refusal never shows more digits than the mask keeps
        digits = re.sub(r'\D', '', str(value)) if value is not None else ''
        if len(digits) >= 9:
            assert digits not in exc.message
        return
    assert re.fullmatch(r'254[17]\d{8}', msisdn)


@settings(deadline=None)
@given(st.from_regex(r'[17]\d{8}', fullmatch=True))
def test_formats_agree(national):
    "All the accepted spellings of a number normalise alike."
    forms = [national, '0' + national, '254' + national, '+254 ' + national,
        f'0{national[:3]}-{national[3:6]}-{national[6:]}']
    answers = set()
    for form in forms:
        try:
            answers.add(normalize_msisdn(form))
        except InvalidPhoneNumber:
            answers.add(None)
    assert answers in ({None}, {'254' + national})


@settings(deadline=None)
@given(st.from_regex(r'254[17]\d{8}', fullmatch=True))
def test_mask_hides_the_middle(msisdn):
    masked = mask_msisdn(msisdn)
    assert masked[:4] == msisdn[:4] and masked[-3:] == msisdn[-3:]
    assert masked[4:-3] == '*****'


@settings(deadline=None)
@given(st.decimals(allow_nan=True, allow_infinity=True) | st.integers())
def test_amount_whole_shillings_only(amount):
    "Whole positive amounts pass as int; anything else is refused."
    whole = Decimal(amount).is_finite() and amount == int(amount) \
        and amount >= 1
    if whole:
        assert check_amount(amount) == amount
    else:
        with pytest.raises(InvalidRequest):
            check_amount(amount)
