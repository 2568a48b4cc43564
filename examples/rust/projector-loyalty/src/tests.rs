use evented::testing;
use evented::tonic::Code;
use evented::{Cover, Msg, Options, events, pb, root};
use shop::pb::*;

use crate::new;

fn created() -> CustomerCreated {
    CustomerCreated {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        created_at: None,
    }
}

fn added(points: i32, new_balance: i32, reason: &str) -> LoyaltyPointsAdded {
    LoyaltyPointsAdded {
        points,
        new_balance,
        reason: reason.into(),
    }
}

/// The balance counts every point added and redeemed, whether the events are
/// new or history: evented delivers the whole book (history: true).
#[test]
fn balance_folds_the_customers_history() {
    testing::projector(new)
        .for_aggregate("customer", "customer-1")
        .given(events![created(), added(45, 45, "transaction t-1")])
        .when(events![
            LoyaltyPointsRedeemed {
                points: 20,
                new_balance: 25,
                redemption_type: "voucher".into(),
            },
            added(10, 35, "welcome"),
        ])
        .then_projection(LoyaltyBalance {
            customer_id: root("customer-1").to_string(),
            name: "Alice".into(),
            points: 35,
            lifetime_points: 55,
        });
}

/// A new customer has a balance of nothing, so a client watching it sees the
/// customer from the start.
#[test]
fn a_new_customers_balance() {
    testing::projector(new)
        .for_aggregate("customer", "customer-2")
        .when(created())
        .then_projection(LoyaltyBalance {
            customer_id: root("customer-2").to_string(),
            name: "Alice".into(),
            points: 0,
            lifetime_points: 0,
        });
}

/// evented may start the history at the customer's snapshot.
#[test]
fn balance_from_a_snapshot() {
    testing::projector(new)
        .for_aggregate("customer", "customer-3")
        .given_snapshot(
            CustomerState {
                name: "Bob".into(),
                email: "bob@example.com".into(),
                loyalty_points: 100,
                lifetime_points: 120,
            },
            20,
        )
        .when(added(5, 105, "welcome"))
        .then_projection(LoyaltyBalance {
            customer_id: root("customer-3").to_string(),
            name: "Bob".into(),
            points: 105,
            lifetime_points: 125,
        });
}

/// A projector built for history refuses a book that cannot be one, naming
/// the setting to fix.
#[tokio::test]
async fn misconfigured_without_history() {
    let newest_only = pb::EventBook {
        cover: Some(Cover::of("customer", "customer-4").to_pb()),
        snapshot: None,
        pages: vec![pb::EventPage {
            sequence: Some(pb::event_page::Sequence::Num(3)),
            created_at: None,
            event: Some(Msg::from(added(5, 5, "")).into_any()),
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
