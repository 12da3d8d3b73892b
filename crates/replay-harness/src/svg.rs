//! The timeline plot as SVG: one panel per plotted tag (values, dashed high
//! limit), and a lane of events below (questions, answers, alerts), all on
//! the same plant-time axis. Written by hand: a few dozen elements do not
//! need a plotting library and its fonts.

use std::fmt::Write;

use crate::outcome::Timeline;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PANEL: f64 = 150.0;
// Room above each panel for its tag name.
const LANE: f64 = 90.0;
const GAP: f64 = 30.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A "nice" tick step giving about `count` ticks over `span`.
fn tick_step(span: f64, count: f64) -> f64 {
    let raw = (span / count).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    let mantissa = raw / magnitude;
    let nice = if mantissa < 1.5 {
        1.0
    } else if mantissa < 3.5 {
        2.0
    } else if mantissa < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A dashed level on a tag's panel (an expectation's event threshold).
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub tag: String,
    pub value: f64,
    pub label: String,
}

/// The timeline of `tags` (and every event) as an SVG document; `levels`
/// are drawn as dashed lines with the readings' own high limits.
pub fn render(line: &Timeline, tags: &[String], levels: &[Level], title: &str) -> String {
    let end_t = line
        .series
        .values()
        .flat_map(|s| s.iter().map(|p| p.0))
        .chain(line.alerts.iter().map(|a| a.t_s))
        .chain(line.questions.iter().map(|q| q.t_s))
        .fold(1.0f64, f64::max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + (t / end_t).clamp(0.0, 1.0) * plot_w;
    let height = 40.0 + tags.len() as f64 * (PANEL + GAP) + LANE + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{}</text>"#, escape(title));
    let mut top = 40.0;
    for tag in tags {
        let points = line.series.get(tag).map(Vec::as_slice).unwrap_or(&[]);
        let mut dashed: Vec<(f64, String)> =
            levels.iter().filter(|l| &l.tag == tag).map(|l| (l.value, l.label.clone())).collect();
        if let Some(limit) = line.high_limits.get(tag) {
            dashed.push((*limit, format!("high limit {limit}")));
        }
        let (mut low, mut high) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
        for (value, _) in &dashed {
            low = low.min(*value);
            high = high.max(*value);
        }
        if low > high {
            (low, high) = (0.0, 1.0);
        }
        let pad = ((high - low) * 0.08).max(0.5);
        let (low, high) = (low - pad, high + pad);
        let y = |v: f64| top + PANEL - (v - low) / (high - low) * PANEL;
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>"##
        );
        let _ = writeln!(svg, r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#, top - 4.0, escape(tag));
        let step = tick_step(high - low, 4.0);
        let mut tick = (low / step).ceil() * step;
        while tick <= high {
            let (x0, yt, xl, yl, label) =
                (LEFT - 4.0, y(tick), LEFT - 6.0, y(tick) + 4.0, format!("{tick:.*}", if step < 1.0 { 1 } else { 0 }));
            let _ = writeln!(
                svg,
                r##"<line x1="{x0}" x2="{LEFT}" y1="{yt:.1}" y2="{yt:.1}" stroke="#999"/><text x="{xl}" y="{yl:.1}" text-anchor="end">{label}</text>"##
            );
            tick += step;
        }
        for (value, label) in &dashed {
            let (x1, yl, xt, yt, label) =
                (LEFT + plot_w, y(*value), LEFT + plot_w - 4.0, y(*value) - 4.0, escape(label));
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" x2="{x1}" y1="{yl:.1}" y2="{yl:.1}" stroke="#d33" stroke-dasharray="6 4"/><text x="{xt}" y="{yt:.1}" fill="#d33" text-anchor="end">{label}</text>"##
            );
        }
        let path: Vec<String> = points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
        if !path.is_empty() {
            let _ = writeln!(
                svg,
                r##"<polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points="{}"/>"##,
                path.join(" ")
            );
        }
        for alert in &line.alerts {
            let _ = writeln!(
                svg,
                r##"<line x1="{0:.1}" x2="{0:.1}" y1="{top}" y2="{1}" stroke="#d33" stroke-opacity="0.35"/>"##,
                x(alert.t_s),
                top + PANEL
            );
        }
        top += PANEL + GAP;
    }
    // The events lane.
    let _ =
        writeln!(svg, r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{LANE}" fill="none" stroke="#999"/>"##);
    let rows = [("questions", 20.0), ("answers", 45.0), ("alerts", 70.0)];
    for (name, dy) in rows {
        let _ = writeln!(svg, r#"<text x="{}" y="{:.1}" text-anchor="end">{name}</text>"#, LEFT - 6.0, top + dy + 4.0);
    }
    for question in &line.questions {
        let _ = writeln!(
            svg,
            r##"<circle cx="{:.1}" cy="{}" r="4" fill="#1f5fbf"><title>{} {}</title></circle>"##,
            x(question.t_s),
            top + 20.0,
            escape(&question.id),
            escape(&question.text)
        );
    }
    for answer in &line.answers {
        let Some(t) = answer.t_s else { continue };
        let t = t + answer.latency_ms as f64 / 1000.0;
        let _ = writeln!(
            svg,
            r##"<circle cx="{:.1}" cy="{}" r="4" fill="#2a9d3a"><title>{}</title></circle>"##,
            x(t),
            top + 45.0,
            escape(&answer.text)
        );
    }
    for alert in &line.alerts {
        let (cx, cy) = (x(alert.t_s), top + 70.0);
        let colour = match alert.severity.as_str() {
            "critical" => "#a00",
            "warning" => "#d33",
            _ => "#e90",
        };
        let _ = writeln!(
            svg,
            r##"<path d="M{:.1},{:.1} l5,9 h-10 z" fill="{colour}"><title>{} {}</title></path>"##,
            cx,
            cy - 5.0,
            escape(&alert.kind),
            escape(&alert.message)
        );
    }
    // Time axis.
    let axis_y = top + LANE;
    let step = tick_step(end_t, 8.0);
    let mut t = 0.0;
    while t <= end_t + 1e-9 {
        let (xt, y1, yt, label) =
            (x(t), axis_y + 4.0, axis_y + 16.0, format!("{t:.*}", if step < 1.0 { 1 } else { 0 }));
        let _ = writeln!(
            svg,
            r##"<line x1="{xt:.1}" x2="{xt:.1}" y1="{axis_y}" y2="{y1}" stroke="#999"/><text x="{xt:.1}" y="{yt}" text-anchor="middle">{label}</text>"##
        );
        t += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">plant time, s from the first reading</text>"#,
        LEFT + plot_w / 2.0,
        axis_y + 32.0
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::RaisedAlert;

    #[test]
    fn the_plot_has_a_line_per_tag_the_limit_and_every_alert() {
        let mut line = Timeline::default();
        line.series.insert("temp".into(), vec![(0.0, 70.0), (5.0, 85.0)]);
        line.high_limits.insert("temp".into(), 80.0);
        line.alerts.push(RaisedAlert {
            t_s: 4.0,
            id: "a".into(),
            kind: "high_limit".into(),
            severity: "warning".into(),
            message: "temp <above> 80".into(),
        });
        let level = Level { tag: "temp".into(), value: 90.0, label: "above 90".into() };
        let svg = render(&line, &["temp".into()], &[level], "overheat");
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("high limit 80") && svg.contains("above 90"));
        assert!(svg.contains("temp &lt;above&gt; 80"));
        assert_eq!(tick_step(100.0, 5.0), 20.0);
        assert_eq!(tick_step(7.0, 8.0), 1.0);
    }
}
