//! The team page a lead opens every morning: the commands that fail most, each with since
//! when it fails and when it last passed, and controls (period links, a form) that change the
//! figures, in headless Chromium.

use std::time::{Duration, SystemTime};

use crate::common::http::get;
use crate::common::server::Server;
use crate::common::team::{rfc3339, store_events};
use crate::common::Home;

const DAY: Duration = Duration::from_secs(86_400);

/// A run of `command` `days_ago` days ago (less a minute), on `branch` (none: `null`) at
/// `revision`, in CI unless `branch` is none.
fn run(
    id: u32,
    command: &str,
    branch: Option<&str>,
    revision: &str,
    failed: bool,
    days_ago: u32,
) -> String {
    let started = SystemTime::now() - DAY * days_ago + Duration::from_secs(60);
    let (outcome, reason, code) = match failed {
        true => ("failure", "error_pattern", 1),
        false => ("success", "no_match", 0),
    };
    let (branch, ci) = match branch {
        Some(branch) => (format!("\"{branch}\""), "\"github_actions\""),
        None => ("null".to_string(), "null"),
    };
    format!(
        r#"{{"type":"execution","data":{{"execution_id":"0f-{id}","timestamp":"{}","command_hash":"h-{command}","command":"{command}","exit_code":{code},"exit_reason":"{reason}","outcome":"{outcome}","total_runtime":12,"match_count":{code},"ci_system":{ci},"vcs_ref":{branch},"vcs_revision":"{revision}","vcs_repository_url":"https://git.example/team/app","pipeline_run_url":"https://ci.example/runs/{id}"}}}}"#,
        rfc3339(started)
    )
}

/// `npm test` passed on r1 and r2, then failed on r3 and twice on r4; `cargo test` passes
/// on main and fails on a feature branch; `make check` runs on a workstation outside any
/// branch and fails.
fn fixture() -> Vec<String> {
    vec![
        run(1, "npm test", Some("main"), "r1", false, 5),
        run(2, "npm test", Some("main"), "r2", false, 4),
        run(3, "npm test", Some("main"), "r3", true, 3),
        run(4, "npm test", Some("main"), "r4", true, 2),
        run(5, "npm test", Some("main"), "r4", true, 1),
        run(6, "cargo test", Some("main"), "r4", false, 1),
        run(7, "cargo test", Some("feature/x"), "r5", true, 1),
        run(8, "make check", None, "", true, 2),
        run(9, "make check", None, "", true, 20),
    ]
}

fn page(server: &Server, query: &str) -> String {
    let (status, page) = get(
        &format!("{}/{query}", server.url),
        &[("Authorization", &format!("Bearer {}", server.read_key))],
    );
    assert_eq!(status, 200, "{page}");
    page
}

/// The figure in "N run(s)." of the page's heading.
fn runs_on(page: &str) -> u64 {
    let end = page
        .find(" run(s). Generated")
        .expect("the heading says how many runs");
    let start = page[..end].rfind(' ').unwrap() + 1;
    page[start..end].parse().unwrap()
}

