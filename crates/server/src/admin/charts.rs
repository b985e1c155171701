//! The admin page's charts: inline SVG written on the server with maud, so
//! nothing is fetched and nothing runs in the browser. This module owns
//! their geometry — stacked bars over time buckets, and a gauge of one
//! value against its maximum — their text alternative (a `<title>` and a
//! description every screen reader gets, a tooltip per bar) and their
//! empty state, a chart-sized box that says there is nothing to draw.
//! Colours come from the stylesheet through class names; no style
//! attribute is written (the page's CSP allows none).

use maud::{Markup, html};

/// Width of a bar chart's drawing, in SVG units (one per CSS pixel at its natural size).
pub const BARS_WIDTH: u32 = 320;
/// Height of a bar chart's drawing, axis labels included.
pub const BARS_HEIGHT: u32 = 120;
/// Room left of the bars for the value labels.
const LEFT: f64 = 28.0;
/// Room above the bars.
const TOP: f64 = 6.0;
/// Room below the bars for the bucket labels.
const BOTTOM: f64 = 18.0;
/// Space between two bars, as a share of a bucket's width.
const GAP: f64 = 0.2;
/// The widest a bar gets (a chart of few buckets draws slim bars, not slabs).
const MAX_BAR: f64 = 22.0;

/// One stacked quantity: its name (in the legend and tooltips), the
/// stylesheet class that colours it, and one value per bucket.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
    pub values: Vec<i64>,
}

impl Series {
    pub fn new(name: &'static str, class: &'static str, values: Vec<i64>) -> Self {
        Self {
            name,
            class,
            values,
        }
    }

    pub fn total(&self) -> i64 {
        self.values.iter().map(|v| (*v).max(0)).sum()
    }
}

/// What a bar chart shows: its accessible title, a label per bucket (for
/// the tooltips), the few labels written under the axis (bucket index and
/// text), and what to say when every value is 0.
pub struct Bars<'a> {
    pub title: &'a str,
    pub buckets: &'a [String],
    pub axis: &'a [(usize, String)],
    pub series: &'a [Series],
    pub empty: &'a str,
}

