# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The attacks of issue 11, each tried over JSON-RPC as the user who
tried it, against the real Tryton server."""
import datetime as dt
from decimal import Decimal

import pytest
from proteus import Model

from .jsonrpc import Refused
from .test_access_matrix import (  # noqa: F401 (the world fixture)
    ACCOUNT, EVENT, PAYMENT, collection, create_payout, payout,
    refund_wizard, server, server_read, world)

pytestmark = pytest.mark.e2e


def refused(call, *args):
    "The message of the refusal of call(*args)"
    with pytest.raises(Refused) as info:
        call(*args)
    return info.value.message


def test_forged_receipt_then_succeed(world):
    "A Payment user cannot forge a receipt and succeed the payment"
    client = world.clients['payment']
    payment = collection(world, 'processing', 'pending')
    message = refused(client.write, PAYMENT, [payment], {
            'mpesa_state': 'review', 'mpesa_receipt': 'FAKE123456'})
    assert "M-Pesa Receipt" in message and "M-Pesa State" in message
    refused(client.button, PAYMENT, 'succeed', [payment])
    assert server_read(PAYMENT, payment, 'state') == 'processing'
    assert server_read(PAYMENT, payment, 'mpesa_receipt') is None


def test_reopen_settled_payment(world):
    "A settled payment cannot be put back in processing"
    client = world.clients['payment']
    payment = collection(world, 'succeeded', 'done')
    message = refused(client.write, PAYMENT, [payment], {
            'state': 'processing', 'mpesa_state': 'pending'})
    assert "State" in message
    assert server_read(PAYMENT, payment, 'state') == 'succeeded'


def test_rewrite_phone_in_flight(world):
    "The phone of a payment in flight is frozen"
    client = world.clients['payment']
    payment = collection(world, 'processing', 'pending')
    message = refused(client.write, PAYMENT, [payment], {
            'mpesa_phone': '0799999999'})
    assert "once it is submitted" in message
    assert server_read(PAYMENT, payment, 'mpesa_phone') == '254712345678'


def test_clear_submitter_then_approve_own(world):
    "Clearing the submitter does not let one approve one's own payout"
    client = world.clients['approval']
    payment = create_payout(world, client)
    client.button(PAYMENT, 'submit', [payment])
    assert server_read(
        PAYMENT, payment, 'mpesa_submitted_user') == client.user_id
    assert "Submitted by User" in refused(
        client.write, PAYMENT, [payment], {'mpesa_submitted_user': None})
    assert "another user must approve it" in refused(
        client.button, PAYMENT, 'approve', [payment])
    assert server_read(PAYMENT, payment, 'state') == 'submitted'


def test_creator_cannot_approve(world):
    "The creator of a payout cannot approve it, whoever submitted it"
    client = world.clients['approval']
    payment = create_payout(world, client)
    server('submit', PAYMENT, [payment], user=1)
    assert "You created" in refused(
        client.button, PAYMENT, 'approve', [payment])


def test_unknown_submitter_not_approved(world):
    "A payout without a recorded submitter is not approved"
    payment = payout(world)
    server('write', PAYMENT, [payment], {'mpesa_submitted_user': None})
    assert "no recorded submitter" in refused(
        world.clients['approval'].button, PAYMENT, 'approve', [payment])


def test_approved_payout_frozen(world):
    "An approved refund's amount and phone cannot be changed"
    payment = payout(world, approved=True)
    for role in ['payment', 'approval', 'accounting']:
        message = refused(world.clients[role].write, PAYMENT, [payment], {
                'amount': Decimal(500), 'mpesa_phone': '0799999999'})
        assert "Amount" in message and "M-Pesa Phone" in message
    assert server_read(PAYMENT, payment, 'amount') == Decimal(100)


def test_account_admin_cannot_redirect_credentials(world):
    "Accounting Administration cannot point the account elsewhere"
    client = world.clients['account_admin']
    for values in [
            {'environment': 'custom', 'base_url': 'http://203.0.113.5:8080'},
            {'base_url': 'http://127.0.0.1:1'},
            {'callback_identifier': 'chosen'},
            {'payout_four_eyes': False},
            {'ip_allow_list': ''},
            ]:
        refused(client.write, ACCOUNT, [world.account], values)
    assert server_read(ACCOUNT, world.account, 'payout_four_eyes')


def test_base_url_public_address_refused(world):
    "Even an M-Pesa administrator may only point at a private address"
    client = world.clients['mpesa_admin']
    message = refused(client.write, ACCOUNT, [world.account], {
            'base_url': 'http://93.184.216.34:8080'})
    assert "loopback or private" in message


def test_credential_change_clears_token(world):
    "Changing a credential or the base URL drops the stored token"
    for name in ['consumer_secret', 'base_url']:
        server('write', ACCOUNT, [world.account], {
                'daraja_token': 'cached',
                'daraja_token_expires': dt.datetime(2099, 1, 1)})
        value = server_read(ACCOUNT, world.account, name)
        world.clients['mpesa_admin'].write(
            ACCOUNT, [world.account], {name: value})
        assert server_read(ACCOUNT, world.account, 'daraja_token') is None


def test_refund_wizard_checks_button_groups(world):
    "A user refused the Refund button cannot run the wizard"
    payment = collection(world, 'succeeded', 'done')
    message = refused(refund_wizard, world.clients['payment'], payment)
    assert "not allowed to refund" in message
    assert not Model.get(PAYMENT).find([('mpesa_refund_of', '=', payment)])


@pytest.mark.parametrize('state,mpesa_state', [
        ('failed', 'done'), ('processing', 'pending'),
        ('processing', 'review')])
def test_refund_only_of_collected_money(world, state, mpesa_state):
    "The wizard refuses a payment that is not a succeeded collection"
    payment = collection(world, state, mpesa_state)
    assert "Only a succeeded M-Pesa collection" in refused(
        refund_wizard, world.clients['accounting'], payment)


def test_refund_goes_to_the_paying_phone(world):
    "A refund pays back the number that paid, whatever the form says"
    client = world.clients['accounting']
    payment = collection(world, 'succeeded', 'done')
    client.wizard('account.payment.mpesa.refund', PAYMENT, payment, [
            ('start', {}),
            ('create_', {'start': {
                        'amount': Decimal(10), 'reason': "Goods returned",
                        'method': 'b2c', 'phone': '0799999999'}}),
            ])
    Payment = Model.get(PAYMENT)
    refund, = Payment.find([('mpesa_refund_of', '=', payment)])
    assert refund.mpesa_phone == '254712345678'


def test_callback_identifier_hidden(world):
    "Only M-Pesa administrators read the callback identifier and URLs"
    for name in ['callback_identifier', 'callback_urls']:
        refused(world.clients['payment'].read, ACCOUNT, [world.account],
            [name])
        assert world.clients['mpesa_admin'].read(
            ACCOUNT, [world.account], [name])[0][name]


def test_production_closed_by_default(world):
    "A production account accepts only Safaricom's addresses by default"
    Account = Model.get(ACCOUNT)
    account = Account(
        name="Live Paybill", environment='production',
        shortcode_type='paybill', business_shortcode='600000',
        consumer_key='k', consumer_secret='s', passkey='p')
    account.save()
    assert '196.201.214.200' in account.ip_allow_list
    assert len(account.ip_allow_list.splitlines()) == 14
    client = world.clients['mpesa_admin']
    def warnings(allow_list):
        return [m for t, m in client.model(ACCOUNT, 'on_change_notify', {
                    'id': account.id, 'ip_allow_list': allow_list})
            if t == 'warning']
    # The other warnings (C2B confirmation) do not depend on the list
    empty, closed = warnings(''), warnings('196.201.214.200')
    assert len(empty) == len(closed) + 1
    assert set(closed) < set(empty)


def test_event_body_for_admins_only(world):
    "Accountants read a callback's fields but not its raw body"
    client = world.clients['accounting']
    refused(client.read, EVENT, [world.event], ['body'])
    assert client.read(EVENT, [world.event], ['state'])[0]['state']
    body, = world.clients['mpesa_admin'].read(EVENT, [world.event], ['body'])
    assert 'ws_CO_x' in body['body']
