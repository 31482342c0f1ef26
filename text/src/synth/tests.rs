//! Tests of [`super`] (the synthetic ticket generator).

use std::collections::HashSet;

use super::plan::*;
use super::*;

fn tickets(seed: u64, rows: u64, options: &GenOptions) -> Vec<Ticket> {
    (0..rows).map(|i| ticket_with(seed, i, options)).collect()
}

/// Distinct (subject, body) pairs, and the share of rows whose pair an earlier row had.
fn distinct_and_repeat_share(tickets: &[Ticket]) -> (usize, f64) {
    let mut seen = HashSet::new();
    let repeats = tickets
        .iter()
        .filter(|t| !seen.insert((t.subject.as_str(), t.body.as_str())))
        .count();
    (seen.len(), repeats as f64 / tickets.len() as f64)
}

#[test]
fn same_seed_same_tickets_and_random_access_matches_sequential() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    write_csv(&mut a, 7, 300).expect("write");
    write_csv(&mut b, 7, 300).expect("write");
    assert_eq!(a, b);
    let mut c = Vec::new();
    write_csv(&mut c, 8, 300).expect("write");
    assert_ne!(a, c, "another seed gives other data");
    assert_eq!(ticket(7, 42), ticket(7, 42));
    // Random access: ticket 250 alone is row 250 of the file.
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(&a[..])
        .records()
        .map(|r| r.expect("row"))
        .collect();
    let t = ticket(7, 250);
    assert_eq!(&rows[250][0], t.id);
    assert_eq!(&rows[250][1], t.subject);
    assert_eq!(&rows[250][2], t.body);
    assert_eq!(Some(&rows[250][3]), t.ticket_type.as_deref());
}

#[test]
fn mix_covers_every_type_and_language() {
    let tickets = tickets(1, 2_000, &GenOptions::default());
    for (ty, weight) in TYPES.iter().zip(TYPE_WEIGHTS) {
        let share = tickets
            .iter()
            .filter(|t| t.ticket_type.as_deref() == Some(ty))
            .count() as f64
            / tickets.len() as f64;
        // The label noise moves a little mass between partners; the mix stays.
        let want = f64::from(weight) / 100.0;
        assert!(
            (share - want).abs() < 0.04,
            "{ty}: {share:.3}, want ~{want}"
        );
    }
    for lang in ["en", "de", "es", "fr", "pt"] {
        assert!(
            tickets.iter().any(|t| t.language.as_deref() == Some(lang)),
            "{lang}"
        );
    }
    let empty = tickets.iter().filter(|t| t.subject.is_empty()).count();
    assert!((100..=300).contains(&empty), "{empty} empty subjects");
    assert!(tickets.iter().all(|t| !t.body.is_empty()));
    for quirk in ["<br>", "\\n", "<name>", "<acc_num>", "<tel_num>", "<email>"] {
        assert!(
            tickets.iter().any(|t| t.body.contains(quirk)),
            "no body has {quirk}"
        );
    }
    // The text preparation strips the export's markup from every generated ticket.
    for t in tickets.iter().take(300) {
        let prepared = crate::text::prepare(&t.subject, &t.body, t.language.as_deref());
        assert!(
            !prepared.normalized.contains("<br>") && !prepared.normalized.contains("\\n"),
            "{}",
            prepared.normalized
        );
    }
}

#[test]
fn labels_are_noisy_mostly_between_partners() {
    let plans: Vec<Plan> = (0..5_000)
        .map(|i| plan(3, i, &GenOptions::default()))
        .collect();
    let wrong: Vec<&Plan> = plans.iter().filter(|p| p.label != p.true_type).collect();
    let share = wrong.len() as f64 / plans.len() as f64;
    assert!((0.04..=0.08).contains(&share), "label noise {share:.3}");
    let to_partner = wrong
        .iter()
        .filter(|p| p.label == PARTNER[p.true_type])
        .count();
    assert!(
        to_partner * 10 >= wrong.len() * 7,
        "{to_partner} of {}",
        wrong.len()
    );
}

#[test]
fn queue_is_informative_but_not_decisive() {
    let tickets = tickets(5, 4_000, &GenOptions::default());
    for queue in QUEUES {
        let types: HashSet<&str> = tickets
            .iter()
            .filter(|t| t.queue.as_deref() == Some(queue))
            .filter_map(|t| t.ticket_type.as_deref())
            .collect();
        assert_eq!(types.len(), 4, "{queue} holds every type");
    }
    let billing_requests = tickets
        .iter()
        .filter(|t| t.queue.as_deref() == Some("Billing and Payments"))
        .filter(|t| t.ticket_type.as_deref() == Some("Request"))
        .count();
    let billing = tickets
        .iter()
        .filter(|t| t.queue.as_deref() == Some("Billing and Payments"))
        .count();
    let share = billing_requests as f64 / billing as f64;
    assert!(
        (0.45..0.8).contains(&share),
        "Requests in Billing: {share:.2}"
    );
}

