//! Messages of any type: the events a handler returns, commands, snapshots.

use std::fmt;

use prost_types::Any;

/// What the SDK needs of a message type: a prost message with its protobuf
/// name (prost-build's `enable_type_names`), comparable and printable.
/// Every message generated with the SDK's settings is one.
pub trait Proto:
    prost::Message + prost::Name + Default + PartialEq + fmt::Debug + Send + Sync + 'static
{
}

impl<T> Proto for T where
    T: prost::Message + prost::Name + Default + PartialEq + fmt::Debug + Send + Sync + 'static
{
}

/// One message of any type, packed as a `google.protobuf.Any`, that still
/// knows how to print and compare itself (for test failures).
#[derive(Clone)]
pub struct Msg {
    any: Any,
    describe: fn(&[u8]) -> String,
    same: fn(&[u8], &[u8]) -> bool,
}

fn describe<M: Proto>(bytes: &[u8]) -> String {
    match M::decode(bytes) {
        Ok(m) => format!("{} {m:?}", M::full_name()),
        Err(e) => format!("{} (undecodable: {e})", M::full_name()),
    }
}

fn same<M: Proto>(a: &[u8], b: &[u8]) -> bool {
    matches!((M::decode(a), M::decode(b)), (Ok(a), Ok(b)) if a == b)
}

impl Msg {
    /// `m` packed.
    pub fn new<M: Proto>(m: &M) -> Self {
        Msg {
            any: Any {
                type_url: M::type_url(),
                value: m.encode_to_vec(),
            },
            describe: describe::<M>,
            same: same::<M>,
        }
    }

    /// The full message name (`examples.CustomerCreated`).
    pub fn full_name(&self) -> &str {
        type_name(&self.any.type_url)
    }

    /// The packed message.
    pub fn as_any(&self) -> &Any {
        &self.any
    }

    /// The packed message.
    pub fn into_any(self) -> Any {
        self.any
    }

    /// The message decoded as `M`, when it is one.
    pub fn decode<M: Proto>(&self) -> Option<M> {
        decode(&self.any)
    }

    /// Whether `any` holds a message of this type equal to this one.
    pub fn matches(&self, any: &Any) -> bool {
        any.type_url == self.any.type_url && (self.same)(&any.value, &self.any.value)
    }

    /// `any` printed as this message's type when it is one, else by its type URL.
    pub fn describe_any(&self, any: &Any) -> String {
        if any.type_url == self.any.type_url {
            (self.describe)(&any.value)
        } else {
            describe_unknown(any)
        }
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&(self.describe)(&self.any.value))
    }
}

impl<M: Proto> From<M> for Msg {
    fn from(m: M) -> Msg {
        Msg::new(&m)
    }
}

/// The full message name of a type URL (what follows its last `/`).
pub fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

/// `any` decoded as `M`, when it is one.
pub fn decode<M: Proto>(any: &Any) -> Option<M> {
    if type_name(&any.type_url) != M::full_name() {
        return None;
    }
    M::decode(any.value.as_slice()).ok()
}

pub(crate) fn describe_unknown(any: &Any) -> String {
    format!("{} ({} bytes)", any.type_url, any.value.len())
}

/// The events a command handler returns, in order: none, one, or several.
///
/// A single message converts into it (`Ok(CustomerCreated { .. }.into())`);
/// several are built with [`Events::with`] or the [`events!`](crate::events)
/// macro.
#[derive(Clone, Default)]
pub struct Events(Vec<Msg>);

impl Events {
    /// No event: nothing happened.
    pub fn none() -> Self {
        Events(Vec::new())
    }

    /// These events and then `m`.
    pub fn with(mut self, m: impl Into<Msg>) -> Self {
        self.0.push(m.into());
        self
    }

    /// Adds `m` at the end.
    pub fn push(&mut self, m: impl Into<Msg>) {
        self.0.push(m.into());
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Msg> {
        self.0.iter()
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl<M: Proto> From<M> for Events {
    fn from(m: M) -> Events {
        Events(vec![Msg::new(&m)])
    }
}

impl From<Msg> for Events {
    fn from(m: Msg) -> Events {
        Events(vec![m])
    }
}

impl FromIterator<Msg> for Events {
    fn from_iter<I: IntoIterator<Item = Msg>>(iter: I) -> Events {
        Events(iter.into_iter().collect())
    }
}

impl IntoIterator for Events {
    type Item = Msg;
    type IntoIter = std::vec::IntoIter<Msg>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// [`Events`] of messages of any types, in order:
///
/// ```ignore
/// Ok(events![CustomerCreated { .. }, LoyaltyPointsAdded { .. }])
/// ```
#[macro_export]
macro_rules! events {
    ($($m:expr),* $(,)?) => {
        $crate::Events::none()$(.with($m))*
    };
}
