//! A Given/When/Then kit for unit tests of aggregates, projectors and sagas.
//!
//! It calls them exactly as evented does — a ContextualCommand for an
//! aggregate, an EventBook for a projector or saga — without a server or a
//! network, and panics with the difference (a failed test):
//!
//! ```ignore
//! use evented::testing;
//!
//! #[test]
//! fn redeem_needs_enough_points() {
//!     testing::aggregate(customer::new)
//!         .given(events![created(), LoyaltyPointsAdded { points: 10, new_balance: 10, ..Default::default() }])
//!         .when(RedeemLoyaltyPoints { points: 20, ..Default::default() })
//!         .then_rejected(Code::FailedPrecondition, "Insufficient points: have 10, need 20");
//! }
//! ```
//!
//! The constructor passed in (`customer::new` above) takes [`Options`]: the
//! kit passes a clock fixed at [`now`], and for projectors and sagas an event
//! reader serving the Given events ([`Options::with_event_query`]), so a
//! consumer without history sees the same prior state as under evented.
//! Beyond the events, the kit checks what evented relies on: events numbered
//! from the aggregate's next sequence, the command's cover, a snapshot's
//! sequence after the new events.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost_types::Any;
use tonic::Code;

use crate::consumer::BoxFuture;
use crate::msg::{Proto, describe_unknown};
use crate::{
    Aggregate, Command, Cover, Error, EventReader, Events, Msg, Options, Projector, Saga, pb, root,
};

/// The time the kit's clock reads, 2026-03-01T12:00:00Z: times a handler
/// stamps with its clock come out as this, so expected events can be exact.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_772_366_400)
}

/// [`now`] as a protobuf Timestamp.
pub fn now_timestamp() -> prost_types::Timestamp {
    now().into()
}

/// Names the aggregate a case is about unless `for_root` / `for_aggregate`
/// says otherwise (its root is `root(DEFAULT_ROOT)`).
pub const DEFAULT_ROOT: &str = "sdktest";

/// What a case is given: the aggregate, an optional snapshot, events.
#[derive(Clone)]
struct History {
    cover: Cover,
    snapshot: Option<pb::Snapshot>,
    given: Vec<Msg>,
}

impl History {
    fn first(&self) -> u32 {
        self.snapshot.as_ref().map_or(0, |s| s.sequence)
    }

    /// The sequence after the Given events.
    fn next(&self) -> u32 {
        self.first() + self.given.len() as u32
    }
}

/// Events numbered from `first`, stamped at [`now`].
fn pages(first: u32, events: &[Msg]) -> Vec<pb::EventPage> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| pb::EventPage {
            sequence: Some(pb::event_page::Sequence::Num(first + i as u32)),
            created_at: Some(now_timestamp()),
            event: Some(e.as_any().clone()),
            synchronous: false,
            metadata: None,
        })
        .collect()
}

fn num(p: &pb::EventPage) -> Option<u32> {
    match p.sequence {
        Some(pb::event_page::Sequence::Num(n)) => Some(n),
        _ => None,
    }
}

fn describe_as<M: Proto>(any: &Any) -> String {
    match crate::decode::<M>(any) {
        Some(m) => format!("{} {m:?}", M::full_name()),
        None => describe_unknown(any),
    }
}

#[track_caller]
fn check_events(got: &[pb::EventPage], want: &Events) {
    let show_got = || {
        let all: Vec<String> = got
            .iter()
            .map(|p| {
                p.event
                    .as_ref()
                    .map_or("<no event>".into(), describe_unknown)
            })
            .collect();
        format!("[{}]", all.join(", "))
    };
    if got.len() != want.len() {
        panic!(
            "{} events, want {}:\n got  {}\n want {want:?}",
            got.len(),
            want.len(),
            show_got()
        );
    }
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        let any = g.event.clone().unwrap_or_default();
        if !w.matches(&any) {
            panic!("event #{i}:\n got  {}\n want {w:?}", w.describe_any(&any));
        }
    }
}

