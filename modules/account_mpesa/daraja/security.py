# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Daraja's credentials: the STK Password, the SecurityCredential of the
initiator APIs, and the redaction of secrets from text meant for people."""
import base64
import re

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import InvalidRequest
from .phone import mask_phones

__all__ = ['stk_password', 'security_credential', 'redact']


def stk_password(shortcode, passkey, timestamp):
    """Return the STK Push/Query Password.

    It is ``base64(shortcode + passkey + timestamp)``; ``timestamp`` must be
    the same YYYYMMDDHHmmss string sent as Timestamp.
    """
    shortcode, passkey, timestamp = (
        str(value).strip() for value in (shortcode, passkey, timestamp))
    if not re.fullmatch(r'\d{14}', timestamp):
        raise InvalidRequest('Timestamp must be YYYYMMDDHHmmss (14 digits).')
    if not shortcode or not passkey:
        raise InvalidRequest(
            'The business shortcode and the passkey are required.')
    raw = f'{shortcode}{passkey}{timestamp}'.encode('utf-8')
    return base64.b64encode(raw).decode('ascii')


def security_credential(password, certificate):
    """Return the SecurityCredential for the initiator ``password``.

    ``certificate`` is M-Pesa's X.509 certificate (PEM or DER, bytes or
    text).  The password alone is encrypted with its RSA key using PKCS#1
    v1.5 padding and base64 encoded; the result differs on every call.
    """
    if not isinstance(password, str) or not password:
        raise InvalidRequest('The initiator password is required.')
    public_key = _certificate(certificate).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise InvalidRequest(
            'The M-Pesa certificate does not hold an RSA key.')
    try:
        encrypted = public_key.encrypt(
            password.encode('utf-8'), padding.PKCS1v15())
    except ValueError:
        raise InvalidRequest('The initiator password is too long for the '
            'certificate.') from None
    return base64.b64encode(encrypted).decode('ascii')


def _certificate(data):
    "Load a PEM or DER X.509 certificate or raise InvalidRequest."
    if isinstance(data, str):
        data = data.encode('ascii', 'replace')
    if isinstance(data, bytes) and data:
        load = (x509.load_pem_x509_certificate if b'-----BEGIN' in data
            else x509.load_der_x509_certificate)
        try:
            return load(data)
        except ValueError:
            pass
    raise InvalidRequest(
        'The M-Pesa certificate could not be read: expected an X.509 '
        'certificate in PEM or DER form.')


def redact(text, secrets=()):
    """Return ``text`` with every secret replaced and phone numbers masked.

    Used on any text that came from Daraja or a request before it reaches a
    log line or an exception message.
    """
    text = str(text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, '***')
    return mask_phones(text)
