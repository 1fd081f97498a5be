# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What the demo prints once everything runs: where to go, how to log in,
and the things to try, paying the paybill as a customer among them."""
import textwrap

from proteus import Model

from . import settings, shop, webclient


def quotations():
    "The waiting quotations by customer name: {name: [number, ...]}"
    Sale = Model.get('sale.sale')
    result = {}
    for sale in Sale.find(
            [('state', '=', 'quotation')], order=[('id', 'ASC')]):
        result.setdefault(sale.party.name, []).append(sale.number)
    return result


def open_invoice(name):
    "The oldest posted invoice of the customer, or None"
    Invoice = Model.get('account.invoice')
    invoices = Invoice.find([
            ('party.name', '=', name), ('type', '=', 'out'),
            ('state', '=', 'posted')], order=[('id', 'ASC')], limit=1)
    return invoices[0] if invoices else None


def show(services, web_root):
    "Print the URLs, the login and the things to try"
    none_left = '(none left: use --reset)'
    waiting = quotations()
    payer, payer_phone = settings.PAYING_CUSTOMER
    canceller, canceller_phone = settings.CANCELLING_CUSTOMER
    invoiced, invoiced_phone = settings.INVOICED_CUSTOMER
    first, *others = waiting.get(payer) or [none_left]
    second = others[0] if others else none_left
    cancelled = (waiting.get(canceller) or [none_left])[0]
    invoice = open_invoice(invoiced)
    number = invoice.number if invoice else none_left
    due = f"{invoice.total_amount:.0f}" if invoice else "the amount"
    typo = shop.mistyped(invoice.number) if invoice else none_left
    url = services.tryton_url
    host = url.split('//', 1)[1]
    sim = services.simulator_url
    print()
    if web_root:
        print(f"  Tryton web client   {url}/")
    else:
        print(textwrap.fill(
                webclient.DESKTOP_CLIENT.format(
                    host=host, database=settings.DATABASE),
                width=76, initial_indent='  ', subsequent_indent='  '))
    print(f"  database            {settings.DATABASE}")
    print(f"  login / password    {settings.LOGIN} / {settings.PASSWORD}")
    print(f"  Daraja simulator    {sim} (state: {sim}/__sim__/state)")
    print(f"  pay as a customer   {sim}/__sim__/pay")
    print(f"""
  Things to try (the menu on the left):
  1. Sales > Sales, tab Quotation: open sale {first} of {payer}
     ({payer_phone}), press "Request M-Pesa Payment", then "Request".
     The simulated phone pays after {services.answer_delay:g} s and the
     bell at the top right counts a notification ("M-Pesa: ... paid");
     press Reload (the circular arrow): the sale is Processing, its
     Payments link shows the payment Succeeded, its M-Pesa tab the
     receipt.
  2. The same with sale {cancelled} of {canceller} ({canceller_phone},
     ending in 1032): the customer cancels, the bell says "not paid"
     with the reason, and the sale stays a quotation.
     Request less than the amount due for a partial payment.
  3. Pay the shop's paybill {settings.SHORTCODE} as a customer would: open
     {sim}/__sim__/pay
     - phone {payer_phone}, account number {second}, its total: sale
       {second} is paid and confirmed, with no one pressing anything;
     - phone {invoiced_phone} (a number the shop does not know),
       account number {typo} (letter O for zero), amount {due}: the
       receipt waits in Financial > Payments > M-Pesa > M-Pesa
       Transactions, tab Unmatched.  Open it and press "Match": choose
       {invoiced}, the wizard puts the amount on her invoice
       {number}; "Match", and the invoice is Paid.
     A script can do the same: curl {sim}/__sim__/c2b -H \
       'Content-Type: application/json' -d '{{"phone": "0712345678",
       "bill_ref_number": "{second}", "amount": 100}}'
  4. Financial > Payments > M-Pesa > M-Pesa Transactions: the receipts,
     each matched to its payment and clearing move on account 1.1.9
     "M-Pesa Clearing"; M-Pesa Callbacks shows what Daraja sent.  The
     cron (every minute) posts the clearing moves and asks M-Pesa about
     payments whose callback never came.

  Press Ctrl-C to stop.""", flush=True)
