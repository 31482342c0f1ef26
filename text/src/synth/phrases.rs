//! One language's phrase tables ([`Phrases`]), and the languages the generator writes in with
//! their weights ([`LANGUAGES`]); the tables themselves are one file per language.

mod de;
mod en;
mod es;
mod fr;
mod pt;

use super::mix::{DETAIL_KINDS, DateStyle};

/// One language's phrase tables. `{p}` in a template is a product; detail templates also use
/// `{code}`, `{ver}`, `{date}` and `{n}`. A sentence or subject that starts with a product is
/// capitalised after filling in.
pub(super) struct Phrases {
    pub(super) lang: &'static str,
    pub(super) products: &'static [&'static str],
    /// Per type ([`TYPES`] order): subjects only that type uses.
    pub(super) subjects: [&'static [&'static str]; 4],
    /// Per pair ([`pair_of`]): subjects both types of the pair use.
    pub(super) pair_subjects: [&'static [&'static str]; 2],
    /// Subjects any type uses.
    pub(super) any_subjects: &'static [&'static str],
    pub(super) openings: &'static [&'static str],
    /// Per type: content sentences only that type uses.
    pub(super) sentences: [&'static [&'static str]; 4],
    /// Per pair: content sentences both types of the pair use.
    pub(super) pair_sentences: [&'static [&'static str]; 2],
    /// Content sentences any type uses.
    pub(super) any_sentences: &'static [&'static str],
    /// Per detail kind: error code, version, date, users affected, reference.
    pub(super) details: [&'static [&'static str]; DETAIL_KINDS],
    pub(super) closings: &'static [&'static str],
    /// `(word, replacement)`: the word swaps of near-duplicates.
    pub(super) swaps: &'static [(&'static str, &'static str)],
    pub(super) dates: DateStyle,
}

/// Which pool a subject or sentence was drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pool {
    Own(usize),
    Pair(usize),
    Any,
}

impl Phrases {
    pub(super) fn subject_pool(&self, pool: Pool) -> &'static [&'static str] {
        match pool {
            Pool::Own(t) => self.subjects[t],
            Pool::Pair(p) => self.pair_subjects[p],
            Pool::Any => self.any_subjects,
        }
    }

    pub(super) fn sentence_pool(&self, pool: Pool) -> &'static [&'static str] {
        match pool {
            Pool::Own(t) => self.sentences[t],
            Pool::Pair(p) => self.pair_sentences[p],
            Pool::Any => self.any_sentences,
        }
    }
}

/// Language mix of the generated data: mostly English and German, like the real exports.
pub(super) const LANGUAGES: [(&Phrases, u32); 5] = [
    (&en::EN, 55),
    (&de::DE, 30),
    (&es::ES, 5),
    (&fr::FR, 5),
    (&pt::PT, 5),
];
