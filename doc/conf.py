# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Sphinx configuration of the account_mpesa documentation.

Build with ``python -m sphinx -W -b html doc doc/_build/html``.  Only Sphinx
is needed: no theme package, no extension that reaches the network.
"""
import configparser
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '_ext'))


def _module_version():
    config = configparser.ConfigParser()
    config.read(os.path.join(
            HERE, '..', 'modules', 'account_mpesa', 'tryton.cfg'))
    return config.get('tryton', 'version', fallback='')


project = 'account_mpesa'
copyright = 'the account_mpesa authors (see COPYRIGHT)'
release = _module_version()
version = '.'.join(release.split('.')[:2])

extensions = ['mpesa_codes']

exclude_patterns = ['_build', '_ext', 'requirements-doc.txt']
default_role = 'literal'
highlight_language = 'none'

html_theme = 'alabaster'
html_title = f'account_mpesa {release}'
