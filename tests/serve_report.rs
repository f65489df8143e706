//! The team report at `/` as the server makes it from the figures it keeps folded: the same
//! page as `telemetry report` makes from the runs, however the runs arrived.

use std::time::{Duration, SystemTime};

use crate::common::server::Server;
use crate::common::team::{report_sections, send_varied, served_page, PERIODS};
use crate::common::{run, Home};

/// The sections of `telemetry report` over the server's SQLite database, for `query`.
fn local_sections(home: &Home, server: &Server, query: &str) -> String {
    let mut args: Vec<String> = ["telemetry", "report", "-o", "-"].map(String::from).into();
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap();
        args.extend([format!("--{name}"), value.to_string()]);
    }
    let mut local = home.earlyexit(&args.iter().map(String::as_str).collect::<Vec<_>>());
    local.env("EARLYEXIT_TELEMETRY_SQLITE_PATH", &server.database);
    let local = run(&mut local);
    assert_eq!(local.code, 0, "{}", local.stderr_text());
    report_sections(&local.stdout_text()).to_string()
}

/// The server's page for `query`, checked to be the one `telemetry report` makes from the
/// runs of its database.
fn page_of_the_runs(home: &Home, server: &Server, query: &str) -> String {
    let served = served_page(server, query);
    assert_eq!(
        report_sections(&served),
        local_sections(home, server, query),
        "{query}"
    );
    served
}

#[test]
fn the_team_page_from_kept_figures_is_the_page_from_the_runs() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let sent = send_varied(&[&server], SystemTime::now());
    assert_eq!(sent, 2400);
    for query in PERIODS {
        let served = page_of_the_runs(&home, &server, query);
        assert!(report_sections(&served).len() > 5_000, "{query}: {served}");
    }
    assert!(served_page(&server, "since=30d").contains(": 2400 run(s)."));
    assert_eq!(server.query("SELECT count(*) FROM unfolded"), [["0"]]);
}

/// A server killed (SIGKILL) again and again while it folds a backlog, at moments spread over
/// the fold, counts every run once: each fold is one transaction, and a killed one is undone.
#[test]
fn a_server_killed_while_it_folds_counts_every_run_once() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    send_varied(&[&server], SystemTime::now());
    server.kill();
    for round in 0..8 {
        let mut again = server.another(&home);
        std::thread::sleep(Duration::from_millis(15 * round));
        again.kill();
    }
    let server = server.another(&home);
    let page = page_of_the_runs(&home, &server, "since=30d");
    assert!(page.contains(": 2400 run(s)."), "{page:.2000}");
}

/// A database written before the server kept figures (team schema 1) gets them at start-up:
/// every run it holds is queued and folded, and the page is the one its runs make.
#[test]
fn a_database_from_before_the_kept_figures_is_folded_at_start_up() {
    let home = Home::new();
    let mut server = Server::start(&home, &[]);
    send_varied(&[&server], SystemTime::now());
    assert!(server.stop().success());
    let database = rusqlite::Connection::open(&server.database).unwrap();
    database
        .execute_batch(
            "DROP TRIGGER executions_to_fold; DROP TABLE unfolded; DROP TABLE report_groups;
             DROP TABLE report_revisions; DROP TABLE report_revisions_by_group;
             UPDATE meta SET value = '1' WHERE key = 'team_schema';",
        )
        .unwrap();
    drop(database);
    let server = server.another(&home);
    let page = page_of_the_runs(&home, &server, "since=7d");
    assert!(page.contains(": 2400 run(s)."), "{page:.2000}");
}
