//! Business logic: an Aggregate decides what commands mean for one domain.

use std::collections::HashMap;

use tonic::Code;

use crate::error::guard;
use crate::fold::{Fold, folder, next_sequence, sequences};
use crate::msg::{Msg, Proto, type_name};
use crate::options::{Clock, Options};
use crate::{Cover, Error, Events, pb};

type HandleFn<S> = Box<dyn Fn(&S, &[u8]) -> Result<Events, Error> + Send + Sync>;
type SnapshotFn<S> = Box<dyn Fn(&S) -> Msg + Send + Sync>;

/// The business logic of one domain (`evented.BusinessLogic`): typed command
/// handlers deciding on a state `S` rebuilt from the aggregate's snapshot and
/// events. `S::default()` is a new aggregate.
///
/// ```ignore
/// Aggregate::new("customer", opts)
///     .apply(|s: &mut State, _: CustomerCreated| s.exists = true)
///     .handle(|s: &State, c: CreateCustomer| {
///         if s.exists {
///             return Err(evented::reject("customer already exists")); // FAILED_PRECONDITION
///         }
///         Ok(CustomerCreated { name: c.name, ..Default::default() }.into())
///     })
/// ```
///
/// For each command evented sends the aggregate's latest snapshot and the
/// events after it; [`handle_command`](Aggregate::handle_command) rebuilds the
/// state from them (restore, then apply), runs each command's handler, applies
/// the events it returns (so the next command of the book and the snapshot see
/// them) and numbers them from the aggregate's next sequence. With
/// [`snapshot`](Aggregate::snapshot), the state after the commands is returned
/// as the snapshot. Register everything before serving; the aggregate is then
/// shared by concurrent calls (each builds its own state).
pub struct Aggregate<S> {
    domain: String,
    opts: Options,
    fold: Fold<S>,
    handlers: HashMap<String, HandleFn<S>>,
    snapshot: Option<SnapshotFn<S>>,
}

folder!(Aggregate, fold);

