//! The drift report's quality and routing sections: production's scores on this run against the
//! reference, per class and as confusion matrices, and what auto-routing did.

use std::fmt::Write as _;

use crate::classify::Evaluation;
use crate::drift::{DriftReport, QualityComparison};
use crate::report::chart::{Group, Scale, grouped_bars};
use crate::report::format::{escape, g4, num, numeric_row, signed_g4};
use crate::report::put;

/// Which predictions each side's quality and prediction drift use, in words.
fn sources_sentence(report: &DriftReport) -> String {
    match report.predictions {
        Some(p) => format!(
            "Predictions scored: reference — {}; current — {}. Never in-sample predictions.",
            p.reference.describe(),
            p.current.describe()
        ),
        None => "Predictions scored: not recorded.".to_string(),
    }
}

/// On how many tickets each side's quality stands, and how many were left out as in-sample.
fn quality_rows_sentence(q: &QualityComparison) -> String {
    let side = |rows: usize, excluded: usize| {
        if excluded == 0 {
            format!("{rows} tickets")
        } else {
            format!("{rows} tickets ({excluded} left out: the predicting model trained on them)")
        }
    };
    format!(
        "Scored only on tickets the predicting model never trained on: reference — {}; current — {}.",
        side(q.reference_rows, q.reference_excluded),
        side(q.current_rows, q.current_excluded)
    )
}

pub(super) fn quality_section(out: &mut String, report: &DriftReport, q: &QualityComparison) {
    let (r, c) = (&q.reference, &q.current);
    put!(
        out,
        "<section class=\"card\" id=\"quality\" aria-labelledby=\"quality-h\">\n\
         <h2 id=\"quality-h\">Classification quality</h2>\n\
         <p class=\"lead\">The predictions made on each run's labelled tickets, scored against \
         the labels. A drop on the current run is what drift costs.</p>\n\
         <p class=\"sources\">{}</p>\n<p class=\"sources\">{}</p>\n<div class=\"two\">\n<div>\n\
         <h3>Headline metrics</h3>\n<table>\n<thead><tr><th scope=\"col\">Metric</th>\
         <th scope=\"col\" class=\"num\">Reference</th><th scope=\"col\" class=\"num\">Current</th>\
         <th scope=\"col\" class=\"num\">Change</th></tr></thead>\n<tbody>\n",
        escape(&sources_sentence(report)),
        escape(&quality_rows_sentence(q))
    );
    let rows: [(&str, f64, f64, bool); 8] = [
        ("Accuracy", r.accuracy, c.accuracy, true),
        ("Macro F1", r.macro_avg.f1, c.macro_avg.f1, true),
        (
            "Macro precision",
            r.macro_avg.precision,
            c.macro_avg.precision,
            true,
        ),
        ("Macro recall", r.macro_avg.recall, c.macro_avg.recall, true),
        ("Weighted F1", r.weighted_avg.f1, c.weighted_avg.f1, true),
        (
            "Weighted precision",
            r.weighted_avg.precision,
            c.weighted_avg.precision,
            true,
        ),
        (
            "Weighted recall",
            r.weighted_avg.recall,
            c.weighted_avg.recall,
            true,
        ),
        (
            "Expected calibration error",
            r.expected_calibration_error,
            c.expected_calibration_error,
            false,
        ),
    ];
    for (name, reference, current, higher_is_better) in rows {
        let change = delta(current - reference, higher_is_better);
        put!(
            out,
            "{}\n",
            numeric_row(name, [num(reference), num(current), change])
        );
    }
    put!(
        out,
        "<tr><th scope=\"row\">Rows scored</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td></td></tr>\n</tbody>\n</table>\n</div>\n<div>\n",
        r.rows,
        c.rows
    );
    confusion_matrix(out, c, "Current confusion matrix");
    out.push_str("</div>\n</div>\n");
    per_class(out, r, c);
    out.push_str("<details><summary>Reference confusion matrix</summary>");
    confusion_matrix(out, r, "Reference confusion matrix");
    out.push_str("</details>\n</section>\n");
}

