//! How a state is rebuilt from a snapshot and events (every kind shares it).

use std::collections::HashMap;

use tonic::Code;

use crate::msg::{Proto, type_name};
use crate::{Error, pb};

type FoldFn<S> = Box<dyn Fn(&mut S, &[u8]) -> Result<(), prost::DecodeError> + Send + Sync>;

/// The apply and restore functions of one state type.
pub(crate) struct Fold<S> {
    apply: HashMap<String, FoldFn<S>>,
    restore: HashMap<String, FoldFn<S>>,
}

impl<S> Default for Fold<S> {
    fn default() -> Self {
        Fold {
            apply: HashMap::new(),
            restore: HashMap::new(),
        }
    }
}

fn boxed<S, M: Proto>(f: impl Fn(&mut S, M) + Send + Sync + 'static) -> FoldFn<S> {
    Box::new(move |s, bytes| {
        f(s, M::decode(bytes)?);
        Ok(())
    })
}

impl<S> Fold<S> {
    pub(crate) fn add_apply<E: Proto>(&mut self, f: impl Fn(&mut S, E) + Send + Sync + 'static) {
        let name = E::full_name();
        assert!(
            !self.apply.contains_key(&name),
            "evented: apply for {name} registered twice"
        );
        self.apply.insert(name, boxed(f));
    }

    pub(crate) fn add_restore<T: Proto>(&mut self, f: impl Fn(&mut S, T) + Send + Sync + 'static) {
        let name = T::full_name();
        assert!(
            !self.restore.contains_key(&name),
            "evented: restore for {name} registered twice"
        );
        self.restore.insert(name, boxed(f));
    }

    /// Whether any state is kept at all.
    pub(crate) fn stateful(&self) -> bool {
        !self.apply.is_empty() || !self.restore.is_empty()
    }

    pub(crate) fn restore_from(&self, s: &mut S, snap: Option<&pb::Snapshot>) -> Result<(), Error> {
        let Some(state) = snap.and_then(|s| s.state.as_ref()) else {
            return Ok(());
        };
        if !self.stateful() {
            return Ok(());
        }
        let name = type_name(&state.type_url);
        let Some(restore) = self.restore.get(name) else {
            let mut known: Vec<_> = self.restore.keys().cloned().collect();
            known.sort();
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "received a snapshot of type {name} and has no restore for it (known: {known:?})"
                ),
            ));
        };
        restore(s, &state.value)
            .map_err(|e| Error::internal(format!("decode snapshot {name}: {e}")))
    }

    pub(crate) fn apply_page(
        &self,
        s: &mut S,
        seq: u32,
        page: &pb::EventPage,
    ) -> Result<(), Error> {
        let Some(event) = page.event.as_ref() else {
            return Ok(());
        };
        let name = type_name(&event.type_url);
        match self.apply.get(name) {
            None => Ok(()),
            Some(apply) => apply(s, &event.value).map_err(|e| {
                Error::internal(format!("decode event {name} at sequence {seq}: {e}"))
            }),
        }
    }
}

/// A book's pages numbered: a page's num when it has one, else the one after
/// the previous page (the first after the snapshot's sequence).
pub(crate) fn sequences(book: &pb::EventBook) -> Vec<u32> {
    let mut n = book.snapshot.as_ref().map_or(0, |s| s.sequence);
    book.pages
        .iter()
        .map(|p| {
            if let Some(pb::event_page::Sequence::Num(num)) = p.sequence {
                n = num;
            }
            let this = n;
            n = n.wrapping_add(1);
            this
        })
        .collect()
}

/// The sequence after a book's last page (the snapshot's for no pages).
pub(crate) fn next_sequence(book: &pb::EventBook) -> u32 {
    match sequences(book).last() {
        Some(last) => last + 1,
        None => book.snapshot.as_ref().map_or(0, |s| s.sequence),
    }
}

/// Implements `apply` and `restore` for a type with a `fold` field.
macro_rules! folder {
    ($t:ident, $($field:ident).+) => {
        impl<S: Default + 'static> $t<S> {
            /// Registers how an event of type `E` changes the state. Every
            /// event of that type is applied in sequence order when the state
            /// is rebuilt; events of a type with no `apply` leave the state as
            /// it is. Panics when `E` already has one.
            pub fn apply<E: $crate::Proto>(mut self, f: impl Fn(&mut S, E) + Send + Sync + 'static) -> Self {
                self.$($field).+.add_apply(f);
                self
            }

            /// Registers how a snapshot of type `T` seeds the state. Once
            /// anything is registered with `apply` or `restore`, a snapshot of
            /// a type with no `restore` is an error rather than a silently
            /// wrong state. Panics when `T` already has one.
            pub fn restore<T: $crate::Proto>(mut self, f: impl Fn(&mut S, T) + Send + Sync + 'static) -> Self {
                self.$($field).+.add_restore(f);
                self
            }
        }
    };
}
pub(crate) use folder;
