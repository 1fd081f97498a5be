# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Fixtures for the simulator's tests: a started simulator, a plain
``requests`` helper that speaks Daraja, and a local callback listener."""
import base64
import datetime as dt
import json
import threading
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from daraja_sim import Simulator

PASSKEY = 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919'
KEY, SECRET = 'test-key', 'test-secret'
PHONE = '254708374149'
NAIROBI = dt.timezone(dt.timedelta(hours=3))


class Listener:
    """A tiny HTTP server recording the callbacks it receives.

    ``replies[path]`` is the JSON it answers (default: accepted);
    ``delay`` makes it slow."""

    def __init__(self):
        self.received = []
        self.replies = {}
        self.delay = 0
        self._changed = threading.Condition()
        self._server = make_server('127.0.0.1', 0, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
            daemon=True)
        self._thread.start()

    def url(self, path):
        return f'http://127.0.0.1:{self._server.server_port}{path}'

    def _app(self, environ, start_response):
        request = Request(environ)
        arrived = time.monotonic()
        if self.delay:
            time.sleep(self.delay)
        with self._changed:
            self.received.append({'path': request.path,
                    'json': request.get_json(silent=True),
                    'arrived': arrived, 'thread': threading.get_ident()})
            self._changed.notify_all()
        reply = self.replies.get(
            request.path, {'ResultCode': 0, 'ResultDesc': 'Accepted'})
        return Response(json.dumps(reply), mimetype='application/json')(
            environ, start_response)

    def wait(self, n, timeout=5):
        "Wait until ``n`` requests arrived; return them."
        with self._changed:
            assert self._changed.wait_for(
                lambda: len(self.received) >= n, timeout), self.received
            return list(self.received)

    def on(self, path):
        "The JSON bodies received on ``path``."
        return [r['json'] for r in self.received if r['path'] == path]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


class Daraja:
    "Talks to the simulator with plain ``requests``, like any client would."

    def __init__(self, simulator, listener):
        self.sim = simulator
        self.listener = listener
        self._token = None

    def token(self):
        response = requests.get(
            self.sim.url + '/oauth/v1/generate?grant_type=client_credentials',
            auth=(self.sim.consumer_key, self.sim.consumer_secret))
        assert response.status_code == 200, response.text
        self._token = response.json()['access_token']
        return self._token

    def post(self, path, body, token=None, **kwargs):
        token = token or self._token or self.token()
        return requests.post(self.sim.url + path, json=body,
            headers={'Authorization': f'Bearer {token}'}, **kwargs)

    def credential(self, password=None):
        "Encrypt the initiator password with the simulator's certificate."
        certificate = x509.load_pem_x509_certificate(self.sim.certificate_pem)
        cipher = certificate.public_key().encrypt(
            (password or self.sim.initiator_password).encode(),
            padding.PKCS1v15())
        return base64.b64encode(cipher).decode()

    def stk_body(self, phone=PHONE, amount=1, **overrides):
        timestamp = dt.datetime.now(NAIROBI).strftime('%Y%m%d%H%M%S')
        shortcode = self.sim.shortcode
        body = {
            'BusinessShortCode': shortcode,
            'Password': base64.b64encode(
                f'{shortcode}{PASSKEY}{timestamp}'.encode()).decode(),
            'Timestamp': timestamp,
            'TransactionType': 'CustomerPayBillOnline',
            'Amount': amount,
            'PartyA': phone,
            'PartyB': shortcode,
            'PhoneNumber': phone,
            'CallBackURL': self.listener.url('/hooks/stk'),
            'AccountReference': 'INV-0001',
            'TransactionDesc': 'Sale',
            }
        body.update(overrides)
        return body

    def stk_push(self, **overrides):
        return self.post('/mpesa/stkpush/v1/processrequest',
            self.stk_body(**overrides))

    def stk_query(self, checkout_request_id):
        body = self.stk_body()
        return self.post('/mpesa/stkpushquery/v1/query', {
                key: body[key]
                for key in ('BusinessShortCode', 'Password', 'Timestamp')}
            | {'CheckoutRequestID': checkout_request_id})

    def pay(self, phone=PHONE, amount=1):
        "An STK payment answered at once; return its receipt."
        response = self.stk_push(phone=phone, amount=amount)
        assert response.status_code == 200, response.text
        checkout_request_id = response.json()['CheckoutRequestID']
        self.sim.wait_callbacks(len(self.sim.callbacks) + 1)
        entry, = [e for e in self.sim.ledger
            if e.get('checkout_request_id') == checkout_request_id]
        return entry['receipt']

    def initiator_body(self, **overrides):
        "The fields every initiator API has."
        body = {
            'Initiator': self.sim.initiator_name,
            'SecurityCredential': self.credential(),
            'QueueTimeOutURL': self.listener.url('/hooks/timeout'),
            'ResultURL': self.listener.url('/hooks/result'),
            'Remarks': 'Test remarks',
            }
        body.update(overrides)
        return body

    def b2c_body(self, **overrides):
        body = self.initiator_body(
            OriginatorConversationID=f'test-{time.monotonic_ns()}',
            InitiatorName=self.sim.initiator_name, CommandID='BusinessPayment',
            Amount=100, PartyA=self.sim.b2c_shortcode, PartyB=PHONE,
            Occassion='Refund')
        del body['Initiator']
        body.update(overrides)
        return body


@pytest.fixture
def eventually():
    "Poll ``condition()`` until it is true (5 s at most)."
    def wait(condition, timeout=5):
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, 'condition never met'
            time.sleep(0.01)
    return wait


@pytest.fixture
def listener():
    listener = Listener()
    yield listener
    listener.stop()


@pytest.fixture
def sim():
    with Simulator(consumer_key=KEY, consumer_secret=SECRET) as simulator:
        yield simulator


@pytest.fixture
def daraja(sim, listener):
    return Daraja(sim, listener)


@pytest.fixture
def make_daraja(listener):
    "Start a simulator with the given settings; return its Daraja helper."
    simulators = []

    def make(**settings):
        simulators.append(Simulator(**settings).start())
        return Daraja(simulators[-1], listener)
    yield make
    for simulator in simulators:
        simulator.stop()
