//! `earlyexit serve`: the team server's command line, and `earlyexit serve keys`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::duration::parse_duration;
use crate::outcome::exit_code;
use crate::server::keys::{self, KeyRole};
use crate::server::{serve, AlertSettings, Database, ServeOptions, ServeTls, Target, TeamStore};

#[derive(Parser, Debug)]
#[command(
    name = "earlyexit serve",
    about = "Take every runner's runs, store each once, and serve the team's report",
    long_about = "Take every runner's runs, store each once, and serve the team's report.

Accepts, with a write key (Authorization: Bearer KEY or X-API-Key: KEY):
  POST /api/v1/events   the HTTP API (backend: http, or hybrid)
  POST /v1/traces       OTLP/HTTP spans, protobuf or JSON (backend: otlp, protocol http/protobuf)
  POST /v1/logs         OTLP/HTTP live records: runs in progress
  OTLP over gRPC        the same two, TraceService/Export and LogsService/Export (protocol grpc)
A run is stored once, by its execution id and by its trace and span ids, however often and
by whichever path it is sent. 200 means committed; 503 with Retry-After means the store could
not take it (the runner's outbox keeps it); 413 a body over --max-body-bytes (also after
gzip); 408 a body slower than --read-timeout; 429 with Retry-After a key over its rate.

Serves, with a read key (or as the password of a browser's prompt):
  GET /                 the team report (?since=30d&branch=&repository=&command=)
  GET /api/v1/report    its figures as JSON (the same query), as `telemetry report --json`
  GET /api/v1/stats     the figures of `earlyexit telemetry stats --json`
and to anyone: GET /healthz (alive), /readyz (the store answers), /metrics (Prometheus).

Logs one JSON line per request on stderr, with the key's name and never the key. SIGTERM or
SIGINT: new connections are refused and requests in flight get --shutdown-grace to finish.
HTTPS with --tls-certificate and --tls-key (PEM); --client-ca also requires a client
certificate that CA signed (mTLS).
The server keeps nothing of its own beyond the database; create keys first:
  earlyexit serve keys add ci-runners            # prints a write key, once
  earlyexit serve keys add dashboard --role read
  earlyexit serve keys list | revoke NAME"
)]
struct ServeCli {
    /// Where to listen
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDRESS:PORT")]
    listen: SocketAddr,
    /// The team store: a SQLite file (created if missing) or a PostgreSQL URL,
    /// postgres://user@host:port/database?sslmode=verify-full&sslrootcert=CA.pem. Without it,
    /// $EARLYEXIT_DATABASE_URL, then a postgres:// $DATABASE_URL, then ~/.earlyexit/team.db
    #[arg(long, value_name = "PATH|URL", global = true)]
    database: Option<String>,
    /// The PostgreSQL password, from the first line of this file (else $PGPASSWORD, then
    /// $PGPASSFILE or ~/.pgpass); a password in the URL is visible to every user through ps
    #[arg(long, value_name = "FILE", global = true)]
    password_file: Option<PathBuf>,
    /// The largest request body, before and after gzip (at most 1 GiB)
    #[arg(long, default_value_t = 10 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    max_body_bytes: u64,
    /// The request bytes all requests together may hold, inflated gzip included (at least
    /// --max-body-bytes); a body that does not fit waits up to --read-timeout, then gets 503
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=1 << 34))]
    max_in_flight_bytes: u64,
    /// How long a request's headers, then its body, may take to arrive
    #[arg(long, default_value = "10s", value_parser = bounded_duration)]
    read_timeout: Duration,
    /// Requests per second per key (bursts of a second's worth)
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_requests_per_second: u32,
    /// How long one statement of a PostgreSQL store may run (its statement_timeout, lock
    /// waits included); a request whose statement runs over gets 503 with Retry-After
    #[arg(long, default_value = "60s", value_parser = bounded_duration, global = true)]
    statement_timeout: Duration,
    /// How long a run in progress may go without a record from its runner (which sends one
    /// every 30 s) before the report shows it as lost
    #[arg(long, env = "EARLYEXIT_SERVE_LOST_AFTER", default_value = "2m", value_parser = bounded_duration)]
    lost_after: Duration,
    /// Remove runs older than this (90d: the runs of the days that ended over 90 days ago),
    /// in small batches while the server runs; the report's kept figures follow
    #[arg(long, env = "EARLYEXIT_SERVE_RETENTION", value_name = "DURATION", value_parser = retention_duration)]
    retention: Option<Duration>,
    /// Post to this webhook (Slack-compatible JSON, the facts also under "earlyexit") when a
    /// command on a --notify-branch turns failing, passes again, or becomes flaky (repeatable)
    #[arg(long, value_name = "URL")]
    notify: Vec<String>,
    /// A branch whose commands --notify watches (repeatable; default: main)
    #[arg(long, value_name = "BRANCH")]
    notify_branch: Vec<String>,
    /// How long requests in flight may finish after SIGTERM
    #[arg(long, default_value = "10s", value_parser = bounded_duration)]
    shutdown_grace: Duration,
    /// Serve HTTPS with this PEM certificate chain (and --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_certificate: Option<PathBuf>,
    /// The PEM private key of --tls-certificate
    #[arg(long, value_name = "FILE", requires = "tls_certificate")]
    tls_key: Option<PathBuf>,
    /// Require a client certificate signed by a CA in this PEM file (mTLS)
    #[arg(long, value_name = "FILE", requires = "tls_certificate")]
    client_ca: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<ServeCommand>,
}

