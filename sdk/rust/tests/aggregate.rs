mod common;

use common::*;
use evented::{Cover, Msg, Options, Proto, pb};
use tonic::Code;

fn cover() -> Cover {
    Cover::of("counter", "c-1")
}

fn page(event: impl Into<Msg>, num: Option<u32>) -> pb::EventPage {
    pb::EventPage {
        sequence: num.map(pb::event_page::Sequence::Num),
        created_at: None,
        event: Some(event.into().into_any()),
        synchronous: false,
        metadata: None,
    }
}

fn contextual(
    cover: &Cover,
    prior: Vec<pb::EventPage>,
    commands: Vec<Msg>,
    snapshot: Option<pb::Snapshot>,
) -> pb::ContextualCommand {
    pb::ContextualCommand {
        events: Some(pb::EventBook {
            cover: Some(cover.to_pb()),
            snapshot,
            pages: prior,
            deadlines: vec![],
        }),
        command: Some(pb::CommandBook {
            cover: Some(cover.to_pb()),
            pages: commands
                .into_iter()
                .map(|c| pb::CommandPage {
                    sequence: 0,
                    synchronous: false,
                    command: Some(c.into_any()),
                })
                .collect(),
        }),
    }
}

fn nums(book: &pb::EventBook) -> Vec<u32> {
    book.pages
        .iter()
        .map(|p| match p.sequence {
            Some(pb::event_page::Sequence::Num(n)) => n,
            ref other => panic!("not numbered: {other:?}"),
        })
        .collect()
}

fn event<M: Proto>(p: &pb::EventPage) -> M {
    evented::decode(p.event.as_ref().unwrap()).expect("an event of the type")
}

#[test]
fn new_events_are_numbered_from_the_next_sequence() {
    let agg = counter(Options::default());
    let out = agg
        .handle_command(&contextual(
            &cover(),
            vec![
                page(Created { name: "a".into() }, Some(0)),
                page(
                    Added {
                        points: 1,
                        balance: 1,
                    },
                    Some(1),
                ),
            ],
            vec![Add { points: 2 }.into()],
            None,
        ))
        .unwrap();
    assert_eq!(nums(&out), [2]);
    assert_eq!(
        event::<Added>(&out.pages[0]),
        Added {
            points: 2,
            balance: 3
        }
    );
    assert_eq!(out.cover, Some(cover().to_pb()));
}

#[test]
fn prior_pages_without_num_follow_the_snapshot() {
    let snap = pb::Snapshot {
        sequence: 5,
        state: Some(
            Msg::from(State {
                name: "a".into(),
                points: 10,
            })
            .into_any(),
        ),
    };
    let mut forced = page(
        Added {
            points: 1,
            balance: 11,
        },
        None,
    );
    forced.sequence = Some(pb::event_page::Sequence::Force(true));
    let out = counter(Options::default())
        .handle_command(&contextual(
            &cover(),
            vec![
                forced,
                page(
                    Added {
                        points: 1,
                        balance: 12,
                    },
                    None,
                ),
            ],
            vec![Add { points: 3 }.into()],
            Some(snap),
        ))
        .unwrap();
    assert_eq!(nums(&out), [7]);
    assert_eq!(
        event::<Added>(&out.pages[0]),
        Added {
            points: 3,
            balance: 15
        }
    );
    let snap = out.snapshot.unwrap();
    assert_eq!(snap.sequence, 8);
    assert_eq!(
        evented::decode::<State>(snap.state.as_ref().unwrap()),
        Some(State {
            name: "a".into(),
            points: 15
        })
    );
}

#[test]
fn commands_of_one_book_see_each_other() {
    let out = counter(Options::default())
        .handle_command(&contextual(
            &cover(),
            vec![],
            vec![
                Create { name: "a".into() }.into(),
                Add { points: 4 }.into(),
                Add { points: 5 }.into(),
            ],
            None,
        ))
        .unwrap();
    assert_eq!(nums(&out), [0, 1, 2]);
    assert_eq!(
        event::<Added>(&out.pages[2]),
        Added {
            points: 5,
            balance: 9
        }
    );
    assert_eq!(out.snapshot.unwrap().sequence, 3);
}

#[test]
fn nothing_happened_is_an_empty_book_without_snapshot() {
    let out = counter(Options::default())
        .handle_command(&contextual(
            &cover(),
            vec![page(Created { name: "a".into() }, Some(0))],
            vec![Reset {}.into()],
            None,
        ))
        .unwrap();
    assert!(out.pages.is_empty() && out.snapshot.is_none());
    assert_eq!(out.cover, Some(cover().to_pb()));
}

#[test]
fn refusals_keep_their_code_and_message() {
    let created = || vec![page(Created { name: "a".into() }, Some(0))];
    for (prior, command, code, message) in [
        (
            vec![],
            Msg::from(Create { name: "".into() }),
            Code::InvalidArgument,
            "name is required",
        ),
        (
            created(),
            Create { name: "a".into() }.into(),
            Code::FailedPrecondition,
            "counter already exists",
        ),
        (
            vec![],
            Add { points: 1 }.into(),
            Code::FailedPrecondition,
            "counter does not exist",
        ),
        (
            vec![],
            Add { points: -1 }.into(),
            Code::InvalidArgument,
            "points must be positive, got -1",
        ),
    ] {
        let err = counter(Options::default())
            .handle_command(&contextual(&cover(), prior, vec![command], None))
            .unwrap_err();
        assert_eq!((err.code(), err.message()), (code, message));
    }
}

