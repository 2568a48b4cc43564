"""The receipt projector: once a transaction is completed, its projection is a
Receipt with the items, the customer, the amounts, the payment, the points
earned and a printable text.

The items and the customer are in TransactionCreated, the total in
TransactionCompleted, so the projector is built with history=True and evented
must call it with ``history: true`` — every book then holds the whole
transaction (from its latest snapshot on), and the state folded from it is
complete. It runs synchronously, so the receipt is in the reply to
CompleteTransaction.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import evented
from shop import domains_pb2 as pb


@dataclasses.dataclass
class State:
    """A transaction as the receipt needs it."""

    customer_id: str = ""
    items: list[pb.LineItem] = dataclasses.field(default_factory=list)
    subtotal: int = 0
    discount: int = 0
    discount_type: str = ""
    completed: pb.TransactionCompleted | None = None  # None until completed


def new(**options: Any) -> evented.Projector[State]:
    p = evented.Projector("receipt", State, **{"history": True, **options})

    @p.apply
    def created(s: State, e: pb.TransactionCreated) -> None:
        s.customer_id, s.items, s.subtotal = e.customer_id, list(e.items), e.subtotal_cents

    @p.apply
    def discounted(s: State, e: pb.DiscountApplied) -> None:
        s.discount, s.discount_type = e.discount_cents, e.discount_type

    @p.apply
    def completed(s: State, e: pb.TransactionCompleted) -> None:
        s.completed = e

    @p.restore
    def restore(s: State, snap: pb.TransactionState) -> None:
        s.customer_id, s.items, s.subtotal = snap.customer_id, list(snap.items), snap.subtotal_cents
        s.discount, s.discount_type = snap.discount_cents, snap.discount_type

    @p.project
    def receipt(s: State, last: evented.Event) -> pb.Receipt | None:
        if s.completed is None:
            return None  # no receipt before the transaction is completed
        r = pb.Receipt(
            transaction_id=str(last.cover.root),
            customer_id=s.customer_id,
            items=s.items,
            subtotal_cents=s.subtotal,
            discount_cents=s.discount,
            final_total_cents=s.completed.final_total_cents,
            payment_method=s.completed.payment_method,
            loyalty_points_earned=s.completed.loyalty_points_earned,
        )
        if s.completed.HasField("completed_at"):
            r.completed_at.CopyFrom(s.completed.completed_at)
        r.formatted_text = format_receipt(r)
        return r

    return p


def format_receipt(r: pb.Receipt) -> str:
    """A receipt as text; every example language prints the same::

        Receipt for transaction <transaction_id>
        Customer: <customer_id>
        <quantity> x <name> @ $<unit price> = $<quantity × unit price>   (one line per item)
        Subtotal: $<subtotal>
        Discount: -$<discount>                                          (only when there is one)
        Total: $<final total>
        Payment: <payment method>
        Loyalty points earned: <points>

    Amounts are in units and cents ($45.00); each line ends with a newline.
    """
    lines = [f"Receipt for transaction {r.transaction_id}", f"Customer: {r.customer_id}"]
    for it in r.items:
        lines.append(f"{it.quantity} x {it.name} @ {money(it.unit_price_cents)} = {money(it.quantity * it.unit_price_cents)}")
    lines.append(f"Subtotal: {money(r.subtotal_cents)}")
    if r.discount_cents > 0:
        lines.append(f"Discount: -{money(r.discount_cents)}")
    lines.append(f"Total: {money(r.final_total_cents)}")
    lines.append(f"Payment: {r.payment_method}")
    lines.append(f"Loyalty points earned: {r.loyalty_points_earned}")
    return "".join(line + "\n" for line in lines)


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}${cents // 100}.{cents % 100:02d}"