#[derive(Subcommand, Debug)]
enum ServeCommand {
    /// Create, list and revoke the API keys (kept hashed in the database)
    Keys {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(Subcommand, Debug)]
enum KeyAction {
    /// Create a key and print it, once
    Add {
        /// A name for the key (the runner, the team), shown in the server's log
        name: String,
        #[arg(long, value_enum, default_value = "write")]
        role: KeyRole,
        /// Take the key from standard input instead of making one: a key the runners already
        /// send (as to a receiver of your own). 16 to 200 printable characters, no spaces
        #[arg(long)]
        from_stdin: bool,
    },
    /// Every key's name, role, and when it was created or revoked
    List,
    /// Revoke a key: it stops working at once on every server of the database
    Revoke { name: String },
}

/// A duration between 1 ms and an hour.
fn bounded_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text).map_err(|e| e.to_string())?;
    if duration < Duration::from_millis(1) || duration > Duration::from_secs(3600) {
        return Err(format!("'{text}' is not between 1ms and 1h"));
    }
    Ok(duration)
}

/// A retention between a day and 100 years.
fn retention_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text).map_err(|e| e.to_string())?;
    if duration < Duration::from_secs(86_400) || duration > Duration::from_secs(36_500 * 86_400) {
        return Err(format!("'{text}' is not between 1d and 36500d"));
    }
    Ok(duration)
}

/// The clap definition, for the completions and the man page.
pub fn definition() -> clap::Command {
    ServeCli::command()
}

/// Runs `earlyexit serve ARGS...` and returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let argv = std::iter::once(OsString::from("earlyexit serve")).chain(args);
    let cli = match ServeCli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => {
            crate::message::say(crate::cli::first_line_of(&error));
            return exit_code::USAGE;
        }
        Err(help) => {
            print!("{}", help.render());
            return exit_code::SUCCESS;
        }
    };
    let database = match which_database(cli.database, cli.password_file, &|name| {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }) {
        Ok(database) => database,
        Err(message) => {
            crate::message::say(format!("serve: {message}"));
            return exit_code::USAGE;
        }
    };
    let targets = match cli.notify.iter().map(|url| Target::new(url)).collect() {
        Ok(targets) => targets,
        Err(message) => {
            crate::message::say(format!("serve: {message}"));
            return exit_code::USAGE;
        }
    };
    let branches = match cli.notify_branch.is_empty() {
        true => vec!["main".to_string()],
        false => cli.notify_branch,
    };
    let alerts = AlertSettings { targets, branches };
    let result = match cli.command {
        Some(ServeCommand::Keys { action }) => {
            manage_keys(&database, cli.statement_timeout, action)
        }
        None => serve(ServeOptions {
            listen: cli.listen,
            database,
            max_body_bytes: cli.max_body_bytes as usize,
            max_in_flight_bytes: cli.max_in_flight_bytes.max(cli.max_body_bytes) as usize,
            read_timeout: cli.read_timeout,
            max_requests_per_second: cli.max_requests_per_second,
            shutdown_grace: cli.shutdown_grace,
            statement_timeout: cli.statement_timeout,
            lost_after: cli.lost_after,
            retention: cli.retention,
            alerts,
            tls: cli
                .tls_certificate
                .zip(cli.tls_key)
                .map(|(certificate, key)| ServeTls {
                    certificate,
                    key,
                    client_ca: cli.client_ca,
                }),
        })
        .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => exit_code::SUCCESS,
        Err(message) => {
            crate::message::say(format!("serve: {message}"));
            exit_code::FAILED
        }
    }
}