impl<S: Default + 'static> Aggregate<S> {
    /// The aggregate of `domain`, with no handlers yet.
    pub fn new(domain: impl Into<String>, opts: Options) -> Self {
        let domain = domain.into();
        assert!(
            !domain.is_empty(),
            "evented: Aggregate::new: domain must not be empty"
        );
        Aggregate {
            domain,
            opts,
            fold: Fold::default(),
            handlers: HashMap::new(),
            snapshot: None,
        }
    }

    /// The domain the aggregate handles.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The aggregate's clock, for times stamped on events.
    pub fn clock(&self) -> Clock {
        self.opts.clock
    }

    /// Registers the handler of commands of type `C`. It decides from the
    /// state: it returns the events that happened ([`Events::none`] for
    /// nothing), or [`reject`](crate::reject) / [`invalid`](crate::invalid),
    /// or another [`Error`]. It cannot change the state: `apply` does, from the
    /// events. Panics when `C` already has a handler.
    pub fn handle<C: Proto>(
        mut self,
        f: impl Fn(&S, C) -> Result<Events, Error> + Send + Sync + 'static,
    ) -> Self {
        let name = C::full_name();
        assert!(
            !self.handlers.contains_key(&name),
            "evented: handle for {name} registered twice"
        );
        let decode_name = name.clone();
        self.handlers.insert(
            name,
            Box::new(move |s, bytes| {
                let c = C::decode(bytes)
                    .map_err(|e| crate::invalid(format!("decode command {decode_name}: {e}")))?;
                f(s, c)
            }),
        );
        self
    }

    /// Makes the aggregate return a snapshot of its state after each call that
    /// produced events, made by `save`. evented stores it (its sequence set to
    /// the one after the new events), subject to the domain's snapshot policy,
    /// and sends it back as prior state: register the matching `restore` too.
    pub fn snapshot<T: Proto>(mut self, save: impl Fn(&S) -> T + Send + Sync + 'static) -> Self {
        self.snapshot = Some(Box::new(move |s| Msg::new(&save(s))));
        self
    }

    /// What `evented.BusinessLogic/Handle` answers: the new events, numbered
    /// from the aggregate's next sequence, and the snapshot.
    pub fn handle_command(&self, request: &pb::ContextualCommand) -> Result<pb::EventBook, Error> {
        let cmd = request.command.as_ref();
        let cover = Cover::from_pb("command.cover", cmd.and_then(|c| c.cover.as_ref()))?;
        if cover.domain != self.domain {
            return Err(Error::new(
                Code::NotFound,
                format!(
                    "this service handles domain {:?}, not {:?}",
                    self.domain, cover.domain
                ),
            ));
        }
        let pages = cmd.map(|c| c.pages.as_slice()).unwrap_or_default();
        if pages.is_empty() {
            return Err(crate::invalid(
                "command.pages: must hold at least one command",
            ));
        }
        let empty = pb::EventBook::default();
        let prior = request.events.as_ref().unwrap_or(&empty);
        let domain = self.domain.as_str();
        guard(domain, || {
            let mut state = S::default();
            self.fold
                .restore_from(&mut state, prior.snapshot.as_ref())
                .map_err(|e| e.prefixed(domain))?;
            for (seq, page) in sequences(prior).into_iter().zip(&prior.pages) {
                self.fold
                    .apply_page(&mut state, seq, page)
                    .map_err(|e| e.prefixed(domain))?;
            }
            let mut seq = next_sequence(prior);
            let mut out = pb::EventBook {
                cover: cmd.and_then(|c| c.cover.clone()),
                snapshot: None,
                pages: vec![],
                deadlines: vec![],
            };
            for (i, page) in pages.iter().enumerate() {
                let (type_url, value) = page
                    .command
                    .as_ref()
                    .map_or(("", &[][..]), |a| (a.type_url.as_str(), a.value.as_slice()));
                let name = type_name(type_url);
                let Some(handler) = self.handlers.get(name) else {
                    let mut known: Vec<_> = self.handlers.keys().cloned().collect();
                    known.sort();
                    return Err(crate::invalid(format!(
                        "{domain}: command.pages[{i}]: no handler for {type_url:?} (handles {known:?})"
                    )));
                };
                let events = guard(&format!("{domain}: {name}"), || handler(&state, value))?;
                for event in events {
                    if event.full_name() == "evented.Deadline" {
                        // deadline_at / deadline_after / cancel_deadline: for
                        // this aggregate unless it names another, its id
                        // scoped to it.
                        let mut d: pb::Deadline = event.decode().unwrap_or_default();
                        if let Some(c) = d.command.as_mut()
                            && c.cover.is_none()
                        {
                            c.cover = cmd.and_then(|c| c.cover.clone());
                        }
                        d.id = format!("{domain}/{}/{}", cover.root, d.id);
                        out.deadlines.push(d);
                        continue;
                    }
                    let page = pb::EventPage {
                        sequence: Some(pb::event_page::Sequence::Num(seq)),
                        created_at: None,
                        event: Some(event.into_any()),
                        synchronous: false,
                        metadata: None,
                    };
                    self.fold
                        .apply_page(&mut state, seq, &page)
                        .map_err(|e| e.prefixed(domain))?;
                    out.pages.push(page);
                    seq += 1;
                }
            }
            if let Some(save) = &self.snapshot
                && !out.pages.is_empty()
            {
                out.snapshot = Some(pb::Snapshot {
                    sequence: seq,
                    state: Some(save(&state).into_any()),
                });
            }
            Ok(out)
        })
    }

    /// What `evented.BusinessLogic/Snapshot` answers: the state after the
    /// book's snapshot and events, made by the [`snapshot`](Aggregate::snapshot)
    /// function. evented asks for it on its own when the domain has an
    /// automatic snapshot policy; without a snapshot function it is
    /// UNIMPLEMENTED, and evented stops asking.
    pub fn take_snapshot(&self, book: &pb::EventBook) -> Result<pb::Snapshot, Error> {
        let domain = self.domain.as_str();
        let Some(save) = &self.snapshot else {
            return Err(Error::new(
                Code::Unimplemented,
                format!("{domain}: no snapshot function registered (Aggregate::snapshot)"),
            ));
        };
        let cover = Cover::from_pb("cover", book.cover.as_ref())?;
        if cover.domain != self.domain {
            return Err(Error::new(
                Code::NotFound,
                format!(
                    "this service handles domain {:?}, not {:?}",
                    self.domain, cover.domain
                ),
            ));
        }
        guard(domain, || {
            let mut state = S::default();
            self.fold
                .restore_from(&mut state, book.snapshot.as_ref())
                .map_err(|e| e.prefixed(domain))?;
            for (seq, page) in sequences(book).into_iter().zip(&book.pages) {
                self.fold
                    .apply_page(&mut state, seq, page)
                    .map_err(|e| e.prefixed(domain))?;
            }
            Ok(pb::Snapshot {
                sequence: next_sequence(book),
                state: Some(save(&state).into_any()),
            })
        })
    }
}
