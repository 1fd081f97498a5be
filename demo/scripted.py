# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""``--scripted``: one sale through the whole flow without a browser.

A new quotation for the customer who pays; the Request M-Pesa Payment
wizard; the STK Push to the simulator; the customer's answer and its
callback over HTTP to the Tryton server; the payment succeeded; the
clearing move; the sale confirmed; the cron posting the clearing move.
Each step prints its result; the first that fails stops the run."""
import time

from proteus import Model

from . import settings, shop
from .console import detail, step

TIMEOUT = 30


class StepFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise StepFailed(message)


def wait_for(predicate, what, timeout=TIMEOUT):
    "Wait until predicate() is true; fail the step saying what was awaited"
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise StepFailed(f"no {what} after {timeout} s")
        time.sleep(0.1)
    return result


def new_quotation():
    Party = Model.get('party.party')
    Product = Model.get('product.product')
    name, _ = settings.PAYING_CUSTOMER
    customer, = Party.find([('name', '=', name)])
    products = Product.find([], order=[('id', 'ASC')])
    sale = shop.create_quotation(customer, [(0, 3)], products)
    check(sale.state == 'quotation', f"the sale is {sale.state}")
    detail(f"sale {sale.number} for {customer.name}: "
        f"{sale.total_amount} {sale.currency.code}, {sale.state}")
    return sale


def request_payment(sale):
    wizard = sale.click('mpesa_request_payment')
    form = wizard.form
    detail(f"journal {form.journal.name}, phone {form.phone}, amount "
        f"{form.amount}, account reference {form.account_reference}")
    check(form.amount == sale.total_amount, "the amount is not the total")
    wizard.execute('request')
    for line in wizard.form.message.splitlines():
        detail(f"| {line}")
    return wizard.form.payment


def stk_push(simulator, payment):
    pushes = [r for r in simulator.requests
        if r['path'].endswith('/stkpush/v1/processrequest')]
    check(pushes, "no STK Push reached the simulator")
    push = pushes[-1]
    check(push['status'] == 200, f"the simulator answered {push['status']}")
    payment.reload()
    detail(f"POST {push['path']} -> HTTP {push['status']}; payment "
        f"{payment.id} is {payment.state}, M-Pesa {payment.mpesa_state}")


def callback(simulator, answer_delay):
    detail(f"the customer enters the PIN (the simulator answers after "
        f"{answer_delay:g} s)")
    attempts = wait_for(
        lambda: [c for c in simulator.callbacks if c['kind'] == 'stk'],
        "callback", timeout=answer_delay + TIMEOUT)
    attempt = attempts[0]
    status = attempt.get('status', attempt.get('error'))
    check(status == 200, f"Tryton answered the callback with {status}")
    result = attempt['json']['Body']['stkCallback']
    detail(f"POST {attempt['url']} -> HTTP {status}; ResultCode "
        f"{result['ResultCode']}: {result['ResultDesc']}")


def payment_succeeded(payment):
    def settled():
        payment.reload()
        return payment.state in {'succeeded', 'failed'}
    wait_for(settled, "final payment state")
    check(payment.state == 'succeeded',
        f"the payment {payment.state}: {payment.mpesa_message}")
    detail(f"payment {payment.id} {payment.state}, M-Pesa receipt "
        f"{payment.mpesa_receipt}")


def clearing_move(payment):
    move = wait_for(lambda: payment.clearing_move, "clearing move")
    for line in move.lines:
        amount = line.debit or -line.credit
        party = f" ({line.party.name})" if line.party else ""
        detail(f"{line.account.code} {line.account.name}{party}: {amount:+}")
    check(move.origin == payment, "the move is not the payment's")
    return move


def sale_confirmed(sale):
    def confirmed():
        sale.reload()
        return sale.state in {'processing', 'done'}
    wait_for(confirmed, "confirmed sale")
    detail(f"sale {sale.number} is {sale.state}; invoices: "
        + ', '.join(f"{i.state}" for i in sale.invoices))


def posting_cron(move):
    Cron = Model.get('ir.cron')
    cron, = Cron.find([
            ('method', '=',
                'account.payment.journal|cron_post_clearing_moves')])
    cron.click('run_once')
    move.reload()
    check(move.state == 'posted', f"the clearing move is {move.state}")
    detail(f"clearing move {move.number} {move.state}")


def run(services):
    """Run the flow against the running services; return the exit code"""
    simulator = services.simulator
    delay = services.answer_delay
    started = time.monotonic()
    try:
        step("1. A quotation")
        sale = new_quotation()
        step("2. Request M-Pesa Payment (the wizard on the sale)")
        payment = request_payment(sale)
        step("3. STK Push sent to the simulator")
        stk_push(simulator, payment)
        step("4. The customer pays; Daraja calls Tryton back")
        callback(simulator, delay)
        step("5. The payment succeeds")
        payment_succeeded(payment)
        step("6. The clearing move")
        move = clearing_move(payment)
        step("7. The sale is confirmed")
        sale_confirmed(sale)
        step("8. The cron posts the clearing move")
        posting_cron(move)
    except StepFailed as failure:
        print(f"FAILED: {failure}", flush=True)
        return 1
    print(f"PASSED: sale {sale.number} paid by M-Pesa in "
        f"{time.monotonic() - started:.1f} s", flush=True)
    return 0
