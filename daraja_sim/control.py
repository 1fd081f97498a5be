# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The control API under ``/__sim__/`` (JSON), for tests and the demo.

``GET state``, ``POST reset``, ``GET|POST faults``, ``POST customers``
``{"phone", "outcome"}``, ``POST stk/<CheckoutRequestID>/answer``
``{"outcome"}``, ``POST c2b`` ``{"phone", "amount", "bill_ref_number",
"shortcode"?}`` (a customer pays the paybill from the phone),
``POST tokens/invalidate``, ``GET certificate`` (PEM),
``GET statement.csv`` and ``GET statement.xlsx`` (query: ``shortcode``,
``account``, ``from``, ``to``, ``mask``, ``minus``, ``charge_receipt``,
``date_cells``), ``GET|POST clock`` ``{"now"|"offset"}``, ``GET|POST
settings`` ``{"charges"}``, ``POST sweep`` ``{"shortcode"?, "amount"?,
"time"?}``, ``POST transactions`` ``{"transactions": […]}`` (booked
straight into the ledger); and ``GET|POST pay``, a page where a person
pays the paybill as a customer would (phone, account number, amount).
"""
import decimal
import html
import math

from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.exceptions import NotImplemented as Unavailable
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from . import customers, statement, validate
from .c2b import MAX_AMOUNT
from .errors import DarajaError
from .ledger import UTILITY
from .responses import json_response

XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'

PAY_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Pay Bill {shortcode}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 2em auto">
<h1>Lipa na M-Pesa: Pay Bill {shortcode}</h1>
<p>The simulated customer's phone: what you pay here reaches the shop as
Daraja's confirmation, as if paid from the M-Pesa menu.</p>
{result}
<form method="post">
<p><label>Phone number<br><input name="phone" value="{phone}" required
 placeholder="0712345678"></label></p>
<p><label>Account number<br><input name="account" value="{account}"
 maxlength="20" placeholder="the invoice or sale number"></label></p>
<p><label>Amount (KSh, whole shillings)<br><input name="amount"
 type="number" min="1" max="{maximum}" value="{amount}" required></label>
</p>
<p><button type="submit">Pay</button></p>
</form>
</body></html>
"""

PREFIX = '/__sim__/'
URLS = Map([
        Rule('/__sim__/state', endpoint='state', methods=['GET']),
        Rule('/__sim__/reset', endpoint='reset', methods=['POST']),
        Rule('/__sim__/faults', endpoint='faults', methods=['GET', 'POST']),
        Rule('/__sim__/customers', endpoint='customers', methods=['POST']),
        Rule('/__sim__/stk/<checkout_request_id>/answer', endpoint='answer',
            methods=['POST']),
        Rule('/__sim__/c2b', endpoint='c2b', methods=['POST']),
        Rule('/__sim__/pay', endpoint='pay', methods=['GET', 'POST']),
        Rule('/__sim__/tokens/invalidate', endpoint='invalidate',
            methods=['POST']),
        Rule('/__sim__/certificate', endpoint='certificate',
            methods=['GET']),
        Rule('/__sim__/statement.<any(csv, xlsx):extension>',
            endpoint='statement', methods=['GET']),
        Rule('/__sim__/clock', endpoint='clock', methods=['GET', 'POST']),
        Rule('/__sim__/settings', endpoint='settings',
            methods=['GET', 'POST']),
        Rule('/__sim__/sweep', endpoint='sweep', methods=['POST']),
        Rule('/__sim__/transactions', endpoint='transactions',
            methods=['POST']),
        ])
STATEMENT_FLAGS = {'mask', 'minus', 'date_cells'}
STATEMENT_ARGUMENTS = {'shortcode', 'account', 'from', 'to',
    'charge_receipt'} | STATEMENT_FLAGS
TRUE, FALSE = {'1', 'true', 'yes', 'on'}, {'0', 'false', 'no', 'off'}


def _body(request):
    body = request.get_json(silent=True)
    if body is None and request.get_data():
        raise BadRequest('the body is not JSON')
    if not isinstance(body or {}, dict):
        raise BadRequest('the body must be a JSON object')
    return body or {}


def _required(body, name):
    if name not in body:
        raise BadRequest(f'{name} is required')
    return body[name]


def _state(simulator, request):
    return json_response(simulator.snapshot())


def _reset(simulator, request):
    simulator.reset()
    return json_response({'reset': True})


def _faults(simulator, request):
    if request.method == 'POST':
        try:
            simulator.set_faults(**_body(request))
        except TypeError as error:
            raise BadRequest(str(error)) from None
    return json_response(simulator.snapshot()['faults'])


def _customers(simulator, request):
    body = _body(request)
    phone = _required(body, 'phone')
    simulator.set_customer(phone, _required(body, 'outcome'))
    return json_response({'phone': phone, 'outcome': body['outcome']})


def _answer(simulator, request, checkout_request_id):
    outcome = _required(_body(request), 'outcome')
    simulator.answer(checkout_request_id, outcome)
    return json_response({
            'CheckoutRequestID': checkout_request_id, 'outcome': outcome})


def _c2b(simulator, request):
    body = _body(request)
    try:
        phone = validate.msisdn(
            {'phone': customers.normalise(_required(body, 'phone'))},
            'phone')
    except DarajaError as error:
        raise BadRequest(error.message) from None
    entry = simulator.c2b_payment(phone,
        _required(body, 'amount'), body.get('bill_ref_number', ''),
        shortcode=body.get('shortcode'))
    return json_response({'paid': entry is not None, 'entry': entry})


