//! Tests of [`super`] (profile.rs), kept beside it so the module itself stays readable.

use super::*;

fn ticket(subject: &str, body: &str, queue: Option<&str>, language: Option<&str>) -> Ticket {
    Ticket {
        id: format!("{subject}/{body}/{queue:?}"),
        row: 0,
        subject: subject.into(),
        body: body.into(),
        answer: None,
        ticket_type: Some("Incident".into()),
        queue: queue.map(Into::into),
        priority: Some("high".into()),
        language: language.map(Into::into),
        tags: vec![],
    }
}

fn sample() -> (Vec<Ticket>, Vec<Quarantined>) {
    let mut tickets = vec![
        ticket(
            "VPN down",
            "The VPN fails every morning.",
            Some("IT"),
            Some("en"),
        ),
        ticket(
            "VPN down",
            "The VPN fails every morning.",
            Some("Billing"),
            Some("en"),
        ),
        ticket(
            "",
            "Die Rechnung ist falsch und muss korrigiert werden.",
            Some("<b>x</b>"),
            None,
        ),
        ticket(
            "Printer",
            "Out of toner again today please help",
            None,
            Some("en"),
        ),
    ];
    tickets[0].answer = Some("Restart it.".into());
    tickets[3].ticket_type = Some("Request".into());
    let quarantined = vec![
        Quarantined {
            row: 5,
            line: 6,
            reason: QuarantineReason::FieldCount {
                expected: 7,
                found: 3,
            },
            excerpt: "a,b".into(),
        },
        Quarantined {
            row: 6,
            line: 7,
            reason: QuarantineReason::EmptyText,
            excerpt: ",,".into(),
        },
        Quarantined {
            row: 7,
            line: 8,
            reason: QuarantineReason::FieldCount {
                expected: 7,
                found: 9,
            },
            excerpt: "x".into(),
        },
    ];
    (tickets, quarantined)
}

/// The profile of [`sample`], with `token_counts` as the tickets' token counts.
fn sample_profile(token_counts: &[usize]) -> Profile {
    let (tickets, quarantined) = sample();
    profile(&tickets, &quarantined, token_counts)
}

fn find<'a>(counts: &'a [Count], value: &str) -> &'a Count {
    counts
        .iter()
        .find(|c| c.value == value)
        .unwrap_or_else(|| panic!("{value} missing from {counts:?}"))
}

#[test]
fn profile_profile_counts_rows_duplicates_and_reasons() {
    let p = sample_profile(&[10, 300, 257, 256]);
    assert_eq!(p.rows.total, 7);
    assert_eq!(p.rows.accepted, 4);
    assert_eq!(p.rows.quarantined, 3);
    assert_eq!(p.rows.duplicates, 1);
    assert_eq!(p.rows.duplicate_share, 0.25);
    assert_eq!(p.rows.quarantine_reasons[0].value, "field_count");
    assert_eq!(p.rows.quarantine_reasons[0].count, 2);
    assert_eq!(find(&p.rows.quarantine_reasons, "empty_text").count, 1);
    assert_eq!(p.tokens.over_limit, 2, "256 is not over the limit");
    assert_eq!(p.tokens.counted, 4);
    assert_eq!(p.tokens.over_limit_share, 0.5);
}

#[test]
fn profile_distributions_missing_values_and_language_sources() {
    let p = sample_profile(&[]);
    let columns: Vec<&str> = p.distributions.iter().map(|d| d.column.as_str()).collect();
    assert_eq!(columns, ["type", "queue", "priority", "language"]);
    let types = &p.distributions[0];
    assert_eq!(types.values[0].value, "Incident");
    assert_eq!(types.values[0].count, 3);
    assert_eq!(types.values[0].share, 0.75);
    assert_eq!(find(&types.values, "Request").share, 0.25);
    let queue = &p.distributions[1];
    assert_eq!(queue.missing, 1);
    assert_eq!(find(&queue.values, "<b>x</b>").count, 1);
    let language = &p.distributions[3];
    assert_eq!(find(&language.values, "en").count, 3);
    assert_eq!(language.missing, 1);

    let missing: Vec<(&str, usize)> = p
        .missing
        .iter()
        .map(|c| (c.value.as_str(), c.count))
        .collect();
    assert_eq!(
        missing,
        [
            ("subject", 1),
            ("body", 0),
            ("answer", 3),
            ("type", 0),
            ("queue", 1),
            ("priority", 0),
            ("language", 1)
        ]
    );
    assert_eq!(find(&p.missing, "answer").share, 0.75);

    assert_eq!(find(&p.language_source, "given").count, 3);
    assert_eq!(find(&p.language_source, "detected").count, 1);
    assert_eq!(p.detected_languages.len(), 1);
    assert_eq!(p.detected_languages[0].value, "de");
    assert_eq!(p.detected_languages[0].share, 1.0);
    assert_eq!(p.tokens.counted, 0);
    assert_eq!(p.tokens.over_limit, 0);
}

