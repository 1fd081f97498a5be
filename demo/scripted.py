# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""``--scripted``: the whole flow without a browser.

A new quotation for the customer who pays; the Request M-Pesa Payment
wizard; the STK Push to the simulator; the customer's answer and its
callback over HTTP to the Tryton server; the payment succeeded; the
clearing move; the sale confirmed; the cron posting the clearing move.
Then customers paying the paybill on their own (C2B): a quotation paid by
its number is confirmed; an invoice paid with a mistyped number waits in
Unmatched until the Match wizard puts it on the invoice.
Each step prints its result; the first that fails stops the run."""
import time

from proteus import Model, Wizard

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


def customer(person):
    "The party of the settings' (name, phone)"
    Party = Model.get('party.party')
    party, = Party.find([('name', '=', person[0])])
    return party


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
    Notification = Model.get('res.notification')
    notified = Notification.find(
        [('description', 'like', f'%{payment.mpesa_receipt}%')])
    check(notified, "the requester was not notified")
    detail(f"the requester's notification: {notified[0].label} "
        f"({notified[0].description})")


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


def open_invoice():
    """The oldest open invoice of the customer whose phone the shop does
    not know (a new one when the shop's is paid already)"""
    Invoice = Model.get('account.invoice')
    Product = Model.get('product.product')
    party = customer(settings.INVOICED_CUSTOMER)
    invoices = Invoice.find([
            ('party', '=', party.id), ('type', '=', 'out'),
            ('state', '=', 'posted')], order=[('id', 'ASC')], limit=1)
    if invoices:
        invoice, = invoices
    else:
        products = Product.find([], order=[('id', 'ASC')])
        _, lines = settings.INVOICES[0]
        invoice = shop.create_invoice(party, lines, products)
    check(invoice.state == 'posted', f"the invoice is {invoice.state}")
    detail(f"invoice {invoice.number} for {party.name}: "
        f"{invoice.total_amount} {invoice.currency.code}, {invoice.state}")
    return invoice


def customer_pays(simulator, phone, amount, reference):
    """The customer pays the paybill from the phone (the simulator's
    Pay Bill); Daraja's confirmation reaches Tryton"""
    entry = simulator.c2b_payment(
        phone.replace(' ', ''), int(amount), reference)
    check(entry, "the simulated phone did not pay")
    detail(f"Pay Bill {settings.SHORTCODE}, account number {reference}, "
        f"KSh {int(amount)} from {phone}: M-Pesa receipt {entry['receipt']}")
    attempts = [c for c in simulator.callbacks
        if c['kind'] == 'c2b_confirmation'
        and c['json']['TransID'] == entry['receipt']]
    check(attempts, "no confirmation was sent to Tryton")
    status = attempts[0].get('status', attempts[0].get('error'))
    check(status == 200, f"Tryton answered the confirmation with {status}")
    detail(f"POST {attempts[0]['url']} -> HTTP {status}")
    return entry


def receipt_recorded(entry, state):
    """The ledger record of the receipt once confirmed by Pull and
    matched, or not; it must be in state"""
    Ledger = Model.get('account.payment.mpesa.transaction')
    record, = wait_for(lambda: Ledger.find([
                ('receipt', '=', entry['receipt']),
                ('state', '!=', 'received')]),
        f"{state} receipt {entry['receipt']}")
    check(record.state == state,
        f"receipt {record.receipt} is {record.state}: {record.note}")
    detail(f"receipt {record.receipt} {record.state}"
        + (f": {record.note}" if record.note else "")
        + (f"; payment {record.payment.id} {record.payment.state}"
            if record.payment else ""))
    return record


def match(record, invoice):
    """The accountant's Match wizard: the customer; the wizard puts the
    amount on her oldest open invoice"""
    wizard = Wizard('account.payment.mpesa.transaction.match', [record])
    wizard.form.party = invoice.party
    for line in wizard.form.lines:
        detail(f"invoice {line.invoice.number}: {line.amount}")
    check([l.invoice for l in wizard.form.lines] == [invoice],
        "the wizard does not offer the invoice")
    wizard.execute('match')
    record.reload()
    check(record.state == 'matched', f"the receipt is {record.state}")
    invoice.reload()
    check(invoice.state == 'paid', f"the invoice is {invoice.state}")
    detail(f"receipt {record.receipt} matched; invoice {invoice.number} "
        f"{invoice.state}")


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
        step("9. A customer pays a quotation by its number (Pay Bill)")
        paid = new_quotation()
        entry = customer_pays(simulator, settings.PAYING_CUSTOMER[1],
            paid.total_amount, paid.number)
        receipt_recorded(entry, 'matched')
        sale_confirmed(paid)
        step("10. A mistyped invoice number waits in Unmatched")
        invoice = open_invoice()
        entry = customer_pays(simulator, settings.INVOICED_CUSTOMER[1],
            invoice.total_amount, shop.mistyped(invoice.number))
        record = receipt_recorded(entry, 'unmatched')
        step("11. The accountant matches it (Match wizard)")
        match(record, invoice)
    except StepFailed as failure:
        print(f"FAILED: {failure}", flush=True)
        return 1
    print(f"PASSED: sale {sale.number} paid by M-Pesa; sale {paid.number} "
        f"and invoice {invoice.number} by the customers' own payments, in "
        f"{time.monotonic() - started:.1f} s", flush=True)
    return 0
