# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What runs while the demo is up, each in a thread of this process: the
Daraja simulator, the Tryton server (JSON-RPC, the callback routes and the
web client) and the cron, which runs the due scheduled tasks every
minute like ``trytond-cron``.  Stopping stops all of them."""
import logging
import threading

from werkzeug.serving import make_server

from . import settings

logger = logging.getLogger(__name__)
CRON_INTERVAL = 60


class Cron(threading.Thread):
    "Run the due scheduled tasks of the database every minute"

    def __init__(self, database_name, interval=CRON_INTERVAL):
        super().__init__(name='demo-cron', daemon=True)
        self.database_name = database_name
        self.interval = interval
        self.stopped = threading.Event()

    def run(self):
        from trytond.pool import Pool
        while not self.stopped.wait(self.interval):
            try:
                Pool(self.database_name).get('ir.cron').run(
                    self.database_name)
            except Exception:
                logger.exception("The cron failed")

    def stop(self):
        self.stopped.set()
        self.join()


class Services:
    """The simulator, the Tryton server and (optionally) the cron.

    Use as a context manager; ``simulator_url`` and ``tryton_url`` are
    known once entered."""

    def __init__(self, port, sim_port, answer_delay, cron=True):
        self.port = port
        self.sim_port = sim_port
        self.answer_delay = answer_delay
        self.with_cron = cron
        self.simulator = None
        self.server = None
        self.server_thread = None
        self.cron = None

    @property
    def simulator_url(self):
        return self.simulator.url

    @property
    def tryton_url(self):
        return f'http://127.0.0.1:{self.server.server_port}'

    def start(self):
        from daraja_sim import Simulator
        from trytond.wsgi import app

        self.simulator = Simulator(
            consumer_key=settings.CONSUMER_KEY,
            consumer_secret=settings.CONSUMER_SECRET,
            shortcode=settings.SHORTCODE, passkey=settings.PASSKEY,
            answer_delay=self.answer_delay)
        self.simulator.start('127.0.0.1', self.sim_port, quiet=True)
        self.server = make_server('127.0.0.1', self.port, app, threaded=True)
        self.server_thread = threading.Thread(
            target=self.server.serve_forever, name='demo-tryton',
            daemon=True)
        self.server_thread.start()
        if self.with_cron:
            self.cron = Cron(settings.DATABASE)
            self.cron.start()
        return self

    def stop(self):
        "Stop the cron, then the server, then the simulator"
        if self.cron:
            self.cron.stop()
            self.cron = None
        if self.server:
            self.server.shutdown()
            self.server_thread.join()
            self.server.server_close()
            self.server = None
        if self.simulator:
            self.simulator.stop()
            self.simulator = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info):
        self.stop()
