//! Inline SVG charts: grouped reference-vs-current bars and the AUC gauge.
//!
//! Every chart is plain SVG markup inside the HTML (no script, no external files), carries a
//! `<title>` (its accessible name, and a tooltip), and each bar group has its own `<title>` with
//! the exact numbers, so colour is never the only way to read a chart.

use std::fmt::Write as _;

use super::format::{escape, g4, truncate};

/// Reference bars: a neutral slate.
pub(crate) const REFERENCE_COLOUR: &str = "#8a94a6";
/// Current bars: a saturated blue, distinguishable from slate for common colour-vision deficiencies.
pub(crate) const CURRENT_COLOUR: &str = "#2f6fdf";

const TEXT: &str = "#475467";
const GRID: &str = "#e4e7ec";
const FONT: usize = 10;

/// How big a chart is drawn.
#[derive(Clone, Copy)]
pub(crate) struct Size {
    pub width: f64,
    pub height: f64,
}

/// The small chart in each column row.
pub(crate) const SMALL: Size = Size {
    width: 300.0,
    height: 112.0,
};
/// The chart of a section (prediction, target, per-class F1).
pub(crate) const LARGE: Size = Size {
    width: 680.0,
    height: 230.0,
};

/// How the y axis and the tooltips print values.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    /// Shares of rows: the axis is in percent, scaled to the largest share.
    Share,
    /// Scores in [0, 1] (F1): the axis runs 0–1.
    Score,
}

/// One bar group: a label and its reference and current values.
pub(crate) struct Group {
    pub label: String,
    pub reference: f64,
    pub current: f64,
}