/// Auto-routing coverage on both sides, and the current run's own model out of fold beside
/// production.
pub(super) fn routing_section(out: &mut String, report: &DriftReport) {
    out.push_str(
        "<section class=\"card\" id=\"routing\" aria-labelledby=\"routing-h\">\n\
         <h2 id=\"routing-h\">Auto-routing and the new model</h2>\n<table>\n<thead><tr>\
         <th scope=\"col\">Measure</th><th scope=\"col\" class=\"num\">Reference</th>\
         <th scope=\"col\" class=\"num\">Current</th><th scope=\"col\" class=\"num\">Change</th>\
         </tr></thead>\n<tbody>\n",
    );
    if let Some(cov) = report.coverage {
        let change = delta(cov.current - cov.reference, true);
        put!(
            out,
            "{}\n",
            numeric_row(
                "Coverage: share routed automatically by production",
                [num(cov.reference), num(cov.current), change],
            )
        );
    }
    if let (Some(ch), Some(q)) = (&report.challenger_quality, &report.quality) {
        let change = delta(ch.macro_avg.f1 - q.current.macro_avg.f1, true);
        put!(
            out,
            "{}\n",
            numeric_row(
                "Macro F1 on the current run: production vs the run's own model out of fold",
                [num(q.current.macro_avg.f1), num(ch.macro_avg.f1), change],
            )
        );
    } else if let Some(ch) = &report.challenger_quality {
        put!(
            out,
            "<tr><th scope=\"row\">Macro F1 of the run's own model, out of fold</th>\
             <td class=\"num\"></td><td class=\"num\">{}</td><td></td></tr>\n",
            num(ch.macro_avg.f1)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// A signed change with an arrow word, coloured by whether it is an improvement.
fn delta(change: f64, higher_is_better: bool) -> String {
    if !change.is_finite() || change.abs() < 1e-12 {
        return escape(&signed_g4(change));
    }
    let better = (change > 0.0) == higher_is_better;
    format!(
        "<span class=\"{}\">{} {}</span>",
        if better { "delta-good" } else { "delta-bad" },
        if change > 0.0 { "▲" } else { "▼" },
        escape(&signed_g4(change))
    )
}

/// Per-class F1 on both sides, as a table and a chart; classes matched by label.
fn per_class(out: &mut String, r: &Evaluation, c: &Evaluation) {
    let mut labels: Vec<&str> = r.per_class.iter().map(|m| m.label.as_str()).collect();
    for m in &c.per_class {
        if !labels.contains(&m.label.as_str()) {
            labels.push(&m.label);
        }
    }
    let find = |e: &'_ Evaluation, label: &str| {
        e.per_class
            .iter()
            .find(|m| m.label == label)
            .map(|m| (m.f1, m.support))
    };
    out.push_str(
        "<h3>Per-class F1</h3>\n<div class=\"chart-and-table table-first\">\n<div>\n<table>\n<thead><tr>\
         <th scope=\"col\">Class</th><th scope=\"col\" class=\"num\">F1 reference</th>\
         <th scope=\"col\" class=\"num\">F1 current</th><th scope=\"col\" class=\"num\">Change</th>\
         <th scope=\"col\" class=\"num\">Support (ref. / cur.)</th></tr></thead>\n<tbody>\n",
    );
    let mut groups = Vec::with_capacity(labels.len());
    for label in labels {
        let (rf, rs) = find(r, label).unzip();
        let (cf, cs) = find(c, label).unzip();
        let cell = |v: Option<f64>| v.map_or_else(|| "–".to_string(), num);
        let count = |v: Option<u64>| v.map_or_else(|| "–".to_string(), |n| n.to_string());
        let change = match (rf, cf) {
            (Some(a), Some(b)) => delta(b - a, true),
            _ => String::new(),
        };
        let support = format!("{} / {}", count(rs), count(cs));
        put!(
            out,
            "{}\n",
            numeric_row(&escape(label), [cell(rf), cell(cf), change, support])
        );
        groups.push(Group {
            label: label.to_string(),
            reference: rf.unwrap_or(0.0),
            current: cf.unwrap_or(0.0),
        });
    }
    put!(
        out,
        "</tbody>\n</table>\n</div>\n<div>{}</div>\n</div>\n",
        grouped_bars(
            "F1 per class, reference vs current",
            &groups,
            crate::report::chart::Size {
                width: 460.0,
                height: 210.0,
            },
            Scale::Score,
            "F1",
        )
    );
}

/// `e`'s confusion matrix as a heat map: each cell shaded by its share of the true class's rows,
/// blue on the diagonal (right), red off it (wrong). The count is always printed in the cell.
fn confusion_matrix(out: &mut String, e: &Evaluation, caption: &str) {
    put!(
        out,
        "<h3>{caption}</h3>\n<table class=\"confusion\">\n<caption class=\"note\">Rows: true \
         class; columns: predicted class. Shading: share of the true class's rows (blue: correct, \
         red: confused).</caption>\n<thead><tr><th scope=\"col\">true \\ predicted</th>"
    );
    for class in &e.classes {
        put!(out, "<th scope=\"col\">{}</th>", escape(class));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (t, row) in e.confusion.iter().enumerate() {
        let label = e.classes.get(t).map_or("?", String::as_str);
        let total: u64 = row.iter().sum();
        put!(out, "<tr><th scope=\"row\">{}</th>", escape(label));
        for (p, &n) in row.iter().enumerate() {
            let share = if total > 0 {
                n as f64 / total as f64
            } else {
                0.0
            };
            let alpha = if n > 0 { 0.08 + 0.82 * share } else { 0.0 };
            let rgb = if p == t {
                "47, 111, 223"
            } else {
                "217, 45, 32"
            };
            let predicted = e.classes.get(p).map_or("?", String::as_str);
            put!(
                out,
                "<td class=\"{}\" style=\"background: rgba({rgb}, {alpha:.3})\" \
                 title=\"true {}, predicted {}: {n} of {total} rows ({})\">{n}</td>",
                if alpha > 0.5 { "hot" } else { "" },
                escape(label),
                escape(predicted),
                escape(&g4(share))
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}
