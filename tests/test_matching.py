# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Customer payments (C2B) fed straight to the ledger: the matching rules,
over and under payment, the Unmatched queue, the Match wizard and the STK
Push that also arrives as a C2B notification."""
import datetime as dt
from decimal import Decimal
from itertools import count

import pytest

from test_settlement import collection, database  # noqa: F401
from trytond.modules.account_mpesa import daraja
from trytond.modules.account_mpesa.matching import distribute, normalise
from trytond.modules.account_mpesa.outcome import Outcome

IDS = count(1)
PHONE = '254712345678'


@pytest.fixture
def books(database):
    """The pool and the shop's records, in a transaction rolled back
    after; the tables Tryton locks while posting are locked at the start,
    as its dispatcher would"""
    from types import SimpleNamespace

    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(database, 0, _lock_tables=[
                'account_journal_period', 'ir_sequence_strict',
                'ir_sequence', 'account_payment_mpesa_account'],
            ) as transaction:
        pool = Pool()
        company, = pool.get('company.company').search([])
        with transaction.set_context(company=company.id):
            journal, = pool.get('account.payment.journal').search([
                    ('process_method', '=', 'mpesa')])
            customer, = pool.get('party.party').search([
                    ('name', '=', "Wanjiku Kamau")])
            yield SimpleNamespace(
                pool=pool, company=company, journal=journal,
                account=journal.mpesa_account, customer=customer,
                Payment=pool.get('account.payment'),
                Ledger=pool.get('account.payment.mpesa.transaction'))
        transaction.rollback()


def customer_payment(books, amount, reference, phone=PHONE, receipt=None,
        source='pull', time=dt.datetime(2026, 12, 1, 21, 30), account=None):
    "What Daraja tells of a customer paying the paybill (time in UTC)"
    return Outcome(
        kind='c2b', source=source, account=(account or books.account).id,
        receipt=receipt or f'UC2{next(IDS):07d}', result_code='0',
        amount=Decimal(amount), time=time,
        phone=phone, bill_reference=reference, name="WANJIKU KAMAU")


def receive(books, outcome):
    return books.Ledger.c2b_receive(outcome)


def party(books, name, phone=None, code=None):
    Party = books.pool.get('party.party')
    values = {'name': name, 'addresses': [('create', [{}])]}
    if code:
        values['code'] = code
    if phone:
        values['contact_mechanisms'] = [('create', [{
                        'type': 'mobile', 'value': phone}])]
    return Party.create([values])[0]


def invoice(books, party_, amount, day=1):
    "A posted customer invoice of one line"
    pool = books.pool
    Invoice = pool.get('account.invoice')
    Account = pool.get('account.account')
    revenue, = Account.search([
        ('type.revenue', '=', True), ('closed', '!=', True)], limit=1)
    invoice_ = Invoice(
        type='out', party=party_, invoice_date=dt.date(2026, 11, day),
        lines=[{'account': revenue, 'quantity': 1,
                'unit_price': Decimal(amount), 'description': "Flour"}])
    invoice_.on_change_type()
    invoice_.account = party_.account_receivable_used
    invoice_.invoice_address = party_.address_get()
    invoice_.save()
    Invoice.post([invoice_])
    return Invoice(invoice_.id)


def quotation(books, party_, amount):
    Sale = books.pool.get('sale.sale')
    sale = Sale(
        party=party_, invoice_method='order',
        lines=[{'quantity': 1, 'unit_price': Decimal(amount),
                'description': "Maize flour"}])
    sale.on_change_party()
    sale.save()
    Sale.quote([sale])
    return Sale(sale.id)


def reload(record):
    return record.__class__(record.id)


def test_normalise():
    assert normalise(' #inv-00 12 ') == 'INV0012'
    assert normalise('#') == ''
    assert normalise(None) == ''


def test_distribute():
    "The receipts, in order, fill the allocations in order"
    assert distribute([500, 400], [('a', 300), ('b', 500)]) == [
        ([('a', 300), ('b', 200)], 0), ([('b', 300)], 100)]
    assert distribute([100, 100], [('a', 150)]) == [
        ([('a', 100)], 0), ([('a', 50)], 50)]
    assert distribute([100], []) == [([], 100)]


def test_default_rules(books):
    assert [r.kind for r in books.account.c2b_rules] == [
        'sale_number', 'sale_reference', 'invoice_number',
        'invoice_reference', 'party_code', 'phone']


def test_sale_number(books):
    sale = quotation(books, books.customer, 1000)
    record = receive(books, customer_payment(
            books, 1000, f"#{sale.number.lower()} ", phone='masked'))
    assert record.state == 'matched'
    payment = record.payment
    assert (payment.state, payment.origin, payment.amount) == (
        'succeeded', sale, Decimal(1000))
    assert payment.mpesa_receipt == record.receipt
    assert payment.clearing_move.date == dt.date(2026, 12, 2)
    Sale = books.pool.get('sale.sale')
    Sale.payment_confirm([sale])
    assert reload(sale).state in {'confirmed', 'processing'}


def test_sale_underpaid_stays_quotation(books):
    sale = quotation(books, books.customer, 1000)
    record = receive(books, customer_payment(books, 400, sale.number))
    assert record.payment.origin == sale
    books.pool.get('sale.sale').payment_confirm([sale])
    assert reload(sale).state == 'quotation'


def test_invoice_number(books):
    invoice_ = invoice(books, books.customer, 1000)
    record = receive(books, customer_payment(
            books, 1000, invoice_.number, phone='masked'))
    assert record.state == 'matched'
    assert record.payment.line in invoice_.lines_to_pay
    invoice_ = reload(invoice_)
    assert invoice_.reconciled
    assert invoice_.amount_to_pay == 0


def test_invoice_payment_reference(books):
    "The invoice's creditor reference (RF...), spaced or not, pays it"
    invoice_ = invoice(books, books.customer, 800)
    reference = invoice_.customer_payment_reference
    assert reference.startswith('RF')
    record = receive(books, customer_payment(
            books, 800, reference.lower(), phone='masked'))
    assert record.state == 'matched', record.note
    assert reload(invoice_).reconciled


def test_invoice_overpaid_leaves_credit(books):
    invoice_ = invoice(books, books.customer, 1000)
    record = receive(books, customer_payment(books, 1500, invoice_.number))
    payment = record.payment
    assert payment.amount == Decimal(1500)
    assert reload(invoice_).reconciled
    credit = [l for l in payment.clearing_move.lines
        if not l.reconciliation and l.credit]
    assert [l.credit for l in credit] == [Decimal(500)]
    assert credit[0].party == books.customer


def test_invoice_underpaid_is_partial(books):
    invoice_ = invoice(books, books.customer, 1000)
    record = receive(books, customer_payment(books, 400, invoice_.number))
    assert record.state == 'matched'
    invoice_ = reload(invoice_)
    assert not invoice_.reconciled
    assert invoice_.amount_to_pay == Decimal(600)
    # The rest, later, pays it
    receive(books, customer_payment(books, 600, invoice_.number))
    assert reload(invoice_).reconciled


def test_party_code_oldest_first(books):
    payer = party(books, "Otieno Stores", code='OTS-7')
    first = invoice(books, payer, 300, day=1)
    second = invoice(books, payer, 500, day=2)
    third = invoice(books, payer, 400, day=3)
    record = receive(books, customer_payment(
            books, 1000, 'ots 7', phone='masked'))
    assert record.state == 'matched', record.note
    assert record.payment.party == payer
    assert reload(first).reconciled
    assert reload(second).reconciled
    third = reload(third)
    assert not third.reconciled
    assert third.amount_to_pay == Decimal(200)


def test_phone_hash(books):
    invoice_ = invoice(books, books.customer, 700)
    record = receive(books, customer_payment(
            books, 700, 'no such thing',
            phone=daraja.hash_msisdn('0712345678')))
    assert record.state == 'matched'
    assert record.payment.party == books.customer
    assert reload(invoice_).reconciled


def test_phone_plain_till_without_reference(books):
    record = receive(books, customer_payment(books, 250, '', phone=PHONE))
    assert record.state == 'matched'
    assert record.payment.party == books.customer
    assert record.payment.amount == Decimal(250)


def test_no_match_unmatched(books):
    record = receive(books, customer_payment(
            books, 500, 'INV-9999', phone='2547****678'))
    assert record.state == 'unmatched'
    assert 'INV9999' in record.note or 'INV-9999' in record.note
    assert not record.payment
    Ledger = books.Ledger
    assert record in Ledger.search([('state', '=', 'unmatched')])


def test_two_matches_unmatched(books):
    party(books, "Kamau Twin", phone='+254 712 345 678')
    record = receive(books, customer_payment(books, 500, 'typo'))
    assert record.state == 'unmatched'
    assert "Wanjiku Kamau" in record.note
    assert "Kamau Twin" in record.note
    assert not books.Payment.search([('mpesa_receipt', '=', record.receipt)])


def test_receipt_recorded_once(books):
    outcome = customer_payment(books, 1000, 'typo', phone='masked')
    first = receive(books, outcome)
    second = receive(books, outcome)
    assert first == second
    assert len(books.Ledger.search([('receipt', '=', outcome.receipt)])) == 1


def match_wizard(books, records, **values):
    """Run the Match wizard on the receipts as the client does, with the
    form's values; return the receipts read again"""
    from trytond.transaction import Transaction
    Match = books.pool.get(
        'account.payment.mpesa.transaction.match', type='wizard')
    with Transaction().set_context(
            active_model=books.Ledger.__name__, active_id=records[0].id,
            active_ids=[r.id for r in records]):
        session_id, _, _ = Match.create()
        wizard = Match(session_id)
        for name, value in wizard.default_start(None).items():
            setattr(wizard.start, name, value)
        wizard.start.company = books.company
        for name, value in values.items():
            setattr(wizard.start, name, value)
        if values.get('party') and 'lines' not in values:
            wizard.start.on_change_party()
        wizard.transition_match()
    return [reload(r) for r in records]


