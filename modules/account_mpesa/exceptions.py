# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class MpesaAccountError(ValidationError):
    pass


class MpesaConnectionError(UserError):
    pass


class MpesaPaymentError(ValidationError):
    pass


class MpesaRequestError(UserError):
    pass


class MpesaTieOutError(UserError):
    pass
