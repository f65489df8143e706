//! The team store on PostgreSQL as companies run it: TLS with libpq's `sslmode`s against a
//! real PostgreSQL 15 with `ssl=on` and a private CA, client certificates, and the password
//! from `PGPASSWORD` or a file, never on the command line.

use std::time::SystemTime;

use crate::common::postgres::Postgres;
use crate::common::server::Server;
use crate::common::team::send_batch;
use crate::common::tls_front::private_ca;
use crate::common::{run, Home};

const PASSWORD: &str = "pw-Kq82-never-shown";

/// `runner` must come over TLS with its password; `certified` over TLS with a client
/// certificate of the CA; the tests' own `earlyexit` superuser as it likes.
const HBA: &str = "\
hostssl all runner 127.0.0.1/32 scram-sha-256
host    all runner 127.0.0.1/32 reject
hostssl all certified 127.0.0.1/32 trust clientcert=verify-ca
host    all certified 127.0.0.1/32 reject
host    all earlyexit 127.0.0.1/32 trust
";

fn roles() -> String {
    format!(
        "CREATE ROLE runner LOGIN PASSWORD '{PASSWORD}'; CREATE ROLE certified LOGIN; \
         ALTER DATABASE team OWNER TO runner; GRANT runner TO certified"
    )
}

/// A PostgreSQL with TLS and the CA (in `home/ca`) whose certificates it serves and checks.
fn postgres_with_tls(home: &Home) -> (Postgres, std::path::PathBuf) {
    let ca = home.dir.join("ca");
    std::fs::create_dir_all(&ca).unwrap();
    private_ca(&ca);
    (Postgres::start_tls(&ca, &roles(), HBA), ca)
}

