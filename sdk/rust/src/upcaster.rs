//! Upcasters: old event shapes turned into new ones as evented reads them.
//!
//! Every stored event has a schema version (`metadata.schema_version`, 0
//! meaning 1). An [`Upcaster`] serves `evented.Upcaster`: each step turns one
//! event type at version N into version N+1, possibly as another type.
//! evented calls it for the steps configured under `upcasters:`
//! ([`Upcaster::steps`] lists them), chains steps and caches the results;
//! stored events never change.
//!
//! ```ignore
//! let up = Upcaster::new("shop").step(1, |old: CustomerCreatedV1| {
//!     let (first, last) = old.name.split_once(' ').unwrap_or((&old.name, ""));
//!     Ok(CustomerCreated { first_name: first.into(), last_name: last.into(), ..Default::default() })
//! });
//! Server::new().upcaster(up).serve(addr, evented::shutdown_signal()).await?;
//! ```

use std::collections::BTreeMap;

use prost_types::Any;

use crate::{Error, Proto, pb};

type StepFn = Box<dyn Fn(&[u8]) -> Result<Any, Error> + Send + Sync>;

struct Step {
    to: String,
    f: StepFn,
}

/// One step as evented's configuration lists it (`upcasters[].steps[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcastStep {
    pub type_url: String,
    pub from_version: u32,
    /// The result's type when it is another one.
    pub to: Option<String>,
}

/// Typed upcast steps, served by [`Server::upcaster`](crate::Server::upcaster).
pub struct Upcaster {
    name: String,
    steps: BTreeMap<(String, u32), Step>,
    pub(crate) problems: Vec<String>,
}

impl Upcaster {
    /// An upcaster without steps; `name` is for errors.
    pub fn new(name: impl Into<String>) -> Self {
        Upcaster {
            name: name.into(),
            steps: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// The name given to [`Upcaster::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers `f` as the step of `F`'s type from `from_version` (1 or
    /// more) to `from_version + 1`, as `T`'s type. Two steps for one type
    /// and version are a mistake the server reports when it starts.
    pub fn step<F: Proto, T: Proto>(
        mut self,
        from_version: u32,
        f: impl Fn(F) -> Result<T, Error> + Send + Sync + 'static,
    ) -> Self {
        let key = (F::type_url(), from_version);
        if from_version < 1 {
            self.problems.push(format!(
                "upcaster {:?}: step from {}: from version 0: want 1 or more",
                self.name, key.0
            ));
            return self;
        }
        if self.steps.contains_key(&key) {
            self.problems.push(format!(
                "upcaster {:?}: two steps for {} v{from_version}",
                self.name, key.0
            ));
            return self;
        }
        let from_url = key.0.clone();
        let step = Step {
            to: T::type_url(),
            f: Box::new(move |bytes| {
                let old = F::decode(bytes)
                    .map_err(|e| Error::internal(format!("{from_url} v{from_version}: {e}")))?;
                let new = f(old)?;
                Ok(Any {
                    type_url: T::type_url(),
                    value: prost::Message::encode_to_vec(&new),
                })
            }),
        };
        self.steps.insert(key, step);
        self
    }

    /// The registered steps, sorted: what to configure.
    pub fn steps(&self) -> Vec<UpcastStep> {
        self.steps
            .iter()
            .map(|((type_url, from_version), s)| UpcastStep {
                type_url: type_url.clone(),
                from_version: *from_version,
                to: (s.to != *type_url).then(|| s.to.clone()),
            })
            .collect()
    }

    /// Raises each event of `request` by one version; an event without a
    /// step, or a failing step, fails the whole call (`INTERNAL`).
    pub fn upcast(&self, request: &pb::UpcastRequest) -> Result<pb::UpcastResponse, Error> {
        let mut events = Vec::with_capacity(request.events.len());
        for (i, e) in request.events.iter().enumerate() {
            let version = e.schema_version.max(1);
            let any = e.event.clone().unwrap_or_default();
            let step = self
                .steps
                .get(&(any.type_url.clone(), version))
                .ok_or_else(|| {
                    Error::internal(format!(
                        "upcaster {:?}: events[{i}]: no step for {} v{version}",
                        self.name, any.type_url
                    ))
                })?;
            let up = (step.f)(&any.value)
                .map_err(|e| e.prefixed(&format!("upcaster {:?}: events[{i}]", self.name)))?;
            events.push(pb::UpcastEvent {
                event: Some(up),
                schema_version: version + 1,
            });
        }
        Ok(pb::UpcastResponse { events })
    }
}
