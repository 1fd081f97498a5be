# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Normalising, masking and hashing Kenyan mobile numbers."""
import hashlib

import pytest

from trytond.modules.account_mpesa.daraja import (
    InvalidPhoneNumber, InvalidRequest, hash_msisdn, mask_msisdn,
    mask_phones, normalize_msisdn)


@pytest.mark.parametrize('value, expected', [
        ('254712345678', '254712345678'),
        ('0712345678', '254712345678'),
        ('712345678', '254712345678'),
        (712345678, '254712345678'),
        (254712345678, '254712345678'),
        ('254712 345 678', '254712345678'),
        ('+254 712-345-678', '254712345678'),
        (' 0712-345-678 ', '254712345678'),
        ('0112345678', '254112345678'),
        ('+254112345678', '254112345678'),
        ('112345678', '254112345678'),
        ('254708374149', '254708374149'),
        ])
def test_accepted(value, expected):
    assert normalize_msisdn(value) == expected


@pytest.mark.parametrize('value, problem', [
        ('123456', 'not a valid phone number'),
        ('255712345678', 'not a Kenyan number'),
        ('+255712345678', 'not a Kenyan number'),
        ('0202345678', 'not a mobile number'),  # Nairobi landline
        ('2547123456789', 'not a valid phone number'),
        ('07123A5678', 'not digits'),
        ('', 'missing'),
        (None, 'missing'),
        (True, 'missing'),
        (7.12345678e8, 'missing'),
        ])
def test_rejected(value, problem):
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_msisdn(value)
    assert isinstance(info.value, InvalidRequest)
    assert problem in info.value.message
    assert 'expected a Kenyan mobile number' in info.value.message


def test_rejection_message_is_masked():
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_msisdn('255712345678')
    assert '255712345678' not in str(info.value)
    assert '2557*****678' in str(info.value)


@pytest.mark.parametrize('value, expected', [
        ('254712345678', '2547*****678'),
        (254712345678, '2547*****678'),
        ('0712345678', '071*****78'),
        ('+254 712-345-678', '+254 7**-***-678'),
        ('123456', '12***6'),
        ('', ''),
        (None, ''),
        ])
def test_mask(value, expected):
    assert mask_msisdn(value) == expected


def test_mask_phones_in_text():
    text = 'pay 0712345678, +254712345678 or 254112345678; order 12345678901'
    masked = mask_phones(text)
    for number in ('0712345678', '254712345678', '254112345678'):
        assert number not in masked
    assert masked.startswith('pay 071*****78, +2547*****678')
    assert masked.endswith('order 12345678901')


def test_hash_is_of_normalised_number():
    expected = hashlib.sha256(b'254705912645').hexdigest()
    # the MSISDN of the real 2025 sandbox C2B confirmation
    assert expected == (
        '94c392c311d522da950619227b3361752a42042db7e1e699b26e628305c68a88')
    for value in ('254705912645', '0705912645', '+254 705 912 645'):
        assert hash_msisdn(value) == expected
    with pytest.raises(InvalidPhoneNumber):
        hash_msisdn('123')
