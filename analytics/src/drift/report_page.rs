//! The drift report as one self-contained HTML page.
//!
//! [`render_drift_report`] turns a [`DriftReport`] into a single document a reader can open from
//! disk or attach to a ticket: the CSS is inline, the charts are inline SVG, and there is no
//! script, font or image to fetch, so the page looks the same offline, in a mail client's
//! preview or behind a proxy. The layout follows what Evidently users know, top to bottom:
//!
//! 1. the two runs (names, row counts) and when the report was made;
//! 2. a verdict banner: dataset drift, embedding drift, prediction and target drift, quality;
//! 3. one row per column (drifted first): kind, test, statistic, threshold, verdict and a small
//!    reference-vs-current bar chart, with the exact shares behind a disclosure;
//! 4. embedding drift: the domain classifier's ROC AUC as a gauge against its threshold, MMD;
//! 5. prediction and target drift, when present, in the same chart style;
//! 6. classification quality on both sides, when labels exist: headline metrics, per-class F1
//!    and the current confusion matrix as a heat map;
//! 7. how the tests are chosen, so the numbers can be read without the docs.
//!
//! Numbers are printed with four significant digits (Python's `{:.4g}`), and every one carries
//! the exact value from `report.json` as its tooltip. Verdicts are always words, never colour
//! alone, and every chart has a `<title>`. All text from the data (run, column, category and
//! class names) is escaped.

use std::fmt::Write as _;

use crate::report::put;

use super::{ColumnDrift, ColumnKind, DriftReport, EmbeddingDrift, QualityComparison, StatTest};
use crate::classify::Evaluation;
use crate::report::chart::{
    CURRENT_COLOUR, Group, LARGE, REFERENCE_COLOUR, SMALL, Scale, auc_gauge, grouped_bars,
};
use crate::report::format::{escape, g4, num, signed_g4, utc_timestamp};

/// Bars in a column row's chart before the smallest categories are summed into "other".
const SMALL_MAX_BARS: usize = 12;
/// Bars in a section chart (prediction, target) before the same happens.
const LARGE_MAX_BARS: usize = 24;
/// Drifted column names listed in the banner before "and N more".
const BANNER_MAX_NAMES: usize = 8;

/// The whole report as an HTML document (UTF-8, no external resources, no script).
pub fn render_drift_report(report: &DriftReport) -> String {
    let mut out = crate::report::format::document_start(&format!(
        "Drift report: {} vs {}",
        escape(&report.reference),
        escape(&report.current)
    ));
    header(&mut out, report);
    out.push_str("<main class=\"wrap\">\n");
    summary(&mut out, report);
    columns_section(&mut out, report);
    if let Some(embedding) = &report.embedding {
        embedding_section(&mut out, embedding);
    }
    if let Some(prediction) = &report.prediction {
        single_column_section(
            &mut out,
            "prediction",
            "Prediction drift",
            "Share of tickets per predicted type: did the model's output mix change?",
            prediction,
        );
    }
    if let Some(target) = &report.target {
        single_column_section(
            &mut out,
            "target",
            "Target drift",
            "Share of tickets per true (labelled) type: did the ticket mix itself change?",
            target,
        );
    }
    if let Some(quality) = &report.quality {
        quality_section(&mut out, report, quality);
    }
    if report.coverage.is_some() || report.challenger_quality.is_some() {
        routing_section(&mut out, report);
    }
    out.push_str("</main>\n");
    footer(&mut out);
    out.push_str("</body>\n</html>\n");
    out
}

fn header(out: &mut String, r: &DriftReport) {
    put!(
        out,
        "<header class=\"top\"><div class=\"wrap\">\n<h1>Drift report</h1>\n\
         <p class=\"sub\">Data, embedding and prediction drift of the current run against the \
         reference run, with Evidently's default tests.</p>\n<dl class=\"meta\">\
         <div><dt>Reference</dt><dd>{} <small>· {} rows</small></dd></div>\
         <div><dt>Current</dt><dd>{} <small>· {} rows</small></dd></div>\
         <div><dt>Generated</dt><dd>{}</dd></div></dl>\n",
        escape(&r.reference),
        r.reference_rows,
        escape(&r.current),
        r.current_rows,
        utc_timestamp(r.generated_at_ms)
    );
    out.push_str("<nav class=\"toc\" aria-label=\"Sections\"><a href=\"#summary\">Summary</a>");
    out.push_str("<a href=\"#columns\">Columns</a>");
    let optional = [
        (r.embedding.is_some(), "embedding", "Embeddings"),
        (r.prediction.is_some(), "prediction", "Prediction"),
        (r.target.is_some(), "target", "Target"),
        (r.quality.is_some(), "quality", "Quality"),
    ];
    for (present, id, name) in optional {
        if present {
            put!(out, "<a href=\"#{id}\">{name}</a>");
        }
    }
    out.push_str("<a href=\"#method\">How to read this</a></nav>\n</div></header>\n");
}

