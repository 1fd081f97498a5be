# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""``python -m demo``: run the demo (see :mod:`demo.cli`)."""
import sys

from .cli import main

sys.exit(main())
