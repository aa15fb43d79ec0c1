//! Inline SVG charts for the HTML reports: a multi-series line chart over days with
//! shaded windows, and a bar chart (histograms). Plain SVG 1.1 elements only, sized by a
//! `viewBox` so they scale with the page; colours come from CSS classes where the page
//! defines them and from `stroke`/`fill` attributes otherwise, so a chart also reads when
//! saved alone. Every text is escaped. Each chart carries a `<title>` and `<desc>` for
//! screen readers, and per-x hover regions with `<title>` tooltips (no script).

use std::fmt::Write as _;

use crate::html::esc;

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text, e.g. "submissions".
    pub name: String,
    /// A CSS colour, e.g. `#1f77b4`.
    pub colour: String,
    /// One value per x position.
    pub values: Vec<f64>,
}

/// A shaded window on the x axis, e.g. a phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// First x index (inclusive).
    pub from: usize,
    /// Last x index (inclusive).
    pub to: usize,
    /// Label drawn at the top of the band (keep it short; bands' labels are staggered in
    /// three rows).
    pub label: String,
    /// Tooltip of the band (e.g. the full phase name and dates).
    pub tooltip: String,
    /// Fill colour (drawn with low opacity).
    pub colour: String,
}

/// Geometry shared by the charts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// viewBox width.
    pub width: f64,
    /// viewBox height.
    pub height: f64,
    /// Left margin (y labels).
    pub left: f64,
    /// Right margin.
    pub right: f64,
    /// Top margin (legend, band labels).
    pub top: f64,
    /// Bottom margin (x labels).
    pub bottom: f64,
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            width: 1000.0,
            height: 320.0,
            left: 48.0,
            right: 12.0,
            top: 60.0,
            bottom: 40.0,
        }
    }
}

impl Frame {
    fn plot_w(&self) -> f64 {
        (self.width - self.left - self.right).max(1.0)
    }
    fn plot_h(&self) -> f64 {
        (self.height - self.top - self.bottom).max(1.0)
    }
}

/// A "nice" axis maximum and step for values up to `max` (1, 2 or 5 × 10^k steps, about
/// five ticks).
pub fn nice_axis(max: f64) -> (f64, f64) {
    if !max.is_finite() || max <= 0.0 {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let step = if step < 1.0 { 1.0 } else { step };
    ((max / step).ceil() * step, step)
}

fn num(x: f64) -> String {
    // Whole numbers without decimals, others with one: keeps the file small and stable.
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.1}")
    }
}

fn y_axis(out: &mut String, f: &Frame, ymax: f64, step: f64) {
    let mut v = 0.0;
    while v <= ymax + 1e-9 {
        let y = f.top + f.plot_h() * (1.0 - v / ymax);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{l}\" y1=\"{y:.1}\" x2=\"{r}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
<text class=\"ylab\" x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
            num(v),
            l = f.left,
            r = f.left + f.plot_w(),
            tx = f.left - 6.0,
            ty = y + 4.0,
        );
        v += step;
    }
}

fn open(out: &mut String, id: &str, class: &str, f: &Frame, title: &str, desc: &str) {
    let _ = write!(
        out,
        "<svg id=\"{}\" class=\"chart {}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\" aria-labelledby=\"{}-t\" font-family=\"sans-serif\">\
<title id=\"{}-t\">{}</title><desc>{}</desc>",
        esc(id),
        esc(class),
        f.width,
        f.height,
        esc(id),
        esc(id),
        esc(title),
        esc(desc)
    );
}