/// The red or green verdict badge; the word carries the meaning, the colour repeats it.
fn badge(drifted: bool) -> &'static str {
    if drifted {
        "<span class=\"badge bad\">Drift detected</span>"
    } else {
        "<span class=\"badge ok\">No drift</span>"
    }
}

fn state_class(drifted: bool) -> &'static str {
    if drifted { "bad" } else { "ok" }
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Numeric => "numeric",
        ColumnKind::Categorical => "categorical",
        ColumnKind::Binary => "binary",
    }
}

fn test_name(test: StatTest) -> &'static str {
    match test {
        StatTest::KolmogorovSmirnov => "Kolmogorov–Smirnov",
        StatTest::ChiSquare => "chi-square",
        StatTest::ZTest => "Z-test (proportions)",
        StatTest::Wasserstein => "Wasserstein (normed)",
        StatTest::JensenShannon => "Jensen–Shannon",
    }
}

/// "p-value 0.001235" or "distance 0.2346".
fn statistic(c: &ColumnDrift) -> String {
    let label = if c.test.is_p_value() {
        "p-value"
    } else {
        "distance"
    };
    format!(
        "<span class=\"stat-label\">{label}</span>{}",
        num(c.statistic)
    )
}

/// The drift condition: "p &lt; 0.05" for p-values, "≥ 0.1" for distances.
fn threshold(c: &ColumnDrift) -> String {
    if c.test.is_p_value() {
        format!("p &lt; {}", num(c.threshold))
    } else {
        format!("≥ {}", num(c.threshold))
    }
}

fn summary(out: &mut String, r: &DriftReport) {
    let d = &r.dataset;
    put!(
        out,
        "<section class=\"card verdict {}\" id=\"summary\" aria-label=\"Summary\">\n\
         <p class=\"headline\"><span class=\"mark\" aria-hidden=\"true\">{}</span>{}</p>\n\
         <p class=\"detail\"><strong>{} of {} columns drifted</strong> (share {}, threshold {})",
        state_class(d.drifted),
        if d.drifted { "!" } else { "✓" },
        if d.drifted {
            "Dataset drift detected"
        } else {
            "No dataset drift"
        },
        d.drifted_columns,
        d.columns,
        num(d.share),
        num(d.threshold)
    );
    let drifted: Vec<&str> = r
        .columns
        .iter()
        .filter(|c| c.drifted)
        .map(|c| c.column.as_str())
        .collect();
    if !drifted.is_empty() {
        let shown: Vec<String> = drifted
            .iter()
            .take(BANNER_MAX_NAMES)
            .map(|name| format!("<code>{}</code>", escape(name)))
            .collect();
        put!(out, ": {}", shown.join(", "));
        if drifted.len() > BANNER_MAX_NAMES {
            put!(out, " and {} more", drifted.len() - BANNER_MAX_NAMES);
        }
    }
    out.push_str(".</p>\n<ul class=\"tiles\">\n");

    match &r.embedding {
        Some(e) => tile(
            out,
            Some(e.drifted),
            "Embedding drift",
            verdict_word(e.drifted),
            &format!(
                "domain-classifier AUC {} (threshold {}) · MMD p-value {}",
                num(e.domain_classifier_auc),
                num(e.auc_threshold),
                num(e.mmd_p_value)
            ),
        ),
        None => tile(
            out,
            None,
            "Embedding drift",
            "Not computed",
            "no embeddings",
        ),
    }
    for (name, column, missing) in [
        (
            "Prediction drift",
            &r.prediction,
            "no predictions on one side",
        ),
        ("Target drift", &r.target, "labels missing on one side"),
    ] {
        match column {
            Some(c) => tile(
                out,
                Some(c.drifted),
                name,
                verdict_word(c.drifted),
                &format!(
                    "{} · {} · drift when {}",
                    test_name(c.test),
                    statistic(c),
                    threshold(c)
                ),
            ),
            None => tile(out, None, name, "Not available", missing),
        }
    }
    match &r.quality {
        Some(q) => tile(
            out,
            None,
            "Model quality",
            &format!(
                "macro-F1 {} → {}",
                num(q.reference.macro_avg.f1),
                num(q.current.macro_avg.f1)
            ),
            &format!(
                "accuracy {} → {} (reference → current)",
                num(q.reference.accuracy),
                num(q.current.accuracy)
            ),
        ),
        None => tile(
            out,
            None,
            "Model quality",
            "Not available",
            "needs labels on both sides",
        ),
    }
    out.push_str("</ul>\n</section>\n");
}

