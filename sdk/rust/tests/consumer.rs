mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use evented::{BoxFuture, Cover, Error, Event, EventReader, Msg, Options, Projector, pb};
use tonic::Code;

fn cover() -> Cover {
    Cover::of("counter", "c-1")
}

fn book(events: Vec<Msg>, first: u32, snapshot: Option<pb::Snapshot>) -> pb::EventBook {
    pb::EventBook {
        cover: Some(cover().to_pb()),
        snapshot,
        pages: events
            .into_iter()
            .enumerate()
            .map(|(i, e)| pb::EventPage {
                sequence: Some(pb::event_page::Sequence::Num(first + i as u32)),
                created_at: None,
                event: Some(e.into_any()),
                synchronous: false,
                metadata: None,
            })
            .collect(),
        deadlines: vec![],
    }
}

#[tokio::test]
async fn projector_with_history_folds_everything_and_projects() {
    let snap = pb::Snapshot {
        sequence: 3,
        state: Some(
            Msg::from(State {
                name: "".into(),
                points: 100,
            })
            .into_any(),
        ),
    };
    let p = totals(Options::default());
    let proj = p
        .handle_sync(&book(
            vec![
                Added {
                    points: 5,
                    balance: 0,
                }
                .into(),
                Added {
                    points: 7,
                    balance: 0,
                }
                .into(),
            ],
            3,
            Some(snap),
        ))
        .await
        .unwrap();
    assert_eq!(
        (proj.projector.as_str(), proj.sequence, proj.cover),
        ("totals", 5, Some(cover().to_pb()))
    );
    assert_eq!(
        evented::decode::<Total>(proj.projection.as_ref().unwrap()),
        Some(Total {
            points: 112,
            events: 5
        })
    );
    let none = p
        .handle_sync(&book(vec![Created { name: "a".into() }.into()], 0, None))
        .await
        .unwrap();
    assert!(none.projection.is_none() && none.sequence == 1);
}

#[tokio::test]
async fn history_misconfiguration_is_named() {
    let err = totals(Options::default())
        .handle_sync(&book(vec![Added::default().into()], 4, None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message()
            .contains("set history: true for it in evented's configuration"),
        "{err:?}"
    );
    let err = mirror(Options::default())
        .commands(&book(
            vec![Added::default().into()],
            0,
            Some(pb::Snapshot::default()),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("with_history"), "{err:?}");
}

struct Reader {
    books: Vec<pb::EventBook>,
    queries: Arc<Mutex<Vec<pb::Query>>>,
}

impl EventReader for Reader {
    fn get_events(
        &self,
        query: pb::Query,
    ) -> BoxFuture<'_, Result<Vec<pb::EventBook>, tonic::Status>> {
        self.queries.lock().unwrap().push(query);
        let books = self.books.clone();
        Box::pin(async move { Ok(books) })
    }
}

#[tokio::test]
async fn saga_without_history_reads_the_earlier_events() {
    let queries = Arc::new(Mutex::new(vec![]));
    let earlier = book(
        vec![
            Created { name: "src".into() }.into(),
            Added {
                points: 1,
                balance: 1,
            }
            .into(),
            Added {
                points: 99,
                balance: 100,
            }
            .into(),
        ],
        0,
        None,
    );
    let saga = mirror(Options::new().with_event_query(Reader {
        books: vec![earlier],
        queries: queries.clone(),
    }));
    let cmds = saga
        .commands(&book(
            vec![
                Added {
                    points: 10,
                    balance: 0,
                }
                .into(),
                Added {
                    points: 3,
                    balance: 0,
                }
                .into(),
                Added {
                    points: 20,
                    balance: 0,
                }
                .into(),
            ],
            2,
            None,
        ))
        .await
        .unwrap();
    let got: Vec<_> = cmds
        .iter()
        .map(|c| (c.to.clone(), c.message.decode::<Add>().unwrap()))
        .collect();
    let to = Cover::of("counter", "mirror-src");
    assert_eq!(
        got,
        [(to.clone(), Add { points: 10 }), (to, Add { points: 20 })]
    );
    let q = queries.lock().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0].domain.as_str(), q[0].lower_bound, q[0].upper_bound),
        ("counter", 0, 2)
    );
    assert_eq!(q[0].root, cover().to_pb().root);
}

