# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""``python3 dev.py demo --scripted`` pays a sale from a cold start, and
again on the database it left."""
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
    assert "1.1.9 M-Pesa Clearing: +630" in first.stdout
    assert "is processing" in first.stdout
    assert "PASSED: sale 4 paid by M-Pesa" in first.stdout
    assert "web client" not in first.stdout

    second = run_scripted(data_dir)
    assert second.returncode == 0, second.stdout
    assert "Reusing the demo database" in second.stdout
    assert "PASSED: sale 5 paid by M-Pesa" in second.stdout
