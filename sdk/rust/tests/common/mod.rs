//! Message types for the SDK's tests (package sdktest, a counter domain),
//! declared with prost's derive, and a counter aggregate, projector and saga.
#![allow(dead_code)]

use evented::{
    Aggregate, Command, Cover, Error, Event, Events, Options, Projector, Saga, invalid, reject,
};

macro_rules! message {
    ($name:ident { $($field:ident: $ty:ty = $kind:ident $tag:literal),* }) => {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct $name {
            $(#[prost($kind, tag = $tag)] pub $field: $ty,)*
        }
        impl prost::Name for $name {
            const NAME: &'static str = stringify!($name);
            const PACKAGE: &'static str = "sdktest";
            fn type_url() -> String {
                format!("type.googleapis.com/sdktest.{}", stringify!($name))
            }
        }
    };
}

message!(Create { name: String = string "1" });
message!(Created { name: String = string "1" });
message!(Add { points: i32 = int32 "1" });
message!(Added { points: i32 = int32 "1", balance: i32 = int32 "2" });
message!(Reset {});
message!(State { name: String = string "1", points: i32 = int32 "2" });
message!(Total { points: i32 = int32 "1", events: i32 = int32 "2" });

#[derive(Default, Debug)]
pub struct Counter {
    pub exists: bool,
    pub name: String,
    pub points: i32,
}

pub fn counter(opts: Options) -> Aggregate<Counter> {
    Aggregate::new("counter", opts)
        .apply(|s: &mut Counter, e: Created| {
            s.exists = true;
            s.name = e.name;
        })
        .apply(|s: &mut Counter, e: Added| s.points += e.points)
        .restore(|s: &mut Counter, snap: State| {
            *s = Counter {
                exists: true,
                name: snap.name,
                points: snap.points,
            }
        })
        .snapshot(|s: &Counter| State {
            name: s.name.clone(),
            points: s.points,
        })
        .handle(|s: &Counter, c: Create| {
            if c.name.is_empty() {
                return Err(invalid("name is required"));
            }
            if s.exists {
                return Err(reject("counter already exists"));
            }
            Ok(Created { name: c.name }.into())
        })
        .handle(|s: &Counter, c: Add| {
            if c.points <= 0 {
                return Err(invalid(format!(
                    "points must be positive, got {}",
                    c.points
                )));
            }
            if !s.exists {
                return Err(reject("counter does not exist"));
            }
            Ok(Added {
                points: c.points,
                balance: s.points + c.points,
            }
            .into())
        })
        .handle(|s: &Counter, _: Reset| -> Result<Events, Error> {
            if s.points == 0 {
                return Ok(Events::none()); // nothing happened
            }
            panic!("a bug")
        })
}

/// A projector of the points added, with history.
pub fn totals(opts: Options) -> Projector<Counter> {
    Projector::new("totals", opts.with_history())
        .apply(|s: &mut Counter, e: Added| s.points += e.points)
        .restore(|s: &mut Counter, snap: State| s.points = snap.points)
        .project(|s: &Counter, last: &Event| {
            Ok((s.points != 0).then(|| Total {
                points: s.points,
                events: last.sequence as i32 + 1,
            }))
        })
}

/// A saga without history that mirrors every addition of 10 points or more
/// onto the counter named after the source's name.
pub fn mirror(opts: Options) -> Saga<Counter> {
    Saga::new("mirror", opts)
        .apply(|s: &mut Counter, e: Created| s.name = e.name)
        .react(|s: &Counter, e: Added, ev: &Event| {
            if e.points < 10 {
                return Ok(vec![]);
            }
            if s.name.is_empty() {
                return Err(Error::internal(format!(
                    "counter {} has no name",
                    ev.cover.root
                )));
            }
            Ok(vec![Command::new(
                Cover::of("counter", &format!("mirror-{}", s.name)),
                Add { points: e.points },
            )])
        })
}
