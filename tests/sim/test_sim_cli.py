# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The ``daraja-sim`` command."""
import os
import shutil
import signal
import subprocess
import sys

import pytest
import requests


def _command():
    script = shutil.which('daraja-sim', path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, '-m', 'daraja_sim']


@pytest.mark.parametrize('stop', [signal.SIGTERM, signal.SIGINT])
def test_cli_starts_and_stops(stop):
    "It prints the URL and credentials, serves, and stops on TERM or Ctrl-C."
    process = subprocess.Popen(_command() + ['--port', '0', '--quiet',
            '--consumer-key', 'k', '--consumer-secret', 's',
            '--answer-delay', '0'],
        stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith('Daraja simulator at http://127.0.0.1:')
        url = first.split(' at ')[1].strip()
        banner = ''.join(process.stdout.readline() for _ in range(10))
        assert 'consumer key' in banner and 'k\n' in banner
        assert '174379' in banner
        token = requests.get(
            url + '/oauth/v1/generate?grant_type=client_credentials',
            auth=('k', 's'), timeout=5)
        assert token.status_code == 200
        assert requests.get(url + '/__sim__/state', timeout=5).ok
    finally:
        process.send_signal(stop)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert 'stopped' in output
