# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The demo's fixed names: database, login, the shop's credentials on the
simulator, its customers, products and quotations."""
from decimal import Decimal

DATABASE = 'demo'
LOGIN = 'admin'
PASSWORD = 'mpesa-demo'
EMAIL = 'admin@example.com'
MODULES = ['account_mpesa', 'sale_payment']

COMPANY = "Mama Mboga Traders Ltd"
CURRENCY = ('KES', "Kenyan Shilling", 'KSh')

# The simulator's own defaults: the public sandbox paybill and passkey
CONSUMER_KEY = 'daraja-sim-consumer-key'
CONSUMER_SECRET = 'daraja-sim-consumer-secret'
SHORTCODE = '174379'
# The shop's own Safaricom number, nominated for Pull Transactions
NOMINATED_NUMBER = '0722 000 000'
PASSKEY = (
    'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919')

# The simulator answers by the last four digits: 1032 cancels, others pay
PAYING_CUSTOMER = ("Wanjiku Kamau", '+254 712 345 678')
CANCELLING_CUSTOMER = ("Otieno Ochieng", '+254 722 001 032')
# Invoiced; she pays the paybill from a phone the shop does not know
INVOICED_CUSTOMER = ("Achieng Odhiambo", '+254 733 444 555')
# Customer invoices are numbered INV/0001, INV/0002, ...
INVOICE_PREFIX = 'INV/'
INVOICE_PADDING = 4

PRODUCTS = [
    ("Maize flour 2 kg", Decimal(210)),
    ("Cooking oil 1 L", Decimal(350)),
    ("Sugar 1 kg", Decimal(180)),
    ("Tea leaves 250 g", Decimal(120)),
    ]
# (customer, [(product index, quantity)]): the quotations waiting for payment
QUOTATIONS = [
    (PAYING_CUSTOMER, [(0, 5), (1, 2)]),
    (PAYING_CUSTOMER, [(2, 3), (3, 2)]),
    (CANCELLING_CUSTOMER, [(0, 2), (2, 1)]),
    ]
# (customer, [(product index, quantity)]): the posted invoices to be paid
INVOICES = [
    (INVOICED_CUSTOMER, [(3, 4), (2, 1)]),
    ]
