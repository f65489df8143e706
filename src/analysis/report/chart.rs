//! The page's charts: a bar chart as inline SVG, and a section that puts it beside its table.
//!
//! The chart is drawn here, not by a plotting crate, because what makes it readable is ours to
//! decide: count axes tick on whole numbers, time axes read in human units, both axes have
//! titles, every bar has a tooltip with its full label and value, labels wrap at word
//! boundaries instead of being cut, and the legend sits under the chart, where it can never
//! cover a bar.

use std::fmt::Write as _;

use super::table::human_seconds;
use super::table::{escape, Cell, Table};

/// A colour, as CSS writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub u8, pub u8, pub u8);

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// What the values of a chart are, which decides its ticks and how a value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Whole numbers of runs or matches: ticks on integers, no decimals.
    Count,
    /// Seconds, shown in human units (`850 ms`, `12 s`, `3 min`, `1.5 h`).
    Seconds,
    /// A share between 0 and 1, shown as a percentage.
    Ratio,
}

impl Unit {
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Count => format!("{}", value.round() as i64),
            Unit::Seconds => human_seconds(value),
            Unit::Ratio => format!("{:.0}%", value * 100.0),
        }
    }
}

/// One series of bars: its name in the legend, its colour, one value per label.
pub struct Series {
    pub name: &'static str,
    pub color: Color,
    pub values: Vec<f64>,
}

/// A chart and its table, under the table's heading.
pub struct Section {
    /// The axes' titles: what the labels are, and what the values are.
    pub x_title: &'static str,
    pub y_title: &'static str,
    pub unit: Unit,
    pub labels: Vec<String>,
    pub series: Vec<Series>,
    /// Series stacked on each other, or side by side.
    pub stacked: bool,
    pub table: Table,
}

/// A section of the page: a chart beside its table, or a table alone under a sentence.
pub enum Part {
    Chart(Section),
    Table { lead: String, table: Table },
}

impl Part {
    pub fn table(&self) -> &Table {
        match self {
            Part::Chart(section) => &section.table,
            Part::Table { table, .. } => table,
        }
    }

    pub fn render(&self) -> String {
        match self {
            Part::Chart(section) => section.render(),
            Part::Table { lead, table } => format!(
                "<section id=\"{}\"><h2>{}</h2>{lead}{}</section>\n",
                table.id,
                escape(table.heading),
                table.html()
            ),
        }
    }
}

/// The chart's size and margins, in SVG units.
const WIDTH: f64 = 640.0;
const PLOT_HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const LINE: f64 = 13.0;
/// The widest a label's bars get together, so that a chart of one or two labels is not a wall.
const MAX_GROUP_WIDTH: f64 = 96.0;
/// Lines of a wrapped label at most; the last one ends in `…` at a word boundary.
const LABEL_LINES: usize = 3;

