//! The mix the generator draws from: types, queues and priorities and their weights, label
//! noise, how often a slot takes its wording from which pool, details and separators.

/// Ticket types, in the order the phrase tables use.
pub const TYPES: [&str; 4] = ["Incident", "Request", "Problem", "Change"];
pub(super) const INCIDENT: usize = 0;
pub(super) const REQUEST: usize = 1;
pub(super) const PROBLEM: usize = 2;
pub(super) const CHANGE: usize = 3;

/// The type each type is most often confused with, in wording and in labels.
pub(super) const PARTNER: [usize; 4] = [PROBLEM, CHANGE, INCIDENT, REQUEST];

/// The pair a type belongs to: 0 for Incident and Problem, 1 for Request and Change. Indexes
/// [`Phrases::pair_subjects`] and [`Phrases::pair_sentences`].
pub(super) fn pair_of(t: usize) -> usize {
    match t {
        INCIDENT | PROBLEM => 0,
        _ => 1,
    }
}

pub(super) const QUEUES: [&str; 5] = [
    "Technical Support",
    "IT Support",
    "Billing and Payments",
    "Product Support",
    "Customer Service",
];
pub(super) const PRIORITIES: [&str; 3] = ["low", "medium", "high"];
/// Rough type mix of real exports: many incidents and requests, fewer changes.
pub(super) const TYPE_WEIGHTS: [u32; 4] = [38, 32, 21, 9];

/// Queue weights per true type (rows: [`TYPES`], columns: [`QUEUES`]). Informative, like a real
/// help desk's routing (Billing leans to Requests, Technical and Product Support to Incidents and
/// Problems, IT Support to Changes), but every queue holds every type.
pub(super) const QUEUE_WEIGHTS: [[u32; 5]; 4] = [
    [34, 22, 8, 24, 12],
    [14, 24, 26, 12, 24],
    [32, 20, 8, 30, 10],
    [22, 38, 10, 20, 10],
];
/// Priority weights per true type (columns: [`PRIORITIES`]): incidents are urgent more often.
pub(super) const PRIORITY_WEIGHTS: [[u32; 3]; 4] =
    [[15, 40, 45], [40, 45, 15], [25, 45, 30], [35, 45, 20]];

/// Chance that a ticket's label is a plausible wrong type, by how much wording specific to its
/// true type it has: none, one fragment (subject or sentence), more. Agents mislabel the tickets
/// that are ambiguous to read, rarely the clear ones; overall 5 to 8 % of labels are wrong.
pub(super) const LABEL_NOISE: [f64; 3] = [0.18, 0.06, 0.02];
/// Of the wrong labels, the share that is the partner type (the rest is one of the other two).
pub(super) const NOISE_TO_PARTNER: f64 = 0.8;
/// Share of tickets that are a light variation of an earlier ticket of the same stream.
pub(super) const VARIATION_SHARE: f64 = 0.08;

/// Where a subject or a content sentence comes from, as probabilities that sum to 1.
#[derive(Clone, Copy, Debug)]
pub(super) struct SlotMix {
    /// The ticket's own type's pool: the only wording that points to one type.
    pub(super) own: f64,
    /// The pool the type shares with its partner (Incident+Problem, Request+Change).
    pub(super) pair: f64,
    /// The pool every type uses.
    pub(super) any: f64,
    /// Another type's own pool (an incident report that also asks for something).
    pub(super) cross: f64,
}

/// Subjects, per pair ([`pair_of`]): Incident and Problem share more of their wording than
/// Request and Change do, as in real exports.
pub(super) const SUBJECT_SLOT: [SlotMix; 2] = [
    SlotMix {
        own: 0.40,
        pair: 0.45,
        any: 0.15,
        cross: 0.0,
    },
    SlotMix {
        own: 0.64,
        pair: 0.24,
        any: 0.12,
        cross: 0.0,
    },
];
/// Content sentences of the body, per pair.
pub(super) const SENTENCE_SLOT: [SlotMix; 2] = [
    SlotMix {
        own: 0.37,
        pair: 0.49,
        any: 0.12,
        cross: 0.02,
    },
    SlotMix {
        own: 0.62,
        pair: 0.26,
        any: 0.10,
        cross: 0.02,
    },
];
// Each slot mix is a probability distribution.
const _: () = {
    let mixes = [
        SUBJECT_SLOT[0],
        SUBJECT_SLOT[1],
        SENTENCE_SLOT[0],
        SENTENCE_SLOT[1],
    ];
    let mut i = 0;
    while i < mixes.len() {
        let m = mixes[i];
        let total = m.own + m.pair + m.any + m.cross;
        assert!(
            total > 0.999_999 && total < 1.000_001,
            "a SlotMix must sum to 1"
        );
        i += 1;
    }
};
/// Share of tickets with an empty subject.
pub(super) const EMPTY_SUBJECT: f64 = 0.10;
/// Share of tickets with a detail sentence (error code, version, date, users, reference).
pub(super) const WITH_DETAIL: f64 = 0.6;

/// Kinds of detail sentence, indexing [`Phrases::details`].
pub(super) const DETAIL_KINDS: usize = 5;
/// Detail kind weights per true type (columns: error code, version, date, users affected,
/// reference): errors for incidents and problems, versions and dates for changes.
pub(super) const DETAIL_WEIGHTS: [[u32; DETAIL_KINDS]; 4] = [
    [35, 10, 15, 30, 10],
    [5, 12, 25, 18, 40],
    [35, 30, 20, 10, 5],
    [5, 35, 40, 10, 10],
];

/// Separators between the sentences of a body: mostly spaces, sometimes the export's `<br>` or
/// escaped newlines (a backslash and an `n`, as real exports store them).
pub(super) const SEPARATORS: [(&str, u32); 4] =
    [(" ", 70), ("<br>", 12), ("\\n", 12), ("\\n\\n", 6)];
/// Separators before the closing.
pub(super) const CLOSING_SEPARATORS: [(&str, u32); 4] =
    [("\\n\\n", 50), ("<br><br>", 15), (" ", 25), ("\\n", 10)];

/// How a language writes dates in the detail sentences.
#[derive(Clone, Copy)]
pub(super) enum DateStyle {
    /// `2025-03-17`
    Iso,
    /// `17.03.2025`
    Dotted,
    /// `17/03/2025`
    Slashed,
}
