//! The Upcaster helper: typed steps, the steps list, refusals.

use evented::{Upcaster, pb};
use prost::Message;

fn names() -> Upcaster {
    Upcaster::new("names")
        .step(1, |old: String| Ok(format!("{old}|")))
        .step(2, |old: String| {
            Ok(format!("{old}none@example.com").into_bytes())
        })
}

fn event(value: &str, version: u32) -> pb::UpcastEvent {
    pb::UpcastEvent {
        event: Some(prost_types::Any {
            type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
            value: value.to_string().encode_to_vec(),
        }),
        schema_version: version,
    }
}

#[test]
fn each_event_one_version_up() {
    let resp = names()
        .upcast(&pb::UpcastRequest {
            domain: "customer".into(),
            events: vec![event("ann", 0), event("bob|", 2)],
        })
        .unwrap();
    let first = &resp.events[0];
    assert_eq!(first.schema_version, 2);
    assert_eq!(
        String::decode(&first.event.as_ref().unwrap().value[..]).unwrap(),
        "ann|"
    );
    let second = &resp.events[1];
    assert_eq!(second.schema_version, 3);
    assert_eq!(
        second.event.as_ref().unwrap().type_url,
        "type.googleapis.com/google.protobuf.BytesValue"
    );
    assert_eq!(
        Vec::<u8>::decode(&second.event.as_ref().unwrap().value[..]).unwrap(),
        b"bob|none@example.com"
    );
    let err = names()
        .upcast(&pb::UpcastRequest {
            domain: "customer".into(),
            events: vec![event("x", 3)],
        })
        .unwrap_err();
    assert!(
        err.message()
            .contains("no step for type.googleapis.com/google.protobuf.StringValue v3"),
        "{}",
        err.message()
    );
}

#[test]
fn steps_for_the_configuration() {
    let steps = names().steps();
    assert_eq!(steps.len(), 2);
    assert_eq!((steps[0].from_version, steps[0].to.clone()), (1, None));
    assert_eq!(
        steps[1].to.as_deref(),
        Some("type.googleapis.com/google.protobuf.BytesValue")
    );
}
