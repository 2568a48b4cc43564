use evented::testing;
use evented::tonic::Code;
use evented::{Cover, Msg, Options, events, pb, root};
use shop::pb::*;

use crate::{money, new};

const CUSTOMER_ID: &str = "bee85a38-babe-5251-8d7d-f8a8ed93ed9c";

fn items() -> Vec<LineItem> {
    vec![
        LineItem {
            product_id: "sku-1".into(),
            name: "Widget".into(),
            quantity: 2,
            unit_price_cents: 1000,
        },
        LineItem {
            product_id: "sku-2".into(),
            name: "Gadget".into(),
            quantity: 1,
            unit_price_cents: 2500,
        },
    ]
}

fn created() -> TransactionCreated {
    TransactionCreated {
        customer_id: CUSTOMER_ID.into(),
        items: items(),
        subtotal_cents: 4500,
        created_at: None,
    }
}

fn now() -> Option<evented::prost_types::Timestamp> {
    Some(testing::now_timestamp())
}

/// The receipt has what TransactionCreated said (items, customer) and what
/// TransactionCompleted said (total, payment, points): the projector folds the
/// whole history (a defect of the original example was to see only the newest
/// event).
#[test]
fn receipt_of_a_completed_transaction() {
    let id = root("txn-1").to_string();
    testing::projector(new)
        .for_aggregate("transaction", "txn-1")
        .given(created())
        .when(TransactionCompleted { final_total_cents: 4500, payment_method: "card".into(), loyalty_points_earned: 45, completed_at: now() })
        .then_projection(Receipt {
            transaction_id: id.clone(),
            customer_id: CUSTOMER_ID.into(),
            items: items(),
            subtotal_cents: 4500,
            discount_cents: 0,
            final_total_cents: 4500,
            payment_method: "card".into(),
            loyalty_points_earned: 45,
            completed_at: now(),
            formatted_text: format!(
                "Receipt for transaction {id}\nCustomer: {CUSTOMER_ID}\n2 x Widget @ $10.00 = $20.00\n1 x Gadget @ $25.00 = $25.00\n\
                 Subtotal: $45.00\nTotal: $45.00\nPayment: card\nLoyalty points earned: 45\n"
            ),
        });
}

#[test]
fn receipt_with_a_discount() {
    let id = root("txn-2").to_string();
    testing::projector(new)
        .for_aggregate("transaction", "txn-2")
        .given(events![created(), DiscountApplied { discount_type: "percentage".into(), value: 10, discount_cents: 450, coupon_code: String::new() }])
        .when(TransactionCompleted { final_total_cents: 4050, payment_method: "cash".into(), loyalty_points_earned: 40, completed_at: now() })
        .then_projection(Receipt {
            transaction_id: id.clone(),
            customer_id: CUSTOMER_ID.into(),
            items: items(),
            subtotal_cents: 4500,
            discount_cents: 450,
            final_total_cents: 4050,
            payment_method: "cash".into(),
            loyalty_points_earned: 40,
            completed_at: now(),
            formatted_text: format!(
                "Receipt for transaction {id}\nCustomer: {CUSTOMER_ID}\n2 x Widget @ $10.00 = $20.00\n1 x Gadget @ $25.00 = $25.00\n\
                 Subtotal: $45.00\nDiscount: -$4.50\nTotal: $40.50\nPayment: cash\nLoyalty points earned: 40\n"
            ),
        });
}

/// evented may start the history at the transaction's snapshot.
#[test]
fn receipt_from_a_snapshot() {
    let id = root("txn-3").to_string();
    let one = items()[..1].to_vec();
    testing::projector(new)
        .for_aggregate("transaction", "txn-3")
        .given_snapshot(
            TransactionState {
                customer_id: CUSTOMER_ID.into(),
                items: one.clone(),
                subtotal_cents: 2000,
                discount_cents: 500,
                discount_type: "coupon".into(),
                status: "pending".into(),
            },
            2,
        )
        .when(TransactionCompleted { final_total_cents: 1500, payment_method: "card".into(), loyalty_points_earned: 15, completed_at: None })
        .then_projection(Receipt {
            transaction_id: id.clone(),
            customer_id: CUSTOMER_ID.into(),
            items: one,
            subtotal_cents: 2000,
            discount_cents: 500,
            final_total_cents: 1500,
            payment_method: "card".into(),
            loyalty_points_earned: 15,
            completed_at: None,
            formatted_text: format!(
                "Receipt for transaction {id}\nCustomer: {CUSTOMER_ID}\n2 x Widget @ $10.00 = $20.00\n\
                 Subtotal: $20.00\nDiscount: -$5.00\nTotal: $15.00\nPayment: card\nLoyalty points earned: 15\n"
            ),
        });
}

#[test]
fn no_receipt_before_completion() {
    testing::projector(new)
        .for_aggregate("transaction", "txn-4")
        .when(created())
        .then_no_projection();
    testing::projector(new)
        .for_aggregate("transaction", "txn-4")
        .given(created())
        .when(TransactionCancelled {
            reason: "changed my mind".into(),
            cancelled_at: None,
        })
        .then_no_projection();
}

/// A projector built for history refuses a book that cannot be one, naming
/// the setting to fix.
#[tokio::test]
async fn misconfigured_without_history() {
    let newest_only = pb::EventBook {
        cover: Some(Cover::of("transaction", "txn-5").to_pb()),
        snapshot: None,
        pages: vec![pb::EventPage {
            sequence: Some(pb::event_page::Sequence::Num(3)),
            created_at: None,
            event: Some(
                Msg::from(TransactionCompleted {
                    final_total_cents: 1,
                    ..Default::default()
                })
                .into_any(),
            ),
            synchronous: false,
            metadata: None,
        }],
        deadlines: vec![],
    };
    let err = new(Options::default())
        .handle_sync(&newest_only)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("history: true"), "{err:?}");
}

#[test]
fn amounts() {
    let got: Vec<String> = [0, 5, 100, 4550, -250].into_iter().map(money).collect();
    assert_eq!(got, ["$0.00", "$0.05", "$1.00", "$45.50", "-$2.50"]);
}
