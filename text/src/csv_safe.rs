//! Spreadsheet-formula neutralisation for the CSV files we write.
//!
//! Ticket exports come from outside, so an id, queue or label may start with `=`, `+`, `-`,
//! `@`, a tab or a carriage return. ticketflow itself never evaluates them, but a spreadsheet
//! that opens our `predictions.csv` or `features.csv` would run `=HYPERLINK(...)` as a formula
//! (CSV injection, OWASP). Cells that carry input text are written with a leading apostrophe,
//! which spreadsheets show as text; everything else about the value is unchanged.
//!
//!
//! The escape is reversible ([`restore`]): ticketflow reads its own tables back (a drift
//! reference is yesterday's `features.csv`), and a value must compare equal to itself after the
//! round trip. A value that already starts with an apostrophe before a formula start gets one
//! more, so nothing is ambiguous.
//!
//! ```
//! use ticketflow_text::csv_safe::{neutralize, restore};
//! assert_eq!(neutralize("=1+1"), "'=1+1");
//! assert_eq!(neutralize("INC-42"), "INC-42");
//! for v in ["-", "=1+1", "'=x", "'quoted", "INC-42"] {
//!     assert_eq!(restore(&neutralize(v)), v);
//! }
//! ```

use std::borrow::Cow;

/// The first characters a spreadsheet treats as the start of a formula.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `value` is escaped: it starts a formula, or is apostrophes before one (so that an
/// escaped value can be told from an unescaped one on the way back).
fn needs_escape(value: &str) -> bool {
    value.trim_start_matches('\'').starts_with(TRIGGERS)
}

/// `value`, with a leading apostrophe when it would start a formula.
pub fn neutralize(value: &str) -> Cow<'_, str> {
    if needs_escape(value) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// The value [`neutralize`] was given: the inverse, for tables ticketflow reads back.
pub fn restore(cell: &str) -> Cow<'_, str> {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_escape(rest) => Cow::Borrowed(rest),
        _ => Cow::Borrowed(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_formula_starts_are_touched() {
        for v in ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralize(v), format!("'{v}"));
        }
        for v in ["", "Incident", "a=b", "synth-1-2", "'quoted"] {
            assert_eq!(neutralize(v), v);
        }
        assert_eq!(neutralize("'=x"), "''=x");
    }

    #[test]
    fn restore_inverts_neutralize() {
        for v in [
            "", "-", "+1", "=x", "'=x", "''=x", "'quoted", "'", "''", "Incident", "@a", "\tx",
        ] {
            assert_eq!(restore(&neutralize(v)), v, "{v:?}");
        }
    }
}
