# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Tryton's generic module checks: views, access, buttons, registration."""
from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class AccountMpesaTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Account M-Pesa module"
    module = 'account_mpesa'
    extras = ['sale', 'sale_payment', 'account_statement']


del ModuleTestCase
