//! Subscription queries: follow the projections a projector produces.

use std::ops::ControlFlow;
use std::time::Duration;

use tonic::{Code, Status};

use crate::Connection;
use crate::pb::{self, projection_query_client::ProjectionQueryClient};

/// The gRPC response header by which a projector's `HandleSync` names the key
/// its projection is kept under for subscription queries, instead of the
/// aggregate (1 to 200 printable ASCII characters).
pub const PROJECTION_KEY_METADATA: &str = "evented-projection-key";

/// What a subscription query follows: a projector's projection of an
/// aggregate (`cover`) or of a key the projector names (`key`).
/// `after_version` resumes after the last version received (0: start with
/// the current projection).
#[derive(Clone, Debug, Default)]
pub struct Watch {
    pub projector: String,
    pub cover: Option<pb::Cover>,
    pub key: String,
    pub after_version: u64,
}

/// Subscribes to `watch`'s projection on evented's query port (`conn`) and
/// calls `on_update` with the current projection, then with every change,
/// in version order, until it returns `ControlFlow::Break` (then `Ok`).
///
/// When the stream breaks (evented restarted, or this client fell behind and
/// was dropped with `RESOURCE_EXHAUSTED`), it subscribes again after the last
/// version handed over, so each change comes once, none missed. Errors that
/// retrying cannot fix (an unknown projector, one that keeps no projections)
/// are returned.
///
/// ```ignore
/// let conn = evented::Connect::new("http://127.0.0.1:1314").connect_lazy()?;
/// let watch = evented::Watch { projector: "balance".into(), cover: Some(cover), ..Default::default() };
/// evented::watch_projection(conn, watch, |update| {
///     println!("{} {:?}", update.version, update.projection);
///     std::ops::ControlFlow::Continue(())
/// })
/// .await?;
/// ```
pub async fn watch_projection<F>(
    conn: Connection,
    watch: Watch,
    mut on_update: F,
) -> Result<(), Status>
where
    F: FnMut(pb::ProjectionUpdate) -> ControlFlow<()>,
{
    let mut client = ProjectionQueryClient::new(conn);
    let mut after = watch.after_version;
    let mut pause = Duration::from_millis(50);
    loop {
        let request = pb::ProjectionSubscription {
            projector: watch.projector.clone(),
            cover: watch.cover.clone(),
            key: watch.key.clone(),
            after_version: after,
        };
        let err = match client.subscribe(request).await {
            Err(status) => status,
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(update)) => {
                            if update.version <= after {
                                continue; // already handed over (resumed)
                            }
                            let version = update.version;
                            if on_update(update).is_break() {
                                return Ok(());
                            }
                            after = version;
                            pause = Duration::from_millis(50);
                        }
                        Ok(None) => break Status::unavailable("the stream ended"),
                        Err(status) => break status,
                    }
                }
            }
        };
        if !resumable(err.code()) {
            return Err(err);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

fn resumable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal
            | Code::Unknown
    )
}
