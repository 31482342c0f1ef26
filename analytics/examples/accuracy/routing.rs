//! The end of section 3: the routing threshold the trainer ships, checked on the held-out 20%,
//! and the default model's precision–coverage curve there (table and SVG).

use std::path::Path;

use ticketflow_analytics::classify::TrainConfig;
use ticketflow_analytics::classify::routing::{curve_svg, precision_coverage_curve, routed_at};

use crate::holdout::HeldOut;
use crate::measure::TARGET_PRECISION;

/// Thresholds of the precision–coverage table.
const CURVE_THRESHOLDS: [f32; 11] = [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.0];

/// What the trainer ships: the threshold `train_and_select` chose on the raw out-of-fold
/// predictions of the 80%, stored in the model, checked on the 20%.
pub fn print_shipped(held: &HeldOut, cfg: &TrainConfig) {
    let r = &held.report.routing;
    println!(
        "\n### What the trainer ships: auto-routing at {TARGET_PRECISION} weighted precision\n\n\
         `train_and_select` chooses the threshold on the raw out-of-fold predictions of the 80% \
         (at least {} routed), stores it in the model, and scores it once on the 20%.\n\n\
         | rows | threshold | coverage | weighted precision |\n| --- | ---: | ---: | ---: |",
        cfg.routing_min_rows
    );
    let threshold = r.threshold.map_or("none".into(), |t| format!("{t:.3}"));
    println!(
        "| out of fold, 80% (where it is chosen) | {threshold} | {:.1}% | {:.3} |",
        100.0 * r.oof_coverage,
        r.oof_precision
    );
    println!(
        "| held-out 20% ({} routed) | {threshold} | {:.1}% | {:.3} |",
        r.holdout_routed,
        100.0 * r.holdout_coverage,
        r.holdout_precision
    );
}

/// Prints the default model's precision against coverage on the 20% and writes the curve, with
/// the shipped threshold marked, as `precision-coverage.svg` next to `out`.
pub fn print_curve(held: &HeldOut, out: &Path) -> Result<(), String> {
    let (probs, truth) = (&held.test_probs, &held.test_truth);
    println!(
        "\nPrecision against coverage of the default model on the held-out 20%:\n\n\
         | route when probability ≥ | coverage | weighted precision |\n| ---: | ---: | ---: |"
    );
    for t in CURVE_THRESHOLDS {
        let at = routed_at(probs, truth, Some(t));
        println!(
            "| {t:.2} | {:.1}% | {:.3} |",
            100.0 * at.coverage,
            at.precision
        );
    }
    let svg_path = out.with_file_name("precision-coverage.svg");
    if let Some(dir) = svg_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let curve = precision_coverage_curve(probs, truth);
    let svg = curve_svg(&curve, TARGET_PRECISION, held.report.routing.threshold);
    std::fs::write(&svg_path, svg).map_err(|e| format!("{}: {e}", svg_path.display()))?;
    println!(
        "\nPlot (held-out curve, shipped threshold marked): `{}`",
        svg_path.display()
    );
    Ok(())
}
