# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A stateful local stand-in for Safaricom's Daraja API.

Written from ``reference/daraja-api.md``, never from the project's client:
it shares no code or constant with ``modules/account_mpesa``.  Use it
in-process (``Simulator(...).start()``) or as the ``daraja-sim`` command.
"""
from .simulator import (
    DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, SANDBOX_PASSKEY,
    Simulator)

__all__ = [
    'Simulator', 'DEFAULT_CONSUMER_KEY', 'DEFAULT_CONSUMER_SECRET',
    'SANDBOX_PASSKEY']
