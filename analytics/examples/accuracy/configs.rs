//! The configurations compared with the default: the previous default, the default without the
//! neighbour block, the TF-IDF baseline, and `--try` specs.

use ticketflow_analytics::classify::{
    BlockWeights, FeatureSet, LexicalConfig, LexicalSource, LogisticConfig, ModelKind,
    NeighbourConfig, TrainConfig,
};

use crate::args::Args;

/// `TrainConfig::default()` with `--seed`, `--folds` and `--threads`.
pub fn base(args: &Args) -> TrainConfig {
    TrainConfig {
        seed: args.seed,
        folds: args.folds,
        threads: args.threads,
        ..TrainConfig::default()
    }
}

/// The default before the sweep (0.778 ± 0.018 at seed 13): cleaned tokens, sublinear TF-IDF,
/// `min_df` 2, word 1–2-grams, character 3–5-grams, λ = 1e-4. Written out, not taken from
/// `Default`, so the sweep starts from the same place whatever the default becomes.
pub fn previous_default(base: &TrainConfig) -> TrainConfig {
    TrainConfig {
        features: FeatureSet::new(true, true, true),
        lexical: LexicalConfig {
            source: LexicalSource::Tokens,
            hash_bits: 18,
            word_ngram_max: 2,
            char_ngrams: Some((3, 5)),
            min_df: 2,
            sublinear_tf: true,
            idf: true,
        },
        logistic: LogisticConfig {
            l2: 1e-4,
            ..LogisticConfig::default()
        },
        candidates: vec![ModelKind::LogisticRegression],
        neighbours: NeighbourConfig::off(),
        block_weights: BlockWeights::default(),
        ..base.clone()
    }
}

/// The default before the neighbour block (0.791 ± 0.010 at seed 13): today's lexical and L2
/// settings, no neighbour features, the embeddings at full scale.
pub fn without_neighbours(base: &TrainConfig) -> TrainConfig {
    TrainConfig {
        neighbours: NeighbourConfig::off(),
        block_weights: BlockWeights::default(),
        ..base.clone()
    }
}

/// The classic TF-IDF baseline: word 1–2-grams of the cleaned tokens, no characters.
pub fn baseline(base: &TrainConfig) -> TrainConfig {
    let previous = previous_default(base);
    TrainConfig {
        features: FeatureSet::new(false, false, true),
        lexical: LexicalConfig {
            char_ngrams: None,
            ..previous.lexical
        },
        ..previous
    }
}

/// `base` with another L2 penalty.
pub fn with_l2(base: &TrainConfig, l2: f64) -> TrainConfig {
    TrainConfig {
        logistic: LogisticConfig {
            l2,
            ..base.logistic.clone()
        },
        ..base.clone()
    }
}

/// `base` on another lexical source.
pub fn with_source(base: &TrainConfig, source: LexicalSource) -> TrainConfig {
    TrainConfig {
        lexical: LexicalConfig {
            source,
            ..base.lexical.clone()
        },
        ..base.clone()
    }
}

/// `spec`'s comma-separated pieces regrouped into `path=value` pairs: a piece without `=`
/// belongs to the previous value (`lexical.char_ngrams=[3,5]`).
fn spec_pairs(spec: &str) -> Vec<String> {
    let mut pairs: Vec<String> = Vec::new();
    for piece in spec.split(',') {
        match pairs.last_mut() {
            Some(last) if !piece.contains('=') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => pairs.push(piece.trim().to_owned()),
        }
    }
    pairs
}

/// Sets the JSON value at the dotted `path` of `json` to `value` (JSON, or a plain string).
fn set_path(json: &mut serde_json::Value, path: &str, value: &str) -> Result<(), String> {
    let value =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    let mut node = json;
    for key in path.split('.') {
        node = node
            .get_mut(key)
            .ok_or_else(|| format!("--try: no setting {path:?}"))?;
    }
    *node = value;
    Ok(())
}

/// `TrainConfig::default()` (with `--seed`, `--folds`, `--threads`) and the overrides of `spec`
/// (see the header of `main.rs`), with the model kind it names (LR unless `model=rf`).
pub fn config_from_spec(args: &Args, spec: &str) -> Result<(TrainConfig, ModelKind), String> {
    let mut json = serde_json::to_value(base(args)).map_err(|e| e.to_string())?;
    let mut kind = ModelKind::LogisticRegression;
    for pair in spec_pairs(spec).iter().map(|p| p.trim()) {
        if pair.is_empty() || pair == "default" {
            continue;
        }
        let (path, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--try: {pair:?} is not path=value"))?;
        if path == "model" {
            kind = ModelKind::parse(value).map_err(|e| e.to_string())?;
            continue;
        }
        set_path(&mut json, path, value)?;
    }
    let cfg = serde_json::from_value(json).map_err(|e| format!("--try {spec:?}: {e}"))?;
    Ok((cfg, kind))
}
