# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""``/__sim__/pay``: the page where a person of the demo pays the paybill
as a customer would, its confirmation sent to the registered URL."""
import hashlib

import requests


def pay(sim, **form):
    return requests.post(f'{sim.url}/__sim__/pay', data=form)


def test_page_pays_the_paybill(daraja, listener):
    page = requests.get(f'{daraja.sim.url}/__sim__/pay')
    assert page.status_code == 200
    assert 'Pay Bill 174379' in page.text
    assert 'name="account"' in page.text
    daraja.post('/mpesa/c2b/v2/registerurl', {'ShortCode': '174379',
            'ResponseType': 'Completed',
            'ConfirmationURL': listener.url('/hooks/confirmation')})
    answer = pay(daraja.sim, phone='0708 374149', account='INV/0001',
        amount='500')
    assert answer.status_code == 200
    confirmation, = listener.on('/hooks/confirmation')
    assert (confirmation['MSISDN'], confirmation['BillRefNumber'],
        confirmation['TransAmount']) == (
        hashlib.sha256(b'254708374149').hexdigest(), 'INV/0001', '500.00')
    assert f"M-Pesa receipt {confirmation['TransID']}" in answer.text
    assert 'value="INV/0001"' in answer.text


def test_page_refusals(sim):
    for form, words in [
            ({'phone': '12345', 'amount': '10'}, "Invalid phone"),
            ({'phone': '0708374149', 'amount': '10.50'}, "Invalid amount"),
            ({'phone': '0708374149', 'amount': '10',
                'account': 'x' * 21}, "Invalid account"),
            ({'phone': '0708371032', 'amount': '10'}, "declined"),
            ({'phone': '<b>', 'amount': '1'}, "Invalid phone"),
            ]:
        answer = pay(sim, **form)
        assert answer.status_code == 200
        assert "Not paid" in answer.text and words in answer.text, form
        assert '<b>' not in answer.text
    assert not sim.snapshot()['ledger']
