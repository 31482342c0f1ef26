//! Text and number formatting for the HTML report: escaping, significant digits, UTC times.

/// The stylesheet shared by every ticketflow HTML page.
const STYLE: &str = include_str!("style.css");

/// The start of a self-contained page, up to and including `<body>`; `title` must already be
/// escaped. Shared by the drift report and the profile so both look and behave the same.
pub(crate) fn document_start(title: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"ticketflow\">\n<title>",
    );
    out.push_str(title);
    out.push_str("</title>\n<style>\n");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n");
    out
}

/// The first `max` characters of `label`, with an ellipsis when cut.
pub(crate) fn truncate(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_string()
    } else {
        let mut s: String = label.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Escapes text for HTML element content and for double- or single-quoted attribute values.
///
/// Column names and categories come from user data, so everything the report prints goes through
/// here. Five replacements are the whole job; a crate (`html-escape`, `askama`) would add a
/// dependency for no gain.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `value` with four significant digits, the way Python's `f"{value:.4g}"` prints it: trailing
/// zeros dropped, scientific notation below 1e-4 and from 1e4 up (`1.5e-09`, `0.001235`,
/// `0.5`, `1.235e+04`). Readers can reproduce any number from `report.json` with that one
/// expression.
pub(crate) fn g4(value: f64) -> String {
    const DIGITS: usize = 4;
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "∞" } else { "−∞" }.to_string();
    }
    if value == 0.0 {
        return "0".to_string();
    }
    // Round once in scientific form; its exponent is the one after rounding (0.099996 → 1.000e-1).
    let sci = format!("{:.*e}", DIGITS - 1, value);
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..DIGITS as i32).contains(&exponent) {
        let decimals = (DIGITS as i32 - 1 - exponent).max(0) as usize;
        trim_zeros(format!("{value:.decimals$}"))
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            trim_zeros(mantissa.to_string()),
            exponent.abs()
        )
    }
}

/// Drops trailing zeros after a decimal point, and the point itself when nothing follows it.
fn trim_zeros(mut s: String) -> String {
    if s.contains('.') {
        let kept = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(kept);
    }
    s
}

/// The exact value as `report.json` holds it (serde_json's shortest round-trip form; `null` for
/// NaN and infinities).
pub(crate) fn json_number(value: f64) -> String {
    serde_json::to_string(&value).unwrap_or_else(|_| "null".to_string())
}

/// A number for the page: [`g4`] as text, the exact JSON value as a hover tooltip.
pub(crate) fn num(value: f64) -> String {
    format!(
        "<span class=\"n\" title=\"{}\">{}</span>",
        json_number(value),
        escape(&g4(value))
    )
}

/// A table row of numbers: `header` (HTML) as the row header, then each of `cells` (HTML) in a
/// right-aligned cell.
pub(crate) fn numeric_row(header: &str, cells: impl IntoIterator<Item = String>) -> String {
    let mut row = format!("<tr><th scope=\"row\">{header}</th>");
    for cell in cells {
        row.push_str("<td class=\"num\">");
        row.push_str(&cell);
        row.push_str("</td>");
    }
    row.push_str("</tr>");
    row
}

/// A signed difference (`+0.05`, `−0.1234`, `0`), with a typographic minus. Differences below
/// 1e-12 are rounding noise of the subtraction (0.3 − 0.1 · 3) and print as `0`.
pub(crate) fn signed_g4(value: f64) -> String {
    if value.abs() < 1e-12 {
        "0".to_string()
    } else if value > 0.0 {
        format!("+{}", g4(value))
    } else if value < 0.0 {
        format!("−{}", g4(-value))
    } else {
        g4(value)
    }
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian), without
/// a date crate: the civil-from-days conversion is a dozen lines of integer arithmetic.
pub(crate) fn utc_timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1, [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert('x & "y"')</script>"#),
            "&lt;script&gt;alert(&#39;x &amp; &quot;y&quot;&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("Zürich – ok"), "Zürich – ok");
    }

    #[test]
    fn four_significant_digits_like_python_g() {
        // Expected values are Python's f"{x:.4g}".
        let cases = [
            (0.0012345678, "0.001235"),
            (0.5, "0.5"),
            (0.05, "0.05"),
            (0.8123456, "0.8123"),
            (0.099996, "0.1"),
            (1.5e-9, "1.5e-09"),
            (0.00012345, "0.0001234"), // 0.00012345 is just below ...345 in binary
            (0.00001234, "1.234e-05"),
            (1.0, "1"),
            (1000.0, "1000"),
            (12345.0, "1.234e+04"),
            (123456.0, "1.235e+05"),
            (-0.25, "-0.25"),
            (0.0, "0"),
        ];
        for (value, expected) in cases {
            assert_eq!(g4(value), expected, "{value}");
        }
        assert_eq!(g4(f64::NAN), "NaN");
        assert_eq!(signed_g4(-0.125), "−0.125");
        assert_eq!(signed_g4(0.125), "+0.125");
        assert_eq!(signed_g4(0.3 - 0.1 * 3.0), "0");
    }

    #[test]
    fn numbers_carry_their_exact_json_value() {
        assert_eq!(
            num(0.0012345678),
            "<span class=\"n\" title=\"0.0012345678\">0.001235</span>"
        );
        assert_eq!(json_number(1.0), "1.0");
        assert_eq!(json_number(f64::NAN), "null");
    }

    #[test]
    fn utc_timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_timestamp(1_700_000_000_999), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_timestamp(4_102_444_799_000), "2099-12-31 23:59:59 UTC");
    }
}
