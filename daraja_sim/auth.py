# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""OAuth (reference §2) and the access-token check of every API."""
import time

from .errors import DarajaError

# The invalid-token answer differs per API page (reference §1.3, §13).
NOT_FOUND = (404, '404.001.03', 'Invalid Access Token')
UNAUTHORISED = (401, '401.002.01', 'Error Occurred - Invalid Access Token - {}')
BAD_REQUEST = (400, '400.003.01', 'Invalid Access Token')
TOKEN_ERRORS = {
    'stk': NOT_FOUND,
    'reversal': NOT_FOUND,
    'pull': NOT_FOUND,
    'b2c': UNAUTHORISED,
    'balance': UNAUTHORISED,
    'c2b': BAD_REQUEST,
    'status': BAD_REQUEST,
    }


def generate(call):
    """``GET /oauth/v1/generate?grant_type=client_credentials`` with Basic
    auth: issue a token valid for ``token_lifetime`` seconds."""
    simulator, request = call.simulator, call.request
    if request.args.get('grant_type') != 'client_credentials':
        raise DarajaError(400, '400.008.02', 'Invalid grant type passed')
    credentials = request.authorization
    if credentials is None or credentials.type != 'basic':
        raise DarajaError(400, '400.008.01', 'Invalid authentication type')
    if (credentials.username, credentials.password) != (
            simulator.consumer_key, simulator.consumer_secret):
        raise DarajaError(400, '400.008.01', 'Invalid Authentication passed')
    token = simulator.ids.token()
    lifetime = simulator.token_lifetime
    with simulator.lock:
        tokens = simulator.state.tokens
        if simulator.faults.invalidate_token_on_reissue:
            tokens.clear()
        tokens[token] = time.monotonic() + lifetime
        as_number = simulator.faults.expires_in_number
    return {
        'access_token': token,
        'expires_in': lifetime if as_number else str(lifetime),
        }


def check(simulator, request, api):
    "Raise the ``api``'s error unless the Bearer token is valid."
    scheme, _, token = request.headers.get('Authorization', '').partition(' ')
    if scheme.lower() != 'bearer' or not token:
        raise DarajaError(404, '404.001.04', 'Invalid Authentication Header')
    with simulator.lock:
        expiry = simulator.state.tokens.get(token)
    if expiry is None or expiry <= time.monotonic():
        status, code, message = TOKEN_ERRORS[api]
        raise DarajaError(status, code, message.format(token))
