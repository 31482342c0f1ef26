//! Metadata features: one-hot queue, priority and language.
//!
//! The queue a ticket was filed in says something about its type (Billing tickets are mostly
//! requests; Service Outages mostly incidents), so the categorical fields are offered to the
//! models as one-hot columns. Each field has the values seen in training plus one **other**
//! column, which takes missing values and values never seen in training. Since no training row
//! ever sets *other*, a linear model leaves its weight at zero: an unseen queue simply contributes
//! nothing, instead of being forced onto some seen one.
//!
//! Values are compared trimmed and lowercased (`"IT Support "` is `"it support"`). Each active
//! column is `1/√3`, so the block has unit length like the other feature blocks.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Example;

/// The categorical fields, in column order.
const FIELD_COUNT: usize = 3;

/// The fitted vocabularies of queue, priority and language.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct MetadataEncoder {
    /// Sorted known values per field: queue, priority, language.
    vocab: [Vec<String>; FIELD_COUNT],
}

fn fields(example: &Example) -> [Option<&str>; FIELD_COUNT] {
    [
        example.queue.as_deref(),
        example.priority.as_deref(),
        example.language.as_deref(),
    ]
}

fn key(value: Option<&str>) -> Option<String> {
    let v = value?.trim();
    (!v.is_empty()).then(|| v.to_lowercase())
}

impl MetadataEncoder {
    pub fn fit<'a>(examples: impl Iterator<Item = &'a Example>) -> Self {
        let mut sets: [BTreeSet<String>; FIELD_COUNT] = Default::default();
        for example in examples {
            for (set, value) in sets.iter_mut().zip(fields(example)) {
                if let Some(k) = key(value) {
                    set.insert(k);
                }
            }
        }
        MetadataEncoder {
            vocab: sets.map(|s| s.into_iter().collect()),
        }
    }

    /// Columns: per field, its known values then *other*.
    pub fn width(&self) -> usize {
        self.vocab.iter().map(|v| v.len() + 1).sum()
    }

    /// Writes the one-hot columns into `out` (`out.len() == width()`, zeroed by the caller).
    pub fn encode(&self, example: &Example, out: &mut [f32]) {
        let on = 1.0 / (FIELD_COUNT as f32).sqrt();
        let mut offset = 0;
        for (vocab, value) in self.vocab.iter().zip(fields(example)) {
            let slot = key(value)
                .and_then(|k| vocab.binary_search(&k).ok())
                .unwrap_or(vocab.len());
            if let Some(cell) = out.get_mut(offset + slot) {
                *cell = on;
            }
            offset += vocab.len() + 1;
        }
    }

    /// Column names (`queue=billing`, `queue=<other>` …), to read the encoding in tests.
    #[cfg(test)]
    pub fn column_names(&self) -> Vec<String> {
        let names = ["queue", "priority", "language"];
        let mut out = Vec::with_capacity(self.width());
        for (name, vocab) in names.iter().zip(&self.vocab) {
            out.extend(vocab.iter().map(|v| format!("{name}={v}")));
            out.push(format!("{name}=<other>"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(queue: Option<&str>, priority: Option<&str>, language: Option<&str>) -> Example {
        Example {
            embedding: vec![],
            tokens: vec![],
            queue: queue.map(str::to_owned),
            priority: priority.map(str::to_owned),
            language: language.map(str::to_owned),
            ..Example::default()
        }
    }

    #[test]
    fn one_hot_with_an_other_column_per_field() {
        let train = [
            example(Some("Billing"), Some("high"), Some("en")),
            example(Some("IT Support"), Some("low"), Some("de")),
        ];
        let enc = MetadataEncoder::fit(train.iter());
        assert_eq!(
            enc.column_names(),
            [
                "queue=billing",
                "queue=it support",
                "queue=<other>",
                "priority=high",
                "priority=low",
                "priority=<other>",
                "language=de",
                "language=en",
                "language=<other>"
            ]
        );
        let mut out = vec![0.0; enc.width()];
        enc.encode(&example(Some(" it SUPPORT"), None, Some("fr")), &mut out);
        let on: Vec<usize> = (0..out.len()).filter(|&i| out[i] > 0.0).collect();
        assert_eq!(
            on,
            [1, 5, 8],
            "known queue, missing priority, unseen language"
        );
        let norm: f32 = out.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-6);
    }
}