/// What evented relies on: events numbered from `next`, a snapshot's
/// sequence after them.
#[track_caller]
fn check_numbering(book: &pb::EventBook, next: u32) {
    for (i, p) in book.pages.iter().enumerate() {
        let want = next + i as u32;
        assert!(
            num(p) == Some(want),
            "event #{i} is numbered {:?}, want num {want} (the aggregate's next sequence)",
            p.sequence
        );
    }
    if let Some(s) = &book.snapshot {
        let want = next + book.pages.len() as u32;
        assert!(
            s.sequence == want,
            "the snapshot's sequence is {}, want {want} (the sequence after the new events)",
            s.sequence
        );
    }
}

#[track_caller]
fn check_status(
    got: Result<(), Error>,
    code: Code,
    message: &str,
    exact: bool,
    instead: &dyn Fn() -> String,
) {
    let how = if exact { "" } else { "containing " };
    match got {
        Ok(()) => panic!(
            "succeeded with {}, want {code:?} {how}{message:?}",
            instead()
        ),
        Err(e) => {
            let ok = if exact {
                e.message() == message
            } else {
                e.message().contains(message)
            };
            if e.code() != code || !ok {
                panic!(
                    "failed with {:?} {:?}, want {code:?} {how}{message:?}",
                    e.code(),
                    e.message()
                );
            }
        }
    }
}

/// Runs a future that needs no runtime to completion (the kit's reader
/// answers at once).
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// One Given/When/Then of an aggregate.
pub struct AggregateCase<S> {
    agg: Aggregate<S>,
    h: History,
    commands: Events,
}

/// Starts a case for the aggregate `new` builds (with the kit's clock), about
/// aggregate [`DEFAULT_ROOT`] with no history.
pub fn aggregate<S: Default + 'static>(
    new: impl FnOnce(Options) -> Aggregate<S>,
) -> AggregateCase<S> {
    let agg = new(Options::new().with_clock(now));
    let cover = Cover::new(agg.domain(), root(DEFAULT_ROOT));
    AggregateCase {
        agg,
        h: History {
            cover,
            snapshot: None,
            given: vec![],
        },
        commands: Events::none(),
    }
}

impl<S: Default + 'static> AggregateCase<S> {
    /// Sets the aggregate's root: `root(name)`.
    pub fn for_root(mut self, name: &str) -> Self {
        self.h.cover.root = root(name);
        self
    }

    /// Starts the history at a snapshot of `state` holding the first
    /// `sequence` events; Given events follow it.
    pub fn given_snapshot(mut self, state: impl Into<Msg>, sequence: u32) -> Self {
        self.h.snapshot = Some(pb::Snapshot {
            sequence,
            state: Some(state.into().into_any()),
        });
        self
    }

    /// Adds events to the aggregate's history (one, or several with `events!`).
    pub fn given(mut self, events: impl Into<Events>) -> Self {
        self.h.given.extend(events.into());
        self
    }

    /// Sets the commands (pages of one command book).
    pub fn when(mut self, commands: impl Into<Events>) -> Self {
        self.commands = commands.into();
        self
    }

    /// Calls the aggregate as evented would and returns its answer.
    #[track_caller]
    pub fn run(&self) -> Result<pb::EventBook, Error> {
        assert!(
            !self.commands.is_empty(),
            "evented::testing: no command: call when before then"
        );
        let cover = self.h.cover.to_pb();
        let command = pb::CommandBook {
            cover: Some(cover.clone()),
            pages: self
                .commands
                .iter()
                .map(|c| pb::CommandPage {
                    sequence: 0,
                    synchronous: false,
                    command: Some(c.as_any().clone()),
                })
                .collect(),
        };
        let prior = pb::EventBook {
            cover: Some(cover),
            snapshot: self.h.snapshot.clone(),
            pages: pages(self.h.first(), &self.h.given),
            deadlines: vec![],
        };
        self.agg.handle_command(&pb::ContextualCommand {
            events: Some(prior),
            command: Some(command),
        })
    }

    #[track_caller]
    fn run_ok(&self) -> pb::EventBook {
        match self.run() {
            Ok(b) => b,
            Err(e) => panic!("the commands failed: {e:?}"),
        }
    }

    /// Asserts that the commands produced exactly `events`, in order (none:
    /// [`Events::none`]), numbered from the aggregate's next sequence.
    #[track_caller]
    pub fn then(self, events: impl Into<Events>) -> Self {
        let book = self.run_ok();
        let want_cover = self.h.cover.to_pb();
        assert!(
            book.cover.as_ref() == Some(&want_cover),
            "the answer's cover is {:?}, want the command's {}",
            book.cover,
            self.h.cover
        );
        check_events(&book.pages, &events.into());
        check_numbering(&book, self.h.next());
        self
    }

    /// Asserts that the answer carries a snapshot equal to `state`.
    #[track_caller]
    pub fn then_snapshot<T: Proto>(self, state: T) -> Self {
        let book = self.run_ok();
        let Some(got) = book.snapshot.and_then(|s| s.state) else {
            panic!("no snapshot returned, want {} {state:?}", T::full_name());
        };
        assert!(
            crate::decode::<T>(&got).as_ref() == Some(&state),
            "snapshot:\n got  {}\n want {} {state:?}",
            describe_as::<T>(&got),
            T::full_name()
        );
        self
    }

    /// Asserts that the commands were refused with `code` and exactly `message`.
    #[track_caller]
    pub fn then_rejected(self, code: Code, message: &str) {
        let got = self.run();
        let instead = || match &got {
            Ok(b) => format!(
                "events {:?}",
                b.pages
                    .iter()
                    .filter_map(|p| p.event.as_ref())
                    .map(describe_unknown)
                    .collect::<Vec<_>>()
            ),
            Err(_) => String::new(),
        };
        check_status(got.clone().map(|_| ()), code, message, true, &instead);
    }
}

