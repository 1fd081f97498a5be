# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Matching a customer payment (C2B) to what it pays: an ordered list of
rules per M-Pesa account, each an exact lookup of the normalised account
number (or of the payer's phone).  The first rule that finds something
decides; exactly one candidate matches, several or none leave the receipt
for the accountants.  Nothing is guessed."""
import re
from decimal import Decimal
from typing import NamedTuple

from sql.functions import Function, Upper

from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from . import daraja

RULE_KINDS = [
    ('sale_number', "Sale Number"),
    ('sale_reference', "Sale Reference"),
    ('invoice_number', "Customer Invoice Number"),
    ('invoice_reference', "Invoice Payment Reference"),
    ('party_code', "Party Code"),
    ('phone', "Payer's Phone"),
    ]
DEFAULT_RULES = [k for k, _ in RULE_KINDS]
SALE_STATES = ['quotation', 'confirmed', 'processing']


class Replace(Function):
    __slots__ = ()
    _function = 'REPLACE'


def normalise(reference):
    """The account number as compared: without spaces, dashes and a
    leading '#', in capitals"""
    text = re.sub(r'[\s\-]+', '', reference or '')
    return text.lstrip('#').upper()


def normalised_column(column):
    "The SQL of a column normalised as ``normalise`` does"
    return Upper(Replace(Replace(column, ' ', ''), '-', ''))


def normalised_index(table, column):
    "An index of the column as the rules compare it"
    return Index(table, (normalised_column(column), Index.Equality()))


def msisdn_forms(value):
    "The normalised number and its SHA-256, or (None, None)"
    try:
        number = daraja.normalize_msisdn(value or '')
    except daraja.InvalidPhoneNumber:
        return None, None
    return number, daraja.hash_msisdn(number)


class ContactMechanism(metaclass=PoolMeta):
    """A mobile number kept also as M-Pesa writes it, plain and hashed, so
    that the payer's phone is found by an index lookup"""
    __name__ = 'party.contact_mechanism'

    mpesa_msisdn = fields.Char("M-Pesa Number", readonly=True)
    mpesa_msisdn_hash = fields.Char("M-Pesa Number Hash", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.mpesa_msisdn, Index.Equality()),
                    where=t.mpesa_msisdn != None),  # noqa: E711
                Index(t, (t.mpesa_msisdn_hash, Index.Equality()),
                    where=t.mpesa_msisdn_hash != None),  # noqa: E711
                })

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(
                table.id, table.value,
                where=(table.type == 'mobile')
                & (table.mpesa_msisdn == None)))  # noqa: E711
        for id_, value in cursor.fetchall():
            number, hashed = msisdn_forms(value)
            if number:
                cursor.execute(*table.update(
                        [table.mpesa_msisdn, table.mpesa_msisdn_hash],
                        [number, hashed], where=table.id == id_))

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if 'value' in values or 'type' in values:
            values['mpesa_msisdn'] = values['mpesa_msisdn_hash'] = None
        return values

    @classmethod
    def on_modification(cls, mode, mechanisms, field_names=None):
        super().on_modification(mode, mechanisms, field_names=field_names)
        if mode == 'delete' or (
                field_names is not None
                and not (field_names & {'value', 'type'})):
            return
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        for mechanism in mechanisms:
            number, hashed = (msisdn_forms(mechanism.value)
                if mechanism.type == 'mobile' else (None, None))
            cursor.execute(*table.update(
                    [table.mpesa_msisdn, table.mpesa_msisdn_hash],
                    [number, hashed], where=table.id == mechanism.id))


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(normalised_index(t, t.code))


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                normalised_index(t, t.number),
                normalised_index(t, t.reference),
                })


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                normalised_index(t, t.number),
                # What a creditor reference (payment reference) is searched by
                Index(t, (t.number_alnum, Index.Equality()),
                    where=t.number_alnum != None),  # noqa: E711
                })


class Candidate(NamedTuple):
    "What a customer payment may pay: a party, and a sale or an invoice"
    party: object
    sale: object = None
    invoice: object = None

    @property
    def label(self):
        return (self.sale or self.invoice or self.party).rec_name


