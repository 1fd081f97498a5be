# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Local checks of request fields."""
from decimal import Decimal

import pytest

from trytond.modules.account_mpesa.daraja import (
    InvalidRequest, check_account_reference, check_amount, check_c2b_url,
    check_description, check_remarks, check_shortcode, check_url,
    clean_text)


@pytest.mark.parametrize('amount, expected', [
        (1, 1), (Decimal('10'), 10), (Decimal('10.00'), 10),
        (250000, 250000)])
def test_amount_whole_shillings(amount, expected):
    assert check_amount(amount) == expected
    assert type(check_amount(amount)) is int


@pytest.mark.parametrize('amount, message', [
        (Decimal('10.5'), 'whole number'),
        (Decimal('0.01'), 'whole number'),
        (0, 'at least 1'),
        (Decimal('-5'), 'at least 1'),
        (10.0, 'int or Decimal'),
        ('10', 'int or Decimal'),
        (True, 'int or Decimal'),
        (None, 'int or Decimal'),
        (Decimal('NaN'), 'whole number'),
        (Decimal('Infinity'), 'whole number'),
        ])
def test_amount_refused(amount, message):
    with pytest.raises(InvalidRequest) as info:
        check_amount(amount)
    assert 'Amount' in info.value.message
    assert message in info.value.message


def test_account_reference():
    assert check_account_reference(' SO-0042 ') == 'SO-0042'
    assert check_account_reference('A' * 12) == 'A' * 12
    for bad in ('', 'A' * 13, 'INV/2024/1', 'café', 'a&b', None):
        with pytest.raises(InvalidRequest) as info:
            check_account_reference(bad)
        assert 'AccountReference' in info.value.message


def test_account_reference_names_bad_characters():
    with pytest.raises(InvalidRequest) as info:
        check_account_reference('A(1)')
    assert "'('" in info.value.message and "')'" in info.value.message


def test_description():
    assert check_description('Sale SO-42') == 'Sale SO-42'
    assert check_description('') == ''
    with pytest.raises(InvalidRequest, match='TransactionDesc'):
        check_description('Payment for SO')  # 14 characters


def test_remarks():
    assert check_remarks('ok') == 'ok'
    assert check_remarks('x' * 100) == 'x' * 100
    for bad in ('x', 'x' * 101, 'Refund (sale)'):
        with pytest.raises(InvalidRequest, match='Remarks'):
            check_remarks(bad)


def test_clean_text():
    assert clean_text('  Café (Nairobi) & Co.  ', 13) == 'Caf Nairobi C'
    assert check_description(clean_text('Order #42 / Jane', 13))


@pytest.mark.parametrize('value', ['174379', 600992, '1234567'])
def test_shortcode(value):
    assert check_shortcode(value) == str(value)


@pytest.mark.parametrize('value', ['1234', '12345678', '17437a', True, None])
def test_shortcode_refused(value):
    with pytest.raises(InvalidRequest, match='BusinessShortCode'):
        check_shortcode(value, 'BusinessShortCode')


def test_url():
    url = 'https://erp.example.com/cb/1234'
    assert check_url(url, 'CallBackURL') == url
    for bad in (' https://erp.example.com/cb', 'https://erp.example.com/c b',
            'ftp://erp.example.com', '/cb', '', None):
        with pytest.raises(InvalidRequest, match='CallBackURL'):
            check_url(bad, 'CallBackURL')


def test_c2b_url_forbidden_words():
    assert check_c2b_url('https://erp.example.com/pay/c', 'ConfirmationURL')
    for bad in ('https://erp.example.com/MPesa/c',
            'https://m-pesa.example.com/c', 'https://erp.example.com/query'):
        with pytest.raises(InvalidRequest, match='ConfirmationURL'):
            check_c2b_url(bad, 'ConfirmationURL')
