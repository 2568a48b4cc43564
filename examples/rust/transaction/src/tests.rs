use evented::testing;
use evented::tonic::Code;
use evented::{Events, events};
use shop::pb::*;

use crate::new;

const CUSTOMER: &str = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c";

fn item(product_id: &str, name: &str, quantity: i32, unit_price_cents: i32) -> LineItem {
    LineItem {
        product_id: product_id.into(),
        name: name.into(),
        quantity,
        unit_price_cents,
    }
}

fn items() -> Vec<LineItem> {
    vec![
        item("sku-1", "Widget", 2, 1000),
        item("sku-2", "Gadget", 1, 2500),
    ]
}

fn now() -> Option<evented::prost_types::Timestamp> {
    Some(testing::now_timestamp())
}

fn created() -> TransactionCreated {
    TransactionCreated {
        customer_id: CUSTOMER.into(),
        items: items(),
        subtotal_cents: 4500,
        created_at: now(),
    }
}

fn create(customer_id: &str, items: Vec<LineItem>) -> CreateTransaction {
    CreateTransaction {
        customer_id: customer_id.into(),
        items,
    }
}

fn discount(discount_type: &str, value: i32, coupon_code: &str) -> ApplyDiscount {
    ApplyDiscount {
        discount_type: discount_type.into(),
        value,
        coupon_code: coupon_code.into(),
    }
}

fn applied(discount_type: &str, value: i32, discount_cents: i32) -> DiscountApplied {
    DiscountApplied {
        discount_type: discount_type.into(),
        value,
        discount_cents,
        coupon_code: String::new(),
    }
}

fn completed(total: i32, payment: &str, points: i32) -> TransactionCompleted {
    TransactionCompleted {
        final_total_cents: total,
        payment_method: payment.into(),
        loyalty_points_earned: points,
        completed_at: now(),
    }
}

fn cancelled() -> TransactionCancelled {
    TransactionCancelled {
        reason: String::new(),
        cancelled_at: None,
    }
}

fn state(status: &str) -> TransactionState {
    TransactionState {
        customer_id: CUSTOMER.into(),
        items: items(),
        subtotal_cents: 4500,
        status: status.into(),
        ..Default::default()
    }
}

#[test]
fn create_transaction_sums_the_items() {
    testing::aggregate(new)
        .when(create(CUSTOMER, items()))
        .then(created())
        .then_snapshot(state("pending"));
}

#[test]
fn create_transaction_validates() {
    for (cmd, message) in [
        (create("", items()), "customer_id is required"),
        (create(CUSTOMER, vec![]), "at least one item is required"),
        (
            create(CUSTOMER, vec![item("", "x", 0, 1)]),
            "items[0]: quantity must be positive, got 0",
        ),
        (
            create(CUSTOMER, vec![items()[0].clone(), item("", "x", 1, -1)]),
            "items[1]: unit_price_cents must not be negative, got -1",
        ),
        (
            create(CUSTOMER, vec![item("", "x", 1 << 20, 1 << 20)]),
            "subtotal 1099511627776 cents is too large",
        ),
    ] {
        testing::aggregate(new)
            .when(cmd)
            .then_rejected(Code::InvalidArgument, message);
    }
    testing::aggregate(new)
        .given(created())
        .when(create(CUSTOMER, items()))
        .then_rejected(Code::FailedPrecondition, "transaction already exists");
}

#[test]
fn discounts() {
    for (cmd, cents) in [
        (discount("percentage", 10, ""), 450),
        (discount("percentage", 0, ""), 0),
        (discount("percentage", 100, ""), 4500),
        (discount("fixed", 700, ""), 700),
        (discount("fixed", 9000, ""), 4500), // capped at the subtotal
        (discount("coupon", 0, "WELCOME"), 500),
    ] {
        let want = DiscountApplied {
            discount_type: cmd.discount_type.clone(),
            value: cmd.value,
            discount_cents: cents,
            coupon_code: cmd.coupon_code.clone(),
        };
        testing::aggregate(new)
            .given(created())
            .when(cmd)
            .then(want);
    }
}

#[test]
fn discounts_validate() {
    for (cmd, message) in [
        (
            discount("percentage", 101, ""),
            "percentage must be between 0 and 100, got 101",
        ),
        (
            discount("percentage", -1, ""),
            "percentage must be between 0 and 100, got -1",
        ),
        (
            discount("fixed", -5, ""),
            "fixed discount must not be negative, got -5",
        ),
        (
            discount("coupon", 0, ""),
            "coupon_code is required for a coupon",
        ),
        (
            discount("bogof", 0, ""),
            r#"discount_type must be percentage, fixed or coupon, got "bogof""#,
        ),
    ] {
        testing::aggregate(new)
            .given(created())
            .when(cmd)
            .then_rejected(Code::InvalidArgument, message);
    }
    let pct = || discount("percentage", 10, "");
    testing::aggregate(new)
        .when(pct())
        .then_rejected(Code::FailedPrecondition, "transaction does not exist");
    testing::aggregate(new)
        .given(events![created(), applied("fixed", 100, 100)])
        .when(pct())
        .then_rejected(
            Code::FailedPrecondition,
            "a fixed discount is already applied",
        );
    testing::aggregate(new)
        .given(events![created(), cancelled()])
        .when(pct())
        .then_rejected(
            Code::FailedPrecondition,
            "transaction is cancelled, not pending",
        );
}