class Rule(sequence_ordered(), ModelSQL, ModelView):
    "M-Pesa Matching Rule"
    __name__ = 'account.payment.mpesa.rule'

    account = fields.Many2One(
        'account.payment.mpesa.account', "Account", required=True,
        ondelete='CASCADE')
    kind = fields.Selection(RULE_KINDS, "Match By", required=True)
    kind_string = kind.translated('kind')
    oldest_first = fields.Boolean(
        "Oldest Invoices First",
        help="A payment matched to a party alone pays its oldest open "
        "invoices first; the rest is the customer's credit.")

    @classmethod
    def default_oldest_first(cls):
        return True

    def find(self, record):
        "The candidates the rule finds for the ledger record"
        method = getattr(self, '_find_%s' % self.kind)
        if self.kind == 'phone':
            return method(record)
        reference = normalise(record.account_number)
        if not reference:
            return []
        return method(record, reference)

    @staticmethod
    def _lookup(Model, column, reference, where):
        table = Model.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(
                table.id,
                where=(normalised_column(getattr(table, column))
                    == reference) & where(table),
                limit=10))
        return [i for i, in cursor]

    def _sales(self, record, column, reference):
        pool = Pool()
        try:
            Sale = pool.get('sale.sale')
        except KeyError:
            return []
        ids = self._lookup(Sale, column, reference,
            lambda t: (t.company == record.company.id)
            & t.state.in_(SALE_STATES))
        return [Candidate(s.party, sale=s) for s in Sale.browse(ids)]

    def _find_sale_number(self, record, reference):
        return self._sales(record, 'number', reference)

    def _find_sale_reference(self, record, reference):
        return self._sales(record, 'reference', reference)

    def _invoices(self, record, ids):
        Invoice = Pool().get('account.invoice')
        return [Candidate(i.party, invoice=i) for i in Invoice.browse(ids)
            if i.type == 'out' and i.state == 'posted'
            and i.company == record.company]

    def _find_invoice_number(self, record, reference):
        try:
            Invoice = Pool().get('account.invoice')
        except KeyError:
            return []
        return self._invoices(record, self._lookup(
                Invoice, 'number', reference,
                lambda t: (t.company == record.company.id)
                & (t.type == 'out') & (t.state == 'posted')))

    def _find_invoice_reference(self, record, reference):
        try:
            Invoice = Pool().get('account.invoice')
        except KeyError:
            return []
        clause = ('customer_payment_reference', '=', reference)
        if Invoice.search_customer_payment_reference(
                clause[0], clause) in ([], ['OR']):
            # Not in a payment reference's format: searching would find
            # every invoice
            return []
        invoices = Invoice.search([
                clause,
                ('company', '=', record.company.id),
                ('type', '=', 'out'),
                ('state', '=', 'posted'),
                ], limit=10)
        # The search is only as strict as the reference's format
        return self._invoices(record, [i.id for i in invoices
                if normalise(i.customer_payment_reference) == reference])

    def _find_party_code(self, record, reference):
        Party = Pool().get('party.party')
        ids = self._lookup(Party, 'code', reference,
            lambda t: t.active == True)  # noqa: E712
        return [Candidate(p) for p in Party.browse(ids)]

    def _find_phone(self, record):
        "The parties one of whose mobile numbers paid"
        ContactMechanism = Pool().get('party.contact_mechanism')
        payer = (record.phone or '').replace(' ', '').lower()
        if re.fullmatch(r'[0-9a-f]{64}', payer):
            clause = ('mpesa_msisdn_hash', '=', payer)
        else:
            payer, _ = msisdn_forms(payer)
            if not payer:
                # Masked: it proves nothing
                return []
            clause = ('mpesa_msisdn', '=', payer)
        mechanisms = ContactMechanism.search([
                clause,
                ('type', '=', 'mobile'),
                ('party.active', '=', True),
                ], limit=10)
        parties = {m.party for m in mechanisms}
        return [Candidate(p) for p in sorted(parties, key=lambda p: p.id)]


class Match(NamedTuple):
    "The match of a ledger record, or why there is none"
    candidate: Candidate | None
    rule: Rule | None = None
    reason: str = ''


def find_match(record):
    """The candidate the account's rules find for the ledger record, in
    their order: the first rule that finds anything decides"""
    for rule in record.account.c2b_rules:
        candidates = list(dict.fromkeys(rule.find(record)))
        if len(candidates) == 1:
            return Match(candidates[0], rule)
        if candidates:
            return Match(None, rule, gettext(
                    'account_mpesa.msg_c2b_several_matches',
                    reference=record.account_number or '',
                    rule=rule.kind_string,
                    candidates=', '.join(c.label for c in candidates)))
    return Match(None, None, gettext(
            'account_mpesa.msg_c2b_no_match',
            reference=record.account_number or ''))


def open_invoices(party, company):
    "The posted customer invoices of the party, oldest first"
    try:
        Invoice = Pool().get('account.invoice')
    except KeyError:
        return []
    invoices = Invoice.search([
            ('party', '=', party.id),
            ('company', '=', company.id),
            ('type', '=', 'out'),
            ('state', '=', 'posted'),
            ], order=[('invoice_date', 'ASC'), ('number', 'ASC'),
            ('id', 'ASC')])
    return [i for i in invoices if i.amount_to_pay > 0]


def oldest_first(invoices, amount):
    """The amounts to put on the invoices, oldest first, and the rest"""
    allocations = []
    for invoice in invoices:
        if amount <= 0:
            break
        part = min(amount, invoice.amount_to_pay)
        if part > 0:
            allocations.append((invoice, part))
            amount -= part
    return allocations, amount


def distribute(amounts, allocations):
    """Each receipt's share of the (target, amount) allocations, the
    receipts and the allocations taken in order: for each amount, the
    (target, part) it pays and its rest.  A receipt's money goes on the
    allocations until it is used; an allocation may take several."""
    wanted = [list(a) for a in allocations]
    shares = []
    for amount in amounts:
        parts = []
        while amount > 0 and wanted:
            target, want = wanted[0]
            part = min(amount, want)
            parts.append((target, part))
            amount -= part
            wanted[0][1] -= part
            if not wanted[0][1]:
                wanted.pop(0)
        shares.append((parts, amount))
    return shares


def allocations_for(match, record):
    """The (invoice, amount) the matched receipt pays, the rest as credit,
    and the sale it pays"""
    candidate = match.candidate
    amount = Decimal(record.amount)
    if candidate.sale:
        return [], amount, candidate.sale
    if candidate.invoice:
        part = min(amount, max(candidate.invoice.amount_to_pay, Decimal(0)))
        allocations = [(candidate.invoice, part)] if part else []
        return allocations, amount - part, None
    if match.rule is None or match.rule.oldest_first:
        allocations, rest = oldest_first(
            open_invoices(candidate.party, record.company), amount)
        return allocations, rest, None
    return [], amount, None