struct Down;

impl EventReader for Down {
    fn get_events(&self, _: pb::Query) -> BoxFuture<'_, Result<Vec<pb::EventBook>, tonic::Status>> {
        Box::pin(async { Err(tonic::Status::unavailable("connection refused")) })
    }
}

#[tokio::test]
async fn saga_failure_and_unreachable_query() {
    let err = mirror(Options::default())
        .handle_sync(&book(
            vec![
                Added {
                    points: 10,
                    balance: 0,
                }
                .into(),
            ],
            0,
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert!(err.message().starts_with("counter "), "{err:?}"); // the saga's own error passes through
    let err = mirror(Options::new().with_event_query(Down))
        .commands(&book(
            vec![
                Added {
                    points: 10,
                    balance: 0,
                }
                .into(),
            ],
            1,
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(
        err.message(),
        format!(
            "saga \"mirror\": read the events of {} before sequence 1: connection refused",
            cover()
        )
    );
}

#[tokio::test]
async fn saga_answer_has_one_book_per_command() {
    let resp = mirror(Options::default())
        .handle_sync(&book(
            vec![
                Created { name: "x".into() }.into(),
                Added {
                    points: 10,
                    balance: 0,
                }
                .into(),
                Added {
                    points: 11,
                    balance: 0,
                }
                .into(),
            ],
            0,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(resp.commands.len(), 2);
    for (b, points) in resp.commands.iter().zip([10, 11]) {
        assert_eq!(b.cover, Some(Cover::of("counter", "mirror-x").to_pb()));
        assert_eq!(
            evented::decode::<Add>(b.pages[0].command.as_ref().unwrap()),
            Some(Add { points })
        );
    }
}

#[tokio::test]
async fn on_and_on_any_see_new_events_with_their_place() {
    let seen = Arc::new(Mutex::new(vec![]));
    let (typed, any) = (seen.clone(), seen.clone());
    let p = Projector::<()>::new("log", Options::default())
        .on(move |_, e: Added, ev: &Event| {
            typed
                .lock()
                .unwrap()
                .push(format!("on {} at {}", e.points, ev.sequence));
            Ok(())
        })
        .on_any(move |_, a, ev: &Event| {
            any.lock().unwrap().push(format!(
                "any {} at {} {:?}",
                evented::type_name(&a.type_url),
                ev.sequence,
                ev.created_at
            ));
            Ok(())
        });
    let mut b = book(
        vec![
            Added {
                points: 1,
                balance: 1,
            }
            .into(),
        ],
        0,
        None,
    );
    b.pages[0].created_at = Some(prost_types::Timestamp {
        seconds: 60,
        nanos: 0,
    });
    b.pages.push(pb::EventPage {
        sequence: Some(pb::event_page::Sequence::Num(1)),
        created_at: None,
        event: Some(prost_types::Any {
            type_url: "type.googleapis.com/nowhere.Thing".into(),
            value: vec![8, 1],
        }),
        synchronous: false,
        metadata: None,
    });
    p.handle_events(&b).await.unwrap();
    let at60 = UNIX_EPOCH + Duration::from_secs(60);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "on 1 at 0".to_string(),
            format!("any sdktest.Added at 0 {:?}", Some(at60)),
            "any nowhere.Thing at 1 None".to_string()
        ]
    );
}

#[tokio::test]
async fn a_failing_handler_fails_the_delivery() {
    let p = Projector::<()>::new("log", Options::default())
        .on(|_, _: Added, _| Err(Error::new(Code::Unavailable, "disk full")));
    let err = p
        .handle_events(&book(vec![Added::default().into()], 0, None))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unavailable, "disk full")
    );
}
