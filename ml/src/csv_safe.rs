//! Spreadsheet-formula neutralisation for the CSV files we write.
//!
//! Ticket exports come from outside, so an id, queue or label may start with `=`, `+`, `-`,
//! `@`, a tab or a carriage return. ticketflow itself never evaluates them, but a spreadsheet
//! that opens our `predictions.csv` or `features.csv` would run `=HYPERLINK(...)` as a formula
//! (CSV injection, OWASP). Cells that carry input text are written with a leading apostrophe,
//! which spreadsheets show as text; everything else about the value is unchanged.
//!
//! ```
//! use ticketflow_ml::csv_safe::neutralize;
//! assert_eq!(neutralize("=1+1"), "'=1+1");
//! assert_eq!(neutralize("INC-42"), "INC-42");
//! ```

use std::borrow::Cow;

/// The first characters a spreadsheet treats as the start of a formula.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `value`, with a leading apostrophe when it would start a formula.
pub fn neutralize(value: &str) -> Cow<'_, str> {
    if value.starts_with(TRIGGERS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
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
    }
}