#[test]
fn failing_since_names_the_revision_its_streak_began_on() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    store_events(&server, fixture().into_iter());
    let (_, json) = get(
        &format!("{}/api/v1/report?since=7d", server.url),
        &[("Authorization", &format!("Bearer {}", server.read_key))],
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let failing = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|section| section["id"] == "failing-commands")
        .unwrap();
    let minute = |days_ago: u32| {
        let time = rfc3339(SystemTime::now() - DAY * days_ago + Duration::from_secs(60));
        time[..16].replace('T', " ")
    };
    let rows = &failing["rows"];
    // Ranked by failed runs: npm test (3 of 5), make check (1 in the week), cargo test (1).
    assert_eq!(rows[0][0], "npm test");
    assert_eq!(rows[0][2], 3);
    assert_eq!(rows[0][4], format!("r3 ({})", minute(3)));
    assert_eq!(rows[0][5], minute(4));
    assert_eq!(
        rows[0][6], "▁▁███",
        "no failure on its first two days, one on each after"
    );
    // On feature/x cargo test fails since r5 though it passes on main: the branch decides.
    let (_, json) = get(
        &format!("{}/api/v1/report?since=7d&branch=feature%2Fx", server.url),
        &[("Authorization", &format!("Bearer {}", server.read_key))],
    );
    let feature: serde_json::Value = serde_json::from_str(&json).unwrap();
    let failing = feature["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|section| section["id"] == "failing-commands")
        .unwrap();
    assert_eq!(failing["rows"][0][0], "cargo test");
    assert_eq!(failing["rows"][0][4], format!("r5 ({})", minute(1)));
    assert_eq!(
        failing["rows"][0][5],
        serde_json::Value::Null,
        "never passed there"
    );

    // The controls: period links keep the rest, and the form's fields filter.
    let month = page(&server, "?since=30d");
    assert_eq!(runs_on(&month), 9);
    assert!(month.contains("<form method=\"get\""), "{month}");
    let week_link = "?since=7d";
    assert!(month.contains(&format!("href=\"{week_link}\"")), "{month}");
    assert_eq!(runs_on(&page(&server, week_link)), 8, "the link to 7 days");
    // What the form sends for "Branch: (none)" and "Runs: local".
    let local = page(
        &server,
        "?since=30d&repository=&branch=%28none%29&command=&place=local&outcome=",
    );
    assert_eq!(
        runs_on(&local),
        2,
        "make check's runs, which have no branch"
    );
    assert!(
        local.contains("branch (none), runs local"),
        "the heading says the filter"
    );
    // A filter of the branch says what it leaves out, and links to it.
    let main = page(&server, "?since=30d&branch=main");
    assert_eq!(runs_on(&main), 6);
    assert!(
        main.contains("2 run(s) of the period have no branch (their runners send minimal detail) and are not counted here: <a href=\"?since=30d&amp;branch=%28none%29\">show them</a>"),
        "{main}"
    );
    let ci = page(&server, "?since=30d&place=ci&outcome=failure");
    assert_eq!(runs_on(&ci), 7);
    assert!(
        ci.contains("href=\"?since=7d&amp;place=ci&amp;outcome=failure\""),
        "{ci}"
    );
    let (status, refused) = get(
        &format!("{}/?since=30d&place=moon", server.url),
        &[("Authorization", &format!("Bearer {}", server.read_key))],
    );
    assert_eq!(
        (status, refused.contains("'moon' is not ci or local")),
        (400, true)
    );
    // Dates as the CLI takes them.
    let since_date = rfc3339(SystemTime::now() - DAY * 6)[..10].to_string();
    assert!(runs_on(&page(&server, &format!("?since={since_date}"))) >= 7);
}

#[test]
#[ignore = "needs Chromium: run tests/install-and-run.sh"]
fn the_page_and_its_period_links_render_in_chromium() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    store_events(&server, fixture().into_iter());
    let url = |query: &str| {
        format!(
            "http://reader:{}@{}/{query}",
            server.read_key,
            server.url.trim_start_matches("http://")
        )
    };
    let month = crate::common::chromium_url(&url("?since=30d"), &["--dump-dom"]).0;
    assert_eq!(runs_on(&month), 9, "{month}");
    let start = month.find("href=\"?since=1d").unwrap() + "href=\"".len();
    let link = &month[start..start + month[start..].find('"').unwrap()];
    let day = crate::common::chromium_url(&url(&link.replace("&amp;", "&")), &["--dump-dom"]).0;
    assert!(
        runs_on(&day) < 9,
        "following the 1-day link changes the figures"
    );
    let screenshot = home.dir.join("team-page.png");
    crate::common::chromium_url(
        &url("?since=7d"),
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", screenshot.display()),
        ],
    );
    assert!(screenshot.metadata().unwrap().len() > 10_000);
    if let Ok(keep) = std::env::var("EARLYEXIT_TEST_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }
}
