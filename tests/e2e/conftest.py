# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Fixtures of the end-to-end tests: the real Tryton WSGI app served on a
loopback port, the Daraja simulator on another, and the business between
them.  Callbacks travel over real HTTP."""
import os
import signal
import subprocess
import sys
import threading

import pytest
from werkzeug.serving import make_server

from . import scenario


@pytest.fixture(scope='session')
def tryton_url():
    "The Tryton WSGI application served on a loopback port"
    from trytond.tests import test_tryton  # noqa: F401 (test pool)
    from trytond.wsgi import app

    server = make_server('127.0.0.1', 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_port}'
    server.shutdown()
    thread.join()
    scenario.release_database()


@pytest.fixture(scope='session')
def simulator():
    "The Daraja simulator on a loopback port"
    from daraja_sim import Simulator

    with Simulator(
            consumer_key=scenario.CONSUMER_KEY,
            consumer_secret=scenario.CONSUMER_SECRET,
            shortcode=scenario.SHORTCODE,
            passkey=scenario.PASSKEY) as sim:
        yield sim


@pytest.fixture
def shop(simulator, tryton_url):
    "The business, fresh for each test, wired to the simulator"
    simulator.reset()
    return scenario.activate(simulator.url, tryton_url)


@pytest.fixture
def queue_worker(shop, monkeypatch):
    """A trytond-worker process on the test database, with every process
    configured for the task queue: the callbacks are settled by batches"""
    from trytond.config import config

    monkeypatch.setenv('TRYTOND_QUEUE__WORKER', 'True')
    config.set('queue', 'worker', 'True')
    worker = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), 'trytond-worker'),
            '-d', os.environ['DB_NAME'], '-n', '1'],
        env=dict(os.environ, TRYTOND_QUEUE__WORKER='True'),
        start_new_session=True)
    try:
        yield worker
    finally:
        config.set('queue', 'worker', 'False')
        # The worker's pool processes go with it
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


@pytest.fixture(params=['inline', 'queue'])
def settling(request):
    """Where the callbacks are settled: in the server that answered them
    (the default), or by batches on the task queue by a trytond-worker,
    whose proofs run on PostgreSQL only (the production setup)"""
    if request.param == 'queue':
        if not os.environ['TRYTOND_DATABASE_URI'].startswith('postgresql'):
            pytest.skip("the task queue's variant runs on PostgreSQL only")
        request.getfixturevalue('queue_worker')
    return request.param
