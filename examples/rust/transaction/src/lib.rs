//! The business logic of the example domain transaction: CreateTransaction,
//! ApplyDiscount, CompleteTransaction, CancelTransaction (rules and messages:
//! examples/README.md).

use std::time::Duration;

use evented::{Aggregate, Error, Events, Options, cancel_deadline, deadline_at, invalid, reject};
use shop::pb::{
    ApplyDiscount, CancelTransaction, CompleteTransaction, CreateTransaction, DiscountApplied,
    LineItem, TransactionCancelled, TransactionCompleted, TransactionCreated, TransactionState,
};

#[cfg(test)]
mod tests;

/// Statuses of a transaction.
pub const PENDING: &str = "pending";
pub const COMPLETED: &str = "completed";
pub const CANCELLED: &str = "cancelled";

/// What any coupon takes off.
pub const COUPON_CENTS: i32 = 500;

/// A transaction as its business logic sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// Empty while the transaction does not exist.
    pub status: String,
    pub customer_id: String,
    pub items: Vec<LineItem>,
    pub subtotal: i32,
    pub discount: i32,
    pub discount_type: String,
}

/// Refuses any change to a transaction that is not pending.
fn pending(s: &State) -> Result<(), Error> {
    match s.status.as_str() {
        PENDING => Ok(()),
        "" => Err(reject("transaction does not exist")),
        status => Err(reject(format!("transaction is {status}, not pending"))),
    }
}

/// How long a transaction may stay pending: then a deadline cancels it
/// (reason "timeout"), unless it completed or was cancelled before.
/// TRANSACTION_TIMEOUT (seconds) overrides it in main.rs.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The deadline's name within the transaction.
pub const TIMEOUT_DEADLINE: &str = "timeout";

/// The business logic of domain transaction.
pub fn new(opts: Options) -> Aggregate<State> {
    with_timeout(opts, OPEN_TIMEOUT)
}

/// [`new`] with the time a transaction may stay pending.
pub fn with_timeout(opts: Options, open_timeout: Duration) -> Aggregate<State> {
    let clock = opts.clock();
    Aggregate::new("transaction", opts)
        .apply(|s: &mut State, e: TransactionCreated| {
            s.status = PENDING.into();
            s.customer_id = e.customer_id;
            s.items = e.items;
            s.subtotal = e.subtotal_cents;
        })
        .apply(|s: &mut State, e: DiscountApplied| {
            s.discount = e.discount_cents;
            s.discount_type = e.discount_type;
        })
        .apply(|s: &mut State, _: TransactionCompleted| s.status = COMPLETED.into())
        .apply(|s: &mut State, _: TransactionCancelled| s.status = CANCELLED.into())
        .snapshot(|s: &State| TransactionState {
            customer_id: s.customer_id.clone(),
            items: s.items.clone(),
            subtotal_cents: s.subtotal,
            discount_cents: s.discount,
            discount_type: s.discount_type.clone(),
            status: s.status.clone(),
        })
        .restore(|s: &mut State, snap: TransactionState| {
            *s = State {
                status: snap.status,
                customer_id: snap.customer_id,
                items: snap.items,
                subtotal: snap.subtotal_cents,
                discount: snap.discount_cents,
                discount_type: snap.discount_type,
            }
        })
        .handle(move |s: &State, c: CreateTransaction| {
            if c.customer_id.is_empty() {
                return Err(invalid("customer_id is required"));
            }
            if c.items.is_empty() {
                return Err(invalid("at least one item is required"));
            }
            let mut subtotal: i64 = 0;
            for (i, it) in c.items.iter().enumerate() {
                if it.quantity <= 0 {
                    return Err(invalid(format!(
                        "items[{i}]: quantity must be positive, got {}",
                        it.quantity
                    )));
                }
                if it.unit_price_cents < 0 {
                    return Err(invalid(format!(
                        "items[{i}]: unit_price_cents must not be negative, got {}",
                        it.unit_price_cents
                    )));
                }
                subtotal += i64::from(it.quantity) * i64::from(it.unit_price_cents);
            }
            let Ok(subtotal) = i32::try_from(subtotal) else {
                return Err(invalid(format!("subtotal {subtotal} cents is too large")));
            };
            if !s.status.is_empty() {
                return Err(reject("transaction already exists"));
            }
            Ok(Events::none()
                .with(TransactionCreated {
                    customer_id: c.customer_id,
                    items: c.items,
                    subtotal_cents: subtotal,
                    created_at: Some(clock.timestamp()),
                })
                .with(deadline_at(
                    TIMEOUT_DEADLINE,
                    clock.now() + open_timeout,
                    &CancelTransaction {
                        reason: "timeout".into(),
                    },
                )))
        })
        .handle(|s: &State, c: ApplyDiscount| {
            let discount = match c.discount_type.as_str() {
                "percentage" => {
                    if !(0..=100).contains(&c.value) {
                        return Err(invalid(format!(
                            "percentage must be between 0 and 100, got {}",
                            c.value
                        )));
                    }
                    (i64::from(s.subtotal) * i64::from(c.value) / 100) as i32
                }
                "fixed" => {
                    if c.value < 0 {
                        return Err(invalid(format!(
                            "fixed discount must not be negative, got {}",
                            c.value
                        )));
                    }
                    c.value.min(s.subtotal)
                }
                "coupon" => {
                    if c.coupon_code.is_empty() {
                        return Err(invalid("coupon_code is required for a coupon"));
                    }
                    COUPON_CENTS
                }
                other => {
                    return Err(invalid(format!(
                        "discount_type must be percentage, fixed or coupon, got {other:?}"
                    )));
                }
            };
            pending(s)?;
            if !s.discount_type.is_empty() {
                return Err(reject(format!(
                    "a {} discount is already applied",
                    s.discount_type
                )));
            }
            Ok(DiscountApplied {
                discount_type: c.discount_type,
                value: c.value,
                discount_cents: discount,
                coupon_code: c.coupon_code,
            }
            .into())
        })
        .handle(move |s: &State, c: CompleteTransaction| {
            pending(s)?;
            let total = (s.subtotal - s.discount).max(0);
            Ok(Events::none()
                .with(TransactionCompleted {
                    final_total_cents: total,
                    payment_method: c.payment_method,
                    loyalty_points_earned: total / 100,
                    completed_at: Some(clock.timestamp()),
                })
                .with(cancel_deadline(TIMEOUT_DEADLINE)))
        })
        .handle(move |s: &State, c: CancelTransaction| {
            pending(s)?;
            Ok(Events::none()
                .with(TransactionCancelled {
                    reason: c.reason,
                    cancelled_at: Some(clock.timestamp()),
                })
                .with(cancel_deadline(TIMEOUT_DEADLINE)))
        })
}