#[test]
fn a_panic_in_a_handler_is_internal_and_says_where() {
    let prior = vec![
        page(Created { name: "a".into() }, Some(0)),
        page(
            Added {
                points: 1,
                balance: 1,
            },
            Some(1),
        ),
    ];
    let err = counter(Options::default())
        .handle_command(&contextual(&cover(), prior, vec![Reset {}.into()], None))
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Internal, "counter: sdktest.Reset: panicked: a bug")
    );
}

#[test]
fn unknown_command_other_domain_no_pages_no_cover() {
    let agg = counter(Options::default());
    let err = agg
        .handle_command(&contextual(
            &cover(),
            vec![],
            vec![State::default().into()],
            None,
        ))
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .contains(r#"no handler for "type.googleapis.com/sdktest.State""#),
        "{err:?}"
    );
    let err = agg
        .handle_command(&contextual(
            &Cover::of("other", "x"),
            vec![],
            vec![Add { points: 1 }.into()],
            None,
        ))
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::NotFound,
            r#"this service handles domain "counter", not "other""#
        )
    );
    let err = agg
        .handle_command(&contextual(&cover(), vec![], vec![], None))
        .unwrap_err();
    assert_eq!(
        err.message(),
        "command.pages: must hold at least one command"
    );
    let err = agg
        .handle_command(&pb::ContextualCommand::default())
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "command.cover: missing")
    );
}

#[test]
fn a_snapshot_of_an_unknown_type_is_refused() {
    let snap = pb::Snapshot {
        sequence: 1,
        state: Some(Msg::from(Created { name: "x".into() }).into_any()),
    };
    let err = counter(Options::default())
        .handle_command(&contextual(
            &cover(),
            vec![],
            vec![Add { points: 1 }.into()],
            Some(snap),
        ))
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().starts_with(
            "counter: received a snapshot of type sdktest.Created and has no restore for it"
        ),
        "{err:?}"
    );
}

#[test]
#[should_panic(expected = "handle for sdktest.Add registered twice")]
fn a_handler_registered_twice_panics() {
    let _ = counter(Options::default()).handle(|_, _: Add| Ok(evented::Events::none()));
}

#[test]
fn root_is_the_same_in_every_language() {
    assert_eq!(
        evented::root("cust-001").to_string(),
        "bee85a38-babe-5251-8d7d-f8a8ed93ed9c"
    );
    let want = "2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f";
    for name in [
        want,
        "2C9D1A4E-7B3F-4C1D-9E8A-5F6B7C8D9E0F",
        "{2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f}",
        "urn:uuid:2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f",
        "URN:UUID:2c9d1a4e-7b3f-4c1d-9e8a-5f6b7c8d9e0f",
        "2c9d1a4e7b3f4c1d9e8a5f6b7c8d9e0f",
    ] {
        assert_eq!(evented::root(name).to_string(), want, "{name}");
    }
    for name in [
        "2c9d1a4e7b3f-4c1d-9e8a-5f6b7c8d9e0f",
        "",
        "{x}",
        "urn:uuid:2c9d1a4e7b3f4c1d9e8a5f6b7c8d9e0f",
    ] {
        let v5 = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("evented:{name}").as_bytes(),
        );
        assert_eq!(evented::root(name), v5, "{name}");
    }
}

#[test]
fn covers_from_the_wire_name_the_bad_field() {
    let err = Cover::from_pb(
        "cover",
        Some(&pb::Cover {
            domain: "d".into(),
            root: Some(pb::Uuid {
                value: vec![1, 2, 3],
            }),
        }),
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "cover.root.value: must be exactly 16 bytes, got 3"
    );
    let err = Cover::from_pb(
        "cover",
        Some(&pb::Cover {
            domain: "".into(),
            root: None,
        }),
    )
    .unwrap_err();
    assert_eq!(err.message(), "cover.domain: must not be empty");
    let c = Cover::of("customer", "cust-001");
    assert_eq!(Cover::from_pb("cover", Some(&c.to_pb())).unwrap(), c);
    assert_eq!(
        c.to_string(),
        "customer/bee85a38-babe-5251-8d7d-f8a8ed93ed9c"
    );
}

#[test]
fn take_snapshot_folds_the_snapshot_and_events_without_a_command() {
    let book = pb::EventBook {
        cover: Some(cover().to_pb()),
        snapshot: Some(pb::Snapshot {
            sequence: 5,
            state: Some(
                Msg::from(State {
                    name: "a".into(),
                    points: 10,
                })
                .into_any(),
            ),
        }),
        pages: vec![
            page(
                Added {
                    points: 2,
                    balance: 12,
                },
                Some(5),
            ),
            page(
                Added {
                    points: 3,
                    balance: 15,
                },
                Some(6),
            ),
        ],
        ..Default::default()
    };
    let snap = counter(Options::default()).take_snapshot(&book).unwrap();
    assert_eq!(snap.sequence, 7);
    assert_eq!(
        evented::decode::<State>(snap.state.as_ref().unwrap()),
        Some(State {
            name: "a".into(),
            points: 15
        })
    );
}

#[test]
fn take_snapshot_without_a_snapshot_function_is_unimplemented() {
    let agg = evented::Aggregate::<Counter>::new("counter", Options::default());
    let err = agg
        .take_snapshot(&pb::EventBook {
            cover: Some(cover().to_pb()),
            snapshot: None,
            pages: vec![],
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
}
