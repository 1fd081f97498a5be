# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""JSON responses."""
import datetime as dt
import json

from werkzeug.wrappers import Response


def _default(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f'not JSON serialisable: {value!r}')


def json_response(body, status=200):
    "A JSON response; datetimes are written in ISO 8601."
    return Response(json.dumps(body, default=_default), status=status,
        mimetype='application/json')
