//! The team report at `/` as the server makes it from the figures it keeps folded: the same
//! page as `telemetry report` makes from the runs, however the runs arrived.

use std::time::SystemTime;

use crate::common::server::Server;
use crate::common::team::{report_sections, send_varied, served_page, PERIODS};
use crate::common::{run, Home};

#[test]
fn the_team_page_from_kept_figures_is_the_page_from_the_runs() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let sent = send_varied(&[&server], SystemTime::now());
    assert_eq!(sent, 2400);
    for query in PERIODS {
        let served = served_page(&server, query);
        let mut args: Vec<String> = ["telemetry", "report", "-o", "-"].map(String::from).into();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap();
            args.extend([format!("--{name}"), value.to_string()]);
        }
        let mut local = home.earlyexit(&args.iter().map(String::as_str).collect::<Vec<_>>());
        local.env("EARLYEXIT_TELEMETRY_SQLITE_PATH", &server.database);
        let local = run(&mut local);
        assert_eq!(local.code, 0, "{}", local.stderr_text());
        let local_page = local.stdout_text();
        assert_eq!(
            report_sections(&served),
            report_sections(&local_page),
            "{query}"
        );
        assert!(report_sections(&served).len() > 5_000, "{query}: {served}");
    }
    assert!(served_page(&server, "since=30d").contains(": 2400 run(s)."));
    assert_eq!(server.query("SELECT count(*) FROM unfolded"), [["0"]]);
}
