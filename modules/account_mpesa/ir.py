# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.pool import PoolMeta


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('account.payment|mpesa_reconcile',
                    "Reconcile M-Pesa Payments"),
                ('account.payment.mpesa.event|process_pending',
                    "Process Pending M-Pesa Callbacks"),
                ('account.payment.mpesa.event|purge',
                    "Purge Old M-Pesa Callbacks"),
                ])
