//! Which tickets a model trained on, decided so that the answer never changes between runs.
//!
//! Daily exports are cumulative: today's file repeats yesterday's tickets. A split seeded by
//! position would put a ticket in yesterday's training part and today's held-out part, and then
//! yesterday's model is "evaluated" on tickets it learned. Two things stop that:
//!
//! - [`SplitRule`]: a ticket is held out when a hash of its **id** falls below the test
//!   fraction. The role depends on the id alone, so a ticket held out once is held out in every
//!   later run that uses the same rule, whatever else the file holds and in whatever order.
//! - [`TicketSet`]: the ids a model was fitted on, kept beside the model (8-byte BLAKE3 prefixes,
//!   sorted). Whoever scores that model later — the quality gate comparing it with a challenger,
//!   the drift report's quality panel, production routing metrics — drops the tickets in it and
//!   says how many remain.
//!
//! ```
//! use ticketflow_analytics::classify::membership::{SplitRule, TicketSet};
//!
//! let rule = SplitRule::default();
//! let ids: Vec<String> = (0..1000).map(|i| format!("t{i}")).collect();
//! let held_out = ids.iter().filter(|id| rule.is_held_out(id)).count();
//! assert!((150..250).contains(&held_out)); // about 20 %
//! assert_eq!(rule.is_held_out("t7"), rule.is_held_out("t7")); // same id, same role, always
//!
//! let trained = TicketSet::from_ids(ids.iter().filter(|id| !rule.is_held_out(id)));
//! assert_eq!(trained.len(), 1000 - held_out);
//! assert!(ids.iter().all(|id| trained.contains(id) != rule.is_held_out(id)));
//! let back = TicketSet::from_bytes(&trained.to_bytes()).unwrap();
//! assert_eq!(back.digest(), trained.digest());
//! ```

use serde::{Deserialize, Serialize};

/// The salt of the default rule. Changing it reshuffles every ticket's role, so it is part of
/// the rule a model card records, never a setting that drifts silently.
pub const DEFAULT_SALT: &str = "ticketflow-holdout-v1";

/// A ticket's role from its id: held out when `BLAKE3(salt ‖ 0 ‖ id)`, read as a fraction of
/// 2⁶⁴, is below `test_fraction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitRule {
    /// Always `id_hash` for this rule (kept in the card so a reader knows how roles were made).
    pub kind: String,
    pub salt: String,
    pub test_fraction: f64,
}

impl Default for SplitRule {
    fn default() -> Self {
        Self::id_hash(0.2)
    }
}

impl SplitRule {
    /// The id-hash rule with the default salt.
    pub fn id_hash(test_fraction: f64) -> Self {
        Self {
            kind: "id_hash".into(),
            salt: DEFAULT_SALT.into(),
            test_fraction,
        }
    }

    /// Whether the ticket with this id is held out (never trained on) under this rule.
    pub fn is_held_out(&self, id: &str) -> bool {
        let mut h = blake3::Hasher::new();
        h.update(self.salt.as_bytes());
        h.update(&[0]);
        h.update(id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h.finalize().as_bytes()[..8]);
        // u64 → [0, 1): the top 53 bits are exact in an f64.
        let unit = (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64;
        unit < self.test_fraction
    }

    /// `held_out[i]` for each id.
    pub fn held_out<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<bool> {
        ids.into_iter().map(|id| self.is_held_out(id)).collect()
    }

    /// One line for cards and logs.
    pub fn describe(&self) -> String {
        format!(
            "held out when BLAKE3({:?} ‖ id) < {:.2} of the hash range",
            self.salt, self.test_fraction
        )
    }
}

/// A set of ticket ids, stored compactly: the sorted 8-byte BLAKE3 prefixes of the ids.
///
/// Eight bytes make a false "trained on" answer a birthday-bound event (about 10⁻¹⁰ for 50,000
/// tickets), and keep the stored set at 8 bytes a ticket (400 KB for the trainer's 50,000-row
/// limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketSet {
    hashes: Vec<u64>,
}

/// Why stored bytes are not a [`TicketSet`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a ticket set is a whole number of 8-byte hashes; got {0} bytes")]
pub struct TicketSetError(pub usize);

fn id_hash(id: &str) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&blake3::hash(id.as_bytes()).as_bytes()[..8]);
    u64::from_le_bytes(first)
}

impl TicketSet {
    pub fn from_ids<'a, S: AsRef<str> + 'a>(ids: impl IntoIterator<Item = &'a S>) -> Self {
        let mut hashes: Vec<u64> = ids.into_iter().map(|id| id_hash(id.as_ref())).collect();
        hashes.sort_unstable();
        hashes.dedup();
        Self { hashes }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.hashes.binary_search(&id_hash(id)).is_ok()
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Little-endian hashes, ascending: what `models/<id>/trained_ids.bin` holds.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TicketSetError> {
        if !bytes.len().is_multiple_of(8) {
            return Err(TicketSetError(bytes.len()));
        }
        let mut hashes: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b)
            })
            .collect();
        // Written sorted; sorting again costs little and makes hand-made files safe.
        hashes.sort_unstable();
        hashes.dedup();
        Ok(Self { hashes })
    }

    /// BLAKE3 of [`to_bytes`](Self::to_bytes), hex: names the set in a model card.
    pub fn digest(&self) -> String {
        blake3::hash(&self.to_bytes()).to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_depends_on_the_id_alone() {
        let rule = SplitRule::default();
        let day1: Vec<String> = (0..500).map(|i| format!("ticket-{i}")).collect();
        // Day 2: yesterday's tickets in another order, plus new ones.
        let mut day2: Vec<String> = (0..800).rev().map(|i| format!("ticket-{i}")).collect();
        day2.swap(3, 700);
        for id in &day1 {
            assert_eq!(rule.is_held_out(id), rule.is_held_out(id));
        }
        let held1: Vec<&String> = day1.iter().filter(|id| rule.is_held_out(id)).collect();
        let held2: Vec<&String> = day2.iter().filter(|id| rule.is_held_out(id)).collect();
        assert!(held1.iter().all(|id| held2.contains(id)));
        // Another salt is another split.
        let other = SplitRule {
            salt: "other".into(),
            ..SplitRule::default()
        };
        assert_ne!(
            rule.held_out(day1.iter().map(String::as_str)),
            other.held_out(day1.iter().map(String::as_str))
        );
    }

    #[test]
    fn the_fraction_is_respected() {
        let rule = SplitRule::id_hash(0.3);
        let n = 20_000;
        let held = (0..n)
            .filter(|i| rule.is_held_out(&format!("x{i}")))
            .count();
        let share = held as f64 / n as f64;
        assert!((share - 0.3).abs() < 0.015, "{share}");
        assert!(!(0..100).any(|i| SplitRule::id_hash(0.0).is_held_out(&format!("x{i}"))));
        assert!((0..100).all(|i| SplitRule::id_hash(1.0).is_held_out(&format!("x{i}"))));
    }

    #[test]
    fn a_ticket_set_round_trips_and_refuses_torn_bytes() {
        let ids = ["a", "b", "c", "a"];
        let set = TicketSet::from_ids(ids.iter());
        assert_eq!(set.len(), 3);
        assert!(set.contains("b") && !set.contains("d"));
        let bytes = set.to_bytes();
        assert_eq!(bytes.len(), 24);
        assert_eq!(TicketSet::from_bytes(&bytes), Ok(set.clone()));
        assert_eq!(TicketSet::from_bytes(&bytes[..23]), Err(TicketSetError(23)));
        assert_ne!(set.digest(), TicketSet::from_ids(["a"].iter()).digest());
    }
}
