//! Deadlines: commands a handler schedules for later, or cancels.

use std::time::{Duration, SystemTime};

use crate::msg::{Msg, Proto};
use crate::pb;

/// Schedules `command` for the same aggregate at `due`, under `id`: push it
/// among a handler's events (it goes out as a deadline, not an event).
/// evented keeps it in the store once the events are committed and sends the
/// command at `due`, once; scheduling `id` again replaces it,
/// [`cancel_deadline`] removes it. The id names the deadline within the
/// aggregate (the SDK prefixes it with `<domain>/<root>/`), e.g. `"timeout"`.
pub fn deadline_at<C: Proto>(id: impl Into<String>, due: SystemTime, command: &C) -> Msg {
    Msg::new(&pb::Deadline {
        id: id.into(),
        due: Some(due.into()),
        command: Some(pb::CommandBook {
            cover: None,
            pages: vec![pb::CommandPage {
                sequence: 0,
                synchronous: false,
                command: Some(Msg::new(command).into_any()),
            }],
        }),
        cancel: false,
    })
}

/// [`deadline_at`] now + `delay`.
pub fn deadline_after<C: Proto>(id: impl Into<String>, delay: Duration, command: &C) -> Msg {
    deadline_at(id, SystemTime::now() + delay, command)
}

/// Cancels the pending deadline `id` (within the aggregate): push it among a
/// handler's events. A deadline cancelled before it is due never fires.
pub fn cancel_deadline(id: impl Into<String>) -> Msg {
    Msg::new(&pb::Deadline {
        id: id.into(),
        due: None,
        command: None,
        cancel: true,
    })
}
