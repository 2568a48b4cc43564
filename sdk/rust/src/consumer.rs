//! Projectors and sagas: consumers of the events evented delivers.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use prost_types::Any;
use tonic::Code;

use crate::error::guard;
use crate::fold::{Fold, folder, next_sequence, sequences};
use crate::msg::{Msg, Proto, type_name};
use crate::options::{Clock, Options};
use crate::{Cover, Error, pb};

/// A boxed future, as [`EventReader`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Reads an aggregate's events from evented's query port; an
/// `EventQueryClient<Channel>` is one.
pub trait EventReader: Send + Sync {
    /// Every book `query` selects, in order.
    fn get_events(
        &self,
        query: pb::Query,
    ) -> BoxFuture<'_, Result<Vec<pb::EventBook>, tonic::Status>>;
}

impl EventReader for pb::event_query_client::EventQueryClient<tonic::transport::Channel> {
    fn get_events(
        &self,
        query: pb::Query,
    ) -> BoxFuture<'_, Result<Vec<pb::EventBook>, tonic::Status>> {
        let mut client = self.clone();
        Box::pin(async move {
            // The client's own get_events (this trait's has the same name).
            let mut stream =
                pb::event_query_client::EventQueryClient::get_events(&mut client, query)
                    .await?
                    .into_inner();
            let mut books = Vec::new();
            while let Some(book) = stream.message().await? {
                books.push(book);
            }
            Ok(books)
        })
    }
}

/// One delivered event: which aggregate, where in its history, and when it
/// was stored (`None` when the page does not say).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub cover: Cover,
    pub sequence: u32,
    pub created_at: Option<SystemTime>,
}

/// A command a saga sends to another aggregate.
#[derive(Clone)]
pub struct Command {
    pub to: Cover,
    pub message: Msg,
}

impl Command {
    pub fn new(to: Cover, message: impl Into<Msg>) -> Self {
        Command {
            to,
            message: message.into(),
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.to, self.message)
    }
}

/// What a Projector and a Saga share: a name, options, and the state folded
/// from the books evented delivers.
struct Consumer<S> {
    kind: &'static str,
    name: String,
    opts: Options,
    fold: Fold<S>,
}

/// Earlier events read from evented: the books before sequence `up_to`.
struct Earlier {
    up_to: u32,
    books: Vec<pb::EventBook>,
}

impl<S: Default + 'static> Consumer<S> {
    fn new(kind: &'static str, name: String, opts: Options) -> Self {
        assert!(!name.is_empty(), "evented: a {kind} needs a name");
        Consumer {
            kind,
            name,
            opts,
            fold: Fold::default(),
        }
    }

    fn place(&self) -> String {
        format!("{} {:?}", self.kind, self.name)
    }

    /// Checks that the book suits the consumer's history setting and reads
    /// the events before it when needed.
    async fn prepare(&self, book: &pb::EventBook) -> Result<(Cover, Option<Earlier>), Error> {
        let cover = Cover::from_pb("cover", book.cover.as_ref())?;
        let seqs = sequences(book);
        let first = seqs.first().copied();
        let history = self.opts.history;
        if history && book.snapshot.is_none() && first.is_some_and(|f| f > 0) {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "{} expects books with history, but the book of {cover} starts at sequence {} with no snapshot: set history: true for it in evented's configuration",
                    self.place(),
                    first.unwrap_or_default()
                ),
            ));
        }
        if !history && book.snapshot.is_some() {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "{} got a book with history (a snapshot) for {cover} but was not built with_history, so it would handle old events again: build it with Options::with_history or set history: false in evented's configuration",
                    self.place()
                ),
            ));
        }
        let mut earlier = None;
        if let (false, Some(reader), true, Some(up_to)) =
            (history, &self.opts.events, self.fold.stateful(), first)
            && up_to > 0
        {
            let query = pb::Query {
                domain: cover.domain.clone(),
                root: cover.to_pb().root,
                lower_bound: 0,
                upper_bound: up_to,
            };
            let books = reader.get_events(query).await.map_err(|e| {
                Error::new(
                    Code::Unavailable,
                    format!(
                        "{}: read the events of {cover} before sequence {up_to}: {}",
                        self.place(),
                        e.message()
                    ),
                )
            })?;
            earlier = Some(Earlier { up_to, books });
        }
        Ok((cover, earlier))
    }

    /// Folds book into a new state, calling handle for each new page right
    /// after applying it. Returns the state and the last page's Event.
    fn replay(
        &self,
        book: &pb::EventBook,
        cover: Cover,
        earlier: Option<Earlier>,
        mut handle: impl FnMut(&S, &pb::EventPage, &Event) -> Result<(), Error>,
    ) -> Result<(S, Event), Error> {
        let place = self.place();
        guard(&place, || {
            let wrap = |e: Error| e.prefixed(&place);
            let mut state = S::default();
            self.fold
                .restore_from(&mut state, book.snapshot.as_ref())
                .map_err(wrap)?;
            if let Some(Earlier { up_to, books }) = earlier {
                'books: for b in &books {
                    self.fold
                        .restore_from(&mut state, b.snapshot.as_ref())
                        .map_err(wrap)?;
                    for (seq, page) in sequences(b).into_iter().zip(&b.pages) {
                        if seq >= up_to {
                            break 'books;
                        }
                        self.fold.apply_page(&mut state, seq, page).map_err(wrap)?;
                    }
                }
            }
            let mut last = Event {
                cover: cover.clone(),
                sequence: 0,
                created_at: None,
            };
            let n = book.pages.len();
            for (i, (seq, page)) in sequences(book).into_iter().zip(&book.pages).enumerate() {
                self.fold.apply_page(&mut state, seq, page).map_err(wrap)?;
                last = Event {
                    cover: cover.clone(),
                    sequence: seq,
                    created_at: page.created_at.and_then(|t| SystemTime::try_from(t).ok()),
                };
                if self.opts.history && i + 1 < n {
                    continue; // history: only the newest event is handled
                }
                let name = page.event.as_ref().map_or("", |a| type_name(&a.type_url));
                guard(&format!("{place}: {name} at {cover}/{seq}"), || {
                    handle(&state, page, &last)
                })?;
            }
            Ok((state, last))
        })
    }
}

