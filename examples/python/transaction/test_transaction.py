import grpc
import pytest
from evented import testing
from shop import domains_pb2 as pb

import transaction

FAILED, INVALID = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT
CUSTOMER = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c"
ITEMS = [
    pb.LineItem(product_id="sku-1", name="Widget", quantity=2, unit_price_cents=1000),
    pb.LineItem(product_id="sku-2", name="Gadget", quantity=1, unit_price_cents=2500),
]


def stamped(m):
    """m with its time field set to the kit's clock."""
    for field in ("created_at", "completed_at", "cancelled_at"):
        if field in m.DESCRIPTOR.fields_by_name:
            getattr(m, field).FromDatetime(testing.NOW)
    return m


created = stamped(pb.TransactionCreated(customer_id=CUSTOMER, items=ITEMS, subtotal_cents=4500))


def test_create_transaction_sums_the_items():
    (testing.aggregate(transaction.new)
        .when(pb.CreateTransaction(customer_id=CUSTOMER, items=ITEMS))
        .then(created)
        .then_snapshot(pb.TransactionState(customer_id=CUSTOMER, items=ITEMS, subtotal_cents=4500, status="pending")))


@pytest.mark.parametrize(
    "cmd,message",
    [
        (pb.CreateTransaction(items=ITEMS), "customer_id is required"),
        (pb.CreateTransaction(customer_id=CUSTOMER), "at least one item is required"),
        (pb.CreateTransaction(customer_id=CUSTOMER, items=[pb.LineItem(name="x", quantity=0, unit_price_cents=1)]),
         "items[0]: quantity must be positive, got 0"),
        (pb.CreateTransaction(customer_id=CUSTOMER, items=[ITEMS[0], pb.LineItem(name="x", quantity=1, unit_price_cents=-1)]),
         "items[1]: unit_price_cents must not be negative, got -1"),
        (pb.CreateTransaction(customer_id=CUSTOMER, items=[pb.LineItem(name="x", quantity=1 << 20, unit_price_cents=1 << 20)]),
         "subtotal 1099511627776 cents is too large"),
    ],
)
def test_create_transaction_validates(cmd, message):
    testing.aggregate(transaction.new).when(cmd).then_rejected(INVALID, message)


def test_create_transaction_once():
    (testing.aggregate(transaction.new).given(created)
        .when(pb.CreateTransaction(customer_id=CUSTOMER, items=ITEMS))
        .then_rejected(FAILED, "transaction already exists"))


@pytest.mark.parametrize(
    "cmd,cents",
    [
        (pb.ApplyDiscount(discount_type="percentage", value=10), 450),
        (pb.ApplyDiscount(discount_type="percentage", value=0), 0),
        (pb.ApplyDiscount(discount_type="percentage", value=100), 4500),
        (pb.ApplyDiscount(discount_type="fixed", value=700), 700),
        (pb.ApplyDiscount(discount_type="fixed", value=9000), 4500),  # capped at the subtotal
        (pb.ApplyDiscount(discount_type="coupon", coupon_code="WELCOME"), 500),
    ],
)
def test_discounts(cmd, cents):
    (testing.aggregate(transaction.new).given(created).when(cmd)
        .then(pb.DiscountApplied(discount_type=cmd.discount_type, value=cmd.value, discount_cents=cents, coupon_code=cmd.coupon_code)))


@pytest.mark.parametrize(
    "cmd,message",
    [
        (pb.ApplyDiscount(discount_type="percentage", value=101), "percentage must be between 0 and 100, got 101"),
        (pb.ApplyDiscount(discount_type="percentage", value=-1), "percentage must be between 0 and 100, got -1"),
        (pb.ApplyDiscount(discount_type="fixed", value=-5), "fixed discount must not be negative, got -5"),
        (pb.ApplyDiscount(discount_type="coupon"), "coupon_code is required for a coupon"),
        (pb.ApplyDiscount(discount_type="bogof"), 'discount_type must be percentage, fixed or coupon, got "bogof"'),
    ],
)
def test_discounts_validate(cmd, message):
    testing.aggregate(transaction.new).given(created).when(cmd).then_rejected(INVALID, message)


def test_discounts_need_a_pending_transaction_without_discount():
    pct = pb.ApplyDiscount(discount_type="percentage", value=10)
    testing.aggregate(transaction.new).when(pct).then_rejected(FAILED, "transaction does not exist")
    (testing.aggregate(transaction.new).given(created, pb.DiscountApplied(discount_type="fixed", value=100, discount_cents=100))
        .when(pct).then_rejected(FAILED, "a fixed discount is already applied"))
    (testing.aggregate(transaction.new).given(created, pb.TransactionCancelled())
        .when(pct).then_rejected(FAILED, "transaction is cancelled, not pending"))


