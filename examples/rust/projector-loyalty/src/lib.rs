//! The loyalty-balance projector: its projection of a customer is a
//! LoyaltyBalance with the customer's name and points.
//!
//! It keeps no storage of its own: evented calls it with `history: true`, so
//! every book holds the customer's events from the latest snapshot on, and the
//! balance is folded from them. It runs asynchronously, never slowing a command
//! down, with `publish_projections: true`: evented then asks it HandleSync on
//! every delivery and keeps the balance it returns, which clients read once a
//! command has waited for it (`evented-wait-for: loyalty-balance`) and watch
//! with a subscription query.
//!
//! It is not called loyalty: that is the saga's name, and projectors and sagas
//! share one namespace of subscriber names.

use evented::{Event, Options, Projector};
use shop::pb::{
    CustomerCreated, CustomerState, LoyaltyBalance, LoyaltyPointsAdded, LoyaltyPointsRedeemed,
};

#[cfg(test)]
mod tests;

/// A customer as the balance needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    pub name: String,
    /// To spend now.
    pub points: i32,
    /// Every point ever added.
    pub lifetime_points: i32,
}

pub fn new(opts: Options) -> Projector<State> {
    Projector::new("loyalty-balance", opts.with_history())
        .apply(|s: &mut State, e: CustomerCreated| s.name = e.name)
        .apply(|s: &mut State, e: LoyaltyPointsAdded| {
            s.points += e.points;
            s.lifetime_points += e.points;
        })
        .apply(|s: &mut State, e: LoyaltyPointsRedeemed| s.points -= e.points)
        .restore(|s: &mut State, snap: CustomerState| {
            *s = State {
                name: snap.name,
                points: snap.loyalty_points,
                lifetime_points: snap.lifetime_points,
            };
        })
        .project(|s: &State, last: &Event| {
            Ok(Some(LoyaltyBalance {
                customer_id: last.cover.root.to_string(),
                name: s.name.clone(),
                points: s.points,
                lifetime_points: s.lifetime_points,
            }))
        })
}
