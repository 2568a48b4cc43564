"""The loyalty-balance projector: its projection of a customer is a
LoyaltyBalance with the customer's name and points.

It keeps no storage of its own: evented calls it with ``history: true``, so
every book holds the customer's events from the latest snapshot on, and the
balance is folded from them. It runs asynchronously, never slowing a command
down, with ``publish_projections: true``: evented then asks it HandleSync on
every delivery and keeps the balance it returns, which clients read once a
command has waited for it (``evented-wait-for: loyalty-balance``) and watch
with a subscription query.

It is not called loyalty: that is the saga's name, and projectors and sagas
share one namespace of subscriber names.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import evented
from shop import domains_pb2 as pb


@dataclasses.dataclass
class State:
    """A customer as the balance needs it."""

    name: str = ""
    points: int = 0  # to spend now
    lifetime_points: int = 0  # every point ever added


def new(**options: Any) -> evented.Projector[State]:
    p = evented.Projector("loyalty-balance", State, **{"history": True, **options})

    @p.apply
    def created(s: State, e: pb.CustomerCreated) -> None:
        s.name = e.name

    @p.apply
    def added(s: State, e: pb.LoyaltyPointsAdded) -> None:
        s.points += e.points
        s.lifetime_points += e.points

    @p.apply
    def redeemed(s: State, e: pb.LoyaltyPointsRedeemed) -> None:
        s.points -= e.points

    @p.restore
    def restore(s: State, snap: pb.CustomerState) -> None:
        s.name, s.points, s.lifetime_points = snap.name, snap.loyalty_points, snap.lifetime_points

    @p.project
    def balance(s: State, last: evented.Event) -> pb.LoyaltyBalance:
        return pb.LoyaltyBalance(customer_id=str(last.cover.root), name=s.name, points=s.points, lifetime_points=s.lifetime_points)

    return p
