//! The controls at the top of the team's page: a form of the period (an age or a date),
//! repository, branch, command, where the runs ran and which failures are listed, each field
//! offering the values the period holds, and links to the usual periods that keep the rest.
//! The form is a plain GET of the page itself: no script, which the page's policy forbids.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::analysis::report::{escape, Filter, Place, NONE};
use crate::analysis::rollup::Rollup;
use crate::outcome::Outcome;

/// The usual periods, linked above the form.
const PERIODS: [(&str, &str); 4] = [
    ("1d", "1 day"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
];

/// How often an open page asks for itself again, in seconds.
pub const REFRESH_SECONDS: u32 = 300;

/// The values each field offers: those of the period's runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Choices {
    pub repositories: Vec<String>,
    pub branches: Vec<String>,
    pub commands: Vec<String>,
    /// The period's runs that have no branch, and no repository: a filter of either leaves
    /// them out, and the page says so.
    pub without_branch: u64,
    pub without_repository: u64,
}

impl Choices {
    /// From the period's groups, before the filter; runs without a branch or repository are
    /// offered as [`NONE`].
    pub fn of(period: &Rollup) -> Choices {
        let mut choices = Choices::default();
        for ((_, dims), group) in &period.groups {
            choices
                .repositories
                .push(dims.repository.clone().unwrap_or_else(|| NONE.into()));
            choices
                .branches
                .push(dims.branch.clone().unwrap_or_else(|| NONE.into()));
            choices.commands.push(group.label.clone());
            if dims.branch.is_none() {
                choices.without_branch += group.runs();
            }
            if dims.repository.is_none() {
                choices.without_repository += group.runs();
            }
        }
        for values in [
            &mut choices.repositories,
            &mut choices.branches,
            &mut choices.commands,
        ] {
            values.sort();
            values.dedup();
            values.truncate(200);
        }
        choices
    }
}

/// The page's query for `since` and `filter`, with `since` replaced by `period`.
fn query(period: &str, filter: &Filter) -> String {
    let fields = [
        ("since", Some(period)),
        ("repository", filter.repository.as_deref()),
        ("branch", filter.branch.as_deref()),
        ("command", filter.command.as_deref()),
        ("place", filter.place.map(Place::as_str)),
        ("outcome", filter.outcome.map(Outcome::as_str)),
    ];
    let pairs: Vec<String> = fields
        .into_iter()
        .filter_map(|(name, value)| {
            value.map(|v| format!("{name}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        })
        .collect();
    format!("?{}", pairs.join("&"))
}

fn text_field(name: &str, label: &str, value: Option<&str>, options: &[String]) -> String {
    let options: String = options
        .iter()
        .map(|option| format!("<option value=\"{}\">", escape(option)))
        .collect();
    format!(
        "<label>{label} <input name=\"{name}\" value=\"{}\" list=\"{name}-values\" size=\"18\"></label>\
         <datalist id=\"{name}-values\">{options}</datalist>\n",
        escape(value.unwrap_or_default())
    )
}

fn select(name: &str, label: &str, options: &[(&str, &str)], chosen: Option<&str>) -> String {
    let options: String = options
        .iter()
        .map(|(value, shown)| {
            let selected = if Some(*value) == chosen || (value.is_empty() && chosen.is_none()) {
                " selected"
            } else {
                ""
            };
            format!("<option value=\"{value}\"{selected}>{shown}</option>")
        })
        .collect();
    format!("<label>{label} <select name=\"{name}\">{options}</select></label>\n")
}

/// What a filter of the branch or the repository leaves out: the runs without one.
fn left_out(since: &str, filter: &Filter, choices: &Choices) -> String {
    let mut said = String::new();
    for (field, wanted, count) in [
        ("branch", &filter.branch, choices.without_branch),
        ("repository", &filter.repository, choices.without_repository),
    ] {
        if count == 0 || wanted.as_deref().is_none_or(|wanted| wanted == NONE) {
            continue;
        }
        let mut theirs = filter.clone();
        match field {
            "branch" => theirs.branch = Some(NONE.into()),
            _ => theirs.repository = Some(NONE.into()),
        }
        said += &format!(
            "<p class=\"left-out\">{count} run(s) of the period have no {field} (their runners \
             send minimal detail) and are not counted here: <a href=\"{}\">show them</a>.</p>\n",
            escape(&query(since, &theirs))
        );
    }
    said
}

/// The controls' section.
pub fn html(since: &str, filter: &Filter, choices: &Choices) -> String {
    let periods: Vec<String> = PERIODS
        .iter()
        .map(|(period, shown)| match *period == since {
            true => format!("<strong>{shown}</strong>"),
            false => format!("<a href=\"{}\">{shown}</a>", escape(&query(period, filter))),
        })
        .collect();
    let failed: Vec<(&str, &str)> = std::iter::once(("", "every failure"))
        .chain(
            Outcome::ALL
                .iter()
                .filter(|outcome| outcome.is_failed())
                .map(|outcome| (outcome.as_str(), outcome.label())),
        )
        .collect();
    format!(
        "<section id=\"controls\"><style>#controls form{{display:flex;flex-wrap:wrap;gap:.5em 1.2em;align-items:center}}#controls label{{white-space:nowrap}}</style>\n\
         <p>Period: {periods} · <a href=\"?\">clear every choice</a> · refreshed every {minutes} minutes</p>\n\
         <form method=\"get\" action=\"\">\n\
         <label>Since <input name=\"since\" value=\"{since}\" size=\"12\" title=\"an age (7d) or a date (2026-12-01)\"></label>\n\
         {repository}{branch}{command}{place}{outcome}<button type=\"submit\">Show</button>\n\
         </form>{left_out}</section>\n",
        left_out = left_out(since, filter, choices),
        periods = periods.join(" · "),
        minutes = REFRESH_SECONDS / 60,
        since = escape(since),
        repository = text_field(
            "repository",
            "Repository",
            filter.repository.as_deref(),
            &choices.repositories
        ),
        branch = text_field("branch", "Branch", filter.branch.as_deref(), &choices.branches),
        command = text_field("command", "Command", filter.command.as_deref(), &choices.commands),
        place = select(
            "place",
            "Runs",
            &[
                ("", "CI and local"),
                (Place::Ci.as_str(), "CI"),
                (Place::Local.as_str(), "local")
            ],
            filter.place.map(Place::as_str)
        ),
        outcome = select(
            "outcome",
            "Failures listed",
            &failed,
            filter.outcome.map(Outcome::as_str)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_link_keeps_every_other_choice() {
        let filter = Filter {
            branch: Some("feature/x y".into()),
            place: Some(Place::Ci),
            outcome: Some(Outcome::Timeout),
            ..Filter::default()
        };
        assert_eq!(
            query("7d", &filter),
            "?since=7d&branch=feature%2Fx%20y&place=ci&outcome=timeout"
        );
        let html = html("30d", &filter, &Choices::default());
        assert!(html.contains("<strong>30 days</strong>"), "{html}");
        assert!(
            html.contains("<option value=\"ci\" selected>CI</option>"),
            "{html}"
        );
        assert!(html.contains("value=\"feature/x y\""), "{html}");
    }
}
