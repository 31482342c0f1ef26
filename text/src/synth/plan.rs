//! What a ticket will say, before it is written: the [`Plan`] of a fresh ticket composed from
//! the pools, the variation of an earlier one, or an exact repeat; each decision from its own
//! seeded stream, so ticket `i` is a pure function of `(seed, i)` and the options.

use super::GenOptions;
use super::mix::*;
use super::phrases::{LANGUAGES, Phrases, Pool};

/// Everything that decides a ticket, as indices into its language's phrase tables. Rendering a
/// plan is deterministic, so two tickets with equal plans have equal texts: that is how exact
/// repeats are made, and a variation is a plan with one or two fields changed.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Plan {
    /// Index into [`LANGUAGES`].
    pub(super) language: usize,
    /// The type the text was written as.
    pub(super) true_type: usize,
    /// The type the ticket is labelled with: `true_type`, unless label noise struck.
    pub(super) label: usize,
    pub(super) product: usize,
    /// `None`: empty subject.
    pub(super) subject: Option<(Pool, usize)>,
    pub(super) opening: Option<usize>,
    pub(super) content: Vec<(Pool, usize)>,
    /// The detail sentence and the content position it goes before (`content.len()`: last).
    pub(super) detail: Option<(usize, Detail)>,
    pub(super) closing: Option<usize>,
    pub(super) separator: usize,
    pub(super) closing_separator: usize,
    /// Index into [`Phrases::swaps`], applied to the rendered body.
    pub(super) swap: Option<usize>,
    pub(super) queue: usize,
    pub(super) priority: usize,
    /// The index of the ticket that first wrote this text: the ticket itself when fresh or a
    /// variation, the original for an exact repeat. Short tickets number themselves with it.
    pub(super) origin: u64,
    /// Whether the body ends with a reference number made from `origin` (short tickets).
    pub(super) reference: bool,
}

/// A detail sentence: its kind, its template, and the seed of its numbers (error code, version,
/// date, users).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Detail {
    pub(super) kind: usize,
    pub(super) template: usize,
    pub(super) values: u64,
}

/// SplitMix64's finaliser: a good 64-bit mix, so nearby `(seed, index)` pairs give unrelated
/// streams.
pub(super) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a ticket's random stream is used for. Separate streams keep decisions independent: a
/// different `repeat_share` changes which tickets are repeats, not the text of the others.
#[derive(Clone, Copy)]
pub(super) enum Purpose {
    /// Fresh, repeat or variation, and of which earlier ticket.
    Origin = 1,
    /// The composition of a fresh ticket.
    Compose = 2,
    /// The changes a variation makes.
    Vary = 3,
    /// The detail a short ticket is given when its plan has none.
    Shorten = 4,
}