def _pay(simulator, request):
    """The page of a customer paying the paybill; a POST pays it and says
    the receipt, or why the payment did not go through"""
    form = {n: request.form.get(n, '').strip()
        for n in ['phone', 'account', 'amount']}
    result = ''
    if request.method == 'POST':
        try:
            phone = validate.msisdn(
                {'phone': customers.normalise(form['phone'])}, 'phone')
            amount = validate.whole_amount(form, 'amount', 1, MAX_AMOUNT)
            account = validate.text(
                form, 'account', 20, optional=True) or ''
        except DarajaError as error:
            result = f"Not paid: {error.message}."
        else:
            entry = simulator.c2b_payment(phone, amount, account)
            result = (f"Paid KSh {amount} to {simulator.shortcode}, account "
                f"number \"{account}\": M-Pesa receipt {entry['receipt']}."
                if entry else "Not paid: the simulated phone declined (as "
                "numbers ending in 1032, 0001, 2001, 1037 or 9999 do), or the "
                "shop's validation refused the account number.")
        result = f'<p><strong>{html.escape(result)}</strong></p>'
    return Response(PAY_PAGE.format(
            shortcode=html.escape(simulator.shortcode), result=result,
            maximum=MAX_AMOUNT,
            **{n: html.escape(v, quote=True) for n, v in form.items()}),
        mimetype='text/html')


def _invalidate(simulator, request):
    simulator.invalidate_tokens()
    return json_response({'invalidated': True})


def _certificate(simulator, request):
    return Response(simulator.certificate_pem,
        mimetype='application/x-pem-file')


def _number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
        and math.isfinite(value))


def _flag(name, text):
    if text.lower() in TRUE | FALSE:
        return text.lower() in TRUE
    raise BadRequest(f'{name} must be 1 or 0, not {text!r}')


def _statement(simulator, request, extension):
    """The org-portal statement as the portal's CSV or XLSX file, under the
    portal's file name."""
    args = request.args
    unknown = set(args) - STATEMENT_ARGUMENTS
    if unknown:
        raise BadRequest(f'unknown parameters: {", ".join(sorted(unknown))}')
    form = {name: _flag(name, args[name])
        for name in STATEMENT_FLAGS & set(args)}
    if 'charge_receipt' in args:
        form['charge_receipt'] = args['charge_receipt']
    if extension == 'csv' and 'date_cells' in form:
        raise BadRequest('date_cells is for statement.xlsx')
    period = dict(shortcode=args.get('shortcode'), start=args.get('from'),
        end=args.get('to'), account=args.get('account', UTILITY))
    if extension == 'csv':
        content = simulator.statement_csv(**period, **form)
        mimetype = 'text/csv'
    else:
        try:
            content = simulator.statement_xlsx(**period, **form)
        except ImportError:
            raise Unavailable('statement.xlsx needs openpyxl: install '
                'trytond_account_mpesa[sim]') from None
        mimetype = XLSX
    name = statement.filename(period['shortcode'] or simulator.shortcode,
        period['account'], simulator.now(), extension)
    return Response(content, mimetype=mimetype, headers={
            'Content-Disposition': f'attachment; filename="{name}"'})


def _clock(simulator, request):
    if request.method == 'POST':
        body = _body(request)
        unknown = set(body) - {'now', 'offset'}
        if unknown:
            raise BadRequest(f'unknown fields: {", ".join(sorted(unknown))}')
        if body.get('offset') is not None and not _number(body['offset']):
            raise BadRequest('offset must be a number of seconds')
        simulator.set_clock(body.get('now'), body.get('offset'))
    return json_response({'now': simulator.now(),
            'offset': simulator.clock_offset.total_seconds()})


def _settings(simulator, request):
    if request.method == 'POST':
        charges = _required(_body(request), 'charges')
        if not isinstance(charges, bool):
            raise BadRequest('charges must be true or false')
        simulator.set_charges(charges)
    return json_response({'charges': simulator.charges})


def _sweep(simulator, request):
    body = _body(request)
    amount = body.get('amount')
    if amount is not None:
        if not _number(amount):
            raise BadRequest('amount must be a number')
        amount = decimal.Decimal(str(amount))
    return json_response(simulator.sweep(
            body.get('shortcode'), amount, body.get('time')))


def _transactions(simulator, request):
    entries = simulator.book(_required(_body(request), 'transactions'))
    return json_response({'receipts': [e['receipt'] for e in entries]})


VIEWS = {
    'state': _state,
    'reset': _reset,
    'faults': _faults,
    'customers': _customers,
    'answer': _answer,
    'c2b': _c2b,
    'pay': _pay,
    'invalidate': _invalidate,
    'certificate': _certificate,
    'statement': _statement,
    'clock': _clock,
    'settings': _settings,
    'sweep': _sweep,
    'transactions': _transactions,
    }


def dispatch(simulator, request):
    """Serve one control request; errors are ``{"error": …}`` JSON."""
    try:
        endpoint, args = URLS.bind_to_environ(request.environ).match()
        return VIEWS[endpoint](simulator, request, **args)
    except HTTPException as error:
        return json_response({'error': error.description}, error.code)
    except LookupError as error:
        return json_response({'error': str(error)}, 404)
    except ValueError as error:
        return json_response({'error': str(error)}, 400)
