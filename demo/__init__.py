# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo of account_mpesa: a Kenyan shop in SQLite, the Daraja simulator,
the Tryton server with the sao web client, and the cron.

``python3 dev.py demo`` runs it (``python -m demo`` inside the project's
virtual environment does the same).  The modules of this package import
Tryton only when they run, so that ``dev.py`` can read the command line
options from :mod:`demo.options` with any Python.
"""