/// Rounds `max` up to a number that reads well on an axis (1, 2, 5 × 10ⁿ).
pub fn nice_ceiling(max: i64) -> i64 {
    if max <= 1 {
        return 1;
    }
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate >= max {
                return candidate;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// A stacked bar chart, one bar per bucket, with its legend (each
/// series' total) beneath. Every bar scales to the largest bucket total
/// (rounded up to a readable axis maximum); a chart whose values are all
/// 0 is an empty state saying `empty`.
pub fn stacked_bars(chart: &Bars<'_>) -> Markup {
    let n = chart.buckets.len().max(1);
    let totals: Vec<i64> = (0..n)
        .map(|i| {
            chart
                .series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0).max(0))
                .sum()
        })
        .collect();
    let peak = totals.iter().copied().max().unwrap_or(0);
    let summary = chart
        .series
        .iter()
        .map(|s| format!("{} {}", s.total(), s.name))
        .collect::<Vec<_>>()
        .join(", ");
    let (w, h) = (f64::from(BARS_WIDTH), f64::from(BARS_HEIGHT));
    let plot_w = w - LEFT - 2.0;
    let plot_h = h - TOP - BOTTOM;
    let base = TOP + plot_h;
    let slot = plot_w / n as f64;
    let bar_w = (slot * (1.0 - GAP)).min(MAX_BAR);
    html! {
        figure.chart {
            @if peak == 0 {
                svg.chart-svg.chart-empty role="img" aria-label=(format!("{}: {}", chart.title, chart.empty))
                    viewBox=(format!("0 0 {w} {h}")) width=(BARS_WIDTH) height=(BARS_HEIGHT) {
                    rect.chart-frame x="0.5" y="0.5" width=(fmt(w - 1.0)) height=(fmt(h - 1.0)) rx="6" {}
                    text.chart-empty-text x=(fmt(w / 2.0)) y=(fmt(h / 2.0 + 4.0)) text-anchor="middle" { (chart.empty) }
                }
            } @else {
                @let top = nice_ceiling(peak);
                @let scale = plot_h / top as f64;
                svg.chart-svg role="img" aria-label=(format!("{}: {summary}; at most {peak} in one bucket", chart.title))
                    viewBox=(format!("0 0 {w} {h}")) width=(BARS_WIDTH) height=(BARS_HEIGHT) {
                    line.chart-grid x1=(fmt(LEFT)) x2=(fmt(w - 2.0)) y1=(fmt(TOP)) y2=(fmt(TOP)) {}
                    line.chart-grid x1=(fmt(LEFT)) x2=(fmt(w - 2.0)) y1=(fmt(TOP + plot_h / 2.0)) y2=(fmt(TOP + plot_h / 2.0)) {}
                    line.chart-axis x1=(fmt(LEFT)) x2=(fmt(w - 2.0)) y1=(fmt(base)) y2=(fmt(base)) {}
                    text.chart-label x=(fmt(LEFT - 4.0)) y=(fmt(TOP + 4.0)) text-anchor="end" { (top) }
                    text.chart-label x=(fmt(LEFT - 4.0)) y=(fmt(base)) text-anchor="end" { "0" }
                    @for i in 0..n {
                        @let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
                        @let tip = tooltip(chart, i, totals[i]);
                        g.chart-bar data-bucket=(i) {
                            title { (tip) }
                            // An invisible full-height target, so a tooltip shows for small bars too.
                            rect.chart-hit x=(fmt(x)) y=(fmt(TOP)) width=(fmt(bar_w)) height=(fmt(plot_h)) {}
                            @for (y, height, class) in stack(chart.series, i, base, scale) {
                                rect class=(class) x=(fmt(x)) y=(fmt(y)) width=(fmt(bar_w)) height=(fmt(height)) {}
                            }
                        }
                    }
                    @for (i, label) in chart.axis {
                        @let x = LEFT + slot * (*i as f64 + 0.5);
                        @let anchor = if n == 1 { "middle" } else if *i == 0 { "start" } else if *i + 1 >= n { "end" } else { "middle" };
                        @let x = match anchor { "start" => x - slot / 2.0, "end" => x + slot / 2.0, _ => x };
                        text.chart-label x=(fmt(x)) y=(fmt(h - 4.0)) text-anchor=(anchor) { (label) }
                    }
                }
            }
            figcaption.legend {
                @for s in chart.series {
                    span.legend-item {
                        svg.swatch width="10" height="10" viewBox="0 0 10 10" aria-hidden="true" { rect class=(s.class) width="10" height="10" rx="2" {} }
                        (s.name) " " strong { (s.total()) }
                    }
                }
            }
        }
    }
}

/// The rectangles of bucket `i`: `(y, height, class)` from the bottom up,
/// zero-height ones left out.
fn stack(series: &[Series], i: usize, base: f64, scale: f64) -> Vec<(f64, f64, &'static str)> {
    let mut y = base;
    let mut out = Vec::new();
    for s in series {
        let v = s.values.get(i).copied().unwrap_or(0).max(0);
        if v == 0 {
            continue;
        }
        let height = v as f64 * scale;
        y -= height;
        out.push((y, height, s.class));
    }
    out
}

fn tooltip(chart: &Bars<'_>, i: usize, total: i64) -> String {
    let when = chart.buckets.get(i).map(String::as_str).unwrap_or("");
    if total == 0 {
        return format!("{when}: nothing");
    }
    let parts: Vec<String> = chart
        .series
        .iter()
        .filter_map(|s| {
            let v = s.values.get(i).copied().unwrap_or(0);
            (v > 0).then(|| format!("{v} {}", s.name))
        })
        .collect();
    format!("{when}: {}", parts.join(", "))
}

/// Width of a gauge's drawing.
pub const GAUGE_WIDTH: u32 = 320;
const GAUGE_HEIGHT: u32 = 14;

