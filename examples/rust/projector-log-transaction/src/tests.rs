use std::io::Write;
use std::sync::{Arc, Mutex};

use evented::{root, testing};
use serde_json::{Value, json};
use shop::pb::*;

use crate::new;

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

#[test]
fn logs_each_event() {
    let out = Buffer::default();
    let w = out.clone();
    testing::projector(move |o| new(w, o))
        .for_aggregate("transaction", "txn-1")
        .given(TransactionCreated {
            customer_id: "c".into(),
            subtotal_cents: 4500,
            ..Default::default()
        })
        .when(TransactionCompleted {
            final_total_cents: 4500,
            payment_method: "card".into(),
            loyalty_points_earned: 45,
            completed_at: Some(testing::now_timestamp()),
        })
        .then_handled();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let l = &lines[0];
    assert_eq!(
        (&l["projector"], &l["domain"], &l["sequence"]),
        (&json!("log-transaction"), &json!("transaction"), &json!(1))
    );
    assert_eq!(l["type"], "examples.TransactionCompleted");
    assert_eq!(l["root"], root("txn-1").to_string());
    // protobuf's JSON form: lowerCamelCase names, RFC 3339 times.
    assert_eq!(
        l["event"],
        json!({"finalTotalCents": 4500, "paymentMethod": "card", "loyaltyPointsEarned": 45, "completedAt": "2026-03-01T12:00:00Z"})
    );
}
