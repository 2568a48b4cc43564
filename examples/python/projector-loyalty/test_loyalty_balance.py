import grpc
import pytest

import evented
from evented import evented_pb2, testing
from shop import domains_pb2 as pb

import loyalty_balance

created = pb.CustomerCreated(name="Alice", email="alice@example.com")


def test_balance_folds_the_customers_history():
    # The balance counts every point added and redeemed, whether the events
    # are new or history: evented delivers the whole book (history: true).
    cid = str(evented.root("customer-1"))
    (testing.projector(loyalty_balance.new).for_aggregate("customer", "customer-1")
        .given(created, pb.LoyaltyPointsAdded(points=45, new_balance=45, reason="transaction t-1"))
        .when(pb.LoyaltyPointsRedeemed(points=20, new_balance=25, redemption_type="voucher"),
              pb.LoyaltyPointsAdded(points=10, new_balance=35, reason="welcome"))
        .then_projection(pb.LoyaltyBalance(customer_id=cid, name="Alice", points=35, lifetime_points=55)))


def test_a_new_customers_balance():
    # A new customer has a balance of nothing, so a client watching it sees
    # the customer from the start.
    cid = str(evented.root("customer-2"))
    (testing.projector(loyalty_balance.new).for_aggregate("customer", "customer-2").when(created)
        .then_projection(pb.LoyaltyBalance(customer_id=cid, name="Alice")))


def test_balance_from_a_snapshot():
    # evented may start the history at the customer's snapshot.
    cid = str(evented.root("customer-3"))
    snap = pb.CustomerState(name="Bob", email="bob@example.com", loyalty_points=100, lifetime_points=120)
    (testing.projector(loyalty_balance.new).for_aggregate("customer", "customer-3")
        .given_snapshot(snap, 20)
        .when(pb.LoyaltyPointsAdded(points=5, new_balance=105, reason="welcome"))
        .then_projection(pb.LoyaltyBalance(customer_id=cid, name="Bob", points=105, lifetime_points=125)))


def test_misconfigured_without_history():
    # A projector built for history refuses a book that cannot be one, naming
    # the setting to fix.
    book = evented_pb2.EventBook(cover=evented.Cover.of("customer", "customer-4").to_pb())
    book.pages.add(num=3).event.Pack(pb.LoyaltyPointsAdded(points=5))
    with pytest.raises(evented.Error) as e:
        loyalty_balance.new().handle_sync(book)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "history: true" in e.value.message
