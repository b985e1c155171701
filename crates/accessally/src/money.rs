//! Money for the AccessAlly client: the canonical model's integer minor
//! units and ISO currency, parsed exactly from the contract's decimal
//! strings. One implementation, in `model`, serves both clients.

pub use model::money::{Currency, Money, MoneyError, Percent, format_decimal, parse_decimal};