impl Section {
    /// One series whose table is the label and its cells: most of the page's charts.
    pub fn single(
        (id, heading): (&'static str, &'static str),
        (x_title, y_title, unit): (&'static str, &'static str, Unit),
        series: (&'static str, Color),
        columns: Vec<&'static str>,
        points: Vec<(String, f64, Vec<Cell>)>,
    ) -> Section {
        let labels = points.iter().map(|(label, _, _)| label.clone()).collect();
        let values = points.iter().map(|(_, value, _)| *value).collect();
        let rows = points
            .into_iter()
            .map(|(label, _, cells)| std::iter::once(Cell::Text(label)).chain(cells).collect())
            .collect();
        Section {
            x_title,
            y_title,
            unit,
            labels,
            series: vec![Series {
                name: series.0,
                color: series.1,
                values,
            }],
            stacked: false,
            table: Table {
                id,
                heading,
                columns,
                rows,
                text: false,
            },
        }
    }

    pub fn render(&self) -> String {
        let chart = if self.labels.is_empty() {
            "<p class=\"empty\">Nothing to show for the period.</p>".to_string()
        } else {
            format!("{}{}", self.bar_chart(), self.legend())
        };
        format!(
            "<section id=\"{}\"><h2>{}</h2><div class=\"pair\"><figure>{chart}</figure>{}</div></section>\n",
            self.table.id,
            escape(self.table.heading),
            self.table.html()
        )
    }

    /// The legend, as HTML under the chart; a chart of one series needs none.
    fn legend(&self) -> String {
        if self.series.len() < 2 {
            return String::new();
        }
        let items: String = self
            .series
            .iter()
            .map(|s| {
                format!(
                    "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
                    s.color,
                    escape(s.name)
                )
            })
            .collect();
        format!("<figcaption><ul class=\"legend\">{items}</ul></figcaption>")
    }

    /// The highest bar (or stack of bars).
    fn top(&self) -> f64 {
        (0..self.labels.len())
            .map(|i| {
                let values = self.series.iter().map(|s| value_at(s, i));
                if self.stacked {
                    values.sum()
                } else {
                    values.fold(0.0, f64::max)
                }
            })
            .fold(0.0, f64::max)
    }

    fn bar_chart(&self) -> String {
        let slots = self.labels.len().max(1) as f64;
        let plot_width = WIDTH - LEFT - RIGHT;
        let slot = plot_width / slots;
        // A label's longest word must fit: where slots are narrower (days over a month),
        // every `every`th slot is labelled, with the room of `every` slots; the bars' tooltips
        // still name each one.
        let longest_word = self
            .labels
            .iter()
            .flat_map(|label| label.split_whitespace())
            .map(|word| word.chars().count())
            .max()
            .unwrap_or(1);
        let every = ((longest_word as f64 * 6.5 + 4.0) / slot).ceil().max(1.0) as usize;
        let chars_per_line = ((slot * every as f64 / 6.5).floor() as usize).max(4);
        let wrapped: Vec<Vec<String>> = self
            .labels
            .iter()
            .map(|label| wrap(label, chars_per_line, LABEL_LINES))
            .collect();
        let label_lines = wrapped.iter().map(Vec::len).max().unwrap_or(1) as f64;
        let height = TOP + PLOT_HEIGHT + 8.0 + label_lines * LINE + 24.0;
        let (ticks, axis_top) = ticks(self.top(), self.unit);
        let y = |value: f64| TOP + PLOT_HEIGHT - value / axis_top * PLOT_HEIGHT;
        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"11\">",
            escape(self.table.heading)
        );
        let _ = write!(
            svg,
            "<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#fff\"/>"
        );
        for tick in &ticks {
            let at = y(*tick);
            let _ = write!(
                svg,
                "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#e0e0e0\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                at + 4.0,
                escape(&self.unit.show(*tick))
            );
        }
        let baseline = TOP + PLOT_HEIGHT;
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{baseline}\" y2=\"{baseline}\" stroke=\"#333\"/>",
            WIDTH - RIGHT
        );
        let group = (slot * 0.7).min(MAX_GROUP_WIDTH);
        let width = if self.stacked {
            group
        } else {
            group / self.series.len().max(1) as f64
        };
        for (i, (label, lines)) in self.labels.iter().zip(&wrapped).enumerate() {
            let left = LEFT + slot * (i as f64 + 0.5) - group / 2.0;
            let mut base = 0.0;
            for (index, series) in self.series.iter().enumerate() {
                let value = value_at(series, i);
                let (x, bottom) = if self.stacked {
                    (left, base)
                } else {
                    (left + width * index as f64, 0.0)
                };
                let (top, low) = (y(bottom + value), y(bottom));
                if value > 0.0 {
                    let _ = write!(
                        svg,
                        "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} · {}: {}</title></rect>",
                        (low - top).max(0.5),
                        series.color,
                        escape(label),
                        escape(series.name),
                        escape(&self.unit.show(value))
                    );
                }
                if self.stacked {
                    base += value;
                }
            }
            if i % every != 0 {
                continue;
            }
            let centre = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(
                svg,
                "<text text-anchor=\"middle\" y=\"{}\">",
                baseline + 4.0
            );
            for line in lines {
                let _ = write!(
                    svg,
                    "<tspan x=\"{centre:.1}\" dy=\"{LINE}\">{}</tspan>",
                    escape(line)
                );
            }
            let _ = write!(svg, "<title>{}</title></text>", escape(label));
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            LEFT + plot_width / 2.0,
            height - 6.0,
            escape(self.x_title)
        );
        let _ = write!(
            svg,
            "<text transform=\"translate(14,{:.1}) rotate(-90)\" text-anchor=\"middle\" font-weight=\"bold\">{}</text></svg>",
            TOP + PLOT_HEIGHT / 2.0,
            escape(self.y_title)
        );
        svg
    }
}

fn value_at(series: &Series, i: usize) -> f64 {
    series
        .values
        .get(i)
        .copied()
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
        .max(0.0)
}

