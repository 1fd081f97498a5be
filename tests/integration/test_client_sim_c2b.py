# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""C2B URL registration and simulation, and Pull Transactions, through the
client against the simulator."""
import datetime as dt
import time
from decimal import Decimal

import pytest

from trytond.modules.account_mpesa.daraja import (
    InvalidRequest, hash_msisdn, parse_c2b, parse_stk_callback)
from trytond.modules.account_mpesa.daraja import client as client_module
from trytond.modules.account_mpesa.daraja.fields import check_url

from .conftest import (
    CONFIRM_HOOK, MSISDN, PHONE, PULL_HOOK, PULL_QUERY, PULL_REGISTER,
    SHORTCODE, TILL, VALIDATE_HOOK, Api, make_client)

UTC = dt.timezone.utc


def register(api, shortcode=SHORTCODE, **options):
    values = dict(
        shortcode=shortcode,
        confirmation_url=api.listener.url(CONFIRM_HOOK),
        validation_url=api.listener.url(VALIDATE_HOOK))
    values.update(options)
    return api.client.register_c2b_urls(**values)


@pytest.mark.parametrize('version', [1, 2])
def test_c2b_register(api, sim, version):
    "Registration on v1 and v2"
    answer = register(api, version=version, response_type='Cancelled')
    assert answer.accepted
    assert answer.response_code == '0'
    assert answer.originator_conversation_id  # from OriginatorCoversationID
    sent, = api.requests(f'/mpesa/c2b/v{version}/registerurl')
    assert sent['json'] == {
        'ShortCode': SHORTCODE, 'ResponseType': 'Cancelled',
        'ConfirmationURL': api.listener.url(CONFIRM_HOOK),
        'ValidationURL': api.listener.url(VALIDATE_HOOK)}
    registration = sim.snapshot()['c2b_urls'][SHORTCODE]
    assert registration['version'] == f'v{version}'
    assert registration['response_type'] == 'Cancelled'


def test_c2b_register_forbidden_word_local(api, sim):
    "The client refuses a URL with a forbidden word before sending"
    with pytest.raises(InvalidRequest) as info:
        register(api, validation_url=api.listener.url('/MPesa/validate'))
    assert 'mpesa' in info.value.message
    assert info.value.http_status is None
    assert sim.requests == []


@pytest.mark.parametrize('version', [1, 2])
@pytest.mark.parametrize('field, path, word', [
        ('ValidationURL', '/MPesa/validate', 'MPESA'),
        ('ConfirmationURL', '/safaricom/confirm', 'SAFARICOM'),
        ('ValidationURL', '/sqlite/validate', 'SQL'),
        ])
def test_c2b_register_forbidden_word_daraja(
        api, sim, monkeypatch, version, field, path, word):
    "Daraja's own refusal of a forbidden word (local check bypassed)"
    monkeypatch.setattr(client_module, 'check_c2b_url', check_url)
    key = 'validation_url' if field == 'ValidationURL' else 'confirmation_url'
    with pytest.raises(InvalidRequest) as info:
        register(api, version=version, **{key: api.listener.url(path)})
    assert info.value.message == (
        f'Bad Request - Invalid {field} - URL has the word {word}')
    assert info.value.code == '400.003.02'
    assert info.value.http_status == 400
    assert SHORTCODE not in sim.snapshot()['c2b_urls']


def test_c2b_register_once(api, sim):
    "In production a second registration is refused with Daraja's message"
    sim.set_faults(c2b_register_once=True)
    register(api)
    with pytest.raises(InvalidRequest) as info:
        register(api)
    assert info.value.code == '500.003.1001'
    assert info.value.message == 'Urls are already registered.'
    assert len(api.requests('/mpesa/c2b/v2/registerurl')) == 2


@pytest.mark.parametrize('version', [1, 2])
def test_c2b_simulate(api, sim, listener, version):
    "Simulate: validation, then confirmation, both parsed"
    listener.replies[VALIDATE_HOOK] = {
        'ResultCode': '0', 'ResultDesc': 'Accepted',
        'ThirdPartyTransID': 'ERP-77'}
    register(api, version=version)
    answer = api.client.simulate_c2b(
        shortcode=SHORTCODE, amount=Decimal(120), msisdn=PHONE,
        bill_ref_number='INV-0042', version=version)
    assert answer.accepted
    assert answer.originator_conversation_id
    assert bool(answer.conversation_id) == (version == 1)
    sent, = api.requests(f'/mpesa/c2b/v{version}/simulate')
    assert sent['json']['Msisdn'] == MSISDN
    assert sent['json']['Amount'] == 120

    confirmation = parse_c2b(listener.wait(CONFIRM_HOOK)[0])
    validation = parse_c2b(listener.wait(VALIDATE_HOOK)[0])
    paths = [r['path'] for r in listener.received]
    assert paths == [VALIDATE_HOOK, CONFIRM_HOOK]
    entry, = sim.ledger
    for payment in (validation, confirmation):
        assert payment.trans_id == entry['receipt']
        assert payment.amount == Decimal('120.00')
        assert payment.business_shortcode == SHORTCODE
        assert payment.bill_ref_number == 'INV-0042'
        assert payment.transaction_type == 'Pay Bill'
        assert payment.msisdn_kind == 'hashed'
        assert payment.msisdn == hash_msisdn(PHONE) == hash_msisdn(MSISDN)
        assert payment.matches_phone('+254 712 345 678')
        assert not payment.matches_phone('0712345679')
        assert payment.first_name
        assert payment.trans_time.utcoffset() == dt.timedelta(0)
        assert payment.trans_time == entry['time'].replace(microsecond=0)
    assert validation.org_account_balance is None
    assert validation.third_party_trans_id == ''
    assert confirmation.org_account_balance == Decimal('120.00')
    assert confirmation.third_party_trans_id == 'ERP-77'


def test_c2b_simulate_rejected_by_validation(api, sim, listener):
    "A validation refusal: no confirmation, no payment"
    listener.replies[VALIDATE_HOOK] = {
        'ResultCode': 'C2B00012', 'ResultDesc': 'Rejected'}
    register(api)
    api.client.simulate_c2b(
        shortcode=SHORTCODE, amount=50, msisdn=PHONE, bill_ref_number='X1')
    listener.wait(VALIDATE_HOOK)
    sim.wait_callbacks(1)
    time.sleep(0.2)  # a confirmation would follow the validation at once
    assert listener.on(CONFIRM_HOOK) == []
    assert sim.ledger == []


@pytest.mark.parametrize('form, kind', [
        ('plain', 'plain'), ('masked', 'masked')])
def test_c2b_msisdn_forms(api, sim, listener, form, kind):
    "The other MSISDN forms Daraja has sent"
    sim.set_faults(c2b_msisdn=form)
    register(api)
    api.client.simulate_c2b(shortcode=SHORTCODE, amount=9, msisdn=PHONE)
    payment = parse_c2b(listener.wait(CONFIRM_HOOK)[0])
    assert payment.msisdn_kind == kind
    assert payment.matches_phone(PHONE) == (kind == 'plain')


def test_c2b_simulate_till(make_sim, listener):
    "Buy goods on a till"
    sim = make_sim(till_number=TILL)
    api = Api(make_client(sim.url), sim, listener)
    register(api, shortcode=TILL)
    api.client.simulate_c2b(shortcode=TILL, amount=15, msisdn=PHONE,
        command_id='CustomerBuyGoodsOnline')
    assert api.requests('/mpesa/c2b/v2/simulate')[0]['json'][
        'BillRefNumber'] is None
    payment = parse_c2b(listener.wait(CONFIRM_HOOK)[0])
    assert payment.transaction_type == 'Buy Goods'
    assert payment.business_shortcode == TILL
    assert payment.amount == 15


def test_pull_transactions(api, sim, caplog):
    "Pull registration and query of the payments received"
    start = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    end = dt.datetime.now(UTC) + dt.timedelta(minutes=5)

    # Not registered: 1001, never a proof of no payment; the caller says
    # it (the client does not, per call)
    unregistered = api.client.pull_transactions(
        shortcode=SHORTCODE, start=start, end=end)
    assert not unregistered.ok
    assert unregistered.response_code == '1001'
    assert unregistered.transactions == ()
    assert not [r for r in caplog.records if r.levelname == 'WARNING']

    registration = api.client.register_pull(
        shortcode=SHORTCODE, nominated_number=PHONE,
        callback_url=api.listener.url(PULL_HOOK))
    assert registration.registered
    assert registration.code == '1000'
    assert api.requests(PULL_REGISTER)[0]['json']['NominatedNumber'] == (
        '0712345678')

    empty = api.client.pull_transactions(
        shortcode=SHORTCODE, start=start, end=end)
    assert empty.response_code == '1001'

    push, raw = api.pay(amount=33)
    receipt = parse_stk_callback(raw).receipt
    result = api.client.pull_transactions(
        shortcode=SHORTCODE, start=start, end=end)
    assert result.ok
    row, = result.transactions
    entry, = sim.ledger
    assert row.transaction_id == receipt == entry['receipt']
    assert row.amount == 33
    assert row.msisdn == MSISDN
    assert row.time.utcoffset() == dt.timedelta(0)
    assert row.time == entry['time'].replace(microsecond=0)

    # the window is sent on Nairobi's clock
    sent = api.requests(PULL_QUERY)[-1]['json']
    assert sent['StartDate'] == start.astimezone(
        dt.timezone(dt.timedelta(hours=3))).strftime('%Y-%m-%d %H:%M:%S')
    assert sent['OffSetValue'] == '0'

    # a window ending before the payment holds nothing
    before = api.client.pull_transactions(
        shortcode=SHORTCODE, start=start,
        end=entry['time'] - dt.timedelta(seconds=2))
    assert before.transactions == ()
