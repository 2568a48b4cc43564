use evented::testing;
use evented::tonic::Code;
use evented::{Events, events};
use shop::pb::*;

use crate::new;

fn created() -> CustomerCreated {
    CustomerCreated {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        created_at: Some(testing::now_timestamp()),
    }
}

fn create(name: &str, email: &str) -> CreateCustomer {
    CreateCustomer {
        name: name.into(),
        email: email.into(),
    }
}

fn added(points: i32, new_balance: i32) -> LoyaltyPointsAdded {
    LoyaltyPointsAdded {
        points,
        new_balance,
        reason: String::new(),
    }
}

fn add(points: i32) -> AddLoyaltyPoints {
    AddLoyaltyPoints {
        points,
        reason: String::new(),
    }
}

fn redeem(points: i32) -> RedeemLoyaltyPoints {
    RedeemLoyaltyPoints {
        points,
        redemption_type: String::new(),
    }
}

fn state(loyalty_points: i32, lifetime_points: i32) -> CustomerState {
    CustomerState {
        name: "Alice".into(),
        email: "alice@example.com".into(),
        loyalty_points,
        lifetime_points,
    }
}

#[test]
fn create_customer() {
    testing::aggregate(new)
        .when(create("Alice", "alice@example.com"))
        .then(created())
        .then_snapshot(state(0, 0));
}

#[test]
fn create_customer_needs_name_email_and_a_new_customer() {
    testing::aggregate(new)
        .when(create("", "alice@example.com"))
        .then_rejected(Code::InvalidArgument, "name is required");
    testing::aggregate(new)
        .when(create("Alice", ""))
        .then_rejected(Code::InvalidArgument, "email is required");
    testing::aggregate(new)
        .given(created())
        .when(create("Alice", "alice@example.com"))
        .then_rejected(Code::FailedPrecondition, "customer already exists");
}

#[test]
fn add_loyalty_points() {
    testing::aggregate(new)
        .given(events![created(), added(10, 10)])
        .when(AddLoyaltyPoints {
            points: 45,
            reason: "transaction t-1".into(),
        })
        .then(LoyaltyPointsAdded {
            points: 45,
            new_balance: 55,
            reason: "transaction t-1".into(),
        })
        .then_snapshot(state(55, 55));
}

#[test]
fn add_loyalty_points_needs_a_customer_and_positive_points() {
    testing::aggregate(new)
        .when(add(5))
        .then_rejected(Code::FailedPrecondition, "customer does not exist");
    testing::aggregate(new)
        .given(created())
        .when(add(0))
        .then_rejected(Code::InvalidArgument, "points must be positive, got 0");
    testing::aggregate(new)
        .given(created())
        .when(add(-3))
        .then_rejected(Code::InvalidArgument, "points must be positive, got -3");
}

#[test]
fn redeem_loyalty_points() {
    testing::aggregate(new)
        .given(events![created(), added(45, 45)])
        .when(RedeemLoyaltyPoints {
            points: 45,
            redemption_type: "voucher".into(),
        })
        .then(LoyaltyPointsRedeemed {
            points: 45,
            new_balance: 0,
            redemption_type: "voucher".into(),
        })
        .then_snapshot(state(0, 45));
}

#[test]
fn redeem_more_than_the_balance_is_rejected() {
    testing::aggregate(new)
        .given(events![
            created(),
            added(45, 45),
            LoyaltyPointsRedeemed {
                points: 20,
                new_balance: 25,
                redemption_type: String::new()
            }
        ])
        .when(redeem(26))
        .then_rejected(
            Code::FailedPrecondition,
            "Insufficient points: have 25, need 26",
        );
    testing::aggregate(new)
        .when(redeem(1))
        .then_rejected(Code::FailedPrecondition, "customer does not exist");
    testing::aggregate(new)
        .given(created())
        .when(redeem(0))
        .then_rejected(Code::InvalidArgument, "points must be positive, got 0");
}

#[test]
fn state_from_snapshot_and_later_events() {
    testing::aggregate(new)
        .given_snapshot(state(30, 50), 7)
        .given(added(5, 35))
        .when(redeem(36))
        .then_rejected(
            Code::FailedPrecondition,
            "Insufficient points: have 35, need 36",
        );
    testing::aggregate(new)
        .given_snapshot(state(30, 50), 7)
        .given(added(5, 35))
        .when(redeem(35))
        .then(LoyaltyPointsRedeemed {
            points: 35,
            new_balance: 0,
            redemption_type: String::new(),
        })
        .then_snapshot(state(0, 55));
}

/// Two commands in one book: the second sees the first's events, and the
/// events are numbered one after the other (the kit checks the numbering).
#[test]
fn commands_of_one_book_see_each_other() {
    testing::aggregate(new)
        .when(events![create("Alice", "alice@example.com"), add(7)])
        .then(events![created(), added(7, 7)]);
    testing::aggregate(new)
        .given(created())
        .when(add(1))
        .then(Events::none().with(added(1, 1)));
}

#[test]
fn upcaster_splits_the_contact_line() {
    use evented::prost::{Message, Name};
    let req = evented::pb::UpcastRequest {
        domain: "customer".into(),
        events: vec![evented::pb::UpcastEvent {
            event: Some(evented::prost_types::Any {
                type_url: shop::pb::CustomerSignedUp::type_url(),
                value: shop::pb::CustomerSignedUp {
                    contact: "Olga Petrova <olga@example.com>".into(),
                    signed_up_at: None,
                }
                .encode_to_vec(),
            }),
            schema_version: 0,
        }],
    };
    let out = &crate::upcaster().upcast(&req).unwrap().events[0];
    assert_eq!(out.schema_version, 2);
    let created = CustomerCreated::decode(&out.event.as_ref().unwrap().value[..]).unwrap();
    assert_eq!(
        (created.name.as_str(), created.email.as_str()),
        ("Olga Petrova", "olga@example.com")
    );
    assert_eq!(
        crate::split_contact("Cher"),
        ("Cher".to_string(), String::new())
    );
}