/// `earlyexit serve keys list` on this database: connects, migrates, reads the keys.
fn list_keys(home: &Home, url: &str, env: &[(&str, &str)]) -> crate::common::Run {
    run(home
        .earlyexit(&["serve", "--database", url, "keys", "list"])
        .envs(env.iter().copied()))
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn a_thousand_runs_are_stored_once_over_verify_full_with_a_password_ps_never_shows() {
    let home = Home::new();
    let (postgres, ca) = postgres_with_tls(&home);
    let url = format!(
        "postgres://runner@127.0.0.1:{}/team?sslmode=verify-full&sslrootcert={}",
        postgres.port,
        ca.join("ca.pem").display()
    );
    let server = Server::start_with_env(&home, &url, &[("PGPASSWORD", PASSWORD)]);
    let now = SystemTime::now();
    // 20 runners send 50 runs each, every batch twice.
    std::thread::scope(|scope| {
        for runner in 0..20 {
            let server = &server;
            scope.spawn(move || {
                for _ in 0..2 {
                    send_batch(server, runner * 50, 50, now);
                }
            });
        }
    });
    assert_eq!(
        postgres.psql(
            "team",
            "SELECT count(*), count(DISTINCT execution_id) FROM executions"
        ),
        "1000|1000"
    );
    assert_eq!(
        postgres.psql(
            "team",
            "SELECT DISTINCT ssl FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE usename = 'runner'"
        ),
        "t",
        "every connection of the server is encrypted"
    );
    let command_line = std::fs::read(format!("/proc/{}/cmdline", server.pid())).unwrap();
    let command_line = String::from_utf8_lossy(&command_line);
    assert!(
        command_line.contains("sslmode=verify-full"),
        "{command_line}"
    );
    assert!(!command_line.contains(PASSWORD), "{command_line}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains(PASSWORD), "{log}");
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn each_sslmode_checks_what_libpq_checks_and_a_refusal_is_one_line() {
    let home = Home::new();
    let (postgres, ca) = postgres_with_tls(&home);
    let port = postgres.port;
    let root = ca.join("ca.pem");
    let root = root.display();
    let password = [("PGPASSWORD", PASSWORD)];
    let works = |url: &str, env: &[(&str, &str)]| {
        let listed = list_keys(&home, url, env);
        assert_eq!(listed.code, 0, "{url}: {}", listed.stderr_text());
    };
    let refused = |url: &str, env: &[(&str, &str)], reason: &str| {
        let listed = list_keys(&home, url, env);
        let stderr = listed.stderr_text();
        assert_eq!(listed.code, 1, "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{url}: {stderr}");
        assert!(stderr.contains(reason), "{url}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{stderr}");
        assert!(
            !stderr.contains("sslrootcert"),
            "the query is not shown: {stderr}"
        );
    };

    // Encryption without a check of the certificate, as libpq's require.
    works(
        &format!("postgres://runner@127.0.0.1:{port}/team?sslmode=require"),
        &password,
    );
    // Plain text is refused by this server for this role.
    refused(
        &format!("postgres://runner@127.0.0.1:{port}/team?sslmode=disable"),
        &password,
        "no encryption",
    );
    // A CA that did not sign the server's certificate (of the same name: rustls finds the
    // signature bad rather than the issuer unknown).
    let other = home.dir.join("other-ca");
    std::fs::create_dir_all(&other).unwrap();
    private_ca(&other);
    let other_root = other.join("ca.pem");
    refused(
        &format!(
            "postgres://runner@127.0.0.1:{port}/team?sslmode=verify-full&sslrootcert={}",
            other_root.display()
        ),
        &password,
        "error performing TLS handshake: invalid peer certificate",
    );
    refused(
        &format!(
            "postgres://runner@127.0.0.1:{port}/team?sslmode=verify-ca&sslrootcert={}",
            other_root.display()
        ),
        &password,
        "invalid peer certificate",
    );
    // The right CA, but a host name the certificate does not name (it names 127.0.0.1):
    // verify-full refuses, verify-ca takes it.
    let by_name = |mode: &str| {
        format!(
            "postgres://runner@localhost:{port}/team?hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={root}"
        )
    };
    refused(&by_name("verify-full"), &password, "not valid for name");
    works(&by_name("verify-ca"), &password);
    // The sslmode from PGSSLMODE, the root from PGSSLROOTCERT.
    works(
        &format!("postgres://runner@127.0.0.1:{port}/team"),
        &[
            ("PGPASSWORD", PASSWORD),
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", &root.to_string()),
        ],
    );
    // A wrong password is refused without being shown.
    refused(
        &format!("postgres://runner@127.0.0.1:{port}/team?sslmode=require"),
        &[("PGPASSWORD", "pw-wrong-one")],
        "password authentication failed",
    );
    // A client certificate of the CA, where PostgreSQL asks for one.
    let certified = format!(
        "postgres://certified@127.0.0.1:{port}/team?sslmode=verify-full&sslrootcert={root}"
    );
    refused(&certified, &[], "certificate");
    works(
        &format!(
            "{certified}&sslcert={}&sslkey={}",
            ca.join("client.pem").display(),
            ca.join("client.key").display()
        ),
        &[],
    );
}

#[test]
#[ignore = "needs PostgreSQL: run tests/install-and-run.sh"]
fn the_url_and_the_password_come_from_the_environment_or_files() {
    let home = Home::new();
    let (postgres, ca) = postgres_with_tls(&home);
    let url = format!(
        "postgres://runner@127.0.0.1:{}/team?sslmode=verify-full&sslrootcert={}",
        postgres.port,
        ca.join("ca.pem").display()
    );
    let keys_list = |args: &[&str], env: &[(&str, &str)]| {
        run(home
            .earlyexit(&[&["serve"][..], args, &["keys", "list"]].concat())
            .envs(env.iter().copied()))
    };
    // DATABASE_URL names the store, EARLYEXIT_DATABASE_URL over it, --database over both.
    let nowhere = format!(
        "postgres://runner@127.0.0.1:{}/team",
        crate::common::closed_port()
    );
    for (args, env) in [
        (vec![], vec![("DATABASE_URL", url.as_str())]),
        (
            vec![],
            vec![
                ("EARLYEXIT_DATABASE_URL", url.as_str()),
                ("DATABASE_URL", &nowhere),
            ],
        ),
        (
            vec!["--database", url.as_str()],
            vec![("EARLYEXIT_DATABASE_URL", nowhere.as_str())],
        ),
    ] {
        let env = [&env[..], &[("PGPASSWORD", PASSWORD)]].concat();
        let listed = keys_list(&args, &env);
        assert_eq!(listed.code, 0, "{args:?} {env:?}: {}", listed.stderr_text());
        assert_eq!(listed.stderr_text(), "");
    }
    assert!(
        !home.dir.join(".earlyexit/team.db").exists(),
        "no SQLite store was made instead"
    );
    // The password from --password-file, and from a password file only its owner reads.
    let file = home.dir.join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let listed = keys_list(
        &[
            "--database",
            &url,
            "--password-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(listed.code, 0, "{}", listed.stderr_text());
    let pgpass = home.dir.join(".pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:*:team:runner:{PASSWORD}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let listed = keys_list(&["--database", &url], &[]);
    assert_eq!(listed.code, 0, "{}", listed.stderr_text());
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let listed = keys_list(&["--database", &url], &[]);
    assert_eq!(listed.code, 1);
    assert!(
        listed
            .stderr_text()
            .contains("has group or world access and is not used"),
        "{}",
        listed.stderr_text()
    );
    // A password on the command line works, with a warning that ps shows it.
    let shown = url.replace("runner@", &format!("runner:{PASSWORD}@"));
    let listed = keys_list(&["--database", &shown], &[]);
    assert_eq!(listed.code, 0, "{}", listed.stderr_text());
    assert!(listed.stderr_text().contains("visible to every user"));
    // A DATABASE_URL of another kind of database is not taken for a SQLite path.
    let listed = keys_list(&[], &[("DATABASE_URL", "mysql://app@db/app")]);
    assert_eq!(listed.code, 3, "a usage error");
    assert!(listed
        .stderr_text()
        .contains("DATABASE_URL is not a postgres:// URL"));
}