def test_complete_transaction():
    (testing.aggregate(transaction.new).given(created)
        .when(pb.CompleteTransaction(payment_method="card"))
        .then(stamped(pb.TransactionCompleted(final_total_cents=4500, payment_method="card", loyalty_points_earned=45)))
        .then_snapshot(pb.TransactionState(customer_id=CUSTOMER, items=ITEMS, subtotal_cents=4500, status="completed")))
    # 10% off 4500 is 4050: 40 points (one per 100 cents, rounded down).
    (testing.aggregate(transaction.new)
        .given(created, pb.DiscountApplied(discount_type="percentage", value=10, discount_cents=450))
        .when(pb.CompleteTransaction(payment_method="cash"))
        .then(stamped(pb.TransactionCompleted(final_total_cents=4050, payment_method="cash", loyalty_points_earned=40))))
    # A coupon worth more than a small transaction: total 0, no points.
    small = pb.TransactionCreated(customer_id=CUSTOMER, items=ITEMS[:1], subtotal_cents=300)
    (testing.aggregate(transaction.new)
        .given(small, pb.DiscountApplied(discount_type="coupon", discount_cents=500, coupon_code="X"))
        .when(pb.CompleteTransaction(payment_method="card"))
        .then(stamped(pb.TransactionCompleted(final_total_cents=0, payment_method="card", loyalty_points_earned=0))))


def test_complete_or_cancel_only_pending_transactions():
    complete, cancel = pb.CompleteTransaction(payment_method="card"), pb.CancelTransaction(reason="changed my mind")
    testing.aggregate(transaction.new).when(complete).then_rejected(FAILED, "transaction does not exist")
    testing.aggregate(transaction.new).when(cancel).then_rejected(FAILED, "transaction does not exist")
    done = pb.TransactionCompleted(final_total_cents=4500, loyalty_points_earned=45)
    testing.aggregate(transaction.new).given(created, done).when(complete).then_rejected(FAILED, "transaction is completed, not pending")
    testing.aggregate(transaction.new).given(created, done).when(cancel).then_rejected(FAILED, "transaction is completed, not pending")
    (testing.aggregate(transaction.new).given(created, pb.TransactionCancelled()).when(complete)
        .then_rejected(FAILED, "transaction is cancelled, not pending"))


def test_cancel_transaction():
    (testing.aggregate(transaction.new).given(created)
        .when(pb.CancelTransaction(reason="changed my mind"))
        .then(stamped(pb.TransactionCancelled(reason="changed my mind")))
        .then_snapshot(pb.TransactionState(customer_id=CUSTOMER, items=ITEMS, subtotal_cents=4500, status="cancelled")))


def test_state_from_snapshot():
    snap = pb.TransactionState(customer_id=CUSTOMER, items=ITEMS, subtotal_cents=4500, discount_cents=500, discount_type="coupon", status="pending")
    (testing.aggregate(transaction.new)
        .given_snapshot(snap, 2)
        .when(pb.CompleteTransaction(payment_method="card"))
        .then(stamped(pb.TransactionCompleted(final_total_cents=4000, payment_method="card", loyalty_points_earned=40))))


def test_an_open_transaction_times_out() -> None:
    """Creating a transaction schedules its cancellation; completing it cancels that."""
    import datetime as dt

    from evented import Cover
    from evented import evented_pb2 as epb

    agg = transaction.new(dt.timedelta(minutes=15))
    cover = Cover.of("transaction", "txn-1")
    req = epb.ContextualCommand()
    req.command.cover.CopyFrom(cover.to_pb())
    req.command.pages.add().command.Pack(pb.CreateTransaction(customer_id="c", items=[pb.LineItem(name="x", quantity=1, unit_price_cents=100)]))
    out = agg.handle_command(req)
    assert len(out.pages) == 1
    (d,) = out.deadlines
    assert d.id == f"transaction/{cover.root}/timeout"
    assert d.command.cover == cover.to_pb()
    cancel = pb.CancelTransaction()
    assert d.command.pages[0].command.Unpack(cancel) and cancel.reason == "timeout"

    req.events.pages.add(num=0).event.CopyFrom(out.pages[0].event)
    del req.command.pages[:]
    req.command.pages.add().command.Pack(pb.CompleteTransaction(payment_method="card"))
    out = agg.handle_command(req)
    (d,) = out.deadlines
    assert d.cancel and d.id == f"transaction/{cover.root}/timeout"