type OnFn<S> = Box<dyn Fn(&S, &[u8], &Event) -> Result<(), Error> + Send + Sync>;
type OnAnyFn<S> = Box<dyn Fn(&S, &Any, &Event) -> Result<(), Error> + Send + Sync>;
type ProjectFn<S> = Box<dyn Fn(&S, &Event) -> Result<Option<Msg>, Error> + Send + Sync>;

/// Builds a read model from events (`evented.ProjectorCoordinator`).
///
/// For each book evented delivers, the projector folds a new state from it
/// (restore from the book's snapshot, apply for each page), calling the `on`
/// handlers for the new events as it goes.
/// [`handle_events`](Projector::handle_events) (asynchronous delivery) stops
/// there; [`handle_sync`](Projector::handle_sync) (a synchronous projector)
/// then asks the `project` function for the projection evented puts into the
/// command's reply.
///
/// A projector that needs the whole aggregate (a receipt needs the items of
/// TransactionCreated when TransactionCompleted arrives) is configured in
/// evented with `history: true` and built with [`Options::with_history`]: the
/// state is folded from the aggregate's whole history and the `on` handlers
/// see the newest event. Delivery is at least once: an event is identified by
/// [`Event::cover`] and [`Event::sequence`].
pub struct Projector<S> {
    c: Consumer<S>,
    on: HashMap<String, OnFn<S>>,
    on_any: Option<OnAnyFn<S>>,
    project: Option<ProjectFn<S>>,
}

folder!(Projector, c.fold);

impl<S: Default + 'static> Projector<S> {
    /// The projector called `name`, with no handlers yet.
    pub fn new(name: impl Into<String>, opts: Options) -> Self {
        Projector {
            c: Consumer::new("projector", name.into(), opts),
            on: HashMap::new(),
            on_any: None,
            project: None,
        }
    }

    /// The projector's name (a Projection's `projector`).
    pub fn name(&self) -> &str {
        &self.c.name
    }

    /// Whether it expects books with history.
    pub fn history(&self) -> bool {
        self.c.opts.history
    }

    pub fn clock(&self) -> Clock {
        self.c.opts.clock
    }

    /// Registers the handler of new events of type `E`, called with the state
    /// that already includes the event. An error fails the delivery (evented
    /// retries it, then parks it). Panics when `E` already has one.
    pub fn on<E: Proto>(
        mut self,
        f: impl Fn(&S, E, &Event) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        let name = E::full_name();
        assert!(
            !self.on.contains_key(&name),
            "evented: on for {name} registered twice"
        );
        let decode_name = name.clone();
        self.on.insert(
            name,
            Box::new(move |s, bytes, ev| {
                let e = E::decode(bytes)
                    .map_err(|e| Error::internal(format!("decode event {decode_name}: {e}")))?;
                f(s, e, ev)
            }),
        );
        self
    }

    /// Registers a handler called for every new event, after the typed one if
    /// any (a log of everything), with the event as it came.
    pub fn on_any(
        mut self,
        f: impl Fn(&S, &Any, &Event) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        self.on_any = Some(Box::new(f));
        self
    }

    /// Registers how the folded state becomes the projection `handle_sync`
    /// returns; `last` describes the book's newest event. `None` means no
    /// projection for this book (the Projection then carries only the cover,
    /// the projector's name and the sequence).
    pub fn project<M: Proto>(
        mut self,
        f: impl Fn(&S, &Event) -> Result<Option<M>, Error> + Send + Sync + 'static,
    ) -> Self {
        self.project = Some(Box::new(move |s, last| {
            Ok(f(s, last)?.map(|m| Msg::new(&m)))
        }));
        self
    }

    fn visit(&self, s: &S, page: &pb::EventPage, ev: &Event) -> Result<(), Error> {
        let Some(event) = page.event.as_ref() else {
            return Ok(());
        };
        if let Some(on) = self.on.get(type_name(&event.type_url)) {
            on(s, &event.value, ev)?;
        }
        if let Some(on_any) = &self.on_any {
            on_any(s, event, ev)?;
        }
        Ok(())
    }

    /// What `ProjectorCoordinator/Handle` answers (asynchronous delivery).
    pub async fn handle_events(&self, book: &pb::EventBook) -> Result<(), Error> {
        let (cover, earlier) = self.c.prepare(book).await?;
        self.c
            .replay(book, cover, earlier, |s, p, ev| self.visit(s, p, ev))?;
        Ok(())
    }

    /// What `ProjectorCoordinator/HandleSync` answers: the Projection's
    /// sequence is the one after the book's last event.
    pub async fn handle_sync(&self, book: &pb::EventBook) -> Result<pb::Projection, Error> {
        let (cover, earlier) = self.c.prepare(book).await?;
        let (state, last) = self
            .c
            .replay(book, cover, earlier, |s, p, ev| self.visit(s, p, ev))?;
        let mut out = pb::Projection {
            cover: book.cover.clone(),
            projector: self.c.name.clone(),
            sequence: next_sequence(book),
            projection: None,
        };
        if let Some(project) = &self.project {
            let place = format!("{}: project", self.c.place());
            out.projection = guard(&place, || project(&state, &last))?.map(Msg::into_any);
        }
        Ok(out)
    }
}

