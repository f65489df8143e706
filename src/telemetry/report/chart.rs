//! The page's building blocks: a bar chart as inline SVG (plotters, SVG text, so no fonts are
//! needed), an HTML table, and a section that puts the two side by side.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

type Chart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One series of bars: its name in the legend, its colour, one value per label.
pub struct Series {
    pub name: &'static str,
    pub color: RGBColor,
    pub values: Vec<f64>,
}

/// A chart and its table, under a heading.
pub struct Section {
    pub id: &'static str,
    pub heading: &'static str,
    pub title: &'static str,
    pub labels: Vec<String>,
    pub series: Vec<Series>,
    /// Series stacked on each other, or side by side.
    pub stacked: bool,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Section {
    /// One series whose table is the label and its value: most of the page's charts.
    pub fn single(
        (id, heading, title): (&'static str, &'static str, &'static str),
        series: (&'static str, RGBColor),
        headers: Vec<&'static str>,
        points: Vec<(String, f64, Vec<String>)>,
    ) -> Section {
        let labels = points.iter().map(|(label, _, _)| label.clone()).collect();
        let values = points.iter().map(|(_, value, _)| *value).collect();
        let rows = points
            .into_iter()
            .map(|(label, _, cells)| std::iter::once(label).chain(cells).collect())
            .collect();
        Section {
            id,
            heading,
            title,
            labels,
            series: vec![Series {
                name: series.0,
                color: series.1,
                values,
            }],
            stacked: false,
            headers,
            rows,
        }
    }

    pub fn render(&self) -> String {
        format!(
            "<section id=\"{}\"><h2>{}</h2><div class=\"pair\"><figure>{}</figure>{}</div></section>\n",
            self.id,
            escape(self.heading),
            self.bar_chart(),
            table(&self.headers, &self.rows)
        )
    }

    /// One bar per label and series, bar i centred on x = i, where its label is.
    fn bar_chart(&self) -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (640, 300)).into_drawing_area();
            let _ = root.fill(&WHITE);
            let x_range = -0.5..self.labels.len().max(1) as f64 - 0.5;
            let built = ChartBuilder::on(&root)
                .caption(self.title, ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d(x_range, 0.0..(self.top() * 1.1).max(1.0));
            if let Ok(mut chart) = built {
                self.draw(&mut chart);
            }
            let _ = root.present();
        }
        svg
    }

    /// The highest bar (or stack of bars).
    fn top(&self) -> f64 {
        (0..self.labels.len())
            .map(|i| {
                let values = self
                    .series
                    .iter()
                    .map(|s| s.values.get(i).copied().unwrap_or(0.0));
                if self.stacked {
                    values.sum()
                } else {
                    values.fold(0.0, f64::max)
                }
            })
            .fold(0.0, f64::max)
    }

    fn draw<'a>(&self, chart: &mut Chart<'a>) {
        let shown = |x: &f64| {
            self.labels
                .get(x.round() as usize)
                .filter(|_| x.fract() == 0.0 && *x >= 0.0)
                .map(|l| l.chars().take(14).collect())
                .unwrap_or_default()
        };
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(self.labels.len().clamp(1, 12))
            .x_label_formatter(&shown)
            .draw();
        let width = if self.stacked {
            0.8
        } else {
            0.8 / self.series.len() as f64
        };
        let mut base = vec![0.0; self.labels.len()];
        for (index, series) in self.series.iter().enumerate() {
            let color = series.color;
            let bars = series.values.iter().enumerate().map(|(i, value)| {
                let (x0, y0) = if self.stacked {
                    (i as f64 - 0.4, base[i])
                } else {
                    (i as f64 - 0.4 + width * index as f64, 0.0)
                };
                Rectangle::new([(x0, y0), (x0 + width, y0 + value)], color.filled())
            });
            if let Ok(drawn) = chart.draw_series(bars) {
                drawn.label(series.name).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
            }
            if self.stacked {
                for (slot, value) in base.iter_mut().zip(&series.values) {
                    *slot += value;
                }
            }
        }
        if self.series.len() > 1 {
            let _ = chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw();
        }
    }
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
