# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Result codes: success detection and messages for people."""
import pytest

from trytond.modules.account_mpesa.daraja import (
    is_success_code, result_message)

# Every code of the reference's result-code tables.
REFERENCE_CODES = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 17, 18, 20, 21, 22, 24,
    25, 26, 29, 1001, 1019, 1025, 1032, 1036, 1037, 2001, 2006, 2028, 2040,
    4999, 8006, 9999, 'SFC_IC0003', 'R000001', 'R000002', 'C2B00011',
    'C2B00012', 'C2B00013', 'C2B00014', 'C2B00015', 'C2B00016']


@pytest.mark.parametrize('code', [0, '0', '00000000', ' 0 ', 0.0])
def test_success(code):
    assert is_success_code(code)


@pytest.mark.parametrize('code', [
        1, '1032', 'R000002', '', None, False, '0x0', 4999, [0]])
def test_not_success(code):
    assert not is_success_code(code)


@pytest.mark.parametrize('code', REFERENCE_CODES)
def test_every_reference_code_has_a_message(code):
    message = result_message(code)
    assert message and 'answered with code' not in message


def test_messages_per_api():
    assert 'wrong M-Pesa PIN' in result_message(2001, 'stk')
    for api in ('b2c', 'reversal', 'status', 'balance'):
        assert 'initiator' in result_message('2001', api)
        assert 'PIN' not in result_message('2001', api)
    assert result_message(2001, 'stk') != result_message(2001, 'b2c')
    assert 'cancelled' in result_message(1032, 'stk')
    assert 'cancelled' in result_message('1032')
    assert 'already been reversed' in result_message('R000001', 'reversal')


def test_success_message_for_all_zero_codes():
    assert result_message('00000000') == result_message(0)


def test_fallback_names_the_code():
    assert '7777' in result_message('7777')
    assert 'XYZ_1' in result_message('XYZ_1', 'b2c')
    assert result_message(None)
