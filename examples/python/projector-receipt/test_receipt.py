import grpc
import pytest

import evented
from evented import evented_pb2, testing
from shop import domains_pb2 as pb

import receipt

CUSTOMER_ID = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c"
ITEMS = [
    pb.LineItem(product_id="sku-1", name="Widget", quantity=2, unit_price_cents=1000),
    pb.LineItem(product_id="sku-2", name="Gadget", quantity=1, unit_price_cents=2500),
]
created = pb.TransactionCreated(customer_id=CUSTOMER_ID, items=ITEMS, subtotal_cents=4500)
now = evented.timestamp(testing.NOW)


def test_receipt_of_a_completed_transaction():
    # The receipt has what TransactionCreated said (items, customer) and what
    # TransactionCompleted said (total, payment, points): the projector folds
    # the whole history (a defect of the original example was to see only the
    # newest event).
    tid = str(evented.root("txn-1"))
    (testing.projector(receipt.new).for_aggregate("transaction", "txn-1")
        .given(created)
        .when(pb.TransactionCompleted(final_total_cents=4500, payment_method="card", loyalty_points_earned=45, completed_at=now))
        .then_projection(pb.Receipt(
            transaction_id=tid, customer_id=CUSTOMER_ID, items=ITEMS,
            subtotal_cents=4500, final_total_cents=4500, payment_method="card", loyalty_points_earned=45, completed_at=now,
            formatted_text=f"Receipt for transaction {tid}\n"
            f"Customer: {CUSTOMER_ID}\n"
            "2 x Widget @ $10.00 = $20.00\n"
            "1 x Gadget @ $25.00 = $25.00\n"
            "Subtotal: $45.00\n"
            "Total: $45.00\n"
            "Payment: card\n"
            "Loyalty points earned: 45\n",
        )))


def test_receipt_with_a_discount():
    tid = str(evented.root("txn-2"))
    (testing.projector(receipt.new).for_aggregate("transaction", "txn-2")
        .given(created, pb.DiscountApplied(discount_type="percentage", value=10, discount_cents=450))
        .when(pb.TransactionCompleted(final_total_cents=4050, payment_method="cash", loyalty_points_earned=40, completed_at=now))
        .then_projection(pb.Receipt(
            transaction_id=tid, customer_id=CUSTOMER_ID, items=ITEMS,
            subtotal_cents=4500, discount_cents=450, final_total_cents=4050, payment_method="cash", loyalty_points_earned=40, completed_at=now,
            formatted_text=f"Receipt for transaction {tid}\n"
            f"Customer: {CUSTOMER_ID}\n"
            "2 x Widget @ $10.00 = $20.00\n"
            "1 x Gadget @ $25.00 = $25.00\n"
            "Subtotal: $45.00\n"
            "Discount: -$4.50\n"
            "Total: $40.50\n"
            "Payment: cash\n"
            "Loyalty points earned: 40\n",
        )))


def test_receipt_from_a_snapshot():
    # evented may start the history at the transaction's snapshot.
    tid = str(evented.root("txn-3"))
    snap = pb.TransactionState(customer_id=CUSTOMER_ID, items=ITEMS[:1], subtotal_cents=2000, discount_cents=500, discount_type="coupon", status="pending")
    (testing.projector(receipt.new).for_aggregate("transaction", "txn-3")
        .given_snapshot(snap, 2)
        .when(pb.TransactionCompleted(final_total_cents=1500, payment_method="card", loyalty_points_earned=15))
        .then_projection(pb.Receipt(
            transaction_id=tid, customer_id=CUSTOMER_ID, items=ITEMS[:1],
            subtotal_cents=2000, discount_cents=500, final_total_cents=1500, payment_method="card", loyalty_points_earned=15,
            formatted_text=f"Receipt for transaction {tid}\n"
            f"Customer: {CUSTOMER_ID}\n"
            "2 x Widget @ $10.00 = $20.00\n"
            "Subtotal: $20.00\n"
            "Discount: -$5.00\n"
            "Total: $15.00\n"
            "Payment: card\n"
            "Loyalty points earned: 15\n",
        )))


def test_no_receipt_before_completion():
    testing.projector(receipt.new).for_aggregate("transaction", "txn-4").when(created).then_no_projection()
    (testing.projector(receipt.new).for_aggregate("transaction", "txn-4").given(created)
        .when(pb.TransactionCancelled(reason="changed my mind")).then_no_projection())


def test_misconfigured_without_history():
    # A projector built for history refuses a book that cannot be one, naming
    # the setting to fix.
    book = evented_pb2.EventBook(cover=evented.Cover.of("transaction", "txn-5").to_pb())
    book.pages.add(num=3).event.Pack(pb.TransactionCompleted(final_total_cents=1))
    with pytest.raises(evented.Error) as e:
        receipt.new().handle_sync(book)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "history: true" in e.value.message


def test_money():
    assert [receipt.money(c) for c in (0, 5, 100, 4550, -250)] == ["$0.00", "$0.05", "$1.00", "$45.50", "-$2.50"]
