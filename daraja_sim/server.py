# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A threaded werkzeug server serving an application from a background
thread."""
import threading

from werkzeug.serving import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    "A request handler that does not log each request."

    def log_request(self, *args, **kwargs):
        pass


class Server:
    "Serve ``application`` on ``host:port`` (0: a free port) until stopped."

    def __init__(self, application, host='127.0.0.1', port=0, quiet=True):
        self._server = make_server(host, port, application, threaded=True,
            request_handler=QuietHandler if quiet else WSGIRequestHandler)
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever,
            kwargs={'poll_interval': 0.05}, name='daraja-sim-server',
            daemon=True)
        self._thread.start()

    @property
    def url(self):
        "The base URL, e.g. ``http://127.0.0.1:8080``."
        host = f'[{self.host}]' if ':' in self.host else self.host
        return f'http://{host}:{self.port}'

    def stop(self):
        "Stop serving and release the port."
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
