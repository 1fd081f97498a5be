# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Each fault switch and behaviour variant."""
import time

import pytest
import requests

PUSH = '/mpesa/stkpush/v1/processrequest'


def _phone(index):
    return f'2547083741{index:02d}'


def test_duplicate_callbacks(daraja, listener):
    daraja.sim.set_faults(duplicate_callbacks=3)
    daraja.stk_push()
    copies = listener.wait(3)
    assert len({str(c['json']) for c in copies}) == 1
    assert len(daraja.sim.wait_callbacks(3)) == 3
    assert len(daraja.sim.ledger) == 1


@pytest.mark.parametrize('concurrent', [True, False])
def test_concurrent_duplicates(daraja, listener, concurrent):
    daraja.sim.set_faults(duplicate_callbacks=3,
        concurrent_duplicates=concurrent)
    listener.delay = 0.3
    daraja.stk_push()
    arrivals = sorted(c['arrived'] for c in listener.wait(3, timeout=5))
    spread = arrivals[-1] - arrivals[0]
    if concurrent:
        assert spread < 0.2
    else:
        assert spread >= 0.55


def test_drop_all_callbacks(daraja, listener):
    daraja.sim.set_faults(drop_callbacks=1.0)
    checkout_request_id = daraja.stk_push().json()['CheckoutRequestID']
    time.sleep(0.2)
    assert listener.received == []
    dropped, = daraja.sim.dropped_callbacks
    assert dropped['json']['Body']['stkCallback']['CheckoutRequestID'] == (
        checkout_request_id)
    assert daraja.stk_query(checkout_request_id).json()['ResultCode'] == '0'
    assert len(daraja.sim.ledger) == 1


def test_drop_is_seeded(daraja, eventually):
    def pattern():
        daraja.sim.reset()
        daraja.token()
        daraja.sim.set_faults(drop_callbacks=0.5, drop_seed=7)
        ids = []
        for i in range(12):
            # One at a time: the draws follow the order of the callbacks
            ids.append(
                daraja.stk_push(phone=_phone(i)).json()['CheckoutRequestID'])
            eventually(lambda: len(daraja.sim.ledger) == i + 1)
            eventually(lambda: len(daraja.sim.callbacks)
                + len(daraja.sim.dropped_callbacks) == i + 1)
        dropped = {d['json']['Body']['stkCallback']['CheckoutRequestID']
            for d in daraja.sim.dropped_callbacks}
        return [i in dropped for i in ids]
    first = pattern()
    assert 0 < sum(first) < 12
    assert pattern() == first


def test_callback_delay(daraja, listener):
    daraja.sim.set_faults(callback_delay=0.3)
    start = time.monotonic()
    daraja.stk_push()
    received, = listener.wait(1)
    assert received['arrived'] - start >= 0.3


def test_callback_before_response(daraja, listener):
    daraja.sim.set_faults(callback_before_response=True)
    response = daraja.stk_push()
    assert len(listener.received) == 1
    assert listener.received[0]['json']['Body']['stkCallback'][
        'CheckoutRequestID'] == response.json()['CheckoutRequestID']


def test_error_5xx(daraja):
    daraja.token()
    daraja.sim.set_faults(error_5xx_ratio=1.0)
    response = daraja.stk_push()
    assert response.status_code in (500, 503)
    assert set(response.json()) == {'requestId', 'errorCode', 'errorMessage'}
    assert daraja.sim.pending == []
    statuses = {daraja.stk_push().status_code for _ in range(12)}
    assert statuses == {500, 503}
    assert daraja.token()
    daraja.sim.set_faults(error_5xx_ratio=0)
    assert daraja.stk_push().status_code == 200


def test_slow_response_still_takes_effect(daraja, listener):
    daraja.token()
    daraja.sim.set_faults(slow_response=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        daraja.post(PUSH, daraja.stk_body(amount=3), timeout=0.2)
    received, = listener.wait(1, timeout=3)
    assert received['json']['Body']['stkCallback']['ResultCode'] == 0
    assert daraja.sim.ledger[0]['amount'] == 3


def test_spike_arrest(daraja):
    daraja.token()
    daraja.sim.set_faults(spike_arrest=True)
    response = daraja.stk_push()
    assert response.status_code == 500
    assert (response.json()['errorCode'], response.json()['errorMessage']) == (
        '500.003.02', 'Error Occurred: Spike Arrest Violation')


def test_stk_balance_item(daraja, listener):
    daraja.sim.set_faults(stk_balance_item=True)
    daraja.stk_push()
    items = listener.wait(1)[0]['json']['Body']['stkCallback'][
        'CallbackMetadata']['Item']
    assert {'Name': 'Balance'} in items


def test_stk_query_pending_4999(daraja):
    daraja.sim.set_faults(stk_query_pending_4999=True)
    daraja.sim.set_customer('254708374149', 'never')
    checkout_request_id = daraja.stk_push().json()['CheckoutRequestID']
    response = daraja.stk_query(checkout_request_id)
    assert response.status_code == 200
    assert response.json()['ResultCode'] == '4999'


def test_set_faults_checks(sim):
    with pytest.raises(TypeError):
        sim.set_faults(no_such_fault=True)
    with pytest.raises(ValueError):
        sim.set_faults(drop_callbacks=1.5)
    with pytest.raises(ValueError):
        sim.set_faults(spike_arrest='yes')
    with pytest.raises(ValueError):
        sim.set_faults(c2b_msisdn='clear')
    sim.set_faults(duplicate_callbacks=2, spike_arrest=True)
    sim.reset()
    assert sim.faults.as_dict()['duplicate_callbacks'] == 1
    assert sim.faults.spike_arrest is False
