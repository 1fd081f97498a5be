# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What the demo prints once everything runs: where to go, how to log in,
and three things to try."""
import textwrap

from proteus import Model

from . import settings, webclient


def quotations():
    "The waiting quotations by customer name: {name: [number, ...]}"
    Sale = Model.get('sale.sale')
    result = {}
    for sale in Sale.find(
            [('state', '=', 'quotation')], order=[('id', 'ASC')]):
        result.setdefault(sale.party.name, []).append(sale.number)
    return result


def show(services, web_root):
    "Print the URLs, the login and the three things to try"
    waiting = quotations()
    payer, payer_phone = settings.PAYING_CUSTOMER
    canceller, canceller_phone = settings.CANCELLING_CUSTOMER
    first = (waiting.get(payer) or ['(none left: use --reset)'])[0]
    cancelled = (waiting.get(canceller) or ['(none left: use --reset)'])[0]
    url = services.tryton_url
    host = url.split('//', 1)[1]
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
    print(f"  Daraja simulator    {services.simulator_url} "
        f"(state: {services.simulator_url}/__sim__/state)")
    print(f"""
  Three things to try (the menu on the left):
  1. Sales > Sales, tab Quotation: open sale {first} of {payer}
     ({payer_phone}), press "Request M-Pesa Payment", then "Request".
     The simulated phone pays after {services.answer_delay:g} s: press Reload (the
     circular arrow) and the sale is Processing; its Payments link shows
     the payment Succeeded, its M-Pesa tab the receipt.
  2. The same with sale {cancelled} of {canceller} ({canceller_phone},
     ending in 1032): the customer cancels, the payment fails ("The
     customer cancelled the payment request.") and the sale stays a
     quotation.
     Request less than the amount due for a partial payment.
  3. Financial > Payments > M-Pesa > M-Pesa Transactions: the receipts,
     each matched to its payment and clearing move on account 1.1.9
     "M-Pesa Clearing"; M-Pesa Callbacks shows what Daraja sent.  The
     cron (every minute) posts the clearing moves and asks M-Pesa about
     payments whose callback never came.

  Press Ctrl-C to stop.""", flush=True)