def test_match_wizard_split_and_undo(books):
    first = invoice(books, books.customer, 300, day=1)
    second = invoice(books, books.customer, 500, day=2)
    record = receive(books, customer_payment(
            books, 1000, 'typo', phone='masked'))
    assert record.state == 'unmatched'
    MatchLine = books.pool.get('account.payment.mpesa.transaction.match.line')
    record, = match_wizard(books, [record], party=books.customer, lines=[
            MatchLine(invoice=second, amount=Decimal(500)),
            MatchLine(invoice=first, amount=Decimal(100)),
            ])
    assert record.state == 'matched'
    payment = record.payment
    assert payment.state == 'succeeded'
    assert reload(second).reconciled
    assert reload(first).amount_to_pay == Decimal(200)

    books.Ledger.unmatch([record])
    record = reload(record)
    assert (record.state, record.payment) == ('unmatched', None)
    payment = reload(payment)
    assert payment.state == 'failed'
    assert reload(second).amount_to_pay == Decimal(500)
    assert reload(first).amount_to_pay == Decimal(300)


def test_match_wizard_oldest_first_default(books):
    first = invoice(books, books.customer, 300, day=1)
    record = receive(books, customer_payment(
            books, 300, 'typo', phone='masked'))
    record, = match_wizard(books, [record], party=books.customer)
    assert record.state == 'matched'
    assert reload(first).reconciled