/// Serves a case's Given events as evented's query port would.
struct Reader(Arc<Mutex<History>>);

impl EventReader for Reader {
    fn get_events(&self, q: pb::Query) -> BoxFuture<'_, Result<Vec<pb::EventBook>, tonic::Status>> {
        let h = self.0.lock().expect("history").clone();
        let books = if q.domain != h.cover.domain
            || q.root.as_ref().map(|r| r.value.as_slice()) != Some(h.cover.root.as_bytes())
        {
            vec![] // another aggregate: unknown, no events
        } else {
            let pages = pages(h.first(), &h.given)
                .into_iter()
                .filter(|p| {
                    num(p).is_some_and(|n| {
                        n >= q.lower_bound && (q.upper_bound == 0 || n < q.upper_bound)
                    })
                })
                .collect();
            vec![pb::EventBook {
                cover: Some(h.cover.to_pb()),
                snapshot: h.snapshot.clone(),
                pages,
                deadlines: vec![],
            }]
        };
        Box::pin(async move { Ok(books) })
    }
}

/// What projector and saga cases share.
struct ConsumerCase {
    h: Arc<Mutex<History>>,
    new_events: Events,
}

impl ConsumerCase {
    fn new() -> (Self, Options) {
        let h = Arc::new(Mutex::new(History {
            cover: Cover::new(DEFAULT_ROOT, root(DEFAULT_ROOT)),
            snapshot: None,
            given: vec![],
        }));
        let opts = Options::new()
            .with_clock(now)
            .with_event_query(Reader(h.clone()));
        (
            ConsumerCase {
                h,
                new_events: Events::none(),
            },
            opts,
        )
    }

    fn history(&self) -> History {
        self.h.lock().expect("history").clone()
    }

    fn edit(&self, f: impl FnOnce(&mut History)) {
        f(&mut self.h.lock().expect("history"))
    }

    /// What evented would deliver: with history the snapshot, the Given and
    /// the new events; without, the new events only (the reader serves the
    /// Given ones).
    #[track_caller]
    fn book(&self, with_history: bool) -> pb::EventBook {
        assert!(
            !self.new_events.is_empty(),
            "evented::testing: no event delivered: call when before then"
        );
        let h = self.history();
        let news: Vec<Msg> = self.new_events.iter().cloned().collect();
        let mut b = pb::EventBook {
            cover: Some(h.cover.to_pb()),
            snapshot: None,
            pages: pages(h.next(), &news),
            deadlines: vec![],
        };
        if with_history {
            b.snapshot = h.snapshot.clone();
            let mut all = pages(h.first(), &h.given);
            all.append(&mut b.pages);
            b.pages = all;
        }
        b
    }
}