#[test]
fn profile_lengths_percentiles_by_hand() {
    let p = sample_profile(&[]);
    let subject_chars = &p.lengths[0];
    assert_eq!(
        (subject_chars.field.as_str(), subject_chars.unit.as_str()),
        ("subject", "chars")
    );
    // Subject lengths: 8, 8, 0, 7 → sorted 0, 7, 8, 8.
    let s = &subject_chars.overall;
    assert_eq!((s.n, s.min, s.max), (4, 0.0, 8.0));
    assert_eq!(s.p25, 5.25); // pos 0.75: 0 + 0.75 * 7
    assert_eq!(s.median, 7.5);
    assert_eq!(s.p75, 8.0);
    assert_eq!(s.p95, 8.0);
    assert_eq!(s.mean, 5.75);
    assert_eq!(s.histogram.iter().map(|b| b.count).sum::<usize>(), 4);
    assert_eq!(s.histogram.first().map(|b| (b.lo, b.count)), Some((0, 1)));
    assert_eq!(s.histogram.last().map(|b| (b.hi, b.count)), Some((9, 2)));
    // Per language: en has the three English tickets, de the detected one.
    let en = subject_chars
        .by_language
        .iter()
        .find(|l| l.language == "en")
        .expect("en");
    assert_eq!(en.stats.n, 3);
    assert_eq!(en.stats.median, 8.0);
    let de = subject_chars
        .by_language
        .iter()
        .find(|l| l.language == "de")
        .expect("de");
    assert_eq!((de.stats.n, de.stats.max), (1, 0.0));
    // Body words: 5, 5, 8, 7 → sorted 5, 5, 7, 8.
    let body_words = &p.lengths[3];
    assert_eq!(
        (body_words.field.as_str(), body_words.unit.as_str()),
        ("body", "words")
    );
    let w = &body_words.overall;
    assert_eq!(
        (w.min, w.p25, w.median, w.p75, w.max),
        (5.0, 5.0, 6.0, 7.25, 8.0)
    );
    assert!((w.p95 - 7.85).abs() < 1e-9, "{}", w.p95);
    assert_eq!(w.mean, 6.25);
}

#[test]
fn profile_length_stats_of_nothing_and_wide_ranges() {
    let empty = length_stats(&[]);
    assert_eq!(empty.n, 0);
    assert!(empty.histogram.is_empty());
    let wide = length_stats(&[0, 1000]);
    assert_eq!(wide.histogram.len(), HISTOGRAM_BINS);
    assert_eq!(wide.histogram.iter().map(|b| b.count).sum::<usize>(), 2);
    assert_eq!(wide.histogram[0].lo, 0);
    assert!(wide.histogram.last().expect("bins").hi > 1000);
    assert_eq!(wide.median, 500.0);
}

#[test]
fn profile_html_is_self_contained_and_escaped() {
    let p = sample_profile(&[10, 300, 257, 256]);
    let html = render_profile_html(&p);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
    assert!(!html.contains("<b>x</b>"));
    assert!(!html.contains("http"), "no external references");
    assert!(!html.contains("<script"));
    assert!(html.contains("<svg"));
    assert!(html.contains("Missing values"));
}

#[test]
fn profile_round_trips_through_json() {
    let p = sample_profile(&[1, 2, 3, 4]);
    let json = serde_json::to_string(&p).expect("serialise");
    let back: Profile = serde_json::from_str(&json).expect("parse");
    // serde_json's default float parsing may differ in the last bit, so compare as JSON.
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("value");
    assert_eq!(serde_json::to_value(&back).expect("value"), parsed);
    assert_eq!(back.rows, p.rows);
}
