# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The Daraja client stands alone: it never imports Tryton."""
import pathlib
import subprocess
import sys

from trytond.modules.account_mpesa import daraja

PROGRAM = '''
import importlib, pkgutil, sys
sys.path.insert(0, sys.argv[1])
import daraja
for module in pkgutil.iter_modules(daraja.__path__):
    importlib.import_module('daraja.' + module.name)
loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'trytond')
print(len(daraja.__all__))
assert not loaded, loaded
'''


def test_imports_no_trytond():
    "Loaded as a top-level package, no module of it pulls trytond in."
    folder = pathlib.Path(daraja.__file__).parent.parent
    run = subprocess.run(
        [sys.executable, '-c', PROGRAM, str(folder)],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == len(daraja.__all__)


def test_public_api():
    "The names the Tryton module is written against."
    names = '''Client TokenStore MemoryTokenStore DarajaError TokenError
        InvalidRequest Pending Throttled Unavailable OutcomeUnknown
        ParseError InvalidPhoneNumber SANDBOX_URL PRODUCTION_URL
        normalize_msisdn mask_msisdn hash_msisdn nairobi_timestamp
        stk_password security_credential parse_stk_callback parse_c2b
        parse_result parse_stk_query result_message is_success_code
        check_account_reference check_description check_remarks
        check_amount StkPushResponse StkQueryResult StkCallback C2BPayment
        Result AcceptedRequest'''.split()
    for name in names:
        assert name in daraja.__all__ and hasattr(daraja, name), name
    assert set(daraja.__all__) <= set(dir(daraja))
