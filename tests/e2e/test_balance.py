# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Check Balance over real HTTP: the Account Balance request, its result
(or time-out) by callback, and results nobody asked for.  That the balance
fields are refused to every RPC write is in the access matrix."""
import datetime as dt
import os
from decimal import Decimal

import pytest
import requests
from proteus import Model

from trytond.exceptions import UserError

from .scenario import wait_for

pytestmark = pytest.mark.e2e

PHONE = '254712345678'


@pytest.fixture
def account(shop, simulator):
    "The shop's M-Pesa account with an initiator the simulator knows"
    account = shop.mpesa_account
    account.initiator_name = simulator.initiator_name
    account.initiator_password = simulator.initiator_password
    account.certificate = simulator.certificate_pem
    account.save()
    return account


def balance_url(tryton_url, account, kind='balance/result'):
    return (f"{tryton_url}/{os.environ['DB_NAME']}/daraja/"
        f"{account.callback_identifier}/{kind}")


def events(state=None):
    Event = Model.get('account.payment.mpesa.event')
    return [e for e in Event.find([('kind', 'like', 'balance/%')])
        if state is None or e.state == state]


def finished():
    return [e for e in events() if e.state in {'done', 'rejected'}]


def check_balance(account, simulator):
    """Press Check Balance; return the result M-Pesa posted once Tryton
    processed it"""
    count, done = len(simulator.callbacks), len(finished())
    account.click('check_balance')
    callbacks = simulator.wait_callbacks(count + 1)
    assert wait_for(lambda: len(finished()) > done)
    account.reload()
    return callbacks[-1]


def test_check_balance(account, simulator):
    "The balances on the account are the simulator's, moving no money"
    simulator.c2b_payment(PHONE, 1234, 'INV-1')
    simulator.c2b_payment(PHONE, 66, 'INV-2')
    callback = check_balance(account, simulator)
    assert callback['kind'] == 'balance'
    # 1234 + 66 less the Business Pay Bill Charge of 15 on 1234 (the
    # simulator's tariff; 66 is in the free band)
    assert account.balance_utility == Decimal('1285.00')
    assert account.balance_working == Decimal('0.00')
    assert account.balance_error is None
    lines = account.balance_accounts.splitlines()
    assert len(lines) == 5
    assert lines[2].startswith('Utility Account: KES 1285.00 available')
    # BOCompletedTime is Nairobi time, stored as UTC
    now = dt.datetime.utcnow()
    assert abs(account.balance_reported_at - now) < dt.timedelta(minutes=5)
    assert account.balance_requested_at <= account.balance_reported_at
    request, = [r for r in simulator.requests
        if r['path'] == '/mpesa/accountbalance/v1/query']
    assert (request['json']['PartyA'], request['json']['IdentifierType']) == (
        account.business_shortcode, '4')
    assert request['json']['QueueTimeOutURL'].endswith('/balance/timeout')
    assert [e.state for e in events()] == ['done']
    assert Model.get('account.payment.mpesa.transaction').find([]) == []
    Notification = Model.get('res.notification')
    assert [n.label for n in Notification.find([])] == [
        f'M-Pesa was asked for the balances of "{account.rec_name}": they '
        'are shown on the account when its answer comes, usually within a '
        'few minutes.']


def test_forged_balance_result(account, simulator, tryton_url):
    """A result that does not answer the latest request is rejected with
    the reason and changes nothing; a new request's result replaces the
    balances"""
    first = check_balance(account, simulator)['json']
    before = (account.balance_utility, account.balance_reported_at)
    forged = {'Result': {
            **first['Result'],
            'OriginatorConversationID': 'forged-request',
            'ResultParameters': {'ResultParameter': [
                    {'Key': 'AccountBalance', 'Value':
                        'Working Account|KES|9.00|9.00|0.00|0.00&'
                        'Utility Account|KES|999999.00|999999.00|0.00|0.00'},
                    {'Key': 'BOCompletedTime', 'Value': 20991231235959}]}}}
    other_conversation = {'Result': {
            **forged['Result'],
            'OriginatorConversationID': first['Result'][
                'OriginatorConversationID'],
            'ConversationID': 'AG_20991231_forged'}}
    for body in [forged, other_conversation]:
        response = requests.post(balance_url(tryton_url, account), json=body)
        assert response.status_code == 200
    assert wait_for(lambda: len(events('rejected')) == 2)
    for event in events('rejected'):
        assert "does not answer the account's latest balance request" in (
            event.error)
    account.reload()
    assert (account.balance_utility, account.balance_reported_at) == before

    # The genuine result of the first request, once a second one was sent
    simulator.c2b_payment(PHONE, 500, 'INV-3')
    second = check_balance(account, simulator)['json']
    assert account.balance_utility == Decimal('495.00')  # less the charge
    requests.post(balance_url(tryton_url, account), json=first)
    assert wait_for(lambda: len(events('rejected')) == 3)
    account.reload()
    assert account.balance_utility == Decimal('495.00')
    assert second['Result']['ConversationID'] != (
        first['Result']['ConversationID'])


def test_balance_failure(account, simulator):
    "A failure result is a message on the account, the balances untouched"
    account.initiator_password = 'not-the-password'
    account.save()
    callback = check_balance(account, simulator)
    assert callback['json']['Result']['ResultCode'] == 2001
    assert account.balance_error == (
        'M-Pesa could not give the balances (code 2001): The initiator '
        'information is invalid.')
    assert account.balance_utility is None
    assert account.balance_reported_at is None
    assert [e.state for e in events()] == ['done']


def test_balance_timeout(account, simulator):
    "A queue time-out is said on the account: check again"
    simulator.set_faults(balance_queue_timeout=True)
    callback = check_balance(account, simulator)
    assert callback['kind'] == 'balance_timeout'
    assert 'timed out' in account.balance_error
    assert account.balance_reported_at is None
    assert [e.kind for e in events('done')] == ['balance/timeout']


def test_balance_needs_initiator(shop, simulator):
    "Without an initiator the button says what to set, and asks nothing"
    account = shop.mpesa_account
    with pytest.raises(UserError, match='Initiator Name'):
        account.click('check_balance')
    assert not [r for r in simulator.requests
        if r['path'] == '/mpesa/accountbalance/v1/query']
    account.reload()
    assert account.balance_requested_at is None


def test_result_before_answer(account, simulator):
    """A result that comes before the request's ids are recorded waits for
    them, then sets the balances"""
    simulator.set_faults(callback_before_response=True)
    simulator.c2b_payment(PHONE, 70, 'INV-1')
    check_balance(account, simulator)
    assert account.balance_utility == Decimal('70.00')
    assert [e.state for e in events()] == ['done']


@pytest.mark.parametrize('value', [
        'Working Account\x00|KES|1.00|1.00|0.00|0.00',
        'Working Account|KES|1e400|1.00|0.00|0.00',
        'Working Account|KES|9000000000000.00|1.00|0.00|0.00',
        'Working Account'])
def test_malformed_balances(value):
    "Balances the database cannot hold make the body malformed"
    from trytond.modules.account_mpesa import daraja
    from trytond.modules.account_mpesa.outcome import parse_callback

    body = {'Result': {
            'ResultType': 0, 'ResultCode': 0, 'ResultDesc': "Done",
            'OriginatorConversationID': 'balance-request',
            'ResultParameters': {'ResultParameter': [
                    {'Key': 'AccountBalance', 'Value': value}]}}}
    with pytest.raises(daraja.ParseError):
        parse_callback('balance/result', 1, body)