#[test]
fn distinct_texts_are_many_and_exact_repeats_follow_the_option() {
    let default = tickets(11, 20_000, &GenOptions::default());
    let (distinct, repeats) = distinct_and_repeat_share(&default);
    eprintln!("20,000 rows: {distinct} distinct (subject, body), repeat share {repeats:.4}");
    assert!(distinct > 15_000, "{distinct} distinct texts");
    assert!(
        (0.025..=0.045).contains(&repeats),
        "exact repeats {repeats:.4} for repeat_share 0.03"
    );

    let none = tickets(
        11,
        5_000,
        &GenOptions {
            repeat_share: 0.0,
            ..Default::default()
        },
    );
    let (_, accidental) = distinct_and_repeat_share(&none);
    assert!(accidental < 0.012, "accidental repeats {accidental:.4}");

    let many = tickets(
        11,
        5_000,
        &GenOptions {
            repeat_share: 0.25,
            ..Default::default()
        },
    );
    let (_, repeats) = distinct_and_repeat_share(&many);
    assert!(
        (0.23..=0.28).contains(&repeats),
        "exact repeats {repeats:.4} for 0.25"
    );

    // An exact repeat is the earlier ticket with its own id; the other tickets are untouched.
    let i = (1..5_000)
        .find(|&i| {
            matches!(
                origin(
                    11,
                    i,
                    &GenOptions {
                        repeat_share: 0.25,
                        ..Default::default()
                    }
                ),
                Origin::Repeat(_)
            )
        })
        .expect("a repeat");
    let Origin::Repeat(j) = origin(
        11,
        i,
        &GenOptions {
            repeat_share: 0.25,
            ..Default::default()
        },
    ) else {
        unreachable!()
    };
    let (a, b) = (&many[i as usize], &many[j as usize]);
    assert_ne!(a.id, b.id);
    assert_eq!(
        (
            &a.subject,
            &a.body,
            &a.ticket_type,
            &a.queue,
            &a.priority,
            &a.language
        ),
        (
            &b.subject,
            &b.body,
            &b.ticket_type,
            &b.queue,
            &b.priority,
            &b.language
        )
    );
    let same = (0..5_000u64)
        .filter(|&k| many[k as usize] == none[k as usize])
        .count();
    assert!(
        same > 3_000,
        "{same} of 5,000 tickets unchanged by the repeat share"
    );

    // Every ticket a repeat: still well defined, and cheap (chains are short).
    let all = tickets(
        11,
        2_000,
        &GenOptions {
            repeat_share: 1.0,
            ..Default::default()
        },
    );
    assert!(all.iter().all(|t| t.body == all[0].body));
}

#[test]
fn variations_are_near_duplicates_of_earlier_tickets() {
    let options = GenOptions::default();
    let words = |t: &Ticket| -> HashSet<String> {
        format!("{} {}", t.subject, t.body)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let mut overlaps = Vec::new();
    for i in 1..3_000 {
        let Origin::Variation(j) = origin(2, i, &options) else {
            continue;
        };
        let (a, b) = (ticket_with(2, i, &options), ticket_with(2, j, &options));
        assert_eq!(a.language, b.language);
        assert_ne!(
            (&a.subject, &a.body),
            (&b.subject, &b.body),
            "a variation changes"
        );
        // Most of the shorter ticket's words are in the other one.
        let (wa, wb) = (words(&a), words(&b));
        let overlap = wa.intersection(&wb).count() as f64 / wa.len().min(wb.len()) as f64;
        assert!(overlap > 0.6, "{overlap:.2}:\n{a:?}\n{b:?}");
        overlaps.push(overlap);
    }
    assert!(overlaps.len() > 150, "{} variations", overlaps.len());
    let mean = overlaps.iter().sum::<f64>() / overlaps.len() as f64;
    assert!(mean > 0.85, "mean word overlap {mean:.2}");
}

#[test]
fn short_tickets_are_short_and_still_distinct() {
    let options = GenOptions {
        repeat_share: 0.0,
        short: true,
    };
    let short = tickets(11, 20_000, &options);
    let long = tickets(
        11,
        20_000,
        &GenOptions {
            repeat_share: 0.0,
            ..Default::default()
        },
    );
    let chars = |ts: &[Ticket]| {
        ts.iter()
            .map(|t| t.subject.chars().count() + t.body.chars().count())
            .sum::<usize>() as f64
            / ts.len() as f64
    };
    let (short_chars, long_chars) = (chars(&short), chars(&long));
    let (distinct, repeats) = distinct_and_repeat_share(&short);
    eprintln!(
        "short: {short_chars:.0} characters a ticket against {long_chars:.0}; {distinct} distinct of 20,000"
    );
    assert!(
        short_chars < 0.7 * long_chars,
        "{short_chars:.0} characters against {long_chars:.0}"
    );
    assert_eq!(distinct, 20_000, "{distinct} distinct short texts");
    assert_eq!(repeats, 0.0, "accidental repeats");
    // The same stream otherwise: types and fields are the default's.
    for (s, l) in short.iter().zip(&long).take(100) {
        assert_eq!((&s.ticket_type, &s.language), (&l.ticket_type, &l.language));
    }
}

/// A backlog of short tickets has as many texts as rows, however many rows (a million repeated
/// 17 % of its texts before each short ticket carried a reference), and exact repeats asked for
/// stay exact.
#[test]
fn short_tickets_are_distinct_at_any_row_count_and_repeats_stay_exact() {
    let rows = 200_000;
    let distinct_only = GenOptions {
        repeat_share: 0.0,
        short: true,
    };
    let (distinct, _) = distinct_and_repeat_share(&tickets(5, rows, &distinct_only));
    assert_eq!(distinct, rows as usize, "{distinct} distinct of {rows}");

    let with_repeats = GenOptions {
        repeat_share: 0.2,
        short: true,
    };
    let all = tickets(5, 20_000, &with_repeats);
    let (_, repeats) = distinct_and_repeat_share(&all);
    assert!(
        (0.17..0.23).contains(&repeats),
        "a 0.2 repeat share gave {repeats:.3} repeated texts"
    );
}