macro_rules! consumer_case_methods {
    () => {
        /// Sets the aggregate the events are of: `domain`, root `root(name)`.
        pub fn for_aggregate(self, domain: &str, name: &str) -> Self {
            self.c.edit(|h| h.cover = Cover::of(domain, name));
            self
        }

        /// Starts the aggregate's history at a snapshot of `state` holding the
        /// first `sequence` events.
        pub fn given_snapshot(self, state: impl Into<Msg>, sequence: u32) -> Self {
            let state = state.into().into_any();
            self.c.edit(|h| {
                h.snapshot = Some(pb::Snapshot {
                    sequence,
                    state: Some(state),
                })
            });
            self
        }

        /// Adds events the aggregate had before the delivered ones.
        pub fn given(self, events: impl Into<Events>) -> Self {
            let events = events.into();
            self.c.edit(|h| h.given.extend(events));
            self
        }

        /// Sets the new events evented delivers.
        pub fn when(mut self, events: impl Into<Events>) -> Self {
            self.c.new_events = events.into();
            self
        }
    };
}

/// One Given/When/Then of a projector.
pub struct ProjectorCase<S> {
    c: ConsumerCase,
    p: Projector<S>,
}

/// Starts a case for the projector `new` builds (with the kit's clock and an
/// event reader serving the Given events).
pub fn projector<S: Default + 'static>(
    new: impl FnOnce(Options) -> Projector<S>,
) -> ProjectorCase<S> {
    let (c, opts) = ConsumerCase::new();
    ProjectorCase { c, p: new(opts) }
}

impl<S: Default + 'static> ProjectorCase<S> {
    consumer_case_methods!();

    /// Delivers the book as to a synchronous projector.
    #[track_caller]
    pub fn handle_sync(&self) -> Result<pb::Projection, Error> {
        let book = self.c.book(self.p.history());
        block_on(self.p.handle_sync(&book))
    }

    #[track_caller]
    fn projection(&self) -> pb::Projection {
        let p = match self.handle_sync() {
            Ok(p) => p,
            Err(e) => panic!("HandleSync failed: {e:?}"),
        };
        let h = self.c.history();
        assert!(
            p.projector == self.p.name(),
            "projector {:?}, want {:?}",
            p.projector,
            self.p.name()
        );
        assert!(
            p.cover == Some(h.cover.to_pb()),
            "cover {:?}, want {}",
            p.cover,
            h.cover
        );
        let want = h.next() + self.c.new_events.len() as u32;
        assert!(
            p.sequence == want,
            "sequence {}, want {want} (the one after the new events)",
            p.sequence
        );
        p
    }

    /// Asserts that HandleSync answers `projection`, named after the
    /// projector, for the aggregate, at the sequence after the new events.
    #[track_caller]
    pub fn then_projection<M: Proto>(self, projection: M) {
        let p = self.projection();
        let Some(got) = p.projection else {
            panic!("no projection, want {} {projection:?}", M::full_name())
        };
        assert!(
            crate::decode::<M>(&got).as_ref() == Some(&projection),
            "projection:\n got  {}\n want {} {projection:?}",
            describe_as::<M>(&got),
            M::full_name()
        );
    }

    /// Asserts that HandleSync succeeds with no projection.
    #[track_caller]
    pub fn then_no_projection(self) {
        let p = self.projection();
        if let Some(got) = p.projection {
            panic!("projection {}, want none", describe_unknown(&got));
        }
    }

    /// Delivers the book as to an asynchronous projector (Handle) and asserts
    /// it succeeds; check the projector's effects after it.
    #[track_caller]
    pub fn then_handled(self) {
        let book = self.c.book(self.p.history());
        if let Err(e) = block_on(self.p.handle_events(&book)) {
            panic!("Handle failed: {e:?}");
        }
    }

    /// Asserts that delivery (HandleSync) fails with `code` and a message
    /// containing `message`.
    #[track_caller]
    pub fn then_fails(self, code: Code, message: &str) {
        let got = self.handle_sync();
        let instead = || format!("{:?}", got.as_ref().ok());
        check_status(got.clone().map(|_| ()), code, message, false, &instead);
    }
}

