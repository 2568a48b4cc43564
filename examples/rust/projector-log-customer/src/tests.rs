use std::io::Write;
use std::sync::{Arc, Mutex};

use evented::{Cover, Options, events, pb, root, testing};
use serde_json::{Value, json};
use shop::pb::*;

use crate::new;

/// A buffer the projector writes to and the test reads.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

#[test]
fn logs_each_event() {
    let out = Buffer::default();
    let w = out.clone();
    testing::projector(move |o| new(w, o))
        .for_aggregate("customer", "customer-1")
        .when(CustomerCreated {
            name: "Alice".into(),
            email: "alice@example.com".into(),
            created_at: None,
        })
        .then_handled();
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l["msg"], "event");
    assert_eq!(l["projector"], "log-customer");
    assert_eq!(l["domain"], "customer");
    assert_eq!(l["type"], "examples.CustomerCreated");
    assert_eq!(l["root"], root("customer-1").to_string());
    assert_eq!(l["sequence"], 0);
    assert_eq!(
        l["event"],
        json!({"name": "Alice", "email": "alice@example.com"})
    );
}

#[test]
fn one_line_per_new_event() {
    let out = Buffer::default();
    let w = out.clone();
    testing::projector(move |o| new(w, o))
        .for_aggregate("customer", "cust-001")
        .given(CustomerCreated {
            name: "Alice".into(),
            ..Default::default()
        })
        .when(events![
            LoyaltyPointsAdded {
                points: 45,
                new_balance: 45,
                reason: String::new()
            },
            LoyaltyPointsRedeemed {
                points: 5,
                new_balance: 40,
                redemption_type: String::new()
            }
        ])
        .then_handled();
    let got: Vec<(Value, Value, Value, Value)> = out
        .lines()
        .into_iter()
        .map(|l| {
            (
                l["type"].clone(),
                l["sequence"].clone(),
                l["event"]["points"].clone(),
                l["root"].clone(),
            )
        })
        .collect();
    let r = json!("bee85a38-babe-5251-8d7d-f8a8ed93ed9c");
    assert_eq!(
        got,
        [
            (
                json!("examples.LoyaltyPointsAdded"),
                json!(1),
                json!(45),
                r.clone()
            ),
            (
                json!("examples.LoyaltyPointsRedeemed"),
                json!(2),
                json!(5),
                r
            )
        ]
    );
}

#[tokio::test]
async fn unknown_event_types_are_logged_by_name() {
    let out = Buffer::default();
    let book = pb::EventBook {
        cover: Some(Cover::of("customer", "c").to_pb()),
        snapshot: None,
        pages: vec![pb::EventPage {
            sequence: Some(pb::event_page::Sequence::Num(4)),
            created_at: None,
            event: Some(evented::prost_types::Any {
                type_url: "type.googleapis.com/other.Thing".into(),
                value: vec![8, 1],
            }),
            synchronous: false,
            metadata: None,
        }],
        deadlines: vec![],
    };
    new(out.clone(), Options::default())
        .handle_events(&book)
        .await
        .unwrap();
    let l = &out.lines()[0];
    assert_eq!(
        (&l["type"], &l["bytes"], &l["sequence"]),
        (&json!("other.Thing"), &json!(2), &json!(4))
    );
    assert!(l.get("event").is_none());
}