/// The random stream of ticket `index` of stream `seed`, for `purpose`.
pub(super) fn stream(seed: u64, index: u64, purpose: Purpose) -> fastrand::Rng {
    let salt = (purpose as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    fastrand::Rng::with_seed(mix(mix(seed ^ salt) ^ index))
}

pub(super) fn weighted_index(rng: &mut fastrand::Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut pick = rng.u32(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if pick < *w {
            return i;
        }
        pick -= w;
    }
    weights.len() - 1
}

/// The weights of a `(item, weight)` table, for [`weighted_index`].
pub(super) fn weights_of<T, const N: usize>(table: &[(T, u32); N]) -> [u32; N] {
    std::array::from_fn(|i| table[i].1)
}

/// Draws the pool of one slot for a ticket of type `t`.
pub(super) fn draw_pool(rng: &mut fastrand::Rng, t: usize, slot: &SlotMix) -> Pool {
    let u = rng.f64();
    if u < slot.own {
        Pool::Own(t)
    } else if u < slot.own + slot.pair {
        Pool::Pair(pair_of(t))
    } else if u < slot.own + slot.pair + slot.any {
        Pool::Any
    } else {
        Pool::Own((t + 1 + rng.usize(0..3)) % 4)
    }
}

/// How many of the plan's subject and content fragments come from its true type's own pool.
pub(super) fn own_evidence(plan: &Plan) -> usize {
    let own = Pool::Own(plan.true_type);
    plan.subject
        .iter()
        .chain(&plan.content)
        .filter(|(pool, _)| *pool == own)
        .count()
}

/// The plan's true type, or (with the [`LABEL_NOISE`] of its evidence) a plausible wrong type:
/// mostly the partner.
pub(super) fn noisy_label(rng: &mut fastrand::Rng, plan: &Plan) -> usize {
    let t = plan.true_type;
    let noise = LABEL_NOISE[own_evidence(plan).min(LABEL_NOISE.len() - 1)];
    if rng.f64() >= noise {
        return t;
    }
    if rng.f64() < NOISE_TO_PARTNER {
        return PARTNER[t];
    }
    let others: Vec<usize> = (0..4).filter(|&o| o != t && o != PARTNER[t]).collect();
    others[rng.usize(0..others.len())]
}

pub(super) fn draw_detail(rng: &mut fastrand::Rng, phrases: &Phrases, t: usize) -> Detail {
    let kind = weighted_index(rng, &DETAIL_WEIGHTS[t]);
    Detail {
        kind,
        template: rng.usize(0..phrases.details[kind].len()),
        values: rng.u64(..),
    }
}

/// A fresh ticket: language, type, then each slot drawn from its pool.
pub(super) fn compose(rng: &mut fastrand::Rng) -> Plan {
    let language = weighted_index(rng, &weights_of(&LANGUAGES));
    let phrases = LANGUAGES[language].0;
    let true_type = weighted_index(rng, &TYPE_WEIGHTS);
    let product = rng.usize(0..phrases.products.len());
    let subject = (rng.f64() >= EMPTY_SUBJECT).then(|| {
        let pool = draw_pool(rng, true_type, &SUBJECT_SLOT[pair_of(true_type)]);
        (pool, rng.usize(0..phrases.subject_pool(pool).len()))
    });
    let opening = (rng.f64() < 0.85).then(|| rng.usize(0..phrases.openings.len()));
    let sentences = 1 + weighted_index(rng, &[30, 45, 25]);
    let mut content: Vec<(Pool, usize)> = Vec::with_capacity(sentences);
    for _ in 0..sentences {
        // A ticket does not say the same sentence twice: redraw (a few times) on a repeat.
        for _ in 0..4 {
            let pool = draw_pool(rng, true_type, &SENTENCE_SLOT[pair_of(true_type)]);
            let pick = (pool, rng.usize(0..phrases.sentence_pool(pool).len()));
            if !content.contains(&pick) {
                content.push(pick);
                break;
            }
        }
    }
    let detail = (rng.f64() < WITH_DETAIL).then(|| {
        let at = rng.usize(1..=content.len());
        (at, draw_detail(rng, phrases, true_type))
    });
    let closing = (rng.f64() < 0.9).then(|| rng.usize(0..phrases.closings.len()));
    let mut plan = Plan {
        language,
        true_type,
        label: true_type,
        product,
        subject,
        opening,
        content,
        detail,
        closing,
        separator: weighted_index(rng, &weights_of(&SEPARATORS)),
        closing_separator: weighted_index(rng, &weights_of(&CLOSING_SEPARATORS)),
        swap: None,
        queue: weighted_index(rng, &QUEUE_WEIGHTS[true_type]),
        priority: weighted_index(rng, &PRIORITY_WEIGHTS[true_type]),
        origin: 0,
        reference: false,
    };
    plan.label = noisy_label(rng, &plan);
    plan
}

/// Another index in `0..len` than `current` (`current` itself when there is no other).
pub(super) fn other_index(rng: &mut fastrand::Rng, len: usize, current: usize) -> usize {
    if len < 2 {
        return current;
    }
    (current + 1 + rng.usize(0..len - 1)) % len
}

/// Turns `plan` into a light variation of itself, the way the same customer writes the same
/// ticket again: one or two of product, opening, closing, detail, subject or a single word
/// change. The text keeps its type; its label is drawn again (two agents may label the same text
/// differently), and it may land in another queue or priority.
pub(super) fn vary(plan: &mut Plan, rng: &mut fastrand::Rng) {
    let phrases = LANGUAGES[plan.language].0;
    let before = render(plan);
    let changes = if rng.f64() < 0.35 { 2 } else { 1 };
    for _ in 0..changes {
        match rng.usize(0..6) {
            0 => plan.product = other_index(rng, phrases.products.len(), plan.product),
            1 => {
                plan.opening = Some(match plan.opening {
                    Some(o) => other_index(rng, phrases.openings.len(), o),
                    None => rng.usize(0..phrases.openings.len()),
                })
            }
            2 => {
                plan.closing = Some(match plan.closing {
                    Some(c) => other_index(rng, phrases.closings.len(), c),
                    None => rng.usize(0..phrases.closings.len()),
                })
            }
            3 => match &mut plan.detail {
                Some((_, detail)) => detail.values = rng.u64(..),
                None => {
                    let at = rng.usize(1..=plan.content.len());
                    plan.detail = Some((at, draw_detail(rng, phrases, plan.true_type)));
                }
            },
            4 => {
                plan.subject = match plan.subject {
                    Some((pool, s)) if rng.bool() => {
                        Some((pool, other_index(rng, phrases.subject_pool(pool).len(), s)))
                    }
                    Some(_) => None,
                    None => {
                        let pool =
                            draw_pool(rng, plan.true_type, &SUBJECT_SLOT[pair_of(plan.true_type)]);
                        Some((pool, rng.usize(0..phrases.subject_pool(pool).len())))
                    }
                }
            }
            _ => {
                // Swap a word the body actually contains; otherwise change the product.
                let body = render(plan).1;
                let present: Vec<usize> = (0..phrases.swaps.len())
                    .filter(|&s| Some(s) != plan.swap && body.contains(phrases.swaps[s].0))
                    .collect();
                if present.is_empty() {
                    plan.product = other_index(rng, phrases.products.len(), plan.product);
                } else {
                    plan.swap = Some(present[rng.usize(0..present.len())]);
                }
            }
        }
    }
    if render(plan) == before {
        // The changes cancelled out (a product changed there and back, a subject dropped and drawn
        // again) or showed nowhere (a product the text never names): change the closing.
        plan.closing = Some(match plan.closing {
            Some(c) => other_index(rng, phrases.closings.len(), c),
            None => rng.usize(0..phrases.closings.len()),
        });
    }
    plan.label = noisy_label(rng, plan);
    if rng.f64() < 0.3 {
        plan.queue = weighted_index(rng, &QUEUE_WEIGHTS[plan.true_type]);
    }
    if rng.f64() < 0.3 {
        plan.priority = weighted_index(rng, &PRIORITY_WEIGHTS[plan.true_type]);
    }
}

/// Where ticket `index` comes from.
pub(super) enum Origin {
    Fresh,
    /// An exact repeat of this earlier ticket.
    Repeat(u64),
    /// A light variation of this earlier ticket.
    Variation(u64),
}

pub(super) fn origin(seed: u64, index: u64, options: &GenOptions) -> Origin {
    if index == 0 {
        return Origin::Fresh;
    }
    let mut rng = stream(seed, index, Purpose::Origin);
    let u = rng.f64();
    let earlier = rng.u64(0..index);
    // Repeats take the bottom of the unit interval and variations the top, so changing
    // `repeat_share` turns fresh tickets into repeats without moving the variations.
    if u < options.repeat_share() {
        Origin::Repeat(earlier)
    } else if u >= 1.0 - VARIATION_SHARE {
        Origin::Variation(earlier)
    } else {
        Origin::Fresh
    }
}

/// The plan of ticket `index`, following repeats and variations back to fresh tickets. Each step
/// goes to a uniformly drawn earlier index, so chains are short (logarithmic in `index` even
/// when every ticket is a repeat).
pub(super) fn plan(seed: u64, index: u64, options: &GenOptions) -> Plan {
    let mut i = index;
    loop {
        match origin(seed, i, options) {
            Origin::Fresh => {
                let mut p = compose(&mut stream(seed, i, Purpose::Compose));
                p.origin = i;
                return p;
            }
            Origin::Repeat(j) => i = j,
            Origin::Variation(j) => {
                let mut p = plan(seed, j, options);
                vary(&mut p, &mut stream(seed, i, Purpose::Vary));
                p.origin = i;
                return p;
            }
        }
    }
}

/// A short ticket ([`GenOptions::short`](super::GenOptions::short)): no opening or closing, the
/// first content sentence only, always a detail, and a reference number (see [`render`]).
///
/// The reference is what keeps short texts distinct at any row count: one sentence and one
/// detail leave few enough combinations that a million rows repeated 17 % of their texts
/// (measured by `make bench-backlog`), and a variation that only changed the opening or the
/// closing became its original again. Everything here is drawn from the plan's `origin`, so an
/// exact repeat stays exact.
pub(super) fn shorten(plan: &mut Plan, seed: u64) {
    plan.opening = None;
    plan.closing = None;
    plan.content.truncate(1);
    let phrases = LANGUAGES[plan.language].0;
    let detail = match plan.detail {
        Some((_, detail)) => detail,
        None => draw_detail(
            &mut stream(seed, plan.origin, Purpose::Shorten),
            phrases,
            plan.true_type,
        ),
    };
    plan.detail = Some((plan.content.len(), detail));
    plan.reference = true;
}

/// `template` with `{p}` filled in, its first letter capitalised ("the VPN client is down" starts
/// a subject as "The VPN client is down").
pub(super) fn fill(template: &str, product: &str) -> String {
    let text = template.replace("{p}", product);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if first.is_lowercase() => first.to_uppercase().chain(chars).collect(),
        _ => text,
    }
}

