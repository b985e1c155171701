//! The five sync flows and the mode each runs in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One direction of sync for one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// HighLevel coupons become AccessAlly coupons (polled: HighLevel has no coupon webhooks).
    CouponsToAccessally,
    /// HighLevel products, prices and inventory become AccessAlly offerings.
    ProductsToAccessally,
    /// AccessAlly offerings become HighLevel products, prices and inventory.
    ProductsToHighlevel,
    /// Completed AccessAlly orders become HighLevel invoices with a recorded payment.
    OrdersToHighlevel,
    /// Paid HighLevel orders grant access in AccessAlly.
    OrdersToAccessally,
}

impl Flow {
    pub const ALL: [Flow; 5] = [
        Flow::CouponsToAccessally,
        Flow::ProductsToAccessally,
        Flow::ProductsToHighlevel,
        Flow::OrdersToHighlevel,
        Flow::OrdersToAccessally,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Flow::CouponsToAccessally => "coupons_to_accessally",
            Flow::ProductsToAccessally => "products_to_accessally",
            Flow::ProductsToHighlevel => "products_to_highlevel",
            Flow::OrdersToHighlevel => "orders_to_highlevel",
            Flow::OrdersToAccessally => "orders_to_accessally",
        }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Flow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flow::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Flow::ALL.iter().map(Flow::as_str).collect();
                format!("unknown flow `{s}`; expected one of {}", names.join(", "))
            })
    }
}

/// How far a flow may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowMode {
    /// Does nothing.
    Off,
    /// Reads, computes and reports what it would do; writes nothing.
    #[default]
    Observe,
    /// Writes.
    Write,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_round_trip_by_name() {
        for f in Flow::ALL {
            assert_eq!(f.as_str().parse::<Flow>(), Ok(f));
        }
        assert!(
            "coupons"
                .parse::<Flow>()
                .unwrap_err()
                .contains("coupons_to_accessally")
        );
    }
}