/// A line chart over `n` x positions (`n` = the longest series), with `x_ticks` (index,
/// label) on the axis, `bands` shaded behind the lines, a legend on top, and per-x hover
/// regions whose tooltip is `hover[i]` (when given).
pub fn line_chart(
    id: &str,
    title: &str,
    frame: Frame,
    series: &[Series],
    x_ticks: &[(usize, String)],
    bands: &[Band],
    hover: &[String],
) -> String {
    let f = frame;
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max);
    let (ymax, step) = nice_axis(max);
    let slot = f.plot_w() / n.max(1) as f64;
    let x = |i: usize| f.left + slot * (i as f64 + 0.5);
    let y = |v: f64| f.top + f.plot_h() * (1.0 - v.max(0.0) / ymax);
    let mut out = String::with_capacity(4096 + n * 200);
    let desc = format!(
        "{} series over {} days: {}",
        series.len(),
        n,
        series
            .iter()
            .map(|s| format!("{} (total {})", s.name, num(s.values.iter().sum())))
            .collect::<Vec<_>>()
            .join(", ")
    );
    open(&mut out, id, "line-chart", &f, title, &desc);
    // bands
    for (k, b) in bands.iter().enumerate() {
        if n == 0 || b.from >= n {
            continue;
        }
        let to = b.to.min(n - 1).max(b.from);
        let x0 = f.left + slot * b.from as f64;
        let w = slot * (to - b.from + 1) as f64;
        // three label rows between the legend and the plot
        let ly = f.top - 4.0 - 12.0 * (2 - (k % 3)) as f64;
        let _ = write!(
            out,
            "<g class=\"band\"><rect x=\"{x0:.1}\" y=\"{}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\" fill-opacity=\"0.13\"><title>{}</title></rect>\
<line x1=\"{x0:.1}\" y1=\"{:.1}\" x2=\"{x0:.1}\" y2=\"{}\" stroke=\"{}\" stroke-opacity=\"0.6\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10.5\" fill=\"#444\">{}</text></g>",
            f.top,
            f.plot_h(),
            esc(&b.colour),
            esc(&b.tooltip),
            ly + 2.0,
            f.top,
            esc(&b.colour),
            x0 + 2.0,
            ly,
            esc(&b.label)
        );
    }
    y_axis(&mut out, &f, ymax, step);
    // x axis and ticks
    let base = f.top + f.plot_h();
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/>",
        f.left,
        f.left + f.plot_w()
    );
    for (i, label) in x_ticks {
        if *i >= n {
            continue;
        }
        let _ = write!(
            out,
            "<line x1=\"{xi:.1}\" y1=\"{base}\" x2=\"{xi:.1}\" y2=\"{}\" stroke=\"#333\"/>\
<text class=\"xlab\" x=\"{xi:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
            base + 5.0,
            base + 18.0,
            esc(label),
            xi = x(*i),
        );
    }
    // lines
    for s in series {
        let pts: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"{}\"/>",
            esc(&s.name),
            esc(&s.colour),
            pts.join(" ")
        );
    }
    // legend
    let mut lx = f.left;
    for s in series {
        let _ = write!(
            out,
            "<g class=\"legend\"><rect x=\"{lx}\" y=\"6\" width=\"14\" height=\"4\" fill=\"{}\"/>\
<text x=\"{}\" y=\"12\" font-size=\"12\">{}</text></g>",
            esc(&s.colour),
            lx + 18.0,
            esc(&s.name)
        );
        lx += 18.0 + 8.0 * s.name.chars().count() as f64 + 24.0;
    }
    // hover regions
    for (i, h) in hover.iter().enumerate().take(n) {
        let _ = write!(
            out,
            "<rect class=\"hover\" x=\"{:.1}\" y=\"{}\" width=\"{slot:.1}\" height=\"{:.1}\" fill=\"transparent\"><title>{}</title></rect>",
            f.left + slot * i as f64,
            f.top,
            f.plot_h(),
            esc(h)
        );
    }
    out.push_str("</svg>");
    out
}

/// A vertical bar chart: one bar per label, the value printed above each bar.
pub fn bar_chart(
    id: &str,
    title: &str,
    frame: Frame,
    labels: &[String],
    values: &[f64],
    colour: &str,
) -> String {
    let f = frame;
    let n = labels.len().min(values.len());
    let max = values.iter().copied().fold(0.0f64, f64::max);
    let (ymax, step) = nice_axis(max);
    let slot = f.plot_w() / n.max(1) as f64;
    let mut out = String::with_capacity(2048 + n * 300);
    let desc = labels
        .iter()
        .zip(values)
        .map(|(l, v)| format!("{l}: {}", num(*v)))
        .collect::<Vec<_>>()
        .join("; ");
    open(&mut out, id, "bar-chart", &f, title, &desc);
    y_axis(&mut out, &f, ymax, step);
    let base = f.top + f.plot_h();
    for i in 0..n {
        let v = values[i].max(0.0);
        let h = f.plot_h() * v / ymax;
        let x0 = f.left + slot * i as f64 + slot * 0.1;
        let w = slot * 0.8;
        let _ = write!(
            out,
            "<g class=\"bar\"><rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {}</title></rect>\
<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\
<text class=\"xlab\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text></g>",
            base - h,
            esc(colour),
            esc(&labels[i]),
            num(v),
            x0 + w / 2.0,
            base - h - 3.0,
            num(v),
            x0 + w / 2.0,
            base + 16.0,
            esc(&labels[i])
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/></svg>",
        f.left,
        f.left + f.plot_w()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axes() {
        assert_eq!(nice_axis(0.0), (1.0, 1.0));
        assert_eq!(nice_axis(7.0), (8.0, 2.0));
        assert_eq!(nice_axis(97.0), (100.0, 20.0));
        assert_eq!(nice_axis(430.0), (500.0, 100.0));
        assert_eq!(nice_axis(3.0), (3.0, 1.0));
    }

    #[test]
    fn charts_escape_text() {
        let s = line_chart(
            "c",
            "a<b",
            Frame::default(),
            &[Series {
                name: "x&y".into(),
                colour: "#000".into(),
                values: vec![1.0, 2.0],
            }],
            &[(0, "1 <Jan>".into())],
            &[Band {
                from: 0,
                to: 5,
                label: "\"w42\"".into(),
                tooltip: "t".into(),
                colour: "#f00".into(),
            }],
            &["a&b".into()],
        );
        assert!(s.contains("a&lt;b") && s.contains("x&amp;y") && s.contains("1 &lt;Jan&gt;"));
        assert!(s.contains("&quot;w42&quot;") && !s.contains("a&b"));
        let b = bar_chart(
            "h",
            "t",
            Frame::default(),
            &["0–6 h".into()],
            &[3.0],
            "#00f",
        );
        assert!(b.contains(">3</text>"));
    }
}
