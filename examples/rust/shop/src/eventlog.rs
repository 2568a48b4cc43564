//! The projector behind the example log projectors (projector-log-customer,
//! projector-log-transaction): one JSON line per event.
//!
//! Every example language writes the same line, one JSON object per line on
//! standard output, with at least these keys:
//!
//! ```text
//! {"msg":"event","projector":"log-customer","domain":"customer",
//!  "root":"bee85a38-babe-5251-8d7d-f8a8ed93ed9c","sequence":0,
//!  "type":"examples.CustomerCreated","event":{"name":"Alice",...}}
//! ```
//!
//! (`event` is the event in protobuf's JSON form, when its type is known.)

use std::io::Write;
use std::sync::{LazyLock, Mutex};
use std::time::SystemTime;

use evented::{Event, Options, Projector, type_name};
use prost_reflect::{DescriptorPool, DynamicMessage};
use prost_types::Any;
use serde_json::{Value, json};

/// The example domain's messages, so that events are logged field by field
/// rather than as bytes.
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(crate::DESCRIPTORS).expect("the descriptors built by build.rs")
});

/// The event in protobuf's JSON form, when its type is known.
pub fn event_json(any: &Any) -> Option<Value> {
    let desc = POOL.get_message_by_name(type_name(&any.type_url))?;
    let msg = DynamicMessage::decode(desc, any.value.as_slice()).ok()?;
    serde_json::to_value(&msg).ok()
}

/// The line logged for one event.
pub fn line(projector: &str, any: &Any, ev: &Event) -> Value {
    let mut line = json!({
        "time": prost_types::Timestamp::from(SystemTime::now()).to_string(),
        "level": "INFO",
        "msg": "event",
        "projector": projector,
        "domain": ev.cover.domain,
        "root": ev.cover.root.to_string(),
        "sequence": ev.sequence,
        "type": type_name(&any.type_url),
    });
    match event_json(any) {
        Some(event) => line["event"] = event,
        None => line["bytes"] = json!(any.value.len()), // a type this program does not know
    }
    line
}

/// The projector called `name` that writes a line for every event it is
/// delivered to `out` (standard output in the services). It keeps no state and
/// is called asynchronously, without history, so each event is logged once per
/// delivery (at least once).
pub fn new(name: &str, out: impl Write + Send + 'static, opts: Options) -> Projector<()> {
    let out = Mutex::new(out); // calls run concurrently: whole lines
    let projector = name.to_string();
    Projector::new(name, opts).on_any(move |_, any, ev| {
        let text = format!("{}\n", line(&projector, any, ev));
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| {
                evented::Error::new(
                    evented::tonic::Code::Unavailable,
                    format!("write the log: {e}"),
                )
            })
    })
}
