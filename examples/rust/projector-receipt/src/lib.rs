//! The receipt projector: once a transaction is completed, its projection is a
//! Receipt with the items, the customer, the amounts, the payment, the points
//! earned and a printable text.
//!
//! The items and the customer are in TransactionCreated, the total in
//! TransactionCompleted, so the projector is built with history and evented
//! must call it with `history: true` — every book then holds the whole
//! transaction (from its latest snapshot on), and the state folded from it is
//! complete. It runs synchronously, so the receipt is in the reply to
//! CompleteTransaction.

use std::fmt::Write;

use evented::{Event, Options, Projector};
use shop::pb::{
    DiscountApplied, LineItem, Receipt, TransactionCompleted, TransactionCreated, TransactionState,
};

#[cfg(test)]
mod tests;

/// A transaction as the receipt needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    pub customer_id: String,
    pub items: Vec<LineItem>,
    pub subtotal: i32,
    pub discount: i32,
    pub discount_type: String,
    /// None until completed.
    pub completed: Option<TransactionCompleted>,
}

pub fn new(opts: Options) -> Projector<State> {
    Projector::new("receipt", opts.with_history())
        .apply(|s: &mut State, e: TransactionCreated| {
            s.customer_id = e.customer_id;
            s.items = e.items;
            s.subtotal = e.subtotal_cents;
        })
        .apply(|s: &mut State, e: DiscountApplied| {
            s.discount = e.discount_cents;
            s.discount_type = e.discount_type;
        })
        .apply(|s: &mut State, e: TransactionCompleted| s.completed = Some(e))
        .restore(|s: &mut State, snap: TransactionState| {
            s.customer_id = snap.customer_id;
            s.items = snap.items;
            s.subtotal = snap.subtotal_cents;
            s.discount = snap.discount_cents;
            s.discount_type = snap.discount_type;
        })
        .project(|s: &State, last: &Event| {
            // No receipt before the transaction is completed.
            let Some(done) = &s.completed else {
                return Ok(None);
            };
            let mut r = Receipt {
                transaction_id: last.cover.root.to_string(),
                customer_id: s.customer_id.clone(),
                items: s.items.clone(),
                subtotal_cents: s.subtotal,
                discount_cents: s.discount,
                final_total_cents: done.final_total_cents,
                payment_method: done.payment_method.clone(),
                loyalty_points_earned: done.loyalty_points_earned,
                completed_at: done.completed_at,
                formatted_text: String::new(),
            };
            r.formatted_text = format(&r);
            Ok(Some(r))
        })
}

/// A receipt as text; every example language prints the same:
///
/// ```text
/// Receipt for transaction <transaction_id>
/// Customer: <customer_id>
/// <quantity> x <name> @ $<unit price> = $<quantity × unit price>   (one line per item)
/// Subtotal: $<subtotal>
/// Discount: -$<discount>                                          (only when there is one)
/// Total: $<final total>
/// Payment: <payment method>
/// Loyalty points earned: <points>
/// ```
///
/// Amounts are in units and cents ($45.00); each line ends with a newline.
pub fn format(r: &Receipt) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "Receipt for transaction {}", r.transaction_id);
    let _ = writeln!(b, "Customer: {}", r.customer_id);
    for it in &r.items {
        let line_total = i64::from(it.quantity) * i64::from(it.unit_price_cents);
        let _ = writeln!(
            b,
            "{} x {} @ {} = {}",
            it.quantity,
            it.name,
            money(it.unit_price_cents.into()),
            money(line_total)
        );
    }
    let _ = writeln!(b, "Subtotal: {}", money(r.subtotal_cents.into()));
    if r.discount_cents > 0 {
        let _ = writeln!(b, "Discount: -{}", money(r.discount_cents.into()));
    }
    let _ = writeln!(b, "Total: {}", money(r.final_total_cents.into()));
    let _ = writeln!(b, "Payment: {}", r.payment_method);
    let _ = writeln!(b, "Loyalty points earned: {}", r.loyalty_points_earned);
    b
}

/// Cents as `$units.cents`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", cents / 100, cents % 100)
}