/// A horizontal gauge of `value` out of `max`, filled in `class`, with
/// `label` and `caption` (the value in words) above it. Without a maximum
/// (`max` ≤ 0) the gauge is an empty track and the caption says why.
pub fn gauge(label: &str, value: i64, max: i64, class: &str, caption: &str) -> Markup {
    let w = f64::from(GAUGE_WIDTH);
    let h = f64::from(GAUGE_HEIGHT);
    let share = if max > 0 {
        (value.max(0) as f64 / max as f64).min(1.0)
    } else {
        0.0
    };
    html! {
        div.gauge {
            div.gauge-text { span.gauge-label { (label) } " " span.gauge-caption { (caption) } }
            svg.gauge-svg role="img" aria-label=(format!("{label}: {caption}")) viewBox=(format!("0 0 {w} {h}"))
                width=(GAUGE_WIDTH) height=(GAUGE_HEIGHT) preserveAspectRatio="none" {
                rect.gauge-track x="0" y="0" width=(fmt(w)) height=(fmt(h)) rx="7" {}
                @if share > 0.0 {
                    rect class=(class) x="0" y="0" width=(fmt((w * share).max(h))) height=(fmt(h)) rx="7" {}
                }
            }
        }
    }
}

/// A coordinate with at most two decimals, as SVG reads it.
fn fmt(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{i:02}:00")).collect()
    }

    /// The `(height, class)` of every coloured bar rectangle, in order.
    fn bars(svg: &str) -> Vec<(f64, String)> {
        let drawing = svg.split("<figcaption").next().unwrap_or(svg);
        drawing
            .split("<rect ")
            .skip(1)
            .filter_map(|r| {
                let r = &r[..r.find('>')?];
                let attr = |name: &str| {
                    let start = r.find(&format!(" {name}=\""))? + name.len() + 3;
                    Some(r[start..start + r[start..].find('"')?].to_string())
                };
                let class = attr("class").or_else(|| {
                    r.strip_prefix("class=\"")
                        .and_then(|c| c.split('"').next())
                        .map(String::from)
                })?;
                if !class.starts_with("c-") {
                    return None;
                }
                Some((attr("height")?.parse().ok()?, class))
            })
            .collect()
    }

    #[test]
    fn bars_scale_with_the_data() {
        let buckets = labels(4);
        let series = [
            Series::new("written", "c-written", vec![10, 5, 0, 2]),
            Series::new("failed", "c-failed", vec![0, 5, 0, 0]),
        ];
        let svg = stacked_bars(&Bars {
            title: "Activity",
            buckets: &buckets,
            axis: &[(0, "24 h ago".into()), (3, "now".into())],
            series: &series,
            empty: "nothing",
        })
        .into_string();
        let found = bars(&svg);
        // Peak 10 is the axis maximum: a bucket of 10 fills the plot.
        let full = f64::from(BARS_HEIGHT) - TOP - BOTTOM;
        assert_eq!(found.len(), 4, "{found:?}");
        assert!((found[0].0 - full).abs() < 0.01, "{found:?}");
        // 5 + 5 stacked: two halves of the plot.
        assert!((found[1].0 - full / 2.0).abs() < 0.01);
        assert_eq!(found[2].1, "c-failed");
        assert!((found[2].0 - full / 2.0).abs() < 0.01);
        // 2 is a fifth of 10; the empty bucket draws nothing.
        assert!((found[3].0 - full / 5.0).abs() < 0.01);
        assert!(svg.contains(">10<") && svg.contains("24 h ago") && svg.contains(">now<"));
        assert!(svg.contains("01:00: 5 written, 5 failed"), "{svg}");
        assert!(svg.contains("Activity: 17 written, 5 failed; at most 10 in one bucket"));
        // Doubling every value draws the same bars: heights are relative.
        let doubled: Vec<Series> = series
            .iter()
            .map(|s| Series::new(s.name, s.class, s.values.iter().map(|v| v * 2).collect()))
            .collect();
        let svg2 = stacked_bars(&Bars {
            title: "Activity",
            buckets: &buckets,
            axis: &[],
            series: &doubled,
            empty: "nothing",
        })
        .into_string();
        assert_eq!(bars(&svg2), found);
        assert!(svg2.contains(">20<"));
    }

    #[test]
    fn the_axis_maximum_is_rounded_up_to_a_readable_number() {
        let cases = [
            (0, 1),
            (1, 1),
            (3, 5),
            (7, 10),
            (11, 20),
            (99, 100),
            (101, 200),
            (4_001, 5_000),
        ];
        for (max, nice) in cases {
            assert_eq!(nice_ceiling(max), nice, "{max}");
        }
        let buckets = labels(2);
        let series = [Series::new("calls", "c-ok", vec![3, 7])];
        let svg = stacked_bars(&Bars {
            title: "Calls",
            buckets: &buckets,
            axis: &[],
            series: &series,
            empty: "none",
        })
        .into_string();
        let full = f64::from(BARS_HEIGHT) - TOP - BOTTOM;
        let found = bars(&svg);
        assert!((found[1].0 - full * 0.7).abs() < 0.01, "{found:?}");
        assert!(svg.contains(">10<"));
    }

    #[test]
    fn no_data_is_a_labeled_empty_state() {
        let buckets = labels(24);
        let series = [
            Series::new("written", "c-written", vec![0; 24]),
            Series::new("failed", "c-failed", vec![]),
        ];
        let svg = stacked_bars(&Bars {
            title: "Activity",
            buckets: &buckets,
            axis: &[(0, "24 h ago".into())],
            series: &series,
            empty: "No records in the last 24 h",
        })
        .into_string();
        assert!(bars(&svg).is_empty(), "{svg}");
        assert!(svg.contains("chart-empty"));
        assert!(svg.contains(">No records in the last 24 h<"));
        assert!(svg.contains("aria-label=\"Activity: No records in the last 24 h\""));
        // The legend still names each series, with 0.
        assert!(svg.contains("written <strong>0</strong>"), "{svg}");
    }

    #[test]
    fn text_is_escaped() {
        let buckets = vec!["<b>".to_string()];
        let series = [Series::new("written", "c-written", vec![1])];
        let svg = stacked_bars(&Bars {
            title: "a \"title\" & <more>",
            buckets: &buckets,
            axis: &[(0, "<now>".into())],
            series: &series,
            empty: "",
        })
        .into_string();
        assert!(!svg.contains("<b>") && !svg.contains("<now>") && !svg.contains("<more>"));
        assert!(svg.contains("&lt;now&gt;") && svg.contains("&quot;title&quot;"));
    }

    #[test]
    fn a_gauge_fills_its_share() {
        let width = |svg: &str| -> Option<f64> {
            let r = svg.split("<rect class=\"g-").nth(1)?;
            let start = r.find("width=\"")? + 7;
            r[start..start + r[start..].find('"')?].parse().ok()
        };
        let half = gauge("Daily quota", 100, 200, "g-ok", "100 of 200 left").into_string();
        assert_eq!(width(&half), Some(f64::from(GAUGE_WIDTH) / 2.0));
        assert!(half.contains("Daily quota: 100 of 200 left"));
        let over = gauge("Window", 300, 200, "g-bad", "full").into_string();
        assert_eq!(width(&over), Some(f64::from(GAUGE_WIDTH)));
        // A tiny share still shows as a dot, never less.
        let tiny = gauge("Window", 1, 10_000, "g-ok", "1 of 10000").into_string();
        assert_eq!(width(&tiny), Some(f64::from(GAUGE_HEIGHT)));
        let empty = gauge("Daily quota", 0, 0, "g-ok", "not reported yet").into_string();
        assert_eq!(width(&empty), None);
        assert!(empty.contains("not reported yet"));
        let none = gauge("Window", 0, 100, "g-ok", "idle").into_string();
        assert_eq!(width(&none), None);
    }
}
