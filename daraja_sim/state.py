# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Everything the simulator remembers; ``Simulator.reset`` replaces it."""
from .ledger import Ledger


class State:
    "Mutable state; only touched with ``Simulator.lock`` held."

    def __init__(self, opening_balances, receipt, charges):
        self.tokens = {}            # access token -> monotonic expiry
        self.prompts = {}           # CheckoutRequestID -> stk.Prompt
        self.locked_phones = {}     # phone -> CheckoutRequestID pending
        self.customers = {}         # phone -> outcome (set_customer)
        self.originator_ids = set()  # B2C OriginatorConversationIDs seen
        self.c2b_urls = {}          # shortcode -> c2b.Registration
        self.pull_urls = {}         # shortcode -> registration body
        self.ledger = Ledger(opening_balances, receipt, charges)
        self.requests = []          # API request log
        self.callbacks = []         # callback attempts
        self.dropped = []           # callbacks dropped by the fault
