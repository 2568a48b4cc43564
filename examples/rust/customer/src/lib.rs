//! The business logic of the example domain customer: CreateCustomer,
//! AddLoyaltyPoints, RedeemLoyaltyPoints (rules and messages:
//! examples/README.md).

use evented::{Aggregate, Options, invalid, reject};
use shop::pb::{
    AddLoyaltyPoints, CreateCustomer, CustomerCreated, CustomerState, LoyaltyPointsAdded,
    LoyaltyPointsRedeemed, RedeemLoyaltyPoints,
};

#[cfg(test)]
mod tests;

/// A customer as its business logic sees it, rebuilt for every command from
/// the latest snapshot and the events after it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    pub exists: bool,
    pub name: String,
    pub email: String,
    /// The balance.
    pub points: i32,
    /// Every point ever added.
    pub lifetime_points: i32,
}

/// The business logic of domain customer.
pub fn new(opts: Options) -> Aggregate<State> {
    let clock = opts.clock();
    Aggregate::new("customer", opts)
        // How events change the state.
        .apply(|s: &mut State, e: CustomerCreated| {
            s.exists = true;
            s.name = e.name;
            s.email = e.email;
        })
        .apply(|s: &mut State, e: LoyaltyPointsAdded| {
            s.points += e.points;
            s.lifetime_points += e.points;
        })
        .apply(|s: &mut State, e: LoyaltyPointsRedeemed| s.points -= e.points)
        // Snapshots: evented stores the state returned after each command and
        // sends it back instead of the events it folds.
        .snapshot(|s: &State| CustomerState {
            name: s.name.clone(),
            email: s.email.clone(),
            loyalty_points: s.points,
            lifetime_points: s.lifetime_points,
        })
        .restore(|s: &mut State, snap: CustomerState| {
            *s = State {
                exists: true,
                name: snap.name,
                email: snap.email,
                points: snap.loyalty_points,
                lifetime_points: snap.lifetime_points,
            }
        })
        // What commands mean. The command is checked first (invalid:
        // INVALID_ARGUMENT), then against the state (reject: FAILED_PRECONDITION).
        .handle(move |s: &State, c: CreateCustomer| {
            if c.name.is_empty() {
                return Err(invalid("name is required"));
            }
            if c.email.is_empty() {
                return Err(invalid("email is required"));
            }
            if s.exists {
                return Err(reject("customer already exists"));
            }
            Ok(CustomerCreated {
                name: c.name,
                email: c.email,
                created_at: Some(clock.timestamp()),
            }
            .into())
        })
        .handle(|s: &State, c: AddLoyaltyPoints| {
            if c.points <= 0 {
                return Err(invalid(format!(
                    "points must be positive, got {}",
                    c.points
                )));
            }
            if !s.exists {
                return Err(reject("customer does not exist"));
            }
            Ok(LoyaltyPointsAdded {
                points: c.points,
                new_balance: s.points + c.points,
                reason: c.reason,
            }
            .into())
        })
        .handle(|s: &State, c: RedeemLoyaltyPoints| {
            if c.points <= 0 {
                return Err(invalid(format!(
                    "points must be positive, got {}",
                    c.points
                )));
            }
            if !s.exists {
                return Err(reject("customer does not exist"));
            }
            if c.points > s.points {
                return Err(reject(format!(
                    "Insufficient points: have {}, need {}",
                    s.points, c.points
                )));
            }
            Ok(LoyaltyPointsRedeemed {
                points: c.points,
                new_balance: s.points - c.points,
                redemption_type: c.redemption_type,
            }
            .into())
        })
}

/// The customer domain's upcaster: the first version of the shop stored
/// sign-ups as CustomerSignedUp, name and email in one contact line; evented
/// reads them as CustomerCreated (schema version 2) through this step, so the
/// aggregate and every projector only know CustomerCreated. Stored events
/// are not rewritten.
pub fn upcaster() -> evented::Upcaster {
    evented::Upcaster::new("customer").step(1, |old: shop::pb::CustomerSignedUp| {
        let (name, email) = split_contact(&old.contact);
        Ok(CustomerCreated {
            name,
            email,
            created_at: old.signed_up_at,
        })
    })
}

/// "Alice <alice@example.com>" → ("Alice", "alice@example.com"); a contact
/// without <…> is a name alone.
pub fn split_contact(contact: &str) -> (String, String) {
    match contact.split_once('<') {
        None => (contact.trim().to_string(), String::new()),
        Some((name, rest)) => {
            let email = rest.split_once('>').map_or(rest, |(e, _)| e);
            (name.trim().to_string(), email.trim().to_string())
        }
    }
}
