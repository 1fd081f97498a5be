# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Who may do what with M-Pesa: the one table that test_access_matrix.py
asserts over JSON-RPC and doc/access.rst prints.

Run ``python -m tests.e2e.access_matrix`` to write the table into the doc.
"""
import os

# The groups of the user of each role, by the groups' names
ROLES = {
    'sales': ["Sales"],
    'payment': ["Payment"],
    'approval': ["Payment", "Payment Approval"],
    'accounting': ["Accounting", "Payment"],
    'account_admin': ["Accounting Administration", "Accounting", "Payment"],
    'mpesa_admin': ["M-Pesa Administration", "Payment"],
    # An accountant of another company: sees nothing of the shop's
    'other_company': ["Accounting", "Payment"],
    }
# The roles of the shop's company
ALL = set(ROLES) - {'other_company'}
PAYMENT = ALL - {'sales'}
ACCOUNTING = {'accounting', 'account_admin'}
NOBODY = set()

# The fields of a processing M-Pesa payment that an RPC write tries
PAYMENT_FIELDS = [
    'state', 'mpesa_state', 'mpesa_receipt', 'mpesa_result_code',
    'mpesa_result_desc', 'mpesa_message', 'mpesa_merchant_request_id',
    'mpesa_checkout_request_id', 'mpesa_originator_conversation_id',
    'mpesa_conversation_id', 'mpesa_status_request_id', 'mpesa_checked_at',
    'mpesa_requested_at', 'mpesa_attempts', 'mpesa_submitted_user',
    'mpesa_refund_of', 'approved_by', 'mpesa_phone', 'amount', 'party',
    'journal',
    ]
# The settings of the M-Pesa account, written with their current value
ACCOUNT_SETTINGS = [
    'environment', 'base_url', 'callback_base_url', 'callback_identifier',
    'ip_allow_list', 'trusted_proxies', 'payout_four_eyes',
    'confirm_callbacks', 'business_shortcode', 'b2c_shortcode',
    'initiator_name', 'consumer_key', 'consumer_secret', 'passkey',
    'initiator_password',
    ]
# The balances of the M-Pesa account and their request: only Daraja's
# answers to Check Balance set them
ACCOUNT_BALANCES = [
    'balance_request', 'balance_conversation', 'balance_requested_at',
    'balance_working', 'balance_utility', 'balance_reported_at',
    'balance_error',
    ]
ACCOUNT_SECRETS = [
    'consumer_key', 'consumer_secret', 'passkey', 'initiator_password',
    'certificate', 'daraja_token', 'callback_identifier', 'callback_urls',
    ]

# action: (what the user tries, the roles allowed)
MATRIX = {
    **{f'write_payment_{f}': (
            f"write *{f}* of a processing M-Pesa payment", NOBODY)
        for f in PAYMENT_FIELDS},
    'succeed_processing': (
        "succeed a processing M-Pesa payment", NOBODY),
    'fail_processing': ("fail a processing M-Pesa payment", NOBODY),
    'succeed_review': (
        "succeed an M-Pesa payment held for review", ACCOUNTING),
    'fail_review': ("fail an M-Pesa payment held for review", ACCOUNTING),
    'clear_submitter': (
        "clear the submitter of a submitted payout", NOBODY),
    'approve_own': (
        "create, submit and approve one's own payout", NOBODY),
    'approve_created': (
        "approve a payout one created and another submitted", NOBODY),
    'approve_other': (
        "approve a payout another user created and submitted",
        {'approval'}),
    'approve_no_submitter': (
        "approve a payout whose submitter is unknown", NOBODY),
    'change_approved_amount': (
        "change the amount of an approved payout", NOBODY),
    'change_approved_phone': (
        "change the phone of an approved payout", NOBODY),
    'refund_succeeded': (
        "refund a succeeded M-Pesa collection (wizard)", ACCOUNTING),
    'refund_failed': ("refund a failed M-Pesa payment (wizard)", NOBODY),
    'refund_processing': (
        "refund a processing M-Pesa payment (wizard)", NOBODY),
    **{f'read_account_{f}': (
            f"read *{f}* of the M-Pesa account", {'mpesa_admin'})
        for f in ACCOUNT_SECRETS},
    'read_account_settings': (
        "read the environment, limits and allow-list of the M-Pesa account",
        PAYMENT),
    **{f'write_account_{f}': (
            f"write *{f}* of the M-Pesa account", {'mpesa_admin'})
        for f in ACCOUNT_SETTINGS},
    'write_account_limits': (
        "write the STK limits of the M-Pesa account",
        {'account_admin', 'mpesa_admin'}),
    'read_account_balances': (
        "read the balances of the M-Pesa account", PAYMENT),
    **{f'write_account_{f}': (
            f"write *{f}* of the M-Pesa account", NOBODY)
        for f in ACCOUNT_BALANCES},
    'check_balance': (
        "check the balance of the M-Pesa account (Check Balance)",
        ACCOUNTING | {'mpesa_admin'}),
    'register_c2b_urls': (
        "register the C2B URLs of the M-Pesa account (Register C2B URLs)",
        {'mpesa_admin'}),
    'register_pull': (
        "register the shortcode for Pull Transactions (Register for Pull)",
        {'mpesa_admin'}),
    'match_receipt': (
        "match an Unmatched C2B receipt to a customer (Match wizard)",
        ACCOUNTING),
    'unmatch_receipt': (
        "undo the match of a C2B receipt (Undo Match)", ACCOUNTING),
    'request_sale': (
        "request an M-Pesa payment on a sale quotation (wizard)", {'sales'}),
    'request_invoice': (
        "request an M-Pesa payment on a posted customer invoice (wizard)",
        ACCOUNTING),
    'read_event_body': (
        "read the raw body of a callback", {'mpesa_admin'}),
    'read_event_fields': (
        "read the kind, state and reference of a callback",
        ACCOUNTING | {'mpesa_admin'}),
    'read_ledger': ("read the M-Pesa ledger", PAYMENT),
    'read_payment': ("read an M-Pesa payment", PAYMENT),
    }

DOC = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))), 'doc', 'access.rst')
BEGIN = '.. access-matrix-begin\n'
END = '.. access-matrix-end\n'


def rst_table():
    "The matrix as a reStructuredText list table"
    roles = list(ROLES)
    lines = [
        '.. list-table::', '   :header-rows: 1', '',
        '   * - action']
    lines += [f'     - {r}' for r in roles]
    for description, allowed in MATRIX.values():
        lines.append(f'   * - {description}')
        lines += [
            f'     - {"yes" if r in allowed else "no"}' for r in roles]
    return '\n'.join(lines) + '\n'


def doc_table(text):
    "The part of text between the markers"
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip('\n') + '\n'


def write_doc():
    "Put the matrix between the markers of doc/access.rst"
    with open(DOC) as file:
        text = file.read()
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    with open(DOC, 'w') as file:
        file.write(before + BEGIN + '\n' + rst_table() + '\n' + END + after)


if __name__ == '__main__':
    write_doc()
