import grpc
from evented import testing
from shop import domains_pb2 as pb

import customer

FAILED, INVALID = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT
NOW = testing.NOW
created = pb.CustomerCreated(name="Alice", email="alice@example.com")
created.created_at.FromDatetime(NOW)


def test_create_customer():
    (testing.aggregate(customer.new)
        .when(pb.CreateCustomer(name="Alice", email="alice@example.com"))
        .then(created)
        .then_snapshot(pb.CustomerState(name="Alice", email="alice@example.com")))


def test_create_customer_needs_name_email_and_a_new_customer():
    testing.aggregate(customer.new).when(pb.CreateCustomer(email="alice@example.com")).then_rejected(INVALID, "name is required")
    testing.aggregate(customer.new).when(pb.CreateCustomer(name="Alice")).then_rejected(INVALID, "email is required")
    (testing.aggregate(customer.new).given(created)
        .when(pb.CreateCustomer(name="Alice", email="alice@example.com"))
        .then_rejected(FAILED, "customer already exists"))


def test_add_loyalty_points():
    (testing.aggregate(customer.new)
        .given(created, pb.LoyaltyPointsAdded(points=10, new_balance=10))
        .when(pb.AddLoyaltyPoints(points=45, reason="transaction t-1"))
        .then(pb.LoyaltyPointsAdded(points=45, new_balance=55, reason="transaction t-1"))
        .then_snapshot(pb.CustomerState(name="Alice", email="alice@example.com", loyalty_points=55, lifetime_points=55)))


def test_add_loyalty_points_needs_a_customer_and_positive_points():
    testing.aggregate(customer.new).when(pb.AddLoyaltyPoints(points=5)).then_rejected(FAILED, "customer does not exist")
    testing.aggregate(customer.new).given(created).when(pb.AddLoyaltyPoints(points=0)).then_rejected(INVALID, "points must be positive, got 0")
    testing.aggregate(customer.new).given(created).when(pb.AddLoyaltyPoints(points=-3)).then_rejected(INVALID, "points must be positive, got -3")


def test_redeem_loyalty_points():
    (testing.aggregate(customer.new)
        .given(created, pb.LoyaltyPointsAdded(points=45, new_balance=45))
        .when(pb.RedeemLoyaltyPoints(points=45, redemption_type="voucher"))
        .then(pb.LoyaltyPointsRedeemed(points=45, new_balance=0, redemption_type="voucher"))
        .then_snapshot(pb.CustomerState(name="Alice", email="alice@example.com", loyalty_points=0, lifetime_points=45)))


def test_redeem_more_than_the_balance_is_rejected():
    (testing.aggregate(customer.new)
        .given(created, pb.LoyaltyPointsAdded(points=45, new_balance=45), pb.LoyaltyPointsRedeemed(points=20, new_balance=25))
        .when(pb.RedeemLoyaltyPoints(points=26))
        .then_rejected(FAILED, "Insufficient points: have 25, need 26"))
    testing.aggregate(customer.new).when(pb.RedeemLoyaltyPoints(points=1)).then_rejected(FAILED, "customer does not exist")
    testing.aggregate(customer.new).given(created).when(pb.RedeemLoyaltyPoints(points=0)).then_rejected(INVALID, "points must be positive, got 0")


def test_state_from_snapshot_and_later_events():
    snap = pb.CustomerState(name="Alice", email="alice@example.com", loyalty_points=30, lifetime_points=50)
    (testing.aggregate(customer.new)
        .given_snapshot(snap, 7)
        .given(pb.LoyaltyPointsAdded(points=5, new_balance=35))
        .when(pb.RedeemLoyaltyPoints(points=36))
        .then_rejected(FAILED, "Insufficient points: have 35, need 36"))
    (testing.aggregate(customer.new)
        .given_snapshot(snap, 7)
        .given(pb.LoyaltyPointsAdded(points=5, new_balance=35))
        .when(pb.RedeemLoyaltyPoints(points=35))
        .then(pb.LoyaltyPointsRedeemed(points=35, new_balance=0))
        .then_snapshot(pb.CustomerState(name="Alice", email="alice@example.com", loyalty_points=0, lifetime_points=55)))


def test_commands_of_one_book_see_each_other():
    # The second command sees the first's events, and the events are numbered
    # one after the other (the kit checks the numbering).
    (testing.aggregate(customer.new)
        .when(pb.CreateCustomer(name="Alice", email="alice@example.com"), pb.AddLoyaltyPoints(points=7))
        .then(created, pb.LoyaltyPointsAdded(points=7, new_balance=7)))
