# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The WSGI application: routing, request log, faults, token check."""
import functools
import json
import time

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from . import auth, b2c, c2b, clock, control, pull, results, stk
from .errors import DarajaError
from .responses import json_response


def _post(path, endpoint):
    "A rule for a POST-only API path."
    return Rule(path, endpoint=endpoint, methods=['POST'])


URLS = Map([
        Rule('/oauth/v1/generate', endpoint='oauth', methods=['GET']),
        _post('/mpesa/stkpush/v1/processrequest', 'stk_push'),
        _post('/mpesa/stkpushquery/v1/query', 'stk_query'),
        _post('/mpesa/b2c/<any(v1, v3):version>/paymentrequest', 'b2c'),
        _post('/mpesa/c2b/<any(v1, v2):version>/registerurl',
            'c2b_register'),
        _post('/mpesa/c2b/<any(v1, v2):version>/simulate', 'c2b_simulate'),
        _post('/mpesa/transactionstatus/v1/query', 'status'),
        _post('/mpesa/reversal/v1/request', 'reversal'),
        _post('/mpesa/accountbalance/v1/query', 'balance'),
        _post('/pulltransactions/v1/register', 'pull_register'),
        _post('/pulltransactions/v1/query', 'pull_query'),
        ])
# endpoint -> (handler, API name for the token error; None: no token)
HANDLERS = {
    'oauth': (auth.generate, None),
    'stk_push': (stk.push, 'stk'),
    'stk_query': (stk.query, 'stk'),
    'b2c': (b2c.payment, 'b2c'),
    'c2b_register': (c2b.register, 'c2b'),
    'c2b_simulate': (c2b.simulate, 'c2b'),
    'status': (results.status, 'status'),
    'reversal': (results.reversal, 'reversal'),
    'balance': (results.balance, 'balance'),
    'pull_register': (pull.register, 'pull'),
    'pull_query': (pull.query, 'pull'),
    }


class Call:
    "One API request being served."

    def __init__(self, simulator, request):
        self.simulator = simulator
        self.request = request
        self.args = {}
        self.json = {}
        self.deferred = []

    def defer(self, job):
        """Run ``job(wait)`` once the answer has been sent and
        ``answer_delay`` has passed: the customer answering, a result
        being ready.  With the ``callback_before_response`` fault it runs
        before the answer, with ``wait=True`` (callbacks delivered before
        returning)."""
        self.deferred.append(job)


def _loads(request):
    try:
        return json.loads(request.get_data(as_text=True))
    except ValueError:
        return None


class Application:
    "The simulator's WSGI application."

    def __init__(self, simulator):
        self.simulator = simulator

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith(control.PREFIX):
            response = control.dispatch(self.simulator, request)
        else:
            response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request):
        simulator = self.simulator
        entry = {'method': request.method, 'path': request.path,
            'json': _loads(request), 'time': clock.now(), 'status': None}
        with simulator.lock:
            state = simulator.state
        simulator.record(state, 'requests', entry)
        call = Call(simulator, request)
        api = None
        try:
            endpoint, call.args = URLS.bind_to_environ(
                request.environ).match()
            handler, api = HANDLERS[endpoint]
            if api:
                self._gate(request, api)
                call.json = self._body(request)
            status, body = 200, handler(call)
        except NotFound:
            status, body = self._error(
                DarajaError(404, '404.001.01', 'Resource not found'))
        except MethodNotAllowed:
            status, body = self._error(
                DarajaError(405, '405.001', 'Method Not Allowed'))
        except DarajaError as error:
            status, body = self._error(error)
        with simulator.lock:
            entry.update(status=status, response=body)
            before = simulator.faults.callback_before_response
            stall = simulator.faults.slow_response if api else 0
        if before:
            for job in call.deferred:
                job(wait=True)
        if stall:
            time.sleep(stall)
        response = json_response(body, status)
        if call.deferred and not before:
            response.call_on_close(
                functools.partial(self._schedule, call.deferred))
        return response

    def _schedule(self, jobs):
        for job in jobs:
            self.simulator.scheduler.call_later(self.simulator.answer_delay,
                functools.partial(job, wait=False))

    def _error(self, error):
        return error.status, error.envelope(self.simulator.ids.request_id())

    def _gate(self, request, api):
        "Apply the request faults, then check the access token."
        with self.simulator.lock:
            faults = self.simulator.faults
            spike_arrest = faults.spike_arrest
            failure = faults.error_status()
        if spike_arrest:
            raise DarajaError(
                500, '500.003.02', 'Error Occurred: Spike Arrest Violation')
        if failure == 503:
            raise DarajaError(503, '503.001.01', 'Service Unavailable')
        if failure == 500:
            raise DarajaError(500, '500.003.1001', 'Internal Server Error')
        auth.check(self.simulator, request, api)

    @staticmethod
    def _body(request):
        """The JSON body; another content type reads as empty (so the first
        field check fails, as Daraja answers ``Invalid BusinessShortCode``
        to a wrong content type)."""
        if request.mimetype != 'application/json':
            return {}
        body = _loads(request)
        if not isinstance(body, dict):
            raise DarajaError(
                400, '400.002.05', 'Invalid Request Payload')
        return body