def test_match_wizard_not_a_customer_payment(books):
    Account = books.pool.get('account.account')
    other, = Account.search([
        ('type.revenue', '=', True), ('closed', '!=', True)], limit=1)
    record = receive(books, customer_payment(
            books, 900, 'typo', phone='masked'))
    record, = match_wizard(
        books, [record], action='other', account=other,
        description="Owner's top-up")
    assert record.state == 'matched'
    assert record.c2b_move.state == 'posted'
    assert {(l.account, l.credit) for l in record.c2b_move.lines
        if l.credit} == {(other, Decimal(900))}


def unmatched(books, amount, day):
    "An Unmatched receipt of the amount paid on the day of November 2026"
    record = receive(books, customer_payment(
            books, amount, 'typo', phone='masked',
            time=dt.datetime(2026, 11, day, 9, 0)))
    assert record.state == 'unmatched'
    return record


def test_match_wizard_two_receipts_one_invoice(books):
    "Two receipts pay one invoice: a payment each, on its own date"
    invoice_ = invoice(books, books.customer, 1000)
    receipts = [unmatched(books, 600, day=20), unmatched(books, 400, day=10)]
    receipts = match_wizard(books, receipts, party=books.customer)
    assert {r.state for r in receipts} == {'matched'}
    payments = [r.payment for r in receipts]
    assert len(set(payments)) == 2
    assert [(p.amount, p.state, p.mpesa_receipt, p.clearing_move.date)
        for p in payments] == [
        (Decimal(600), 'succeeded', receipts[0].receipt, dt.date(2026, 11, 20)),
        (Decimal(400), 'succeeded', receipts[1].receipt, dt.date(2026, 11, 10)),
        ]
    invoice_ = reload(invoice_)
    assert invoice_.reconciled
    assert invoice_.state == 'paid'


