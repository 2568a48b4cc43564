//! The loyalty saga: when a transaction is completed with points earned, it
//! sends AddLoyaltyPoints to the transaction's customer — the customer_id of
//! TransactionCreated, not the transaction's own id.
//!
//! The customer id is in an earlier event than TransactionCompleted, so the
//! saga is built with history and evented must deliver it books with history
//! (`history: true`): each book then holds the transaction's snapshot, if any,
//! and every event after it, and the saga reacts to the newest one. That suits
//! this saga exactly: TransactionCompleted is the only event of its command and
//! the last of a transaction.

use evented::{Command, Cover, Error, Event, Options, Saga, root};
use shop::pb::{AddLoyaltyPoints, TransactionCompleted, TransactionCreated, TransactionState};

#[cfg(test)]
mod tests;

/// What the saga knows of a transaction: whose it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    pub customer_id: String,
}

pub fn new(opts: Options) -> Saga<State> {
    Saga::new("loyalty", opts.with_history())
        .apply(|s: &mut State, e: TransactionCreated| s.customer_id = e.customer_id)
        .restore(|s: &mut State, snap: TransactionState| s.customer_id = snap.customer_id)
        .react(|s: &State, e: TransactionCompleted, ev: &Event| {
            if e.loyalty_points_earned <= 0 {
                return Ok(vec![]);
            }
            if s.customer_id.is_empty() {
                // A bug or a misconfiguration: fail, so evented retries and
                // then parks the event rather than crediting no one.
                return Err(Error::internal(format!(
                    "transaction {} has no customer_id in its history",
                    ev.cover.root
                )));
            }
            Ok(vec![Command::new(
                Cover::new("customer", root(&s.customer_id)),
                AddLoyaltyPoints {
                    points: e.loyalty_points_earned,
                    reason: format!("transaction {}", ev.cover.root),
                },
            )])
        })
}
