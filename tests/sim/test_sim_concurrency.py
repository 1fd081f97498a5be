# This file is part of account_mpesa.  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The simulator under concurrent clients."""
from concurrent.futures import ThreadPoolExecutor


def test_concurrent_pushes(daraja, listener):
    daraja.token()
    phones = [f'25471{i:03d}4149' for i in range(40)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(
                lambda phone: daraja.stk_push(phone=phone, amount=2), phones))
    assert {r.status_code for r in responses} == {200}
    listener.wait(40, timeout=10)
    ledger = daraja.sim.ledger
    assert len({e['receipt'] for e in ledger}) == 40
    assert sorted(e['balance'] for e in ledger) == list(range(2, 82, 2))


def test_one_prompt_per_phone(daraja):
    daraja.token()
    daraja.sim.set_customer('254708374149', 'never')
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(
                lambda _: daraja.stk_push().status_code, range(10)))
    assert sorted(statuses) == [200] + [500] * 9
    assert len(daraja.sim.pending) == 1
