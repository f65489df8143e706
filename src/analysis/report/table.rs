//! The page's tables: what a person reads beside each chart, and what the JSON report gives a
//! machine. A cell keeps its figure with the text the page shows for it, so the two cannot say
//! different things.

use serde::{Serialize, Serializer};

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// Runs, matches, revisions: shown and given as a whole number.
    Count(u64),
    /// A figure the page rounds or puts in human units; JSON gives its value.
    Figure {
        shown: String,
        value: f64,
    },
    /// No figure (too few runs to estimate, no branch): the page shows a word for why, JSON
    /// gives null.
    Absent(&'static str),
    /// A page elsewhere (a CI job's): the page links `text` to it, JSON gives the address.
    Link {
        text: String,
        url: String,
    },
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    /// Seconds, shown in human units (`2.9 h`, not `10585.227`) and given to the millisecond.
    pub fn seconds(value: f64) -> Cell {
        Cell::time(human_seconds(value), value)
    }

    /// Seconds the page shows as `shown`, given to the millisecond: sums of run times differ
    /// in their last bits with the order they were added in, and the figure must not.
    pub fn time(shown: String, seconds: f64) -> Cell {
        Cell::Figure {
            shown,
            value: to_millisecond(seconds),
        }
    }

    /// A share between 0 and 1, to three places.
    pub fn ratio(value: f64) -> Cell {
        Cell::shown(format!("{value:.3}"), value)
    }

    /// A figure the page shows as `shown`.
    pub fn shown(shown: String, value: f64) -> Cell {
        Cell::Figure { shown, value }
    }

    fn shown_text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Cell::Text(text) => text.as_str().into(),
            Cell::Count(count) => count.to_string().into(),
            Cell::Figure { shown, .. } => shown.as_str().into(),
            Cell::Absent(word) => (*word).into(),
            Cell::Link { text, .. } => text.as_str().into(),
        }
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Text(text) => serializer.serialize_str(text),
            Cell::Count(count) => serializer.serialize_u64(*count),
            Cell::Figure { value, .. } => serializer.serialize_f64(*value),
            Cell::Absent(_) => serializer.serialize_none(),
            Cell::Link { url, .. } => serializer.serialize_str(url),
        }
    }
}

/// A section's table: the first column names the row.
#[derive(Debug, Serialize)]
pub struct Table {
    pub id: &'static str,
    pub heading: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    /// Every column is text (commands, matched lines): left-aligned and kept whole, where a
    /// table of figures aligns its numbers right.
    #[serde(skip)]
    pub text: bool,
}

impl Table {
    pub fn html(&self) -> String {
        let cell_class = if self.text { " class=\"text\"" } else { "" };
        let head: String = self
            .columns
            .iter()
            .map(|h| format!("<th scope=\"col\">{}</th>", escape(h)))
            .collect();
        let body: String = self
            .rows
            .iter()
            .map(|row| {
                let cells: String = row
                    .iter()
                    .map(|cell| match cell {
                        Cell::Link { text, url } => format!(
                            "<td{cell_class}><a href=\"{}\">{}</a></td>",
                            escape(url),
                            escape(text)
                        ),
                        _ => format!("<td{cell_class}>{}</td>", escape(&cell.shown_text())),
                    })
                    .collect();
                format!("<tr>{cells}</tr>")
            })
            .collect();
        format!("<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    }
}

/// A duration as a person reads it.
pub fn human_seconds(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds == 0.0 {
        "0 s".to_string()
    } else if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else if seconds < 60.0 {
        trimmed(seconds, "s")
    } else if seconds < 3600.0 {
        trimmed(seconds / 60.0, "min")
    } else if seconds < 86_400.0 {
        trimmed(seconds / 3600.0, "h")
    } else {
        trimmed(seconds / 86_400.0, "d")
    }
}

/// One decimal below 10 (`2.5 s`), none above (`42 s`), and never `3.0`.
fn trimmed(value: f64, unit: &str) -> String {
    let text = if value < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    format!("{} {unit}", text.trim_end_matches(".0"))
}

pub fn to_millisecond(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }

    #[test]
    fn a_cell_shows_its_text_and_gives_its_value() {
        let row = vec![
            Cell::text("cargo <test>"),
            Cell::Count(3),
            Cell::seconds(1.2345678),
            Cell::time("2.5 min".into(), 150.0001),
            Cell::Absent("unknown"),
        ];
        let table = Table {
            id: "t",
            heading: "T",
            columns: vec!["command", "runs", "p50", "time", "saved"],
            rows: vec![row],
            text: false,
        };
        assert!(table.html().contains(
            "<td>cargo &lt;test&gt;</td><td>3</td><td>1.2 s</td><td>2.5 min</td><td>unknown</td>"
        ));
        assert_eq!(
            serde_json::to_string(&table.rows).unwrap(),
            r#"[["cargo <test>",3,1.235,150.0,null]]"#
        );
    }
}
