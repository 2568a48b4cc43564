"""The loyalty saga: when a transaction is completed with points earned, it
sends AddLoyaltyPoints to the transaction's customer — the customer_id of
TransactionCreated, not the transaction's own id.

The customer id is in an earlier event than TransactionCompleted, so the saga
is built with history=True and evented must deliver it books with history
(``history: true``): each book then holds the transaction's snapshot, if any,
and every event after it, and the saga reacts to the newest one. That suits
this saga exactly: TransactionCompleted is the only event of its command and
the last of a transaction.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import evented
from shop import domains_pb2 as pb


@dataclasses.dataclass
class State:
    """What the saga knows of a transaction: whose it is."""

    customer_id: str = ""


class NoCustomer(Exception):
    """A transaction without a customer: a bug or a misconfiguration."""


def new(**options: Any) -> evented.Saga[State]:
    saga = evented.Saga("loyalty", State, **{"history": True, **options})

    @saga.apply
    def created(s: State, e: pb.TransactionCreated) -> None:
        s.customer_id = e.customer_id

    @saga.restore
    def restore(s: State, snap: pb.TransactionState) -> None:
        s.customer_id = snap.customer_id

    @saga.react
    def completed(s: State, e: pb.TransactionCompleted, ev: evented.Event) -> evented.Command | None:
        if e.loyalty_points_earned <= 0:
            return None
        if not s.customer_id:
            # Fail, so evented retries and then parks the event rather than
            # crediting no one.
            raise NoCustomer(f"transaction {ev.cover.root} has no customer_id in its history")
        return evented.Command(
            to=evented.Cover("customer", evented.root(s.customer_id)),
            message=pb.AddLoyaltyPoints(points=e.loyalty_points_earned, reason=f"transaction {ev.cover.root}"),
        )

    return saga
