# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""``python3 dev.py demo --scripted`` pays a sale from a cold start, then
customers pay the paybill on their own: a quotation by its number, an
invoice by a mistyped one that the Match wizard settles; and all again
on the database it left."""
import re
import subprocess

from demo_runner import ROOT, demo_command, demo_environment

STEPS = [
    "1. A quotation",
    "2. Request M-Pesa Payment",
    "3. STK Push sent to the simulator",
    "4. The customer pays; Daraja calls Tryton back",
    "5. The payment succeeds",
    "6. The clearing move",
    "7. The sale is confirmed",
    "8. The cron posts the clearing move",
    "9. A customer pays a quotation by its number (Pay Bill)",
    "10. A mistyped invoice number waits in Unmatched",
    "11. The accountant matches it (Match wizard)",
    ]


def run_scripted(data_dir):
    result = subprocess.run(
        demo_command(data_dir, '--scripted'), cwd=ROOT,
        env=demo_environment(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=900)
    print(result.stdout)
    return result


def test_scripted_demo(tmp_path):
    "From no database to a paid sale, then once more reusing the database"
    data_dir = tmp_path / 'demo'
    first = run_scripted(data_dir)
    assert first.returncode == 0, first.stdout
    assert "Creating the database" in first.stdout
    for step in STEPS:
        assert f"==> {step}" in first.stdout
    assert "payment 1 succeeded, M-Pesa receipt " in first.stdout
    assert re.search(r"the requester's notification: M-Pesa: \S*630\.00 "
        r"paid \(Sale 4, 2547\*{5}678, receipt \w+\)", first.stdout)
    assert "1.1.9 M-Pesa Clearing: +630" in first.stdout
    assert "sale 4 is processing" in first.stdout
    assert "C2B URLs registered (Success), Pull Transactions registered" in (
        first.stdout)
    assert "account number 5, KSh 630 from" in first.stdout
    assert "sale 5 is processing" in first.stdout
    assert re.search(r"account number INV/OOO1, KSh 660 from .*\n.*\n"
        r".* unmatched: No sale, invoice or customer matches the account "
        r'number "INV/OOO1"', first.stdout)
    assert "invoice INV/0001 paid" in first.stdout
    assert ("PASSED: sale 4 paid by M-Pesa; sale 5 and invoice INV/0001 by "
        "the customers' own payments") in first.stdout
    assert "web client" not in first.stdout

    second = run_scripted(data_dir)
    assert second.returncode == 0, second.stdout
    assert "Reusing the demo database" in second.stdout
    assert ("PASSED: sale 6 paid by M-Pesa; sale 7 and invoice INV/0002 by "
        "the customers' own payments") in second.stdout