pub(super) fn render_detail(phrases: &Phrases, detail: Detail) -> String {
    let mut rng = fastrand::Rng::with_seed(detail.values);
    let code = match rng.u8(0..4) {
        0 => format!("ERR-{}", rng.u16(1000..10_000)),
        1 => format!("0x8007{:04X}", rng.u16(..)),
        2 => format!("HTTP {}", [500, 502, 503, 504, 401, 403][rng.usize(0..6)]),
        _ => format!("E{}", rng.u16(100..1000)),
    };
    let version = format!("{}.{}.{}", rng.u8(1..10), rng.u8(0..13), rng.u8(0..21));
    let (year, month, day) = (2024 + rng.u16(0..2), rng.u8(1..13), rng.u8(1..29));
    let date = match phrases.dates {
        DateStyle::Iso => format!("{year}-{month:02}-{day:02}"),
        DateStyle::Dotted => format!("{day:02}.{month:02}.{year}"),
        DateStyle::Slashed => format!("{day:02}/{month:02}/{year}"),
    };
    let users = rng.u16(2..400).to_string();
    phrases.details[detail.kind][detail.template]
        .replace("{code}", &code)
        .replace("{ver}", &version)
        .replace("{date}", &date)
        .replace("{n}", &users)
}

/// The subject and body of `plan`.
pub(super) fn render(plan: &Plan) -> (String, String) {
    let phrases = LANGUAGES[plan.language].0;
    let product = phrases.products[plan.product];
    let subject = plan.subject.map_or_else(String::new, |(pool, s)| {
        fill(phrases.subject_pool(pool)[s], product)
    });
    let mut parts: Vec<String> = Vec::with_capacity(plan.content.len() + 2);
    if let Some(o) = plan.opening {
        parts.push(phrases.openings[o].to_string());
    }
    for (i, &(pool, s)) in plan.content.iter().enumerate() {
        if let Some((at, detail)) = plan.detail
            && at == i
        {
            parts.push(render_detail(phrases, detail));
        }
        parts.push(fill(phrases.sentence_pool(pool)[s], product));
    }
    if let Some((at, detail)) = plan.detail
        && at >= plan.content.len()
    {
        parts.push(render_detail(phrases, detail));
    }
    if plan.reference {
        // "#" and a number read the same in every language the generator writes.
        parts.push(format!("#{}", 100_000 + plan.origin));
    }
    let mut body = parts.join(SEPARATORS[plan.separator].0);
    if let Some(c) = plan.closing {
        body.push_str(CLOSING_SEPARATORS[plan.closing_separator].0);
        body.push_str(phrases.closings[c]);
    }
    if let Some(s) = plan.swap {
        let (from, to) = phrases.swaps[s];
        body = body.replacen(from, to, 1);
    }
    (subject, body)
}
