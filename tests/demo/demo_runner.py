# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Running the demo (``python -m demo``) from the tests, as a newcomer
would: in a process of its own, with a database in a temporary folder."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
# What tests/conftest.py sets for the suite's own databases
SUITE_VARIABLES = re.compile(
    r'^(TRYTOND_CONFIG|TRYTOND_DATABASE.*|TRYTOND_WEB__.*|DB_NAME|DB_CACHE)$')
CI = os.environ.get('CI', '').lower() in {'1', 'true', 'yes'}
# Where the tests leave what helps to see what happened
ARTEFACTS = os.environ.get(
    'ARTEFACTS_DIR', os.path.join(ROOT, 'build', 'artefacts'))


def demo_environment():
    "The environment without the suite's database settings"
    env = {k: v for k, v in os.environ.items()
        if not SUITE_VARIABLES.match(k)}
    env['PYTHONUNBUFFERED'] = '1'
    return env


def demo_command(data_dir, *args):
    return [sys.executable, '-m', 'demo', '--data-dir', str(data_dir),
        '--port', '0', '--sim-port', '0', '--answer-delay', '1', *args]


class Demo:
    """The interactive demo in a process of its own; its output is kept
    in ``lines`` and copied to the test's output"""

    def __init__(self, data_dir, *args):
        self.lines = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            demo_command(data_dir, *args), cwd=ROOT, env=demo_environment(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            sys.stdout.write(line)
            with self._changed:
                self.lines.append(line.rstrip('\n'))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self):
        return '\n'.join(self.lines)

    def wait_for(self, pattern, timeout):
        """The first match of pattern in the output; None when the demo
        ended or the timeout passed first"""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None
                        and not self._reader.is_alive()):
                    return None
                self._changed.wait(min(remaining, 1))

    def interrupt(self, timeout=60):
        "Ctrl-C: return the exit code of the demo once it stopped"
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(10)
        return code
