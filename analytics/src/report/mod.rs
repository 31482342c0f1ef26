//! The self-contained HTML pages' shared parts (the drift report and the exploratory profile):
//! `format.rs` (the page head with its inline stylesheet, escaping, numbers, UTC times) and
//! `chart.rs` (inline SVG bar charts and the AUC gauge). No templating crate: the pages are a
//! few kilobytes of string building with escaping in one place.

/// Appends formatted text to a `String` (with `std::fmt::Write` in scope); writing to a
/// `String` cannot fail, so the result is dropped in one place instead of at every call.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}
pub(crate) use put;

pub(crate) mod chart;
pub(crate) mod format;
