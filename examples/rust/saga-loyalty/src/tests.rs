use evented::testing;
use evented::tonic::Code;
use evented::{Command, Cover, events, root};
use shop::pb::*;

use crate::new;

const CUSTOMER_ID: &str = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c"; // root("cust-001")

fn created() -> TransactionCreated {
    TransactionCreated {
        customer_id: CUSTOMER_ID.into(),
        subtotal_cents: 4500,
        ..Default::default()
    }
}

fn completed() -> TransactionCompleted {
    TransactionCompleted {
        final_total_cents: 4500,
        payment_method: "card".into(),
        loyalty_points_earned: 45,
        completed_at: None,
    }
}

fn credit(customer: &str, points: i32, transaction: &str) -> Command {
    Command::new(
        Cover::new("customer", root(customer)),
        AddLoyaltyPoints {
            points,
            reason: format!("transaction {}", root(transaction)),
        },
    )
}

/// The points go to the customer of TransactionCreated, not to the
/// transaction's own id (a defect of the original example).
#[test]
fn completed_transaction_credits_its_customer() {
    testing::saga(new)
        .for_aggregate("transaction", "txn-1")
        .given(created())
        .when(completed())
        .then_commands(vec![credit("cust-001", 45, "txn-1")]);
}

#[test]
fn customer_from_the_transaction_snapshot() {
    testing::saga(new)
        .for_aggregate("transaction", "txn-2")
        .given_snapshot(
            TransactionState {
                customer_id: CUSTOMER_ID.into(),
                subtotal_cents: 4500,
                status: "pending".into(),
                ..Default::default()
            },
            3,
        )
        .when(completed())
        .then_commands(vec![credit(CUSTOMER_ID, 45, "txn-2")]);
}

#[test]
fn no_points_no_command() {
    testing::saga(new)
        .for_aggregate("transaction", "txn-3")
        .given(created())
        .when(TransactionCompleted {
            final_total_cents: 99,
            loyalty_points_earned: 0,
            ..Default::default()
        })
        .then_commands(vec![]);
}

/// Only the newest event of a history book is reacted to: the other events of
/// the transaction send nothing.
#[test]
fn other_events_send_nothing() {
    testing::saga(new)
        .for_aggregate("transaction", "txn-4")
        .when(created())
        .then_commands(vec![]);
    testing::saga(new)
        .for_aggregate("transaction", "txn-4")
        .given(created())
        .when(TransactionCancelled {
            reason: "changed my mind".into(),
            cancelled_at: None,
        })
        .then_commands(vec![]);
    testing::saga(new)
        .for_aggregate("transaction", "txn-4")
        .given(events![created(), completed()])
        .when(DiscountApplied {
            discount_cents: 1,
            ..Default::default()
        }) // cannot happen; must not credit twice
        .then_commands(vec![]);
}

#[test]
fn transaction_without_customer_fails() {
    testing::saga(new)
        .for_aggregate("transaction", "txn-5")
        .given(TransactionCreated {
            subtotal_cents: 4500,
            ..Default::default()
        })
        .when(completed())
        .then_fails(Code::Internal, "has no customer_id in its history");
}