def test_match_wizard_receipts_split_and_undo_one(books):
    """Two receipts over two invoices, oldest receipt first, the rest as
    credit; undoing one puts only that one back"""
    first = invoice(books, books.customer, 300, day=1)
    second = invoice(books, books.customer, 500, day=2)
    older, newer = unmatched(books, 500, day=10), unmatched(books, 400, day=11)
    MatchLine = books.pool.get('account.payment.mpesa.transaction.match.line')
    newer, older = match_wizard(books, [newer, older], party=books.customer,
        lines=[
            MatchLine(invoice=first, amount=Decimal(300)),
            MatchLine(invoice=second, amount=Decimal(500)),
            ])
    assert (older.state, newer.state) == ('matched', 'matched')
    assert reload(first).reconciled
    assert reload(second).reconciled
    # The older receipt: 300 on the first, 200 on the second; the newer:
    # 300 on the second, 100 of credit
    credit = [l.credit for l in newer.payment.clearing_move.lines
        if l.credit and not l.reconciliation]
    assert credit == [Decimal(100)]

    books.Ledger.unmatch([newer])
    newer, older = reload(newer), reload(older)
    assert (newer.state, newer.payment) == ('unmatched', None)
    assert older.state == 'matched'
    assert older.payment.state == 'succeeded'
    assert reload(first).reconciled
    assert reload(second).amount_to_pay == Decimal(300)


def test_match_wizard_refuses_matched_or_mixed(books):
    "Only Unmatched receipts of one account are matched together"
    from trytond.modules.account_mpesa.exceptions import MpesaAccountError
    Account = books.pool.get('account.payment.mpesa.account')
    waiting = unmatched(books, 100, day=10)
    matched = receive(books, customer_payment(books, 100, '', phone=PHONE))
    assert matched.state == 'matched'
    with pytest.raises(MpesaAccountError, match='not waiting'):
        match_wizard(books, [waiting, matched], party=books.customer)
    till, = Account.copy([books.account], default={'name': "Shop Till"})
    elsewhere = receive(books, customer_payment(
            books, 100, 'typo', phone='masked', account=till))
    assert elsewhere.state == 'unmatched'
    with pytest.raises(MpesaAccountError, match='one M-Pesa account'):
        match_wizard(books, [waiting, elsewhere], party=books.customer)
    assert reload(waiting).state == 'unmatched'


def stk_outcome(books, payment, receipt):
    return Outcome(
        kind='stk', source='callback', account=books.account.id,
        checkout_request_id=payment.mpesa_checkout_request_id,
        receipt=receipt, result_code='0', result_desc="OK",
        amount=payment.amount, phone=PHONE)


def stk_push(books, sale):
    payment = collection(books)
    books.Payment.write([payment], {'origin': str(sale)})
    return reload(payment)


def test_stk_then_c2b_one_payment(books):
    sale = quotation(books, books.customer, 1000)
    payment = stk_push(books, sale)
    receipt = 'UKSTK00001'
    assert books.Ledger.settle(
        stk_outcome(books, payment, receipt),
        books.Payment.mpesa_lookup(stk_outcome(books, payment, receipt))
        ) == 'succeeded'
    record = receive(books, customer_payment(
            books, 1000, payment.mpesa_reference, receipt=receipt))
    assert record.payment == payment
    assert books.Payment.search([('party', '=', books.customer)]) == [
        payment]


def test_c2b_then_stk_one_payment(books):
    sale = quotation(books, books.customer, 1000)
    payment = stk_push(books, sale)
    receipt = 'UKSTK00002'
    record = receive(books, customer_payment(
            books, 1000, payment.mpesa_reference, receipt=receipt,
            phone=daraja.hash_msisdn(PHONE)))
    assert record.payment == payment
    assert reload(payment).state == 'succeeded'
    outcome = stk_outcome(books, payment, receipt)
    assert books.Ledger.settle(
        outcome, books.Payment.mpesa_lookup(outcome)) == 'duplicate'
    assert books.Payment.search([('party', '=', books.customer)]) == [
        payment]
    assert len(books.Ledger.search([('receipt', '=', receipt)])) == 1


def test_query_success_then_c2b_adds_receipt(books):
    """A push whose callback was lost and that a query succeeded, which
    gives no receipt, then its C2B notification (by Pull): the receipt is
    the push's, not an Unmatched customer payment"""
    sale = quotation(books, books.customer, 1000)
    payment = stk_push(books, sale)
    query = Outcome(
        kind='stk', source='query', account=books.account.id,
        checkout_request_id=payment.mpesa_checkout_request_id,
        result_code='0', tells_amount=False)
    assert books.Ledger.settle(
        query, books.Payment.mpesa_lookup(query)) == 'succeeded'
    assert not reload(payment).mpesa_receipt
    record = receive(books, customer_payment(
            books, 1000, payment.mpesa_reference, receipt='UKSTK00004'))
    assert (record.state, record.payment) == ('matched', payment)
    assert reload(payment).mpesa_receipt == 'UKSTK00004'
    assert books.Payment.search([('party', '=', books.customer)]) == [
        payment]


