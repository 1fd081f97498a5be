# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The simulator's RSA key pair and self-signed certificate.

Clients encrypt the initiator password with the certificate (RSA, PKCS #1
v1.5, base64: reference §8); the simulator decrypts the SecurityCredential
with the private key and compares the plain text.
"""
import base64
import binascii
import datetime as dt
import os
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

COMMON_NAME = 'daraja-sim.invalid'
_shared = None
_shared_lock = threading.Lock()


class KeyPair:
    "A private key with its certificate."

    def __init__(self, private_key, certificate):
        self.private_key = private_key
        self.certificate = certificate

    @classmethod
    def generate(cls):
        "Create a 2048-bit key and a ten-year self-signed certificate."
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME),
                x509.NameAttribute(
                    NameOID.ORGANIZATION_NAME, 'Daraja simulator'),
                ])
        start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
        certificate = (x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
        return cls(key, certificate)

    @classmethod
    def shared(cls):
        "One generated pair per process (key generation is slow)."
        global _shared
        with _shared_lock:
            if _shared is None:
                _shared = cls.generate()
            return _shared

    @classmethod
    def from_file(cls, path):
        """Load the pair from a PEM file holding the key and the certificate;
        create the file (mode 0600) when it does not exist yet."""
        if os.path.exists(path):
            with open(path, 'rb') as file:
                data = file.read()
            return cls(serialization.load_pem_private_key(data, None),
                x509.load_pem_x509_certificate(data))
        pair = cls.generate()
        key_pem = pair.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, 'wb') as file:
            file.write(key_pem + pair.certificate_pem)
        return pair

    @property
    def certificate_pem(self):
        "The certificate in PEM form (bytes)."
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def decrypt_credential(self, credential):
        "Return the password inside a SecurityCredential, or None."
        try:
            cipher = base64.b64decode(credential, validate=True)
            plain = self.private_key.decrypt(cipher, padding.PKCS1v15())
            return plain.decode('utf-8')
        except (binascii.Error, ValueError, TypeError):
            return None
