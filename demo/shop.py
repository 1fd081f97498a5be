# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The shop: its M-Pesa account on the simulator and its payment journal,
customers with mobile numbers, products, quotations and an invoice."""
from proteus import Model

from . import settings


def create_mpesa(clearing_account, clearing_journal):
    """The M-Pesa account in the "Custom URL" environment (pointed at the
    simulator each time the demo starts) and the M-Pesa payment journal"""
    MpesaAccount = Model.get('account.payment.mpesa.account')
    PaymentJournal = Model.get('account.payment.journal')
    account = MpesaAccount(
        name="Shop Paybill", environment='custom',
        base_url='http://127.0.0.1:8099', shortcode_type='paybill',
        business_shortcode=settings.SHORTCODE,
        consumer_key=settings.CONSUMER_KEY,
        consumer_secret=settings.CONSUMER_SECRET,
        passkey=settings.PASSKEY)
    account.save()
    journal = PaymentJournal(
        name="M-Pesa", process_method='mpesa', mpesa_account=account,
        clearing_journal=clearing_journal, clearing_account=clearing_account)
    journal.save()
    return account, journal


def point_at(simulator_url, tryton_url):
    """Point the M-Pesa account at the simulator and the callbacks at
    Tryton; forget the token of the previous run's simulator; register
    the C2B URLs and Pull Transactions with it (it forgets them when it
    stops), so that the paybill's customer payments reach Tryton and are
    confirmed by Pull before they are matched"""
    MpesaAccount = Model.get('account.payment.mpesa.account')
    account, = MpesaAccount.find([])
    account.base_url = simulator_url
    account.callback_base_url = tryton_url
    account.pull_nominated_number = (
        account.pull_nominated_number or settings.NOMINATED_NUMBER)
    account.save()
    forget_token(account.id)
    account.click('register_c2b_urls')
    account.click('register_pull')
    account.reload()
    return account


def forget_token(account_id):
    "Drop the stored OAuth token (read-only for users, so as root)"
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(settings.DATABASE, 0) as transaction:
        Account = Pool().get('account.payment.mpesa.account')
        Account.write([Account(account_id)], {
                'daraja_token': None, 'daraja_token_expires': None})
        transaction.commit()


def create_customer(name, phone=None):
    "A customer, with a mobile number when the shop knows it"
    Party = Model.get('party.party')
    customer = Party(name=name)
    if phone:
        mechanism = customer.contact_mechanisms.new()
        mechanism.type = 'mobile'
        mechanism.value = phone
    customer.save()
    return customer


def create_products(revenue):
    "Goods sold by the unit, in a category that books them to revenue"
    Category = Model.get('product.category')
    Template = Model.get('product.template')
    Uom = Model.get('product.uom')
    unit, = Uom.find([('name', '=', "Unit")])
    category = Category(
        name="Groceries", accounting=True, account_revenue=revenue)
    category.save()
    products = []
    for name, price in settings.PRODUCTS:
        template = Template(
            name=name, type='goods', default_uom=unit, salable=True,
            list_price=price, account_category=category)
        template.save()
        product, = template.products
        products.append(product)
    return products


def create_quotation(customer, lines, products):
    "A sale in the quotation state, numbered"
    Sale = Model.get('sale.sale')
    sale = Sale(party=customer)
    for index, quantity in lines:
        line = sale.lines.new()
        line.product = products[index]
        line.quantity = quantity
    sale.click('quote')
    return sale


def create_invoice(customer, lines, products):
    "A posted customer invoice, numbered"
    Invoice = Model.get('account.invoice')
    invoice = Invoice(type='out', party=customer)
    for index, quantity in lines:
        line = invoice.lines.new()
        line.product = products[index]
        line.quantity = quantity
        line.unit_price = products[index].template.list_price
    invoice.click('post')
    return invoice


def mistyped(number):
    "The number as a hurried customer types it: letter O for zero"
    return number.replace('0', 'O') if '0' in number else number + '1'


def close_configuration_wizards():
    """Mark the configuration steps done (the demo did them): the first
    login goes to the menu, not to the module configuration wizard"""
    Item = Model.get('ir.module.config_wizard.item')
    items = Item.find([('state', '!=', 'done')])
    for item in items:
        item.state = 'done'
    Item.save(items)


def create_shop(accounts, clearing_account, clearing_journal):
    """The M-Pesa set-up, the customers, the products, the quotations and
    the invoices; returns the quotations and the invoices"""
    close_configuration_wizards()
    create_mpesa(clearing_account, clearing_journal)
    customers = {
        c: create_customer(*c)
        for c in [settings.PAYING_CUSTOMER, settings.CANCELLING_CUSTOMER]}
    customers[settings.INVOICED_CUSTOMER] = create_customer(
        settings.INVOICED_CUSTOMER[0])
    products = create_products(accounts['revenue'])
    quotations = [
        create_quotation(customers[c], lines, products)
        for c, lines in settings.QUOTATIONS]
    invoices = [
        create_invoice(customers[c], lines, products)
        for c, lines in settings.INVOICES]
    return quotations, invoices
