//! `earlyexit telemetry report`: one self-contained HTML page a person looks at. Every chart is
//! inline SVG drawn by plotters, with its numbers in a table beside it (for screen readers
//! and for copying); the page loads nothing from the network and runs no script.
//!
//! Commands appear as the database holds them: their text at full detail, else the executable
//! and the start of the command hash.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plotters::prelude::*;

use super::savings::{self, RunTiming};

/// One run, as the report reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRun {
    pub command_hash: String,
    pub label: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub exit_reason: String,
    pub command_exit_code: Option<i64>,
    pub runtime: f64,
    pub time_to_first_match: Option<f64>,
    pub pattern: Option<String>,
    pub match_count: i64,
}

/// How a run ended, as the runs-per-day chart stacks them.
const OUTCOMES: [(&str, RGBColor); 4] = [
    ("stopped on a match", RGBColor(46, 125, 50)),
    ("completed", RGBColor(120, 144, 156)),
    ("failed", RGBColor(198, 40, 40)),
    ("timed out", RGBColor(239, 108, 0)),
];

impl ReportRun {
    fn is_failure(&self) -> bool {
        matches!(
            self.exit_reason.as_str(),
            "timeout" | "idle_timeout" | "first_output_timeout" | "error_pattern" | "error"
        ) || (self.exit_reason == "no_match" && self.command_exit_code.is_some_and(|c| c != 0))
    }

    /// The index into [`OUTCOMES`].
    fn outcome(&self) -> usize {
        match self.exit_reason.as_str() {
            "timeout" | "idle_timeout" | "first_output_timeout" => 3,
            _ if self.is_failure() => 2,
            "match" | "success_pattern" => 0,
            _ => 1,
        }
    }
}

/// What the page covers.
pub struct Scope<'a> {
    pub database: &'a str,
    pub period: &'a str,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let head: String = headers
        .iter()
        .map(|h| format!("<th scope=\"col\">{}</th>", escape(h)))
        .collect();
    let body: String = rows
        .iter()
        .map(|row| {
            let cells: String = row
                .iter()
                .map(|cell| format!("<td>{}</td>", escape(cell)))
                .collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    format!("<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
}

/// A bar chart: one bar per label and series, the series stacked or side by side.
fn bar_chart(
    title: &str,
    labels: &[String],
    series: &[(&str, RGBColor, Vec<f64>)],
    stacked: bool,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 300)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let top = (0..labels.len())
            .map(|i| {
                let values = series
                    .iter()
                    .map(|(_, _, v)| v.get(i).copied().unwrap_or(0.0));
                if stacked {
                    values.sum()
                } else {
                    values.fold(0.0, f64::max)
                }
            })
            .fold(0.0, f64::max);
        let built = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(50)
            // Bar i is centred on x = i, where its label is.
            .build_cartesian_2d(
                -0.5..labels.len().max(1) as f64 - 0.5,
                0.0..(top * 1.1).max(1.0),
            );
        if let Ok(mut chart) = built {
            let shown = |x: &f64| {
                labels
                    .get(x.round() as usize)
                    .filter(|_| x.fract() == 0.0 && *x >= 0.0)
                    .map(|l| l.chars().take(14).collect())
                    .unwrap_or_default()
            };
            let _ = chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(labels.len().clamp(1, 12))
                .x_label_formatter(&shown)
                .draw();
            let width = if stacked {
                0.8
            } else {
                0.8 / series.len() as f64
            };
            let mut base = vec![0.0; labels.len()];
            for (index, (name, color, values)) in series.iter().enumerate() {
                let bars = values.iter().enumerate().map(|(i, value)| {
                    let (x0, y0) = if stacked {
                        (i as f64 - 0.4, base[i])
                    } else {
                        (i as f64 - 0.4 + width * index as f64, 0.0)
                    };
                    Rectangle::new([(x0, y0), (x0 + width, y0 + value)], color.filled())
                });
                if let Ok(drawn) = chart.draw_series(bars) {
                    drawn.label(*name).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                    });
                }
                if stacked {
                    for (slot, value) in base.iter_mut().zip(values) {
                        *slot += value;
                    }
                }
            }
            if series.len() > 1 {
                let _ = chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw();
            }
        }
        let _ = root.present();
    }
    svg
}

/// The Monday that starts the week of an RFC 3339 time, as a date.
fn week_of(timestamp: &str) -> String {
    let Ok(time) = humantime::parse_rfc3339_weak(timestamp.trim_end_matches('Z')) else {
        return timestamp.chars().take(10).collect();
    };
    let days = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 86_400;
    // 1970-01-01 was a Thursday.
    let monday = days - (days + 3) % 7;
    let start = UNIX_EPOCH + Duration::from_secs(monday * 86_400);
    humantime::format_rfc3339(start).to_string()[..10].to_string()
}

fn seconds(value: f64) -> String {
    format!("{value:.3}")
}

