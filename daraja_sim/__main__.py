# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""``python -m daraja_sim``: the same as ``daraja-sim``."""
from .cli import main

main()
