# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Fixtures of the Daraja client tests: sample payloads and a scripted fake
Daraja on the loopback interface (not the simulator: each test says exactly
what the server answers and checks what the client sent)."""
import json
import pathlib
import socket
import threading
import time
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from trytond.modules.account_mpesa.daraja import Client

DATA = pathlib.Path(__file__).parent / 'data'
OAUTH_PATH = '/oauth/v1/generate'
CONSUMER_KEY = 'ck-8f3a1c0d2b'
CONSUMER_SECRET = 'cs-secret-7Yq2Lm9Xw4'


def load(name):
    "Return the sample payload ``name`` of the data folder."
    return json.loads((DATA / f'{name}.json').read_text())


@pytest.fixture
def sample():
    "The loader of sample payloads."
    return load


@dataclass
class Reply:
    "A scripted answer: HTTP status, JSON body (or raw bytes) and a delay."
    status: int = 200
    body: object = None
    delay: float = 0


@dataclass
class Received:
    "A request the fake server received."
    method: str
    path: str
    headers: dict
    args: dict
    json: object


class FakeDaraja:
    """A WSGI app answering each path with the replies queued for it.

    OAuth answers a new token ``token-<n>`` unless replies are queued for it;
    any other path without a queued reply answers HTTP 599.
    """

    def __init__(self):
        self.received = []
        self.tokens_issued = 0
        self._replies = {}
        self._lock = threading.Lock()
        self.url = None

    def reply(self, path, *replies):
        "Queue ``replies`` (Reply or a JSON body for HTTP 200) for ``path``."
        self._replies.setdefault(path, []).extend(
            r if isinstance(r, Reply) else Reply(body=r) for r in replies)

    def hits(self, path):
        "Return the requests received for ``path``."
        return [r for r in self.received if r.path == path]

    def _next(self, path):
        with self._lock:
            queue = self._replies.get(path)
            if queue:
                return queue.pop(0)
            if path == OAUTH_PATH:
                self.tokens_issued += 1
                return Reply(body={
                        'access_token': f'token-{self.tokens_issued}',
                        'expires_in': '3599'})
        return Reply(599, {'errorCode': 'test', 'errorMessage': 'no reply'})

    @Request.application
    def __call__(self, request):
        self.received.append(Received(
                request.method, request.path, dict(request.headers),
                dict(request.args), request.get_json(silent=True)))
        reply = self._next(request.path)
        time.sleep(reply.delay)
        body = reply.body
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return Response(body, reply.status, content_type='application/json')


@pytest.fixture
def fake_daraja():
    "A running FakeDaraja; its ``url`` is the base URL."
    app = FakeDaraja()
    server = make_server('127.0.0.1', 0, app, threaded=True)
    app.url = f'http://127.0.0.1:{server.server_port}'
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield app
    server.shutdown()
    server.server_close()


def make_client(base_url, **options):
    "Return a Client with short timeouts and no retry delay."
    options.setdefault('timeout', (1, 0.5))
    options.setdefault('backoff', 0)
    return Client(base_url, CONSUMER_KEY, CONSUMER_SECRET, **options)


@pytest.fixture
def client(fake_daraja):
    "A Client of the FakeDaraja."
    return make_client(fake_daraja.url)


@pytest.fixture
def refused_url():
    "A loopback URL where nothing listens (connection refused)."
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}'


@pytest.fixture
def dropping_url():
    """A loopback URL whose server reads each request whole, then closes
    the connection without answering; ``requests`` counts the requests."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen()
    received = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(65536)
                head, _, body = data.partition(b'\r\n\r\n')
                length = 0
                for line in head.split(b'\r\n'):
                    name, _, value = line.partition(b':')
                    if name.strip().lower() == b'content-length':
                        length = int(value)
                while len(body) < length:
                    body += conn.recv(65536)
                received.append(head.split(b'\r\n', 1)[0])
    threading.Thread(target=serve, daemon=True).start()
    url = f'http://127.0.0.1:{listener.getsockname()[1]}'
    yield url, received
    listener.close()
