# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A client for Safaricom's Daraja (M-Pesa Kenya) API.

Pure Python on top of requests, phonenumbers and cryptography: it never
imports Tryton, so it can be used and tested on its own.
"""
from .callbacks import (
    AccountBalance, C2BPayment, Result, StkCallback, parse_account_balance,
    parse_c2b, parse_result, parse_stk_callback)
from .client import PRODUCTION_URL, SANDBOX_URL, Client
from .codes import (
    PENDING_RESULT_CODE, THROTTLE_CODES, TOKEN_ERROR_CODES, is_success_code,
    normalize_code, result_message)
from .errors import (
    DarajaError, DuplicateRequest, InvalidPhoneNumber, InvalidRequest,
    OutcomeUnknown, ParseError, Pending, Throttled, TokenError, Unavailable)
from .fields import (
    check_account_reference, check_amount, check_c2b_url, check_description,
    check_occasion, check_remarks, check_shortcode, check_url, clean_text)
from .phone import hash_msisdn, mask_msisdn, mask_phones, normalize_msisdn
from .responses import (
    AcceptedRequest, PullRegistration, PullResult, PullTransaction,
    StkPushResponse, StkQueryResult, parse_accepted, parse_pull_registration,
    parse_pull_transactions, parse_stk_push_response, parse_stk_query)
from .security import redact, security_credential, stk_password
from .times import NAIROBI, nairobi_timestamp, parse_time
from .tokens import MemoryTokenStore, TokenStore

__all__ = [
    'Client', 'SANDBOX_URL', 'PRODUCTION_URL',
    'TokenStore', 'MemoryTokenStore',
    'DarajaError', 'TokenError', 'InvalidRequest', 'InvalidPhoneNumber',
    'DuplicateRequest', 'Pending', 'Throttled', 'Unavailable',
    'OutcomeUnknown', 'ParseError',
    'normalize_msisdn', 'mask_msisdn', 'mask_phones', 'hash_msisdn',
    'NAIROBI', 'nairobi_timestamp', 'parse_time', 'stk_password',
    'security_credential', 'redact',
    'parse_stk_callback', 'parse_c2b', 'parse_result', 'parse_stk_query',
    'parse_stk_push_response', 'parse_accepted', 'parse_account_balance',
    'parse_pull_registration', 'parse_pull_transactions',
    'result_message', 'is_success_code', 'normalize_code',
    'TOKEN_ERROR_CODES', 'THROTTLE_CODES', 'PENDING_RESULT_CODE',
    'check_account_reference', 'check_description', 'check_remarks',
    'check_amount', 'check_occasion', 'check_shortcode', 'check_url',
    'check_c2b_url', 'clean_text',
    'StkPushResponse', 'StkQueryResult', 'StkCallback', 'C2BPayment',
    'Result', 'AcceptedRequest', 'AccountBalance', 'PullRegistration',
    'PullResult', 'PullTransaction']
