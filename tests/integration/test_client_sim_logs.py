# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What the client logs and raises while talking to the simulator never
holds a secret nor an unmasked phone number."""
import logging
import re

from trytond.modules.account_mpesa.daraja import (
    Client, DarajaError, TokenError, mask_phones)

from .conftest import (
    B2C, CONSUMER_KEY, CONSUMER_SECRET, INITIATOR_PASSWORD, MSISDN, OAUTH,
    PASSKEY, PHONE, PUSH, QUERY, Api)

OTHER_PHONE = '0722000042'
OTHER_MSISDN = '254722000042'
# The server side stand-ins log for Safaricom and the listener, not for us.
SERVER_LOGGERS = ('daraja_sim', 'werkzeug')


def test_no_secret_in_logs(api, sim, listener, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []

    def failing(call):
        try:
            call()
        except DarajaError as exc:
            errors.append(exc)
        else:
            raise AssertionError('the call did not fail')

    # A push with its callback and query
    push, _ = api.pay(amount=21)
    api.query(push.checkout_request_id)
    # A B2C and its result
    accepted = api.b2c(amount=150, phone=OTHER_PHONE)
    api.result(accepted.conversation_id)
    # A B2C whose token is refused: Daraja's 401 message holds the token
    sim.invalidate_tokens()
    api.b2c(amount=10, phone=OTHER_PHONE)
    # Failed calls
    failing(lambda: api.push(passkey=PASSKEY[::-1]))
    failing(lambda: api.push(phone='0712345678 x'))
    failing(lambda: api.b2c(phone=PHONE, party_a='600999'))
    sim.set_faults(spike_arrest=True)
    failing(lambda: api.push(phone=OTHER_PHONE))
    failing(lambda: api.b2c(phone=OTHER_PHONE))
    sim.set_faults(spike_arrest=False)
    bad = Client(sim.url, CONSUMER_KEY, 'it-wrong-secret-Vb61', backoff=0)
    failing(lambda: Api(bad, sim, listener).push())
    assert any(isinstance(e, TokenError) for e in errors)

    # Every secret that went over the wire
    sent = sim.requests
    tokens = [r['response']['access_token'] for r in sent
        if r['path'] == OAUTH and r['status'] == 200]
    assert len(tokens) == 2
    credentials = [r['json']['SecurityCredential'] for r in sent
        if r['path'] == B2C]
    passwords = [r['json']['Password'] for r in sent
        if r['path'] in {PUSH, QUERY} and r['json']]
    refused, = [r for r in sent if r['path'] == B2C and r['status'] == 401]
    assert tokens[0] in refused['response']['errorMessage']
    secrets = [
        CONSUMER_SECRET, 'it-wrong-secret-Vb61', PASSKEY, PASSKEY[::-1],
        INITIATOR_PASSWORD, *tokens, *credentials, *passwords]
    phones = [
        MSISDN, PHONE, '+' + MSISDN, OTHER_MSISDN, OTHER_PHONE,
        '+' + OTHER_MSISDN]

    client_records = [r for r in caplog.records
        if r.name.startswith('trytond.modules.account_mpesa.daraja')]
    assert any(r.levelno == logging.DEBUG for r in client_records)
    assert any(r.levelno == logging.WARNING for r in client_records)
    texts = [r.getMessage() for r in caplog.records
        if not r.name.startswith(SERVER_LOGGERS)]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)
        for phone in phones:
            # digit boundaries: a CheckoutRequestID ends with the last nine
            # digits of the phone, by Daraja's design
            assert not re.search(
                rf'(?<!\d){re.escape(phone)}(?!\d)', text), (phone, text)
        assert mask_phones(text) == text, text
