import grpc
import evented
from evented import testing
from shop import domains_pb2 as pb

import loyalty

CUSTOMER_ID = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c"  # evented.root("cust-001")
created = pb.TransactionCreated(customer_id=CUSTOMER_ID, subtotal_cents=4500)
completed = pb.TransactionCompleted(final_total_cents=4500, payment_method="card", loyalty_points_earned=45)


def credit(customer: str, points: int, transaction: str) -> evented.Command:
    return evented.Command(
        evented.Cover("customer", evented.root(customer)),
        pb.AddLoyaltyPoints(points=points, reason=f"transaction {evented.root(transaction)}"),
    )


def test_completed_transaction_credits_its_customer():
    # The points go to the customer of TransactionCreated, not to the
    # transaction's own id (a defect of the original example).
    (testing.saga(loyalty.new).for_aggregate("transaction", "txn-1")
        .given(created).when(completed)
        .then_commands(credit("cust-001", 45, "txn-1")))


def test_customer_from_the_transaction_snapshot():
    (testing.saga(loyalty.new).for_aggregate("transaction", "txn-2")
        .given_snapshot(pb.TransactionState(customer_id=CUSTOMER_ID, subtotal_cents=4500, status="pending"), 3)
        .when(completed)
        .then_commands(credit(CUSTOMER_ID, 45, "txn-2")))


def test_no_points_no_command():
    (testing.saga(loyalty.new).for_aggregate("transaction", "txn-3")
        .given(created).when(pb.TransactionCompleted(final_total_cents=99, loyalty_points_earned=0))
        .then_commands())


def test_other_events_send_nothing():
    # Only the newest event of a history book is reacted to.
    testing.saga(loyalty.new).for_aggregate("transaction", "txn-4").when(created).then_commands()
    (testing.saga(loyalty.new).for_aggregate("transaction", "txn-4").given(created)
        .when(pb.TransactionCancelled(reason="changed my mind")).then_commands())
    (testing.saga(loyalty.new).for_aggregate("transaction", "txn-4").given(created, completed)
        .when(pb.DiscountApplied(discount_cents=1)).then_commands())  # cannot happen; must not credit twice


def test_transaction_without_customer_fails():
    (testing.saga(loyalty.new).for_aggregate("transaction", "txn-5")
        .given(pb.TransactionCreated(subtotal_cents=4500)).when(completed)
        .then_fails(grpc.StatusCode.INTERNAL, "has no customer_id in its history"))
