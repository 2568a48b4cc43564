//! The Given/When/Then kit passes what is right and fails what is wrong.
mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::*;
use evented::testing;
use evented::{Aggregate, Command, Cover, Events, Options, events};
use tonic::Code;

/// The panic message of f, which must panic.
fn failure(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the kit passed what is wrong");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn aggregate_case() {
    testing::aggregate(counter)
        .given(Created { name: "a".into() })
        .when(Add { points: 2 })
        .then(Added {
            points: 2,
            balance: 2,
        })
        .then_snapshot(State {
            name: "a".into(),
            points: 2,
        });
    testing::aggregate(counter)
        .when(Add { points: 2 })
        .then_rejected(Code::FailedPrecondition, "counter does not exist");
    testing::aggregate(counter)
        .given_snapshot(
            State {
                name: "a".into(),
                points: 5,
            },
            9,
        )
        .when(Add { points: 1 })
        .then(Added {
            points: 1,
            balance: 6,
        });
    testing::aggregate(counter)
        .when(events![Create { name: "a".into() }, Add { points: 3 }])
        .then(events![
            Created { name: "a".into() },
            Added {
                points: 3,
                balance: 3
            }
        ]);
}

#[test]
fn aggregate_case_fails_on_the_wrong_outcome() {
    let msg = failure(|| {
        testing::aggregate(counter)
            .given(Created { name: "a".into() })
            .when(Add { points: 2 })
            .then(Added {
                points: 2,
                balance: 3,
            });
    });
    assert!(
        msg.starts_with("event #0:\n got  sdktest.Added Added { points: 2, balance: 2 }"),
        "{msg}"
    );
    let msg = failure(|| {
        testing::aggregate(counter)
            .given(Created { name: "a".into() })
            .when(Add { points: 2 })
            .then(Events::none());
    });
    assert!(msg.starts_with("1 events, want 0"), "{msg}");
    let msg = failure(|| {
        testing::aggregate(counter)
            .when(Add { points: 2 })
            .then(Added {
                points: 2,
                balance: 2,
            });
    });
    assert_eq!(
        msg,
        r#"the commands failed: FailedPrecondition "counter does not exist""#
    );
    let msg = failure(|| {
        testing::aggregate(counter)
            .when(Add { points: 2 })
            .then_rejected(Code::InvalidArgument, "x")
    });
    assert!(
        msg.starts_with(
            r#"failed with FailedPrecondition "counter does not exist", want InvalidArgument"#
        ),
        "{msg}"
    );
    let msg = failure(|| {
        testing::aggregate(counter)
            .when(Create { name: "a".into() })
            .then_rejected(Code::InvalidArgument, "x")
    });
    assert!(msg.starts_with("succeeded with events"), "{msg}");
    let msg = failure(|| {
        testing::aggregate(counter)
            .when(Create { name: "a".into() })
            .then_snapshot(State {
                name: "b".into(),
                points: 0,
            });
    });
    assert!(msg.starts_with("snapshot:"), "{msg}");
}

#[test]
fn projector_case() {
    testing::projector(totals)
        .given(Added {
            points: 3,
            balance: 0,
        })
        .when(Added {
            points: 4,
            balance: 0,
        })
        .then_projection(Total {
            points: 7,
            events: 2,
        });
    testing::projector(totals)
        .when(Created { name: "x".into() })
        .then_no_projection();
    let msg = failure(|| {
        testing::projector(totals)
            .when(Added {
                points: 4,
                balance: 0,
            })
            .then_projection(Total {
                points: 5,
                events: 1,
            })
    });
    assert!(msg.starts_with("projection:"), "{msg}");
    let msg = failure(|| {
        testing::projector(totals)
            .when(Created { name: "x".into() })
            .then_projection(Total {
                points: 5,
                events: 1,
            })
    });
    assert!(msg.starts_with("no projection"), "{msg}");
}

#[test]
fn saga_case_without_history_reads_the_given_events() {
    let cmd = || Command::new(Cover::of("counter", "mirror-a"), Add { points: 10 });
    testing::saga(mirror)
        .given(Created { name: "a".into() })
        .when(events![
            Added {
                points: 10,
                balance: 0
            },
            Added {
                points: 1,
                balance: 0
            }
        ])
        .then_commands(vec![cmd()]);
    testing::saga(mirror)
        .when(Added {
            points: 10,
            balance: 0,
        })
        .then_fails(Code::Internal, "has no name");
    let msg = failure(|| {
        testing::saga(mirror)
            .given(Created { name: "a".into() })
            .when(Added {
                points: 1,
                balance: 0,
            })
            .then_commands(vec![cmd()])
    });
    assert!(msg.starts_with("0 commands, want 1"), "{msg}");
    let msg = failure(|| {
        let other = Command::new(Cover::of("counter", "elsewhere"), Add { points: 10 });
        testing::saga(mirror)
            .given(Created { name: "a".into() })
            .when(Added {
                points: 10,
                balance: 0,
            })
            .then_commands(vec![other]);
    });
    assert!(msg.starts_with("command #0 is for counter/"), "{msg}");
}

#[test]
fn the_kit_clock_is_fixed() {
    let agg: Aggregate<()> = Aggregate::new("clock", Options::new().with_clock(testing::now));
    assert_eq!(
        agg.clock().timestamp(),
        prost_types::Timestamp {
            seconds: 1_772_366_400,
            nanos: 0
        }
    );
}
