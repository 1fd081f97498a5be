# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Fixtures of the integration tests: the project's Daraja client driving
the project's Daraja simulator over real HTTP on the loopback interface,
with a tiny local HTTP listener receiving the callbacks."""
import datetime as dt
import json
import socket
import threading
import time
import uuid

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from daraja_sim import Simulator
from trytond.modules.account_mpesa.daraja import Client, security_credential

# Distinctive secrets, so that a leak into a log line can be found.
CONSUMER_KEY = 'it-consumer-key-4d1e9a'
CONSUMER_SECRET = 'it-consumer-secret-Zq8Wm3Kp'
PASSKEY = 'it-passkey-5f0c2e7b91d84a36b2aa9e1c7d3f6b08'
SHORTCODE = '174379'
TILL = '654321'
B2C_SHORTCODE = '600000'
INITIATOR = 'it-initiator'
INITIATOR_PASSWORD = 'Integr4tion#Pass%'

PHONE = '0712345678'            # answers the prompt with success
MSISDN = '254712345678'
NEVER = '0712349999'            # never answers the prompt on its own

OAUTH = '/oauth/v1/generate'
PUSH = '/mpesa/stkpush/v1/processrequest'
QUERY = '/mpesa/stkpushquery/v1/query'
B2C = '/mpesa/b2c/v3/paymentrequest'
STATUS = '/mpesa/transactionstatus/v1/query'
REVERSAL = '/mpesa/reversal/v1/request'
BALANCE = '/mpesa/accountbalance/v1/query'
PULL_REGISTER = '/pulltransactions/v1/register'
PULL_QUERY = '/pulltransactions/v1/query'

# The listener's paths (no word Daraja refuses in C2B URLs)
STK_HOOK = '/hooks/stk'
RESULT_HOOK = '/hooks/result'
TIMEOUT_HOOK = '/hooks/timeout'
CONFIRM_HOOK = '/hooks/c2b/confirm'
VALIDATE_HOOK = '/hooks/c2b/validate'
PULL_HOOK = '/hooks/pull'

EAT = dt.timezone(dt.timedelta(hours=3), 'EAT')
WAIT = 5  # seconds to wait for a callback at most


class Listener:
    """A tiny HTTP server on loopback recording the callbacks it receives.

    ``replies[path]`` is the JSON answered on ``path`` (default: accepted).
    """

    def __init__(self):
        self.received = []
        self.replies = {}
        self._changed = threading.Condition()
        self._server = make_server(
            '127.0.0.1', 0, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
            name='integration-listener', daemon=True)
        self._thread.start()

    def url(self, path):
        "The absolute URL of ``path`` on the listener."
        return f'http://127.0.0.1:{self._server.server_port}{path}'

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._changed:
            self.received.append({
                    'path': request.path,
                    'json': request.get_json(silent=True),
                    'arrived': time.monotonic(),
                    })
            self._changed.notify_all()
        reply = self.replies.get(
            request.path, {'ResultCode': 0, 'ResultDesc': 'Accepted'})
        response = Response(json.dumps(reply), mimetype='application/json')
        return response(environ, start_response)

    def on(self, path):
        "The JSON bodies received so far on ``path``."
        with self._changed:
            return [r['json'] for r in self.received if r['path'] == path]

    def wait(self, path, n=1, timeout=WAIT):
        "Wait until ``n`` bodies arrived on ``path``; return them all."
        with self._changed:
            arrived = self._changed.wait_for(
                lambda: len([r for r in self.received if r['path'] == path])
                >= n, timeout)
        bodies = self.on(path)
        assert arrived, (
            f'{len(bodies)} of {n} callbacks on {path} after {timeout} s: '
            f'{self.received}')
        return bodies

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def make_client(url, **options):
    "A Client of ``url`` with short timeouts and no retry delay."
    options.setdefault('timeout', (1, 5))
    options.setdefault('backoff', 0)
    return Client(url, CONSUMER_KEY, CONSUMER_SECRET, **options)


class Api:
    """The client calls of the tests with their usual values, each
    overridable by keyword."""

    def __init__(self, client, sim, listener):
        self.client = client
        self.sim = sim
        self.listener = listener

    # STK

    def push(self, phone=PHONE, amount=10, **options):
        values = dict(
            business_shortcode=self.sim.shortcode, passkey=self.sim.passkey,
            amount=amount, phone=phone,
            callback_url=self.listener.url(STK_HOOK),
            account_reference='INV-0042', description='Sale INV-0042')
        values.update(options)
        return self.client.stk_push(**values)

    def query(self, checkout_request_id, **options):
        values = dict(
            business_shortcode=self.sim.shortcode, passkey=self.sim.passkey,
            checkout_request_id=checkout_request_id)
        values.update(options)
        return self.client.stk_query(**values)

    def pay(self, phone=PHONE, amount=10, **options):
        """A completed STK payment: return the push answer and the JSON of
        its callback."""
        answer = self.push(phone=phone, amount=amount, **options)
        deadline = time.monotonic() + WAIT
        while True:
            bodies = [b for b in self.listener.on(STK_HOOK)
                if b['Body']['stkCallback']['CheckoutRequestID']
                == answer.checkout_request_id]
            if bodies:
                return answer, bodies[0]
            assert time.monotonic() < deadline, 'no STK callback'
            time.sleep(0.01)

    # Initiator APIs

    def credential(self, password=None):
        "A SecurityCredential made with the simulator's certificate."
        return security_credential(
            password or self.sim.initiator_password, self.sim.certificate_pem)

    def _initiator(self, options):
        values = dict(
            initiator_name=self.sim.initiator_name,
            security_credential=self.credential(),
            result_url=self.listener.url(RESULT_HOOK),
            queue_timeout_url=self.listener.url(TIMEOUT_HOOK),
            remarks='Integration test')
        values.update(options)
        return values

    def b2c(self, amount=100, phone=PHONE, **options):
        options.setdefault('originator_conversation_id', new_id())
        options.setdefault('party_a', self.sim.b2c_shortcode)
        return self.client.b2c(**self._initiator(
                dict(amount=amount, phone=phone, **options)))

    def status(self, **options):
        options.setdefault('party_a', self.sim.shortcode)
        return self.client.transaction_status(**self._initiator(options))

    def reversal(self, transaction_id, amount, **options):
        options.setdefault('receiver_party', self.sim.shortcode)
        return self.client.reversal(**self._initiator(dict(
                    transaction_id=transaction_id, amount=amount,
                    **options)))

    def balance(self, **options):
        options.setdefault('party_a', self.sim.b2c_shortcode)
        return self.client.account_balance(**self._initiator(options))

    def result(self, conversation_id):
        "Wait for the result callback of ``conversation_id``; return it."
        return wait_for(lambda: next((b for b in self.listener.on(RESULT_HOOK)
                    if b['Result']['ConversationID'] == conversation_id),
                None))

    # The simulator's logs

    def requests(self, path):
        "The API requests the simulator received on ``path``."
        return [r for r in self.sim.requests if r['path'] == path]

    def oauth_count(self):
        return len(self.requests(OAUTH))


# Digits written as letters: a random run of digits may look like a phone
# number to the log checks (which then find it "unmasked")
LETTERS = str.maketrans('0123456789', 'ghijklmnop')


def new_id():
    "A fresh OriginatorConversationID, without digits."
    return f'it-{uuid.uuid4().hex[:20].translate(LETTERS)}'


def wait_for(probe, timeout=WAIT):
    "Poll ``probe()`` until it returns something true; return it."
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, 'condition never met'
        time.sleep(0.01)


@pytest.fixture
def listener():
    "The callback listener."
    listener = Listener()
    yield listener
    listener.stop()


@pytest.fixture
def make_sim():
    "Start a simulator with the test credentials and ``settings``."
    simulators = []

    def make(**settings):
        values = dict(
            consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET,
            shortcode=SHORTCODE, passkey=PASSKEY, b2c_shortcode=B2C_SHORTCODE,
            initiator_name=INITIATOR, initiator_password=INITIATOR_PASSWORD,
            # the client must send Nairobi time: let the simulator check it
            check_timestamp_minutes=5)
        values.update(settings)
        simulators.append(Simulator(**values).start())
        return simulators[-1]
    yield make
    for simulator in simulators:
        simulator.stop()


@pytest.fixture
def sim(make_sim):
    "A started simulator (paybill only, no till)."
    return make_sim()


@pytest.fixture
def client(sim):
    "A Client of the simulator."
    return make_client(sim.url)


@pytest.fixture
def api(client, sim, listener):
    return Api(client, sim, listener)


@pytest.fixture
def refused_url():
    "A loopback URL where nothing listens (connection refused)."
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}'
