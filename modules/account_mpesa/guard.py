# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Who may change an M-Pesa payment: its money state is the module's alone,
and a payout is approved by another user than the one who made it."""
from trytond.i18n import gettext
from trytond.model import fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access

# Fields a person fills while the payment is a draft; frozen afterwards
DRAFT_FIELDS = {
    'amount', 'journal', 'party', 'kind', 'mpesa_phone',
    'mpesa_account_reference', 'mpesa_description', 'mpesa_payout_method',
    'mpesa_remarks',
    }
# Fields besides the M-Pesa ones that only the server sets
SERVER_FIELDS = {
    'state', 'group', 'clearing_move', 'submitted_by', 'approved_by',
    'succeeded_by', 'failed_by',
    }


def server_fields(Payment):
    """The fields of Payment that no RPC call may set: the state, the
    approval fields and every M-Pesa field a person does not fill"""
    return {n for n, f in Payment._fields.items()
        if not isinstance(f, fields.Function)
        and (n in SERVER_FIELDS
            or (n.startswith('mpesa_') and n not in DRAFT_FIELDS))}


class Payment(metaclass=PoolMeta):
    __name__ = 'account.payment'

    @classmethod
    def check_modification(cls, mode, payments, values=None, external=False):
        """Refuse an RPC create or write that sets what only the module sets
        on an M-Pesa payment, or that changes it after submission.  Server
        code writes with external False and is not checked."""
        super().check_modification(
            mode, payments, values=values, external=external)
        if not external or mode == 'delete':
            return
        protected = server_fields(cls)
        for payment in payments:
            if not cls._mpesa_guarded(payment, values):
                continue
            if mode == 'create':
                names = {n for n in protected - {'state'}
                    if getattr(payment, n, None)}
                if payment.state != 'draft':
                    names.add('state')
                frozen = set()
            else:
                names = protected & values.keys()
                frozen = set()
                if payment.state != 'draft':
                    frozen = DRAFT_FIELDS & values.keys()
            for message, refused in [
                    ('msg_payment_server_fields', names),
                    ('msg_payment_frozen', frozen)]:
                if refused:
                    raise AccessError(gettext(
                            'account_mpesa.' + message,
                            payment=payment.rec_name,
                            fields=', '.join(sorted(
                                    cls._fields[n].string
                                    for n in refused))))

    @classmethod
    def _mpesa_guarded(cls, payment, values):
        "Tell whether payment is, or would become, an M-Pesa payment"
        pool = Pool()
        Journal = pool.get('account.payment.journal')
        if payment.journal and payment.journal.process_method == 'mpesa':
            return True
        journal = (values or {}).get('journal')
        return bool(journal) and Journal(journal).process_method == 'mpesa'

    @classmethod
    def succeed(cls, payments):
        cls._mpesa_check_decider(payments)
        super().succeed(payments)

    @classmethod
    def fail(cls, payments):
        cls._mpesa_check_decider(payments)
        super().fail(payments)

    @classmethod
    def _mpesa_check_decider(cls, payments):
        """Refuse a user outside Accounting who succeeds or fails an M-Pesa
        payment (held for review) by RPC; the module settles with access
        checks off"""
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        transaction = Transaction()
        if not transaction.context.get('_check_access') or not any(
                p.process_method == 'mpesa' for p in payments):
            return
        group = ModelData.get_id('account', 'group_account')
        with without_check_access():
            groups = User.get_groups()
        if group not in groups:
            raise AccessError(gettext(
                    'account_mpesa.msg_payment_decider',
                    payment=next(p for p in payments
                        if p.process_method == 'mpesa').rec_name))

    @classmethod
    def submit(cls, payments):
        """Submit and record the submitting user of the M-Pesa payments; the
        caller's transaction holds the write"""
        super().submit(payments)
        with without_check_access():
            cls.write(
                [p for p in payments if p.process_method == 'mpesa'],
                {'mpesa_submitted_user': Transaction().user})

    @classmethod
    def approve(cls, payments):
        """Approve payouts; an M-Pesa payout only with a known submitter and
        by another user than its submitter and its creator (four eyes)"""
        user = Transaction().user
        for payment in payments:
            if payment.process_method != 'mpesa' or (
                    payment.state != 'submitted'):
                continue
            submitter = payment.mpesa_submitted_user
            if not submitter:
                raise AccessError(gettext(
                        'account_mpesa.msg_payout_submitter_unknown',
                        payment=payment.rec_name))
            if not payment.mpesa_account.payout_four_eyes:
                continue
            if submitter.id == user:
                raise AccessError(gettext(
                        'account_mpesa.msg_payout_four_eyes',
                        payment=payment.rec_name))
            if payment.create_uid and payment.create_uid.id == user:
                raise AccessError(gettext(
                        'account_mpesa.msg_payout_four_eyes_creator',
                        payment=payment.rec_name))
        super().approve(payments)
