# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What Safaricom charges the business per transaction: the charge rows of
the org-portal statement (field notes §6).  The one place for the tariff.

Sources (public pages, read 2026-12; Safaricom publishes its business
tariffs in forms and notices rather than one page, so each table says
where it comes from and which bands are assumed):

``PAY_BILL``
    Lipa na M-Pesa Pay Bill, the tariff where the business pays the whole
    charge (called "Customer Bouquet" on money.ke/paybill-charges and
    convertksh.xyz/paybill-charges, whose 2024-2025 tables agree band for
    band; tuko.co.ke's Mgao table has the same totals).  Older examples
    differ: ``Business Pay Bill Charge|KES|77.00`` in 2017 Daraja samples.
``BUY_GOODS``
    Lipa na M-Pesa Buy Goods, "Mauzo" tariff: the receiving merchant pays
    0.5 % of a payment above KES 200, at most KES 200 (Safaricom's API
    tariff notice of November 2022, techweez.com/2022/11/05/new-safaricom-
    tariffs-pay-bill-buy-goods; mesh.life: nothing at KES 200 and below).
``B2C``
    B2C payments to registered customers, business charge: the "M-PESA
    Bulk Payment Tariff Form" (scribd document 906530697) up to KES
    15,000; Safaricom's January 2023 notice (nation.africa, "Relief as
    Safaricom slashes Paybill charges"): KES 12 from 20,000 to 150,000.
    [assumed] 15,001-20,000 as the band below (11) and 150,001-250,000 as
    the band below (12).  The reference's 2018 sample is older:
    ``Fee For B2C Payment|KES|22.40``.
"""
from decimal import ROUND_HALF_UP, Decimal

PAY_BILL_CHARGE = 'Business Pay Bill Charge'
BUY_GOODS_CHARGE = 'Business Buy Goods Charge'
B2C_CHARGE = 'B2C Payment Charge'

# (highest amount of the band, charge), bands in increasing order
PAY_BILL = (
    (100, 0), (500, 5), (1_000, 10), (1_500, 15), (2_500, 20), (3_500, 25),
    (5_000, 34), (7_500, 42), (10_000, 48), (15_000, 57), (20_000, 62),
    (25_000, 67), (30_000, 72), (35_000, 83), (40_000, 99),
    (45_000, 103), (250_000, 108))
B2C = (
    (100, 0), (1_500, 5), (5_000, 9), (20_000, 11), (250_000, 12))
BUY_GOODS_FREE_UP_TO = 200
BUY_GOODS_RATE = Decimal('0.005')
BUY_GOODS_CAP = Decimal(200)
CENT = Decimal('0.01')


def _banded(bands, amount):
    for highest, charge in bands:
        if amount <= highest:
            return Decimal(charge)
    return Decimal(bands[-1][1])


def _buy_goods(amount):
    if amount <= BUY_GOODS_FREE_UP_TO:
        return Decimal(0)
    return min(Decimal(amount) * BUY_GOODS_RATE, BUY_GOODS_CAP).quantize(
        CENT, ROUND_HALF_UP)


CHARGES = {
    PAY_BILL_CHARGE: lambda amount: _banded(PAY_BILL, amount),
    BUY_GOODS_CHARGE: _buy_goods,
    B2C_CHARGE: lambda amount: _banded(B2C, amount),
    }


def charge(name, amount):
    "The charge ``name`` (one of ``CHARGES``) on a transaction of ``amount``."
    return CHARGES[name](amount)