#[test]
fn complete_transaction() {
    testing::aggregate(new)
        .given(created())
        .when(CompleteTransaction {
            payment_method: "card".into(),
        })
        .then(completed(4500, "card", 45))
        .then_snapshot(state("completed"));
    // 10% off 4500 is 4050: 40 points (one per 100 cents, rounded down).
    testing::aggregate(new)
        .given(events![created(), applied("percentage", 10, 450)])
        .when(CompleteTransaction {
            payment_method: "cash".into(),
        })
        .then(completed(4050, "cash", 40));
    // A coupon worth more than a small transaction: total 0, no points.
    let small = TransactionCreated {
        customer_id: CUSTOMER.into(),
        items: items()[..1].to_vec(),
        subtotal_cents: 300,
        created_at: None,
    };
    testing::aggregate(new)
        .given(events![
            small,
            DiscountApplied {
                discount_type: "coupon".into(),
                value: 0,
                discount_cents: 500,
                coupon_code: "X".into()
            }
        ])
        .when(CompleteTransaction {
            payment_method: "card".into(),
        })
        .then(completed(0, "card", 0));
}

#[test]
fn complete_or_cancel_only_pending_transactions() {
    let complete = || CompleteTransaction {
        payment_method: "card".into(),
    };
    let cancel = || CancelTransaction {
        reason: "changed my mind".into(),
    };
    testing::aggregate(new)
        .when(complete())
        .then_rejected(Code::FailedPrecondition, "transaction does not exist");
    testing::aggregate(new)
        .when(cancel())
        .then_rejected(Code::FailedPrecondition, "transaction does not exist");
    let done = || TransactionCompleted {
        final_total_cents: 4500,
        loyalty_points_earned: 45,
        ..Default::default()
    };
    testing::aggregate(new)
        .given(events![created(), done()])
        .when(complete())
        .then_rejected(
            Code::FailedPrecondition,
            "transaction is completed, not pending",
        );
    testing::aggregate(new)
        .given(events![created(), done()])
        .when(cancel())
        .then_rejected(
            Code::FailedPrecondition,
            "transaction is completed, not pending",
        );
    testing::aggregate(new)
        .given(events![created(), cancelled()])
        .when(complete())
        .then_rejected(
            Code::FailedPrecondition,
            "transaction is cancelled, not pending",
        );
}

#[test]
fn cancel_transaction() {
    testing::aggregate(new)
        .given(created())
        .when(CancelTransaction {
            reason: "changed my mind".into(),
        })
        .then(TransactionCancelled {
            reason: "changed my mind".into(),
            cancelled_at: now(),
        })
        .then_snapshot(state("cancelled"));
}

#[test]
fn state_from_snapshot() {
    let snap = TransactionState {
        discount_cents: 500,
        discount_type: "coupon".into(),
        ..state("pending")
    };
    testing::aggregate(new)
        .given_snapshot(snap, 2)
        .when(CompleteTransaction {
            payment_method: "card".into(),
        })
        .then(completed(4000, "card", 40))
        .then(Events::none().with(completed(4000, "card", 40)));
}

/// An open transaction is cancelled after its timeout: creating it schedules
/// CancelTransaction, completing it cancels that deadline.
#[test]
fn an_open_transaction_times_out() {
    use evented::prost::Message;
    use evented::{Cover, Msg, pb, root};
    use std::time::Duration;

    let agg = crate::with_timeout(
        evented::Options::new().with_clock(testing::now),
        Duration::from_secs(15 * 60),
    );
    let cover = Cover::new("transaction", root("txn-1"));
    let request = |prior: Vec<pb::EventPage>, cmd: Msg| pb::ContextualCommand {
        events: Some(pb::EventBook {
            cover: Some(cover.to_pb()),
            snapshot: None,
            pages: prior,
            deadlines: vec![],
        }),
        command: Some(pb::CommandBook {
            cover: Some(cover.to_pb()),
            pages: vec![pb::CommandPage {
                sequence: 0,
                synchronous: false,
                command: Some(cmd.into_any()),
            }],
        }),
    };
    let out = agg
        .handle_command(&request(vec![], Msg::new(&create(CUSTOMER, items()))))
        .expect("create");
    assert_eq!(out.pages.len(), 1, "deadlines are not events");
    let [d] = out.deadlines.as_slice() else {
        panic!("deadlines {:?}, want one", out.deadlines)
    };
    assert_eq!(d.id, format!("transaction/{}/timeout", cover.root));
    let due: std::time::SystemTime = d.due.unwrap().try_into().unwrap();
    assert_eq!(due, testing::now() + Duration::from_secs(15 * 60));
    let cmd = d.command.as_ref().unwrap();
    assert_eq!(cmd.cover, Some(cover.to_pb()));
    let cancel =
        CancelTransaction::decode(cmd.pages[0].command.as_ref().unwrap().value.as_slice()).unwrap();
    assert_eq!(cancel.reason, "timeout");

    let out = agg
        .handle_command(&request(
            vec![pb::EventPage {
                sequence: Some(pb::event_page::Sequence::Num(0)),
                created_at: None,
                event: Some(Msg::new(&created()).into_any()),
                synchronous: false,
                metadata: None,
            }],
            Msg::new(&CompleteTransaction {
                payment_method: "card".into(),
            }),
        ))
        .expect("complete");
    let [d] = out.deadlines.as_slice() else {
        panic!("deadlines {:?}, want one", out.deadlines)
    };
    assert!(d.cancel);
    assert_eq!(d.id, format!("transaction/{}/timeout", cover.root));
}
