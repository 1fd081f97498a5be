# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A JSON-RPC client that calls the Tryton server the way Tryton's own
client does: log in, then send each call with the session and the user's
context."""
import base64
import json
import urllib.request

from trytond.protocols.jsonrpc import JSONDecoder, JSONEncoder


class Refused(Exception):
    "The server refused the call with a user error (access, validation)"

    def __init__(self, kind, message):
        super().__init__(f'{kind}: {message}')
        self.kind = kind
        self.message = message


class Client:
    "A logged-in user of the Tryton server at url"

    def __init__(self, url, database, login, password):
        self.url = f'{url}/{database}/rpc/'
        self.authorization = None
        user_id, session, _ = self.call(
            'common.db.login', login, {'password': password}, 'en')
        token = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()
        self.authorization = f'Session {token}'
        self.user_id = user_id
        self.context = self.call('model.res.user.get_preferences', True, {})

    def call(self, method, *params):
        """The result of method; Refused for a user error, RuntimeError for
        anything else (a crash is not a refusal)"""
        data = json.dumps(
            {'id': 0, 'method': method, 'params': params},
            cls=JSONEncoder).encode()
        request = urllib.request.Request(
            self.url, data=data, headers={'Content-Type': 'application/json'})
        if self.authorization:
            request.add_header('Authorization', self.authorization)
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read(), object_hook=JSONDecoder())
        if 'error' in answer:
            error = answer['error']
            if error[0] in {'UserError', 'UserWarning'}:
                raise Refused(error[0], error[1][0] if error[1] else '')
            raise RuntimeError(error)
        return answer['result']

    def model(self, model, method, *params, context=None):
        "Call method of model with params and the user's context"
        return self.call(
            f'model.{model}.{method}', *params,
            {**self.context, **(context or {})})

    def read(self, model, ids, fields):
        return self.model(model, 'read', ids, fields)

    def write(self, model, ids, values):
        return self.model(model, 'write', ids, values)

    def create(self, model, values):
        ids = self.model(model, 'create', [values])
        return ids[0]

    def button(self, model, name, ids):
        return self.model(model, name, ids)

    def wizard(self, name, model, record_id, states):
        """Run the wizard name on the record, executing each (state, data)
        of states in turn; returns the last answer"""
        context = {
            **self.context, 'active_model': model, 'active_id': record_id,
            'active_ids': [record_id]}
        session, _, _ = self.call(f'wizard.{name}.create', context)
        try:
            answer = None
            for state, data in states:
                answer = self.call(
                    f'wizard.{name}.execute', session, data, state, context)
            return answer
        finally:
            self.call(f'wizard.{name}.delete', session, context)
