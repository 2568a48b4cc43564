//! Options of aggregates, projectors and sagas.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::consumer::EventReader;

/// What "now" is for handlers that stamp times on events. A plain function,
/// so it is `Copy` and closures take it along: the system clock by default,
/// a fixed time in tests (see [`testing::now`](crate::testing::now)).
#[derive(Clone, Copy)]
pub struct Clock(fn() -> SystemTime);

impl Clock {
    pub fn new(now: fn() -> SystemTime) -> Self {
        Clock(now)
    }

    pub fn now(&self) -> SystemTime {
        (self.0)()
    }

    /// [`now`](Clock::now) as a protobuf Timestamp.
    pub fn timestamp(&self) -> prost_types::Timestamp {
        self.now().into()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock(SystemTime::now)
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({:?})", self.now())
    }
}

/// Options of an [`Aggregate`](crate::Aggregate), a
/// [`Projector`](crate::Projector) or a [`Saga`](crate::Saga); options that do
/// not concern a kind are ignored by it. Constructors of your services take
/// them, so tests can pass their own:
///
/// ```ignore
/// pub fn new(opts: Options) -> Aggregate<State> { Aggregate::new("customer", opts) /* ... */ }
/// ```
#[derive(Clone, Default)]
pub struct Options {
    pub(crate) clock: Clock,
    pub(crate) history: bool,
    pub(crate) events: Option<Arc<dyn EventReader>>,
}

impl Options {
    pub fn new() -> Self {
        Options::default()
    }

    /// Sets the clock (all kinds).
    pub fn with_clock(mut self, now: fn() -> SystemTime) -> Self {
        self.clock = Clock(now);
        self
    }

    /// Declares that evented delivers this projector's or saga's books with
    /// history (`history: true` in evented's configuration): each book holds
    /// the aggregate's latest snapshot and every event after it, the new ones
    /// last. The state is folded from the whole book, and handlers (`on`,
    /// `react`) are called for the newest event only — the book's last page —
    /// because the book does not say where the new events begin. A book that
    /// cannot be a history book (no snapshot, first page past 0) is an error
    /// naming the setting.
    ///
    /// Without history every page of a book is new and is handled; the state
    /// is folded from the book and, with [`with_event_query`](Options::with_event_query),
    /// from the events before it.
    pub fn with_history(mut self) -> Self {
        self.history = true;
        self
    }

    /// Lets a projector or saga without history fold the events an aggregate
    /// had before the delivered book: when a book does not start at sequence
    /// 0 and the consumer keeps state (`apply` or `restore`), the earlier
    /// events are read with `reader` (an `EventQueryClient` of evented's query
    /// port) and applied, not handled, first.
    pub fn with_event_query(mut self, reader: impl EventReader + 'static) -> Self {
        self.events = Some(Arc::new(reader));
        self
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    pub fn history(&self) -> bool {
        self.history
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("history", &self.history)
            .field("event_query", &self.events.is_some())
            .finish()
    }
}