/// The y axis: ticks on round values (1, 2 or 5 × 10ⁿ; whole numbers for counts; whole
/// seconds, minutes or hours for times) from 0 to at least `top`, and the axis' top.
fn ticks(top: f64, unit: Unit) -> (Vec<f64>, f64) {
    let top = if top > 0.0 { top } else { 1.0 };
    let rough = top / 5.0;
    let step = match unit {
        Unit::Count => nice(rough).max(1.0),
        Unit::Ratio => nice(rough).max(0.01),
        Unit::Seconds => {
            let base = [60.0, 3600.0, 86_400.0]
                .into_iter()
                .rev()
                .find(|unit| rough >= *unit)
                .unwrap_or(1.0);
            if base == 1.0 {
                nice(rough)
            } else {
                nice(rough / base) * base
            }
        }
    };
    let count = (top / step).ceil().max(1.0) as usize;
    let ticks = (0..=count).map(|i| i as f64 * step).collect();
    (ticks, count as f64 * step)
}

/// The smallest of 1, 2, 5 × 10ⁿ that is at least `rough`.
fn nice(rough: f64) -> f64 {
    let magnitude = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
}

/// `text` in lines of at most `width` characters, broken between words; a word longer than a
/// line is broken inside only because it must be. At most `max_lines` lines: when more would be
/// needed, the last one ends in `…` after a whole word.
pub fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let width = width.max(1);
    let pieces = text.split_whitespace().flat_map(|word| {
        let chars: Vec<char> = word.chars().collect();
        chars
            .chunks(width)
            .map(|chunk| chunk.iter().collect::<String>())
            .collect::<Vec<_>>()
    });
    let mut lines: Vec<String> = Vec::new();
    for piece in pieces {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + piece.chars().count() <= width => {
                line.push(' ');
                line.push_str(&piece);
            }
            _ => lines.push(piece),
        }
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            last.push('…');
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_axes_tick_on_whole_numbers() {
        assert_eq!(ticks(3.0, Unit::Count).0, [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(ticks(0.0, Unit::Count).0, [0.0, 1.0]);
        assert_eq!(
            ticks(37.0, Unit::Count),
            (vec![0.0, 10.0, 20.0, 30.0, 40.0], 40.0)
        );
        for (top, _) in [(7.0, ()), (123.0, ()), (2.0, ())] {
            assert!(ticks(top, Unit::Count).0.iter().all(|t| t.fract() == 0.0));
        }
    }

    #[test]
    fn times_read_in_human_units() {
        assert_eq!(human_seconds(0.25), "250 ms");
        assert_eq!(human_seconds(2.5), "2.5 s");
        assert_eq!(human_seconds(42.0), "42 s");
        assert_eq!(human_seconds(90.0), "1.5 min");
        assert_eq!(human_seconds(7200.0), "2 h");
        let (minutes, _) = ticks(600.0, Unit::Seconds);
        assert!(minutes.iter().all(|t| t % 60.0 == 0.0), "{minutes:?}");
    }

    #[test]
    fn ninety_days_are_labelled_without_overlapping() {
        let days: Vec<(String, f64, Vec<Cell>)> = (1..=90)
            .map(|n| (format!("2026-09-{n:02}"), n as f64, Vec::new()))
            .collect();
        let section = Section::single(
            ("days", "Days"),
            ("Day", "Runs", Unit::Count),
            ("runs", Color(0, 0, 0)),
            vec!["day"],
            days,
        );
        let svg = section.bar_chart();
        let labelled: Vec<f64> = svg
            .split("<tspan x=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            labelled.len() >= 6 && labelled.len() < 20,
            "{}",
            labelled.len()
        );
        for pair in labelled.windows(2) {
            assert!(pair[1] - pair[0] >= 10.0 * 6.5, "labels {pair:?} overlap");
        }
        assert_eq!(svg.matches("<rect x=").count(), 90, "every day has its bar");
    }

    #[test]
    fn labels_wrap_between_words_and_are_never_cut_inside_one() {
        assert_eq!(
            wrap("cargo test --workspace", 12, 3),
            ["cargo test", "--workspace"]
        );
        assert_eq!(
            wrap("npm run test:unit -- --coverage --ci", 10, 2),
            ["npm run", "test:unit…"]
        );
        assert_eq!(wrap("short", 10, 3), ["short"]);
        for line in wrap("sh -c 'sleep 0.2; echo done; exit 3'", 8, 3) {
            assert!(line.chars().count() <= 9, "{line}");
        }
    }
}