fn verdict_word(drifted: bool) -> &'static str {
    if drifted {
        "Drift detected"
    } else {
        "No drift"
    }
}

/// One summary tile; `drifted` colours it (none: neutral). `state` and `facts` are HTML.
fn tile(out: &mut String, drifted: Option<bool>, title: &str, state: &str, facts: &str) {
    put!(
        out,
        "<li class=\"tile {}\"><h3>{title}</h3><div class=\"state\">{state}</div>\
         <div class=\"facts\">{facts}</div></li>\n",
        drifted.map_or("", state_class)
    );
}

fn columns_section(out: &mut String, r: &DriftReport) {
    put!(
        out,
        "<section class=\"card\" id=\"columns\" aria-labelledby=\"columns-h\">\n\
         <h2 id=\"columns-h\">Column drift</h2>\n\
         <p class=\"lead\">Each column of the current run against the reference run; drifted \
         columns first. Bars show the share of rows per bin or category: \
         <span class=\"legend-key\" style=\"background:{REFERENCE_COLOUR}\"></span>reference, \
         <span class=\"legend-key\" style=\"background:{CURRENT_COLOUR}\"></span>current.</p>\n"
    );
    if r.columns.is_empty() {
        out.push_str("<p class=\"muted\">No columns were compared.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table class=\"columns\">\n<thead><tr><th scope=\"col\">Column</th>\
         <th scope=\"col\">Kind</th><th scope=\"col\">Test</th>\
         <th scope=\"col\" class=\"num\">Statistic</th><th scope=\"col\" class=\"num\">Drift when</th>\
         <th scope=\"col\">Verdict</th><th scope=\"col\">Reference vs current</th></tr></thead>\n<tbody>\n",
    );
    // Drifted first; otherwise the report's order (a stable sort keeps it).
    let mut order: Vec<&ColumnDrift> = r.columns.iter().collect();
    order.sort_by_key(|c| !c.drifted);
    for c in order {
        put!(
            out,
            "<tr class=\"{}\"><th scope=\"row\">{}</th><td class=\"kind\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"chart-cell\">{}</td></tr>\n",
            if c.drifted { "drifted" } else { "stable" },
            escape(&c.column),
            kind_name(c.kind),
            test_name(c.test),
            statistic(c),
            threshold(c),
            badge(c.drifted),
            distribution(c, SMALL_MAX_BARS, false)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

/// A column's bar chart plus its exact shares: small (in a table row) with the shares behind a
/// disclosure, or large (a section of its own) with the shares table beside the chart.
fn distribution(c: &ColumnDrift, max_bars: usize, large: bool) -> String {
    let unit = if c.kind == ColumnKind::Numeric {
        "bin"
    } else {
        "category"
    };
    let (groups, note) = chart_groups(c, max_bars);
    let title = format!(
        "{}: share of rows per {unit}, reference vs current",
        c.column
    );
    let mut chart = grouped_bars(
        &title,
        &groups,
        if large { LARGE } else { SMALL },
        Scale::Share,
        "share",
    );
    if let Some(note) = note {
        put!(chart, "<p class=\"note\">{}</p>", escape(&note));
    }
    let d = &c.distribution;
    let mut table = format!(
        "<table class=\"shares\"><thead><tr><th scope=\"col\">{unit}</th>\
         <th scope=\"col\" class=\"num\">reference</th><th scope=\"col\" class=\"num\">current</th>\
         <th scope=\"col\" class=\"num\">change</th></tr></thead><tbody>"
    );
    for (i, label) in d.labels.iter().enumerate() {
        let (reference, current) = shares(c, i);
        put!(
            table,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            escape(label),
            num(reference),
            num(current),
            escape(&signed_g4(current - reference))
        );
    }
    table.push_str("</tbody></table>");
    if large {
        format!("<div class=\"chart-and-table\"><div>{chart}</div><div>{table}</div></div>")
    } else {
        format!(
            "{chart}<details><summary>Shares per {unit} ({})</summary>{table}</details>",
            d.labels.len()
        )
    }
}

/// Reference and current share of label `i` (0 where a side has fewer entries than labels).
fn shares(c: &ColumnDrift, i: usize) -> (f64, f64) {
    let d = &c.distribution;
    (
        d.reference.get(i).copied().unwrap_or(0.0),
        d.current.get(i).copied().unwrap_or(0.0),
    )
}

/// The bar groups to draw. Numeric bins are all kept, in order. Categorical columns with more
/// than `max_bars` categories keep the largest ones (by the larger of the two shares) in their
/// order and sum the rest into one "other" bar, with a note saying so.
fn chart_groups(c: &ColumnDrift, max_bars: usize) -> (Vec<Group>, Option<String>) {
    let n = c.distribution.labels.len();
    let group = |i: usize| {
        let (reference, current) = shares(c, i);
        Group {
            label: c.distribution.labels[i].clone(),
            reference,
            current,
        }
    };
    if c.kind == ColumnKind::Numeric || n <= max_bars {
        return ((0..n).map(group).collect(), None);
    }
    let weight = |i: usize| {
        let (r, c) = shares(c, i);
        let v = r.max(c);
        if v.is_finite() { v } else { 0.0 }
    };
    let mut by_size: Vec<usize> = (0..n).collect();
    by_size.sort_by(|&a, &b| weight(b).total_cmp(&weight(a)));
    let mut kept = by_size[..max_bars - 1].to_vec();
    kept.sort_unstable();
    let rest = &by_size[max_bars - 1..];
    let mut groups: Vec<Group> = kept.iter().map(|&i| group(i)).collect();
    let (reference, current) = rest.iter().fold((0.0, 0.0), |(r, cu), &i| {
        let (a, b) = shares(c, i);
        (r + a, cu + b)
    });
    groups.push(Group {
        label: format!("other ({})", rest.len()),
        reference,
        current,
    });
    let note = format!(
        "Chart shows the {} largest of {n} categories; the other {} are summed as “other”.",
        max_bars - 1,
        rest.len()
    );
    (groups, Some(note))
}

fn embedding_section(out: &mut String, e: &EmbeddingDrift) {
    put!(
        out,
        "<section class=\"card\" id=\"embedding\" aria-labelledby=\"embedding-h\">\n\
         <div class=\"section-head\"><h2 id=\"embedding-h\">Embedding drift</h2>{}</div>\n\
         <p class=\"lead\">A classifier is trained to tell reference embeddings from current \
         ones; its ROC AUC on held-out rows says how separable the two runs are (0.5: \
         indistinguishable, 1: fully separable). Maximum mean discrepancy (MMD) compares the two \
         embedding clouds directly, with a permutation p-value.</p>\n{}\n\
         <p>Domain-classifier AUC <strong>{}</strong> against threshold {}: <strong>{}</strong>. \
         MMD p-value {} from {} permutations{}.</p>\n<dl class=\"stats\">",
        badge(e.drifted),
        auc_gauge(e.domain_classifier_auc, e.auc_threshold, e.drifted),
        num(e.domain_classifier_auc),
        num(e.auc_threshold),
        verdict_word(e.drifted).to_lowercase(),
        num(e.mmd_p_value),
        e.permutations,
        if e.mmd_p_value < 0.05 {
            " (below 0.05: the embedding distributions differ)"
        } else {
            " (not below 0.05: no significant difference)"
        }
    );
    let stats = [
        ("ROC AUC", num(e.domain_classifier_auc)),
        ("AUC threshold", num(e.auc_threshold)),
        ("MMD²", num(e.mmd)),
        ("MMD p-value", num(e.mmd_p_value)),
        ("Permutations", e.permutations.to_string()),
        ("Reference rows", e.reference_rows.to_string()),
        ("Current rows", e.current_rows.to_string()),
    ];
    for (label, value) in stats {
        put!(out, "<div><dt>{label}</dt><dd>{value}</dd></div>");
    }
    out.push_str("</dl>\n</section>\n");
}

/// Prediction or target drift: one column, drawn large.
fn single_column_section(out: &mut String, id: &str, title: &str, lead: &str, c: &ColumnDrift) {
    put!(
        out,
        "<section class=\"card\" id=\"{id}\" aria-labelledby=\"{id}-h\">\n\
         <div class=\"section-head\"><h2 id=\"{id}-h\">{title}</h2>{}</div>\n\
         <p class=\"lead\">{lead} Column <code>{}</code>, {} test.</p>\n<dl class=\"stats\">\
         <div><dt>Test</dt><dd>{}</dd></div><div><dt>Statistic</dt><dd>{}</dd></div>\
         <div><dt>Drift when</dt><dd>{}</dd></div><div><dt>Verdict</dt><dd>{}</dd></div></dl>\n\
         <h3>Reference vs current</h3>\n{}\n</section>\n",
        badge(c.drifted),
        escape(&c.column),
        kind_name(c.kind),
        test_name(c.test),
        statistic(c),
        threshold(c),
        verdict_word(c.drifted),
        distribution(c, LARGE_MAX_BARS, true)
    );
}

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

fn quality_section(out: &mut String, report: &DriftReport, q: &QualityComparison) {
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
        put!(
            out,
            "<tr><th scope=\"row\">{name}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>\n",
            num(reference),
            num(current),
            delta(current - reference, higher_is_better)
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
fn routing_section(out: &mut String, report: &DriftReport) {
    out.push_str(
        "<section class=\"card\" id=\"routing\" aria-labelledby=\"routing-h\">\n\
         <h2 id=\"routing-h\">Auto-routing and the new model</h2>\n<table>\n<thead><tr>\
         <th scope=\"col\">Measure</th><th scope=\"col\" class=\"num\">Reference</th>\
         <th scope=\"col\" class=\"num\">Current</th><th scope=\"col\" class=\"num\">Change</th>\
         </tr></thead>\n<tbody>\n",
    );
    if let Some(cov) = report.coverage {
        put!(
            out,
            "<tr><th scope=\"row\">Coverage: share routed automatically by production</th>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            num(cov.reference),
            num(cov.current),
            delta(cov.current - cov.reference, true)
        );
    }
    if let (Some(ch), Some(q)) = (&report.challenger_quality, &report.quality) {
        put!(
            out,
            "<tr><th scope=\"row\">Macro F1 on the current run: production vs the run's own \
             model out of fold</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>\n",
            num(q.current.macro_avg.f1),
            num(ch.macro_avg.f1),
            delta(ch.macro_avg.f1 - q.current.macro_avg.f1, true)
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
        put!(
            out,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{change}</td><td class=\"num\">{} / {}</td></tr>\n",
            escape(label),
            cell(rf),
            cell(cf),
            count(rs),
            count(cs)
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

fn footer(out: &mut String) {
    out.push_str(
        "<footer class=\"method\" id=\"method\"><div class=\"wrap\">\n\
         <h2>How to read this report</h2>\n\
         <p>Each column gets the test Evidently uses by default for its kind and the size of the \
         reference run. Small reference runs get a statistical test, and the column drifts when \
         the p-value is below 0.05 (at most 0.05 for Kolmogorov–Smirnov, as Evidently; small means the two runs differ). Large runs get a distance, \
         and the column drifts when it reaches 0.1 (large means different), because with \
         thousands of rows any tiny shift is “significant”.</p>\n\
         <table>\n<thead><tr><th scope=\"col\">Reference rows</th><th scope=\"col\">Column kind</th>\
         <th scope=\"col\">Test</th><th scope=\"col\">Drift when</th></tr></thead>\n<tbody>\n\
         <tr><td>≤ 1,000</td><td>numeric (more than 5 distinct values)</td>\
         <td>two-sample Kolmogorov–Smirnov</td><td>p ≤ 0.05</td></tr>\n\
         <tr><td>≤ 1,000</td><td>categorical</td><td>chi-square</td><td>p &lt; 0.05</td></tr>\n\
         <tr><td>≤ 1,000</td><td>binary</td><td>two-proportion Z-test</td><td>p &lt; 0.05</td></tr>\n\
         <tr><td>&gt; 1,000</td><td>numeric</td><td>Wasserstein distance normed by the reference's \
         standard deviation</td><td>≥ 0.1</td></tr>\n\
         <tr><td>&gt; 1,000</td><td>categorical or binary</td><td>Jensen–Shannon distance \
         (natural logarithm, as Evidently)</td><td>≥ 0.1</td></tr>\n</tbody>\n</table>\n\
         <p>The <strong>dataset</strong> drifts when the share of drifted columns reaches the \
         dataset threshold (half of the columns by default, as Evidently).</p>\n\
         <p><strong>Embedding drift</strong> is judged by a domain classifier: a model trained to \
         tell reference rows from current rows, scored by ROC AUC on rows it did not see. Near \
         0.5 the runs are indistinguishable; the report's threshold is shown with the AUC. \
         Maximum mean discrepancy (squared, RBF kernel) and its permutation p-value are shown as \
         a second opinion.</p>\n\
         <p><strong>Prediction drift</strong> compares the predicted types, <strong>target \
         drift</strong> the labelled types, with the same column tests.</p>\n\
         <p>Numbers show four significant digits (as Python's <code>f\"{x:.4g}\"</code>); hover \
         one to see the exact value stored in <code>report.json</code>.</p>\n\
         </div></footer>\n",
    );
}