/// One Given/When/Then of a saga.
pub struct SagaCase<S> {
    c: ConsumerCase,
    s: Saga<S>,
}

/// Starts a case for the saga `new` builds (with the kit's clock and an event
/// reader serving the Given events).
pub fn saga<S: Default + 'static>(new: impl FnOnce(Options) -> Saga<S>) -> SagaCase<S> {
    let (c, opts) = ConsumerCase::new();
    SagaCase { c, s: new(opts) }
}

impl<S: Default + 'static> SagaCase<S> {
    consumer_case_methods!();

    /// Delivers the book as evented does.
    #[track_caller]
    pub fn handle_sync(&self) -> Result<pb::SynchronousProcessingResponse, Error> {
        let book = self.c.book(self.s.history());
        block_on(self.s.handle_sync(&book))
    }

    /// Asserts that the saga answers exactly `commands`, in order (none: an
    /// empty list).
    #[track_caller]
    pub fn then_commands(self, commands: Vec<Command>) {
        let resp = match self.handle_sync() {
            Ok(r) => r,
            Err(e) => panic!("HandleSync failed: {e:?}"),
        };
        let show = |b: &pb::CommandBook| {
            let cover = Cover::from_pb("cover", b.cover.as_ref())
                .map_or_else(|e| e.to_string(), |c| c.to_string());
            let pages: Vec<String> = b
                .pages
                .iter()
                .filter_map(|p| p.command.as_ref())
                .map(describe_unknown)
                .collect();
            format!("{cover} {pages:?}")
        };
        let got = &resp.commands;
        assert!(
            got.len() == commands.len(),
            "{} commands, want {}:\n got  {:?}\n want {commands:?}",
            got.len(),
            commands.len(),
            got.iter().map(show).collect::<Vec<_>>()
        );
        for (i, (b, want)) in got.iter().zip(&commands).enumerate() {
            assert!(
                b.cover == Some(want.to.to_pb()),
                "command #{i} is for {}, want {}",
                show(b),
                want.to
            );
            assert!(
                b.pages.len() == 1,
                "command #{i} has {} pages, want 1",
                b.pages.len()
            );
            let any = b.pages[0].command.clone().unwrap_or_default();
            assert!(
                want.message.matches(&any),
                "command #{i}:\n got  {}\n want {:?}",
                want.message.describe_any(&any),
                want.message
            );
        }
    }

    /// Asserts that delivery fails with `code` and a message containing
    /// `message`.
    #[track_caller]
    pub fn then_fails(self, code: Code, message: &str) {
        let got = self.handle_sync();
        let instead = || format!("{:?}", got.as_ref().ok());
        check_status(got.clone().map(|_| ()), code, message, false, &instead);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(f: impl FnOnce()) -> String {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .expect_err("the check passed what is wrong");
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn numbering_is_checked() {
        let events = vec![Msg::from(now_timestamp()), Msg::from(now_timestamp())];
        let mut book = pb::EventBook {
            cover: None,
            snapshot: None,
            pages: pages(3, &events),
            deadlines: vec![],
        };
        check_numbering(&book, 3);
        // The defect of the original examples: every event stamped 0.
        for p in &mut book.pages {
            p.sequence = Some(pb::event_page::Sequence::Num(0));
        }
        assert_eq!(
            failure(|| check_numbering(&book, 3)),
            "event #0 is numbered Some(Num(0)), want num 3 (the aggregate's next sequence)"
        );
        book.pages = pages(3, &events);
        book.snapshot = Some(pb::Snapshot {
            sequence: 3,
            state: None,
        });
        assert_eq!(
            failure(|| check_numbering(&book, 3)),
            "the snapshot's sequence is 3, want 5 (the sequence after the new events)"
        );
    }

    #[test]
    fn block_on_waits_for_a_wake() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(7).unwrap();
        });
        assert_eq!(block_on(rx).unwrap(), 7);
    }
}