/// Reference-vs-current grouped bars, with a legend, a light grid and x labels when they fit.
///
/// `title` is the chart's accessible name; `value_name` names the values in the tooltips
/// ("share", "F1").
pub(crate) fn grouped_bars(
    title: &str,
    groups: &[Group],
    size: Size,
    scale: Scale,
    value_name: &str,
) -> String {
    let Size { width, height } = size;
    let (left, right, top, bottom) = (34.0, 6.0, 22.0, 18.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let base = top + plot_h;

    let finite = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    let largest = groups
        .iter()
        .map(|g| finite(g.reference).max(finite(g.current)))
        .fold(0.0, f64::max);
    let y_max = match scale {
        // Round the axis up to whole tens of percent (whole twos below 10%), so the top and
        // middle grid lines are round numbers and the tallest bar nearly fills the plot.
        Scale::Share if largest > 0.1 => ((largest * 10.0).ceil() / 10.0).min(1.0),
        Scale::Share => ((largest * 50.0).ceil() / 50.0).max(0.02),
        Scale::Score => 1.0,
    };
    let y = |v: f64| base - plot_h * (finite(v) / y_max).min(1.0);
    let axis_label = |v: f64| match scale {
        Scale::Share => format!("{}%", g4(v * 100.0)),
        Scale::Score => g4(v),
    };

    let mut svg = String::new();
    put!(
        svg,
        "<svg class=\"chart\" role=\"img\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-size=\"{FONT}\">\
         <title>{}</title>",
        escape(title)
    );

    // Grid and y labels at 0, half and the top.
    for frac in [0.0, 0.5, 1.0] {
        let gy = base - plot_h * frac;
        put!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{gy:.1}\" y2=\"{gy:.1}\" stroke=\"{}\" \
             stroke-width=\"1\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{TEXT}\">{}</text>",
            width - right,
            if frac == 0.0 { "#98a2b3" } else { GRID },
            left - 4.0,
            gy + 3.5,
            escape(&axis_label(y_max * frac))
        );
    }

    // Legend, top right: a swatch and a word for each series.
    let legend_x = width - right - 132.0;
    for (i, (name, colour)) in [("reference", REFERENCE_COLOUR), ("current", CURRENT_COLOUR)]
        .iter()
        .enumerate()
    {
        let x = legend_x + i as f64 * 72.0;
        put!(
            svg,
            "<rect x=\"{x}\" y=\"4\" width=\"10\" height=\"10\" rx=\"2\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"13\" fill=\"{TEXT}\">{name}</text>",
            x + 14.0
        );
    }

    if groups.is_empty() {
        put!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{TEXT}\">no data</text></svg>",
            left + plot_w / 2.0,
            top + plot_h / 2.0
        );
        return svg;
    }

    let n = groups.len() as f64;
    let group_w = plot_w / n;
    let bar_w = (group_w * 0.36).clamp(1.0, 30.0);
    let gap = if bar_w >= 4.0 { 1.5 } else { 0.0 };
    // Characters of a label that fit under a group (about 6.2 px per character at 10 px).
    // Labels are drawn when all fit, or when a cut one still says something (6+ characters);
    // otherwise the chart goes without, and the shares table names every bar.
    let label_chars = ((group_w - 6.0) / 6.2).floor() as usize;
    let draw_labels = label_chars >= 6
        || groups
            .iter()
            .all(|g| g.label.chars().count() <= label_chars);
    for (i, g) in groups.iter().enumerate() {
        let x0 = left + group_w * i as f64 + (group_w - 2.0 * bar_w - gap) / 2.0;
        put!(
            svg,
            "<g><title>{}: reference {} {}, current {} {}</title>",
            escape(&g.label),
            value_name,
            escape(&g4(g.reference)),
            value_name,
            escape(&g4(g.current))
        );
        for (j, (value, colour)) in [(g.reference, REFERENCE_COLOUR), (g.current, CURRENT_COLOUR)]
            .into_iter()
            .enumerate()
        {
            let top_y = y(value);
            // A non-zero value gets at least a hairline, so "tiny" never looks like "none".
            let h = if finite(value) > 0.0 {
                (base - top_y).max(1.0)
            } else {
                0.0
            };
            put!(
                svg,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{bar_w:.2}\" height=\"{h:.2}\" \
                 fill=\"{colour}\"/>",
                x0 + j as f64 * (bar_w + gap),
                base - h
            );
        }
        // An invisible full-height target, so the tooltip works over short bars too.
        put!(
            svg,
            "<rect x=\"{:.2}\" y=\"{top}\" width=\"{group_w:.2}\" height=\"{plot_h}\" \
             fill=\"transparent\"/>",
            left + group_w * i as f64
        );
        if draw_labels {
            put!(
                svg,
                "<text x=\"{:.2}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{TEXT}\">{}</text>",
                left + group_w * (i as f64 + 0.5),
                base + 13.0,
                escape(&truncate(&g.label, label_chars))
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal 0–1 gauge for the domain classifier's ROC AUC: the value as a filled bar, the
/// threshold as a marker, chance (0.5) as a tick.
pub(crate) fn auc_gauge(auc: f64, threshold: f64, drifted: bool) -> String {
    let (width, height) = (720.0, 66.0);
    let (left, right) = (12.0, 12.0);
    let track_w = width - left - right;
    let x = |v: f64| {
        left + track_w
            * if v.is_finite() {
                v.clamp(0.0, 1.0)
            } else {
                0.0
            }
    };
    let (track_y, track_h) = (22.0, 14.0);
    let fill = if drifted { "#d92d20" } else { "#12b76a" };
    let verdict = if drifted {
        "drift detected"
    } else {
        "no drift"
    };

    let mut svg = String::new();
    put!(
        svg,
        "<svg class=\"chart gauge\" role=\"img\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-size=\"{FONT}\">\
         <title>Domain classifier ROC AUC {} against threshold {}: {verdict}</title>\
         <rect x=\"{left}\" y=\"{track_y}\" width=\"{track_w}\" height=\"{track_h}\" rx=\"3\" \
         fill=\"#eaecf0\"/>\
         <rect x=\"{left}\" y=\"{track_y}\" width=\"{:.2}\" height=\"{track_h}\" rx=\"3\" \
         fill=\"{fill}\"/>",
        escape(&g4(auc)),
        escape(&g4(threshold)),
        x(auc) - left
    );
    // Ticks under the track: 0, chance, 1.
    for (v, label, anchor) in [
        (0.0, "0".to_string(), "start"),
        (0.5, "0.5 (chance)".to_string(), "middle"),
        (1.0, "1".to_string(), "end"),
    ] {
        put!(
            svg,
            "<line x1=\"{0:.2}\" x2=\"{0:.2}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#98a2b3\"/>\
             <text x=\"{0:.2}\" y=\"{3}\" text-anchor=\"{anchor}\" fill=\"{TEXT}\">{label}</text>",
            x(v),
            track_y + track_h,
            track_y + track_h + 4.0,
            track_y + track_h + 15.0
        );
    }
    // Threshold marker above the track, AUC value at the end of the fill.
    put!(
        svg,
        "<line x1=\"{0:.2}\" x2=\"{0:.2}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#101828\" \
         stroke-width=\"2\" stroke-dasharray=\"3 2\"/>\
         <text x=\"{0:.2}\" y=\"12\" text-anchor=\"{4}\" fill=\"#101828\">threshold {3}</text>",
        x(threshold),
        track_y - 5.0,
        track_y + track_h + 5.0,
        escape(&g4(threshold)),
        // Keep the label on the canvas when the threshold sits near either end.
        match x(threshold) {
            t if t < left + 45.0 => "start",
            t if t > width - right - 45.0 => "end",
            _ => "middle",
        }
    );
    let inside = x(auc) - left > 90.0;
    put!(
        svg,
        "<text x=\"{:.2}\" y=\"{}\" text-anchor=\"{}\" fill=\"{}\" font-weight=\"600\">AUC {}</text>\
         </svg>",
        if inside { x(auc) - 6.0 } else { x(auc) + 6.0 },
        track_y + 10.5,
        if inside { "end" } else { "start" },
        if inside { "#ffffff" } else { "#101828" },
        escape(&g4(auc))
    );
    svg
}
