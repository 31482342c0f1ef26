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
//! Sections 6 and the routing figures are drawn by `report_page/quality.rs`.
//!
//! Numbers are printed with four significant digits (Python's `{:.4g}`), and every one carries
//! the exact value from `report.json` as its tooltip. Verdicts are always words, never colour
//! alone, and every chart has a `<title>`. All text from the data (run, column, category and
//! class names) is escaped.

mod quality;

use std::fmt::Write as _;

use crate::report::put;

use super::{ColumnDrift, ColumnKind, DriftReport, EmbeddingDrift, StatTest};
use crate::report::chart::{
    CURRENT_COLOUR, Group, LARGE, REFERENCE_COLOUR, SMALL, Scale, auc_gauge, grouped_bars,
};
use crate::report::format::{escape, num, numeric_row, signed_g4, utc_timestamp};

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
        quality::quality_section(&mut out, report, quality);
    }
    if report.coverage.is_some() || report.challenger_quality.is_some() {
        quality::routing_section(&mut out, report);
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
fn badge(drifted: bool) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        state_class(drifted),
        verdict_word(drifted)
    )
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
        table.push_str(&numeric_row(
            &escape(label),
            [
                num(reference),
                num(current),
                escape(&signed_g4(current - reference)),
            ],
        ));
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
