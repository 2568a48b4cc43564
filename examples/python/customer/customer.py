"""The business logic of the example domain customer: CreateCustomer,
AddLoyaltyPoints, RedeemLoyaltyPoints (rules and messages:
examples/README.md)."""
from __future__ import annotations

import dataclasses
from typing import Any

import evented
from evented import Invalid, Rejected
from shop import domains_pb2 as pb


@dataclasses.dataclass
class State:
    """A customer as its business logic sees it, rebuilt for every command
    from the latest snapshot and the events after it."""

    exists: bool = False
    name: str = ""
    email: str = ""
    points: int = 0  # the balance
    lifetime_points: int = 0  # every point ever added


def new(**options: Any) -> evented.Aggregate[State]:
    """The business logic of domain customer."""
    agg = evented.Aggregate("customer", State, **options)

    # How events change the state.
    @agg.apply
    def created(s: State, e: pb.CustomerCreated) -> None:
        s.exists, s.name, s.email = True, e.name, e.email

    @agg.apply
    def added(s: State, e: pb.LoyaltyPointsAdded) -> None:
        s.points += e.points
        s.lifetime_points += e.points

    @agg.apply
    def redeemed(s: State, e: pb.LoyaltyPointsRedeemed) -> None:
        s.points -= e.points

    # Snapshots: evented stores the state returned after each command and
    # sends it back instead of the events it folds.
    @agg.snapshot
    def snapshot(s: State) -> pb.CustomerState:
        return pb.CustomerState(name=s.name, email=s.email, loyalty_points=s.points, lifetime_points=s.lifetime_points)

    @agg.restore
    def restore(s: State, snap: pb.CustomerState) -> State:
        return State(True, snap.name, snap.email, snap.loyalty_points, snap.lifetime_points)

    # What commands mean. The command is checked first (Invalid:
    # INVALID_ARGUMENT), then against the state (Rejected: FAILED_PRECONDITION).
    @agg.handle
    def create(s: State, c: pb.CreateCustomer) -> pb.CustomerCreated:
        if not c.name:
            raise Invalid("name is required")
        if not c.email:
            raise Invalid("email is required")
        if s.exists:
            raise Rejected("customer already exists")
        return pb.CustomerCreated(name=c.name, email=c.email, created_at=evented.timestamp(agg.now()))

    @agg.handle
    def add(s: State, c: pb.AddLoyaltyPoints) -> pb.LoyaltyPointsAdded:
        if c.points <= 0:
            raise Invalid(f"points must be positive, got {c.points}")
        if not s.exists:
            raise Rejected("customer does not exist")
        return pb.LoyaltyPointsAdded(points=c.points, new_balance=s.points + c.points, reason=c.reason)

    @agg.handle
    def redeem(s: State, c: pb.RedeemLoyaltyPoints) -> pb.LoyaltyPointsRedeemed:
        if c.points <= 0:
            raise Invalid(f"points must be positive, got {c.points}")
        if not s.exists:
            raise Rejected("customer does not exist")
        if c.points > s.points:
            raise Rejected(f"Insufficient points: have {s.points}, need {c.points}")
        return pb.LoyaltyPointsRedeemed(points=c.points, new_balance=s.points - c.points, redemption_type=c.redemption_type)

    return agg
