# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Packaging: the Tryton module ``account_mpesa`` and the ``daraja_sim``
simulator.

The module's runtime requirements are derived from ``tryton.cfg`` and pinned
to the Tryton series of its version, the way Tryton's own modules do.
"""
import configparser
import os

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = 'account_mpesa'
MODULE_DIR = os.path.join('modules', MODULE)


def read_cfg():
    config = configparser.ConfigParser()
    config.read(os.path.join(HERE, MODULE_DIR, 'tryton.cfg'))
    info = dict(config.items('tryton'))
    for key in ('depends', 'extras_depend', 'xml'):
        info[key] = info.get(key, '').strip().splitlines()
    return info


info = read_cfg()
version = info['version']
major, minor, _ = version.split('.', 2)
series = f'{major}.{minor}'
next_series = f'{major}.{int(minor) + 1}'


def tryton_require(name):
    return f'trytond_{name} >= {series}, < {next_series}'


requires = [
    tryton_require(dep) for dep in info['depends']
    if dep not in {'ir', 'res'}]
requires += [
    f'trytond >= {series}, < {next_series}',
    'requests >= 2.28',
    'phonenumbers >= 8.13',
    'cryptography >= 41',
    'python-sql >= 1.4',
    ]
tests_require = [
    tryton_require(dep) for dep in info['extras_depend']]
# The org-portal statement import reads the portal's Excel files, and the
# simulator writes them (daraja_sim's statement.xlsx)
OPENPYXL = 'openpyxl >= 3.1'
tests_require += [
    OPENPYXL,
    f'proteus >= {series}, < {next_series}',
    'pytest >= 8',
    'hypothesis >= 6.100',
    'selenium >= 4.11',
    'Pillow >= 10',
    ]

setup(
    name='trytond_account_mpesa',
    version=version,
    description="M-Pesa (Safaricom Daraja) payments for Tryton",
    long_description=open(os.path.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='GPL-3.0-or-later',
    python_requires='>=3.10',
    package_dir={
        f'trytond.modules.{MODULE}': MODULE_DIR,
        'daraja_sim': 'daraja_sim',
        },
    packages=[
        f'trytond.modules.{MODULE}',
        f'trytond.modules.{MODULE}.daraja',
        'daraja_sim',
        ],
    package_data={
        f'trytond.modules.{MODULE}': (
            info['xml'] + ['tryton.cfg', 'view/*.xml', 'locale/*.po']),
        },
    install_requires=requires,
    extras_require={
        'test': tests_require,
        'statement': [tryton_require('account_statement'), OPENPYXL],
        'sim': [OPENPYXL],
        'postgresql': ['psycopg[binary,pool] >= 3.2'],
        'bench': ['gunicorn >= 23', 'psycopg[binary,pool] >= 3.2'],
        },
    entry_points={
        'trytond.modules': [
            f'{MODULE} = trytond.modules.{MODULE}',
            ],
        'console_scripts': [
            'daraja-sim = daraja_sim.cli:main',
            ],
        },
    classifiers=[
        'Framework :: Tryton',
        'Environment :: Plugins',
        'License :: OSI Approved :: '
        'GNU General Public License v3 or later (GPLv3+)',
        'Programming Language :: Python :: 3',
        'Topic :: Office/Business :: Financial :: Accounting',
        ],
    zip_safe=False,
    )
