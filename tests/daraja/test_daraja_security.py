# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""STK Password, Nairobi timestamps, SecurityCredential and redaction."""
import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from trytond.modules.account_mpesa.daraja import (
    InvalidRequest, nairobi_timestamp, redact, security_credential,
    stk_password)

PASSKEY = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919'
UTC = dt.timezone.utc


@pytest.mark.parametrize('timestamp, password', [
        ('20210628092408',
            'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMD'
            'U5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4'),
        ('20160216165627',
            'MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMD'
            'U5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3'),
        ])
def test_stk_password_vectors(timestamp, password):
    "The official samples' Password values."
    assert stk_password('174379', PASSKEY, timestamp) == password
    assert stk_password(174379, f' {PASSKEY}\n', timestamp) == password


@pytest.mark.parametrize('timestamp', ['2021062809240', '2021-06-28', ''])
def test_stk_password_bad_timestamp(timestamp):
    with pytest.raises(InvalidRequest) as info:
        stk_password('174379', PASSKEY, timestamp)
    assert PASSKEY not in str(info.value)


def test_timestamp_is_nairobi_time():
    "Daraja's clock is EAT (UTC+3) whatever the server's."
    moment = dt.datetime(2024, 12, 31, 21, 30, 5, tzinfo=UTC)
    assert nairobi_timestamp(moment) == '20250101003005'
    # naive datetimes are UTC, as in Tryton
    assert nairobi_timestamp(moment.replace(tzinfo=None)) == '20250101003005'
    other = moment.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert nairobi_timestamp(other) == '20250101003005'


def test_timestamp_now():
    before = dt.datetime.now(UTC) + dt.timedelta(hours=3)
    stamp = dt.datetime.strptime(nairobi_timestamp(), '%Y%m%d%H%M%S')
    after = dt.datetime.now(UTC) + dt.timedelta(hours=3)
    assert before.replace(microsecond=0, tzinfo=None) <= stamp
    assert stamp <= after.replace(tzinfo=None)


def _certificate(key):
    "A throwaway self-signed certificate of ``key``."
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'test')])
    now = dt.datetime.now(UTC)
    return (x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256()))


@pytest.fixture(scope='module')
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize('encoding', [
        serialization.Encoding.PEM, serialization.Encoding.DER])
def test_security_credential_round_trip(rsa_key, encoding):
    "Decrypting with the private key gives back the password alone."
    certificate = _certificate(rsa_key).public_bytes(encoding)
    password = 'Safaricom999!*!'
    credential = security_credential(password, certificate)
    assert len(credential) == 344
    plain = rsa_key.decrypt(base64.b64decode(credential), padding.PKCS1v15())
    assert plain == password.encode()
    # PKCS#1 v1.5 is randomised
    assert security_credential(password, certificate) != credential


def test_security_credential_pem_text(rsa_key):
    pem = _certificate(rsa_key).public_bytes(serialization.Encoding.PEM)
    credential = security_credential('pw', pem.decode())
    assert rsa_key.decrypt(
        base64.b64decode(credential), padding.PKCS1v15()) == b'pw'


@pytest.mark.parametrize('certificate', [
        b'', b'garbage', b'-----BEGIN CERTIFICATE-----\nxx\n', None])
def test_security_credential_unreadable_certificate(certificate):
    with pytest.raises(InvalidRequest) as info:
        security_credential('Secret#2024', certificate)
    assert 'certificate could not be read' in str(info.value)
    assert 'Secret#2024' not in str(info.value)


def test_security_credential_needs_rsa():
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate(key).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InvalidRequest, match='RSA'):
        security_credential('pw', certificate)


def test_security_credential_needs_password(rsa_key):
    pem = _certificate(rsa_key).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InvalidRequest, match='password is required'):
        security_credential('', pem)


def test_redact():
    text = 'Invalid Access Token - tok-123 for 254712345678 with tok-1234'
    assert redact(text, ['tok-123', 'tok-1234', '', None]) == (
        'Invalid Access Token - *** for 2547*****678 with ***')
