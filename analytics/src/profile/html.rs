//! The profile as one self-contained HTML page: counts, languages, lengths and token counts,
//! with inline SVG bar charts and histograms.

use std::fmt::Write as _;

use super::{Count, LengthProfile, LengthStats, Profile, TokenProfile};
use crate::report::format::{document_start, escape, g4, num, numeric_row, truncate};
use crate::report::put;

const BAR_COLOUR: &str = "#2f6fdf";
const TEXT_COLOUR: &str = "#475467";

/// The profile as one self-contained HTML page (inline CSS and SVG, no script, no network).
/// Every value from the data is escaped.
pub fn render_profile_html(p: &Profile) -> String {
    let mut out = document_start("Ticket data profile");
    put!(
        out,
        "<header class=\"top\"><div class=\"wrap\">\n<h1>Ticket data profile</h1>\n\
         <p class=\"sub\">Rows, label distributions, missing values, text lengths and tickets \
         longer than the embedding model reads.</p>\n<dl class=\"meta\">\
         <div><dt>Rows</dt><dd>{}</dd></div><div><dt>Accepted</dt><dd>{}</dd></div>\
         <div><dt>Quarantined</dt><dd>{}</dd></div><div><dt>Duplicates</dt><dd>{}</dd></div>\
         <div><dt>Over {} tokens</dt><dd>{}</dd></div></dl>\n</div></header>\n\
         <main class=\"wrap\">\n",
        p.rows.total,
        p.rows.accepted,
        p.rows.quarantined,
        p.rows.duplicates,
        p.tokens.limit,
        p.tokens.over_limit
    );
    rows_section(&mut out, p);
    for d in &p.distributions {
        put!(
            out,
            "<section class=\"card\" id=\"dist-{0}\"><h2>{0}</h2>\
             <p class=\"lead\">{1} distinct values; {2} tickets without one.</p>",
            escape(&d.column),
            d.values.len(),
            d.missing
        );
        counts_block(&mut out, &format!("Tickets per {}", d.column), &d.values);
        if d.column == "language" {
            out.push_str("<h3>Where the pipeline's language comes from</h3>");
            counts_block(&mut out, "Language source", &p.language_source);
            if !p.detected_languages.is_empty() {
                out.push_str(
                    "<h3>Detected languages (tickets without a usable label; share of those)</h3>",
                );
                counts_block(&mut out, "Detected languages", &p.detected_languages);
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str(
        "<section class=\"card\" id=\"missing\"><h2>Missing values</h2>\
         <p class=\"lead\">Empty or absent values per column.</p>",
    );
    counts_block(&mut out, "Missing values per column", &p.missing);
    out.push_str("</section>\n");
    for l in &p.lengths {
        lengths_section(&mut out, l);
    }
    tokens_section(&mut out, &p.tokens);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn rows_section(out: &mut String, p: &Profile) {
    let r = &p.rows;
    put!(
        out,
        "<section class=\"card\" id=\"rows\"><h2>Rows</h2>\
         <p class=\"lead\">Quarantined rows were set aside by the loader; duplicates repeat an \
         earlier ticket's subject and body exactly.</p><dl class=\"stats\">\
         <div><dt>total</dt><dd>{}</dd></div><div><dt>accepted</dt><dd>{}</dd></div>\
         <div><dt>quarantined</dt><dd>{}</dd></div><div><dt>duplicates</dt><dd>{}</dd></div>\
         <div><dt>duplicate share</dt><dd>{}</dd></div></dl>",
        r.total,
        r.accepted,
        r.quarantined,
        r.duplicates,
        num(r.duplicate_share)
    );
    if !r.quarantine_reasons.is_empty() {
        out.push_str("<h3>Quarantine reasons (share of quarantined rows)</h3>");
        counts_block(out, "Quarantine reasons", &r.quarantine_reasons);
    }
    out.push_str("</section>\n");
}

/// A horizontal bar chart and a table of counts and shares.
fn counts_block(out: &mut String, title: &str, counts: &[Count]) {
    out.push_str("<div class=\"chart-and-table\">");
    let bars: Vec<(String, usize)> = counts.iter().map(|c| (c.value.clone(), c.count)).collect();
    out.push_str(&horizontal_bars(title, &bars));
    out.push_str(
        "<table class=\"shares\"><thead><tr><th scope=\"col\">value</th>\
         <th scope=\"col\" class=\"num\">count</th><th scope=\"col\" class=\"num\">share</th>\
         </tr></thead><tbody>",
    );
    for c in counts {
        out.push_str(&numeric_row(
            &escape(&c.value),
            [c.count.to_string(), num(c.share)],
        ));
    }
    out.push_str("</tbody></table></div>");
}

fn lengths_section(out: &mut String, l: &LengthProfile) {
    let unit = if l.unit == "chars" {
        "characters"
    } else {
        "words"
    };
    put!(
        out,
        "<section class=\"card\" id=\"len-{0}-{1}\"><h2>{0} length in {2}</h2>\
         <div class=\"chart-and-table\">{3}",
        escape(&l.field),
        escape(&l.unit),
        unit,
        histogram_chart(&format!("{} length in {unit}", l.field), &l.overall)
    );
    out.push_str(
        "<table class=\"shares\"><thead><tr><th scope=\"col\">language</th>\
         <th scope=\"col\" class=\"num\">n</th><th scope=\"col\" class=\"num\">min</th>\
         <th scope=\"col\" class=\"num\">p25</th><th scope=\"col\" class=\"num\">median</th>\
         <th scope=\"col\" class=\"num\">p75</th><th scope=\"col\" class=\"num\">p95</th>\
         <th scope=\"col\" class=\"num\">max</th><th scope=\"col\" class=\"num\">mean</th>\
         </tr></thead><tbody>",
    );
    let rows = std::iter::once(("all", &l.overall)).chain(
        l.by_language
            .iter()
            .map(|b| (b.language.as_str(), &b.stats)),
    );
    for (language, s) in rows {
        put!(out, "<tr><th scope=\"row\">{}</th>", escape(language));
        put!(out, "<td class=\"num\">{}</td>", s.n);
        for v in [s.min, s.p25, s.median, s.p75, s.p95, s.max, s.mean] {
            put!(out, "<td class=\"num\">{}</td>", num(v));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    if l.by_language.len() > 1 {
        out.push_str("<details><summary>Histograms per language</summary><div class=\"two\">");
        for b in &l.by_language {
            out.push_str(&histogram_chart(
                &format!("{} length in {unit}, language {}", l.field, b.language),
                &b.stats,
            ));
        }
        out.push_str("</div></details>");
    }
    out.push_str("</section>\n");
}

fn tokens_section(out: &mut String, t: &TokenProfile) {
    put!(
        out,
        "<section class=\"card\" id=\"tokens\"><h2>Model tokens</h2>\
         <p class=\"lead\">Tokens of the text the embedder sees (subject and body, normalised; \
         [CLS] and [SEP] included). The model reads at most {0}; the rest of a longer ticket is \
         cut off.</p><dl class=\"stats\"><div><dt>counted</dt><dd>{1}</dd></div>\
         <div><dt>over {0} tokens</dt><dd>{2}</dd></div>\
         <div><dt>share over</dt><dd>{3}</dd></div><div><dt>median</dt><dd>{4}</dd></div>\
         <div><dt>p95</dt><dd>{5}</dd></div><div><dt>max</dt><dd>{6}</dd></div></dl>{7}\
         </section>\n",
        t.limit,
        t.counted,
        t.over_limit,
        num(t.over_limit_share),
        num(t.stats.median),
        num(t.stats.p95),
        num(t.stats.max),
        histogram_chart("Model tokens per ticket", &t.stats)
    );
}

/// Horizontal bars, one per labelled count, with the exact count in each bar's `<title>`.
fn horizontal_bars(title: &str, bars: &[(String, usize)]) -> String {
    const MAX_BARS: usize = 30;
    let shown = &bars[..bars.len().min(MAX_BARS)];
    let (width, row_h, label_w) = (420.0, 18.0, 130.0);
    let height = (shown.len().max(1) as f64) * row_h + 8.0;
    let largest = shown.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let plot_w = width - label_w - 60.0;
    let mut svg = String::new();
    put!(
        svg,
        "<svg class=\"chart\" role=\"img\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-size=\"10\"><title>{}</title>",
        escape(title)
    );
    if shown.is_empty() {
        put!(
            svg,
            "<text x=\"4\" y=\"14\" fill=\"{TEXT_COLOUR}\">no data</text></svg>"
        );
        return svg;
    }
    for (i, (label, count)) in shown.iter().enumerate() {
        let y = 4.0 + i as f64 * row_h;
        let w = if *count > 0 {
            (plot_w * *count as f64 / largest).max(1.0)
        } else {
            0.0
        };
        put!(
            svg,
            "<g><title>{0}: {1}</title>\
             <text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\" fill=\"{TEXT_COLOUR}\">{4}</text>\
             <rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{w:.2}\" height=\"{5:.1}\" \
             fill=\"{BAR_COLOUR}\"/>\
             <text x=\"{6:.2}\" y=\"{3:.1}\" fill=\"{TEXT_COLOUR}\">{1}</text></g>",
            escape(label),
            count,
            label_w - 6.0,
            y + 12.0,
            escape(&truncate(label, 20)),
            row_h - 4.0,
            label_w + w + 4.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Vertical bars of a length histogram, with the bin range and count in each bar's `<title>`.
fn histogram_chart(title: &str, s: &LengthStats) -> String {
    let (width, height) = (420.0, 150.0);
    let (left, right, top, bottom) = (36.0, 8.0, 8.0, 22.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let base = top + plot_h;
    let mut svg = String::new();
    put!(
        svg,
        "<svg class=\"chart\" role=\"img\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-size=\"10\"><title>{}</title>\
         <line x1=\"{left}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#98a2b3\"/>",
        escape(title),
        width - right
    );
    if s.histogram.is_empty() {
        put!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{TEXT_COLOUR}\">no data</text></svg>",
            left + plot_w / 2.0,
            top + plot_h / 2.0
        );
        return svg;
    }
    let largest = s
        .histogram
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(1)
        .max(1);
    put!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{TEXT_COLOUR}\">{largest}</text>",
        left - 4.0,
        top + 8.0
    );
    let bin_w = plot_w / s.histogram.len() as f64;
    for (i, b) in s.histogram.iter().enumerate() {
        let h = if b.count > 0 {
            (plot_h * b.count as f64 / largest as f64).max(1.0)
        } else {
            0.0
        };
        let range = if b.hi - b.lo == 1 {
            b.lo.to_string()
        } else {
            format!("{}–{}", b.lo, b.hi - 1)
        };
        put!(
            svg,
            "<g><title>{range}: {}</title><rect x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" \
             height=\"{h:.2}\" fill=\"{BAR_COLOUR}\"/></g>",
            b.count,
            left + bin_w * i as f64 + 0.5,
            base - h,
            (bin_w - 1.0).max(0.5)
        );
    }
    let last = s.histogram.last().map_or(0, |b| b.hi - 1);
    put!(
        svg,
        "<text x=\"{left}\" y=\"{0}\" fill=\"{TEXT_COLOUR}\">{1}</text>\
         <text x=\"{2}\" y=\"{0}\" text-anchor=\"end\" fill=\"{TEXT_COLOUR}\">{3}</text></svg>",
        base + 14.0,
        s.histogram[0].lo,
        width - right,
        escape(&g4(last as f64))
    );
    svg
}