@pytest.mark.parametrize('reference, accepted', [
        ('typo', False), ('', True)])
def test_validation_verdict(books, reference, accepted):
    "With Reject Unknown Account Numbers, validation refuses a typo"
    books.account.c2b_reject_unknown = True
    books.account.save()
    ledger_count = books.Ledger.search_count([])
    answer = validate(books, reference, phone='masked')
    assert (answer['ResultCode'] == '0') == accepted
    if not accepted:
        assert answer['ResultCode'] == 'C2B00012'
    assert books.Ledger.search_count([]) == ledger_count


def validate(books, reference, phone):
    import json
    Event = books.pool.get('account.payment.mpesa.event')
    Account = books.pool.get('account.payment.mpesa.account')
    gate = Account.callback_gate(books.account.callback_identifier)
    body = json.dumps({
            'TransactionType': 'Pay Bill', 'TransID': 'UVAL000001',
            'TransTime': '20261201213000', 'TransAmount': '10.00',
            'BusinessShortCode': '174379', 'BillRefNumber': reference,
            'InvoiceNumber': '', 'OrgAccountBalance': '',
            'ThirdPartyTransID': '', 'MSISDN': phone,
            'FirstName': 'A', 'MiddleName': '', 'LastName': ''})
    event_id, state = Event.receive(gate, 'c2b/validation', body, '::1')
    assert state == 'pending'
    return Event.c2b_validation_answer(event_id)


def test_validation_accepts_known(books):
    books.account.c2b_reject_unknown = True
    books.account.save()
    invoice_ = invoice(books, books.customer, 100)
    assert validate(books, invoice_.number, 'masked')['ResultCode'] == '0'


class FakeClient:
    "Daraja answering v2 registrations as for an app whose product is v1"

    def __init__(self):
        self.calls = []

    def register_c2b_urls(self, version, **values):
        self.calls.append((version, values))
        if version == 2:
            raise daraja.InvalidRequest(
                "Product mismatch: the app's product is v1", code='400')
        return daraja.AcceptedRequest('', 'oc-1', '0', 'Success')


def test_register_c2b_urls_falls_back_to_v1(books, monkeypatch):
    Account = books.pool.get('account.payment.mpesa.account')
    client = FakeClient()
    monkeypatch.setattr(Account, 'daraja_client', lambda self: client)
    from trytond.modules.account_mpesa import c2b
    # The answer is written in the test's transaction, not one of its own
    monkeypatch.setattr(c2b, 'run_in_transaction', lambda f, *a: f(*a))
    books.account.c2b_response_type = 'Cancelled'
    books.account.save()
    Account.register_c2b_urls([books.account])
    assert [v for v, _ in client.calls] == [2, 1]
    values = client.calls[-1][1]
    assert values['response_type'] == 'Cancelled'
    assert values['confirmation_url'].endswith('/c2b/confirmation')
    assert values['validation_url'].endswith('/c2b/validation')
    assert Account(books.account.id).c2b_registration == 'Success'


def test_undo_leaves_stk_payment(books):
    "Undo Match never cancels an STK Push its C2B notification settled"
    sale = quotation(books, books.customer, 1000)
    payment = stk_push(books, sale)
    record = receive(books, customer_payment(
            books, 1000, payment.mpesa_reference, receipt='UKSTK00003'))
    assert record.payment == payment
    books.Ledger.unmatch([record])
    assert reload(record).state == 'matched'
    assert reload(payment).state == 'succeeded'


def test_account_warns_when_c2b_cannot_be_confirmed(books):
    Account = books.pool.get('account.payment.mpesa.account')
    account = Account(books.account.id)
    account.confirm_callbacks = True
    account.pull_registered = False
    account.initiator_name = None
    assert any('cannot be confirmed' in m
        for _, m in account.on_change_notify())
    account.pull_registered = True
    assert not any('cannot be confirmed' in m
        for _, m in account.on_change_notify())


def test_match_wizard_refuses_another_partys_sale(books):
    "The server refuses a sale that is not the chosen party's"
    from trytond.modules.account_mpesa.exceptions import MpesaAccountError
    other = party(books, "Otieno Ouma")
    sale = quotation(books, other, 400)
    record = receive(books, customer_payment(
            books, 400, 'typo', phone='masked'))
    with pytest.raises(MpesaAccountError, match="not an open sale"):
        match_wizard(books, [record], party=books.customer, sale=sale,
            lines=[])
    assert reload(record).state == 'unmatched'
    assert not sale.payments