/// The value at the given fraction of a sorted list (nearest rank), as `telemetry stats`.
pub fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A chart and its table, under a heading.
fn section(id: &str, heading: &str, svg: String, table: String) -> String {
    format!(
        "<section id=\"{id}\"><h2>{}</h2><div class=\"pair\"><figure>{svg}</figure>{table}</div></section>\n",
        escape(heading)
    )
}

/// Per command, most runs first, at most ten.
fn by_command(runs: &[ReportRun]) -> Vec<(&str, Vec<&ReportRun>)> {
    let mut commands: BTreeMap<&str, Vec<&ReportRun>> = BTreeMap::new();
    for run in runs {
        commands.entry(&run.command_hash).or_default().push(run);
    }
    let mut commands: Vec<(&str, Vec<&ReportRun>)> = commands
        .into_values()
        .map(|runs| (runs[0].label.as_str(), runs))
        .collect();
    commands.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    commands
}

/// The whole page.
pub fn render(scope: &Scope<'_>, runs: &[ReportRun], timings: &[RunTiming]) -> String {
    let mut body = String::new();

    let saved = savings::estimate(timings);
    let saved_rows: Vec<Vec<String>> = saved
        .by_command
        .iter()
        .map(|c| {
            vec![
                c.command.clone(),
                c.saved_seconds.map_or_else(|| "unknown".into(), seconds),
                c.stopped_runs.to_string(),
                c.complete_runs.to_string(),
                c.hangs_stopped.to_string(),
                seconds(c.hang_seconds),
            ]
        })
        .collect();
    let mut weeks: BTreeMap<String, f64> = BTreeMap::new();
    for (timestamp, value) in savings::per_run(timings) {
        *weeks.entry(week_of(timestamp)).or_default() += value;
    }
    let week_labels: Vec<String> = weeks.keys().cloned().collect();
    body += &format!(
        "<section id=\"time-saved\"><h2>Time saved</h2><p class=\"total\">{} s saved by {} run(s) stopped early; {} more without an estimate (their command has fewer than {} runs that ended on their own); {} hang(s) stopped after {} s allowed.</p>{}</section>\n",
        seconds(saved.saved_seconds),
        saved.estimated_runs,
        saved.unknown_runs,
        savings::MIN_COMPLETE_RUNS,
        saved.hangs_stopped,
        seconds(saved.hang_seconds),
        table(
            &["command", "saved (s)", "stopped early", "ended on their own", "hangs stopped", "hang time allowed (s)"],
            &saved_rows
        )
    );
    body += &section(
        "time-saved-per-week",
        "Time saved per week",
        bar_chart(
            "Seconds saved, by week",
            &week_labels,
            &[(
                "saved",
                RGBColor(46, 125, 50),
                weeks.values().copied().collect(),
            )],
            false,
        ),
        table(
            &["week of", "saved (s)"],
            &weeks
                .iter()
                .map(|(w, s)| vec![w.clone(), seconds(*s)])
                .collect::<Vec<_>>(),
        ),
    );

    let mut days: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for run in runs {
        days.entry(run.timestamp.chars().take(10).collect())
            .or_default()[run.outcome()] += 1;
    }
    let day_labels: Vec<String> = days.keys().cloned().collect();
    let day_series: Vec<(&str, RGBColor, Vec<f64>)> = OUTCOMES
        .iter()
        .enumerate()
        .map(|(i, (name, color))| (*name, *color, days.values().map(|c| c[i] as f64).collect()))
        .collect();
    let mut day_headers = vec!["day"];
    day_headers.extend(OUTCOMES.iter().map(|(name, _)| *name));
    body += &section(
        "runs-per-day",
        "Runs per day, by outcome",
        bar_chart("Runs per day", &day_labels, &day_series, true),
        table(
            &day_headers,
            &days
                .iter()
                .map(|(day, counts)| {
                    std::iter::once(day.clone())
                        .chain(counts.iter().map(usize::to_string))
                        .collect()
                })
                .collect::<Vec<_>>(),
        ),
    );

    let commands = by_command(runs);
    let mut failing: Vec<(&str, usize, usize)> = commands
        .iter()
        .map(|(label, runs)| {
            (
                *label,
                runs.len(),
                runs.iter().filter(|r| r.is_failure()).count(),
            )
        })
        .filter(|(_, _, failures)| *failures > 0)
        .collect();
    failing.sort_by(|a, b| (b.2 * a.1).cmp(&(a.2 * b.1)).then(b.1.cmp(&a.1)));
    failing.truncate(10);
    let rate = |(_, runs, failures): &(&str, usize, usize)| *failures as f64 / *runs as f64;
    body += &section(
        "failing-commands",
        "Commands that fail most",
        bar_chart(
            "Failure rate",
            &failing.iter().map(|f| f.0.to_string()).collect::<Vec<_>>(),
            &[(
                "failure rate",
                RGBColor(198, 40, 40),
                failing.iter().map(rate).collect(),
            )],
            false,
        ),
        table(
            &["command", "runs", "failed", "failure rate"],
            &failing
                .iter()
                .map(|f| {
                    vec![
                        f.0.to_string(),
                        f.1.to_string(),
                        f.2.to_string(),
                        format!("{:.3}", rate(f)),
                    ]
                })
                .collect::<Vec<_>>(),
        ),
    );

    let durations: Vec<(&str, f64, f64)> = commands
        .iter()
        .take(10)
        .map(|(label, runs)| {
            let mut times: Vec<f64> = runs.iter().map(|r| r.runtime).collect();
            times.sort_by(f64::total_cmp);
            let at = |f| percentile(&times, f).unwrap_or(0.0);
            (*label, at(0.5), at(0.95))
        })
        .collect();
    body += &section(
        "durations",
        "Run time per command (p50 and p95)",
        bar_chart(
            "Seconds",
            &durations
                .iter()
                .map(|d| d.0.to_string())
                .collect::<Vec<_>>(),
            &[
                (
                    "p50",
                    RGBColor(30, 136, 229),
                    durations.iter().map(|d| d.1).collect(),
                ),
                (
                    "p95",
                    RGBColor(94, 53, 177),
                    durations.iter().map(|d| d.2).collect(),
                ),
            ],
            false,
        ),
        table(
            &["command", "p50 (s)", "p95 (s)"],
            &durations
                .iter()
                .map(|d| vec![d.0.to_string(), seconds(d.1), seconds(d.2)])
                .collect::<Vec<_>>(),
        ),
    );

    let mut patterns: BTreeMap<&str, i64> = BTreeMap::new();
    for run in runs.iter().filter(|r| r.match_count > 0) {
        *patterns
            .entry(run.pattern.as_deref().unwrap_or(""))
            .or_default() += run.match_count;
    }
    let mut patterns: Vec<(&str, i64)> = patterns.into_iter().collect();
    patterns.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    patterns.truncate(10);
    body += &section(
        "patterns",
        "Most frequent matched patterns",
        bar_chart(
            "Matches",
            &patterns.iter().map(|p| p.0.to_string()).collect::<Vec<_>>(),
            &[(
                "matches",
                RGBColor(0, 137, 123),
                patterns.iter().map(|p| p.1 as f64).collect(),
            )],
            false,
        ),
        table(
            &["pattern", "matches"],
            &patterns
                .iter()
                .map(|p| vec![p.0.to_string(), p.1.to_string()])
                .collect::<Vec<_>>(),
        ),
    );

    const BUCKETS: [(&str, f64); 6] = [
        ("< 0.1 s", 0.1),
        ("0.1-1 s", 1.0),
        ("1-10 s", 10.0),
        ("10-60 s", 60.0),
        ("1-10 min", 600.0),
        ("> 10 min", f64::INFINITY),
    ];
    let mut counts = [0usize; 6];
    for t in runs.iter().filter_map(|r| r.time_to_first_match) {
        counts[BUCKETS
            .iter()
            .position(|(_, upper)| t < *upper)
            .unwrap_or(5)] += 1;
    }
    body += &section(
        "first-match",
        "Time to first match",
        bar_chart(
            "Runs",
            &BUCKETS.iter().map(|b| b.0.to_string()).collect::<Vec<_>>(),
            &[(
                "runs",
                RGBColor(255, 143, 0),
                counts.iter().map(|c| *c as f64).collect(),
            )],
            false,
        ),
        table(
            &["time to first match", "runs"],
            &BUCKETS
                .iter()
                .zip(counts)
                .map(|(b, c)| vec![b.0.to_string(), c.to_string()])
                .collect::<Vec<_>>(),
        ),
    );

    let generated = humantime::format_rfc3339_seconds(SystemTime::now());
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>earlyexit report: {period}</title>\n<style>{STYLE}</style></head>\n<body><h1>earlyexit report</h1>\n<p class=\"scope\">Database <code>{database}</code>, runs {period}: {count} run(s). Generated {generated}.</p>\n{body}</body></html>\n",
        period = escape(scope.period),
        database = escape(scope.database),
        count = runs.len(),
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
section{margin:2em 0}.pair{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\
figure{margin:0}table{border-collapse:collapse;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}td:not(:first-child){text-align:right}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(week_of("2026-12-02T10:00:00.000Z"), "2026-11-30");
        assert_eq!(week_of("2026-11-30T00:00:00.000Z"), "2026-11-30");
        assert_eq!(week_of("2026-11-29T23:59:59.999Z"), "2026-11-23");
    }

    #[test]
    fn percentile_is_the_nearest_rank() {
        let sorted = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&sorted, 0.5), Some(5.0));
        assert_eq!(percentile(&sorted, 0.95), Some(10.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
