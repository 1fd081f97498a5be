# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Tell the user who submitted an M-Pesa payment, in the client, that it
succeeded or failed: a notification of Tryton (its bell), stored with the
transaction that settles the payment, and only if that one commits."""
from trytond.i18n import gettext
from trytond.model import Model
from trytond.pool import Pool, PoolMeta

from . import daraja


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    @classmethod
    def succeed(cls, payments):
        before = {p.id: p.state for p in payments}
        super().succeed(payments)
        cls.mpesa_notify(payments, before, 'succeeded')

    @classmethod
    def fail(cls, payments):
        before = {p.id: p.state for p in payments}
        super().fail(payments)
        cls.mpesa_notify(payments, before, 'failed')

    @classmethod
    def mpesa_notify(cls, payments, before, state):
        """Notify the submitter of each M-Pesa payment that went to state
        from another; the notification opens the payment's origin (the
        sale), else the payment.  Transaction's commit stores them."""
        Lang = Pool().get('ir.lang')
        lang = Lang.get()
        for payment in cls.mpesa_went_to(payments, before, state):
            user = payment.mpesa_submitted_user
            if not user:
                continue
            origin = getattr(payment, 'origin', None)
            record = (origin if isinstance(origin, Model)
                and (origin.id or -1) >= 0 else payment)
            values = {
                'amount': lang.currency(
                    payment.amount, payment.currency, grouping=True),
                'model': record.__names__()['model'],
                'record': record.rec_name,
                'phone': (daraja.mask_msisdn(payment.mpesa_phone)
                    if payment.mpesa_phone else ''),
                'receipt': payment.mpesa_receipt or '',
                'reason': payment.mpesa_message or '',
                }
            if state == 'succeeded':
                icon, key = 'tryton-ok', 'msg_payment_notify_succeeded'
            else:
                icon, key = 'tryton-error', 'msg_payment_notify_failed'
            record.notify_user(
                icon, gettext(f'account_mpesa.{key}', **values),
                gettext(f'account_mpesa.{key}_description', **values),
                user=user.id)
