# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""JSON responses."""
import datetime as dt
import decimal
import json

from werkzeug.wrappers import Response


def _default(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f'not JSON serialisable: {value!r}')


def json_response(body, status=200):
    "A JSON response; datetimes in ISO 8601, Decimals as numbers."
    return Response(json.dumps(body, default=_default), status=status,
        mimetype='application/json')