type ReactFn<S> = Box<dyn Fn(&S, &[u8], &Event) -> Result<Vec<Command>, Error> + Send + Sync>;

/// Reacts to the events of one domain by sending commands to other aggregates
/// (`evented.SagaCoordinator`). evented asks `HandleSync` and executes the
/// commands in the answer like a client's.
///
/// The state is folded from each delivered book as a [`Projector`]'s is (see
/// [`Options::with_history`] and [`Options::with_event_query`]), and the
/// `react` handlers are called for the new events with the state including
/// them. Delivery is at least once: a book can be delivered again after a
/// failure, and its commands sent again.
pub struct Saga<S> {
    c: Consumer<S>,
    react: HashMap<String, ReactFn<S>>,
}

folder!(Saga, c.fold);

impl<S: Default + 'static> Saga<S> {
    /// The saga called `name`, with no handlers yet.
    pub fn new(name: impl Into<String>, opts: Options) -> Self {
        Saga {
            c: Consumer::new("saga", name.into(), opts),
            react: HashMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.c.name
    }

    /// Whether it expects books with history.
    pub fn history(&self) -> bool {
        self.c.opts.history
    }

    pub fn clock(&self) -> Clock {
        self.c.opts.clock
    }

    /// Registers the handler of new events of type `E`: it returns the
    /// commands to send (none is fine). An error fails the delivery; evented
    /// retries it, then parks it. Panics when `E` already has one.
    pub fn react<E: Proto>(
        mut self,
        f: impl Fn(&S, E, &Event) -> Result<Vec<Command>, Error> + Send + Sync + 'static,
    ) -> Self {
        let name = E::full_name();
        assert!(
            !self.react.contains_key(&name),
            "evented: react for {name} registered twice"
        );
        let decode_name = name.clone();
        self.react.insert(
            name,
            Box::new(move |s, bytes, ev| {
                let e = E::decode(bytes)
                    .map_err(|e| Error::internal(format!("decode event {decode_name}: {e}")))?;
                f(s, e, ev)
            }),
        );
        self
    }

    /// Folds `book` and returns the commands its new events call for, in
    /// order: what `handle_sync` answers.
    pub async fn commands(&self, book: &pb::EventBook) -> Result<Vec<Command>, Error> {
        let (cover, earlier) = self.c.prepare(book).await?;
        let mut out = Vec::new();
        self.c.replay(book, cover, earlier, |s, page, ev| {
            let Some(event) = page.event.as_ref() else {
                return Ok(());
            };
            if let Some(react) = self.react.get(type_name(&event.type_url)) {
                out.extend(react(s, &event.value, ev)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// What `SagaCoordinator/HandleSync` answers: one command book per command.
    pub async fn handle_sync(
        &self,
        book: &pb::EventBook,
    ) -> Result<pb::SynchronousProcessingResponse, Error> {
        let commands = self.commands(book).await?;
        let mut out = pb::SynchronousProcessingResponse::default();
        for (i, c) in commands.into_iter().enumerate() {
            if c.to.domain.is_empty() {
                return Err(Error::internal(format!(
                    "{}: command #{i} has no domain",
                    self.c.place()
                )));
            }
            out.commands.push(pb::CommandBook {
                cover: Some(c.to.to_pb()),
                pages: vec![pb::CommandPage {
                    sequence: 0,
                    synchronous: false,
                    command: Some(c.message.into_any()),
                }],
            });
        }
        Ok(out)
    }
}
