"""The business logic of the example domain transaction: CreateTransaction,
ApplyDiscount, CompleteTransaction, CancelTransaction (rules and messages:
examples/README.md)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import evented
from evented import Invalid, Rejected
from google.protobuf.message import Message
from shop import domains_pb2 as pb

# Statuses of a transaction.
PENDING, COMPLETED, CANCELLED = "pending", "completed", "cancelled"

#: What any coupon takes off.
COUPON_CENTS = 500

MAX_INT32 = 2**31 - 1


@dataclasses.dataclass
class State:
    """A transaction as its business logic sees it."""

    status: str = ""  # "" while the transaction does not exist
    customer_id: str = ""
    items: list[pb.LineItem] = dataclasses.field(default_factory=list)
    subtotal: int = 0
    discount: int = 0
    discount_type: str = ""


def pending(s: State) -> None:
    """Refuses any change to a transaction that is not pending."""
    if s.status == PENDING:
        return
    if not s.status:
        raise Rejected("transaction does not exist")
    raise Rejected(f"transaction is {s.status}, not pending")


OPEN_TIMEOUT = dt.timedelta(minutes=30)
"""How long a transaction may stay pending: then a deadline cancels it (reason
"timeout"), unless it completed or was cancelled before. TRANSACTION_TIMEOUT
(seconds) overrides it in main.py."""

TIMEOUT_DEADLINE = "timeout"
"""The deadline's name within the transaction."""


def new(open_timeout: dt.timedelta = OPEN_TIMEOUT, **options: Any) -> evented.Aggregate[State]:
    """The business logic of domain transaction."""
    agg = evented.Aggregate("transaction", State, **options)

    @agg.apply
    def created(s: State, e: pb.TransactionCreated) -> None:
        s.status, s.customer_id, s.items, s.subtotal = PENDING, e.customer_id, list(e.items), e.subtotal_cents

    @agg.apply
    def discounted(s: State, e: pb.DiscountApplied) -> None:
        s.discount, s.discount_type = e.discount_cents, e.discount_type

    @agg.apply
    def completed(s: State, _: pb.TransactionCompleted) -> None:
        s.status = COMPLETED

    @agg.apply
    def cancelled(s: State, _: pb.TransactionCancelled) -> None:
        s.status = CANCELLED

    @agg.snapshot
    def snapshot(s: State) -> pb.TransactionState:
        return pb.TransactionState(
            customer_id=s.customer_id, items=s.items, subtotal_cents=s.subtotal,
            discount_cents=s.discount, discount_type=s.discount_type, status=s.status,
        )

    @agg.restore
    def restore(s: State, snap: pb.TransactionState) -> State:
        return State(snap.status, snap.customer_id, list(snap.items), snap.subtotal_cents, snap.discount_cents, snap.discount_type)

    @agg.handle
    def create(s: State, c: pb.CreateTransaction) -> list[Message]:
        if not c.customer_id:
            raise Invalid("customer_id is required")
        if not c.items:
            raise Invalid("at least one item is required")
        subtotal = 0
        for i, it in enumerate(c.items):
            if it.quantity <= 0:
                raise Invalid(f"items[{i}]: quantity must be positive, got {it.quantity}")
            if it.unit_price_cents < 0:
                raise Invalid(f"items[{i}]: unit_price_cents must not be negative, got {it.unit_price_cents}")
            subtotal += it.quantity * it.unit_price_cents
        if subtotal > MAX_INT32:
            raise Invalid(f"subtotal {subtotal} cents is too large")
        if s.status:
            raise Rejected("transaction already exists")
        return [
            pb.TransactionCreated(
                customer_id=c.customer_id, items=c.items, subtotal_cents=subtotal, created_at=evented.timestamp(agg.now()),
            ),
            evented.deadline_at(TIMEOUT_DEADLINE, agg.now() + open_timeout, pb.CancelTransaction(reason="timeout")),
        ]

    @agg.handle
    def discount(s: State, c: pb.ApplyDiscount) -> pb.DiscountApplied:
        if c.discount_type == "percentage":
            if not 0 <= c.value <= 100:
                raise Invalid(f"percentage must be between 0 and 100, got {c.value}")
            cents = s.subtotal * c.value // 100
        elif c.discount_type == "fixed":
            if c.value < 0:
                raise Invalid(f"fixed discount must not be negative, got {c.value}")
            cents = min(c.value, s.subtotal)
        elif c.discount_type == "coupon":
            if not c.coupon_code:
                raise Invalid("coupon_code is required for a coupon")
            cents = COUPON_CENTS
        else:
            raise Invalid(f"discount_type must be percentage, fixed or coupon, got {json.dumps(c.discount_type, ensure_ascii=False)}")
        pending(s)
        if s.discount_type:
            raise Rejected(f"a {s.discount_type} discount is already applied")
        return pb.DiscountApplied(discount_type=c.discount_type, value=c.value, discount_cents=cents, coupon_code=c.coupon_code)

    @agg.handle
    def complete(s: State, c: pb.CompleteTransaction) -> list[Message]:
        pending(s)
        final = max(0, s.subtotal - s.discount)
        return [
            pb.TransactionCompleted(
                final_total_cents=final, payment_method=c.payment_method, loyalty_points_earned=final // 100,
                completed_at=evented.timestamp(agg.now()),
            ),
            evented.cancel_deadline(TIMEOUT_DEADLINE),
        ]

    @agg.handle
    def cancel(s: State, c: pb.CancelTransaction) -> list[Message]:
        pending(s)
        return [
            pb.TransactionCancelled(reason=c.reason, cancelled_at=evented.timestamp(agg.now())),
            evented.cancel_deadline(TIMEOUT_DEADLINE),
        ]

    return agg