/// The team store: `--database`, `EARLYEXIT_DATABASE_URL` (a path or a URL, as
/// `--database`), a PostgreSQL `DATABASE_URL` (a variable other programs set for their own
/// databases: one that is not PostgreSQL's is refused rather than taken for a path), or
/// `~/.earlyexit/team.db`. A password written in a command-line URL is warned about.
fn which_database(
    flag: Option<String>,
    password_file: Option<PathBuf>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Database, String> {
    if let Some(text) = &flag {
        if crate::server::is_postgres_url(text) && crate::urls::has_password(text) {
            crate::message::say(
                "serve: warning: the password in --database is visible to every user of this \
                 machine (ps); give it in PGPASSWORD, ~/.pgpass or --password-file",
            );
        }
    }
    if let Some(text) = flag.or_else(|| env("EARLYEXIT_DATABASE_URL")) {
        return Ok(Database::parse(&text, password_file));
    }
    match env("DATABASE_URL") {
        Some(url) if crate::server::is_postgres_url(&url) => {
            Ok(Database::parse(&url, password_file))
        }
        Some(_) => Err(
            "DATABASE_URL is not a postgres:// URL; give the team store with --database or \
             EARLYEXIT_DATABASE_URL"
                .to_string(),
        ),
        None => {
            let home = env("HOME").map(PathBuf::from).unwrap_or_default();
            Ok(Database::Sqlite(home.join(".earlyexit").join("team.db")))
        }
    }
}

fn manage_keys(
    database: &Database,
    statement_timeout: Duration,
    action: KeyAction,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = TeamStore::open(database, statement_timeout)
            .await
            .map_err(|e| e.to_string())?;
        match action {
            KeyAction::Add {
                name,
                role,
                from_stdin,
            } => {
                if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
                    return Err("a key's name is 1 to 100 printable characters".into());
                }
                let key = if from_stdin {
                    keys::read_given(std::io::stdin().lock())?
                } else {
                    keys::generate()
                };
                let added = store
                    .add_key(name.clone(), keys::hash(&key), role.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                if !added {
                    // Names and keys are both unique; say which one was taken, never the
                    // other key's name.
                    let keys = store.keys().await.map_err(|e| e.to_string())?;
                    return Err(if keys.iter().any(|key| key.name == name) {
                        format!("a key named '{name}' exists (revoked keys keep their names)")
                    } else {
                        "this key is already in the store under another name: a key is added once"
                            .to_string()
                    });
                }
                if from_stdin {
                    crate::message::say(format!("added the {} key '{name}'", role.as_str()));
                } else {
                    println!("{key}");
                    crate::message::say(format!(
                        "created the {} key '{name}': it is shown only now, keep it in your CI's secrets",
                        role.as_str()
                    ));
                }
            }
            KeyAction::List => {
                for key in store.keys().await.map_err(|e| e.to_string())? {
                    let state = key
                        .revoked
                        .map_or_else(|| "in force".to_string(), |when| format!("revoked {when}"));
                    println!("{}\t{}\tcreated {}\t{state}", key.name, key.role, key.created);
                }
            }
            KeyAction::Revoke { name } => {
                if !store.revoke_key(name.clone()).await.map_err(|e| e.to_string())? {
                    return Err(format!("no key in force is named '{name}'"));
                }
                println!("revoked '{name}'");
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(flag: Option<&str>, env: &[(&str, &str)]) -> Result<Database, String> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        };
        which_database(flag.map(str::to_string), None, &lookup)
    }

    fn postgres(url: &str) -> Database {
        Database::Postgres {
            url: url.to_string(),
            password_file: None,
        }
    }

    #[test]
    fn the_flag_then_earlyexit_database_url_then_a_postgres_database_url() {
        let env = [
            ("EARLYEXIT_DATABASE_URL", "postgres://ours@db/team"),
            ("DATABASE_URL", "postgres://app@db/app"),
            ("HOME", "/home/lead"),
        ];
        assert_eq!(
            database(Some("/srv/team.db"), &env),
            Ok(Database::Sqlite("/srv/team.db".into()))
        );
        assert_eq!(
            database(None, &env),
            Ok(postgres("postgres://ours@db/team"))
        );
        assert_eq!(
            database(None, &env[1..]),
            Ok(postgres("postgres://app@db/app"))
        );
        assert_eq!(
            database(None, &env[2..]),
            Ok(Database::Sqlite("/home/lead/.earlyexit/team.db".into()))
        );
        let refused = database(None, &[("DATABASE_URL", "mysql://app@db/app")]).unwrap_err();
        assert!(
            refused.starts_with("DATABASE_URL is not a postgres:// URL"),
            "{refused}"
        );
    }
}
