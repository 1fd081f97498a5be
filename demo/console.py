# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What the demo prints: steps, their results and progress."""
import sys
import time


def step(message):
    "A step starts"
    print(f"==> {message}", flush=True)


def detail(message):
    "A line under a step"
    print(f"    {message}", flush=True)


def warn(message):
    print(f"!!  {message}", file=sys.stderr, flush=True)


class Progress:
    """Progress of a long step: one updated line on a terminal, a dot per
    item elsewhere, and the time taken at the end"""

    def __init__(self, label):
        self.label = label
        self.count = 0
        self.start = time.monotonic()
        self.tty = sys.stdout.isatty()

    def item(self, name):
        self.count += 1
        if self.tty:
            line = f"    {self.label}: {self.count} ({name})"
            print(f"\r{line:<78.78}", end='', flush=True)
        else:
            print('.', end='', flush=True)

    def done(self, message=''):
        elapsed = time.monotonic() - self.start
        end = f"    {self.label}: {self.count} in {elapsed:.0f} s"
        if message:
            end += f"; {message}"
        if self.tty:
            print(f"\r{end:<78}", flush=True)
        else:
            print('\n' + end if self.count else end, flush=True)
