//! `earlyexit serve`: who may write and read: keys and their roles, the per-key rate, TLS and
//! client certificates.

use std::io::Write;
use std::process::Stdio;

use crate::common::http::{agent, events_body, get, post};
use crate::common::server::Server;
use crate::common::{run, Home};

#[test]
fn the_report_and_the_figures_need_a_read_key() {
    let home = Home::new();
    let server = Server::start(&home, &[]);
    let key = ("X-API-Key", server.write_key.as_str());
    let json = ("Content-Type", "application/json");
    post(
        &format!("{}/api/v1/events", server.url),
        &[key, json],
        events_body("0c-1").as_bytes(),
    );
    let page = format!("{}/?since=7d", server.url);
    let (status, _) = get(&page, &[]);
    assert_eq!(status, 401);
    assert_eq!(get(&page, &[key]).0, 403, "a write key does not read");
    let basic = format!(
        "Basic {}",
        base64_of(&format!("anyone:{}", server.read_key))
    );
    let (status, html) = get(
        &format!("{}/?since=36500d", server.url),
        &[("Authorization", &basic)],
    );
    assert_eq!(status, 200);
    assert!(html.contains("<h2>Runs in progress</h2>"), "{html}");
    assert!(html.contains("0 run(s) in progress now."), "{html}");
    let (status, stats) = get(
        &format!("{}/api/v1/stats?since=36500d", server.url),
        &[("Authorization", &format!("Bearer {}", server.read_key))],
    );
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["runs"], 1);
    let figures = format!("{}/api/v1/report?since=36500d", server.url);
    assert_eq!(get(&figures, &[]).0, 401);
    assert_eq!(get(&figures, &[key]).0, 403, "a write key does not read");
    let (status, figures) = get(
        &figures,
        &[("Authorization", &format!("Bearer {}", server.read_key))],
    );
    assert_eq!(status, 200, "{figures}");
    let figures: serde_json::Value = serde_json::from_str(&figures).unwrap();
    assert_eq!(
        (&figures["runs"], &figures["in_progress"]),
        (&1.into(), &0.into())
    );
    assert_eq!(
        get(&format!("{}/healthz", server.url), &[]),
        (200, "ok\n".into())
    );
    assert_eq!(get(&format!("{}/readyz", server.url), &[]).0, 200);
    let (_, metrics) = get(&format!("{}/metrics", server.url), &[]);
    assert!(
        metrics.contains("earlyexit_requests_total{route=\"events\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("earlyexit_runs_stored_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("earlyexit_rejected_total{reason=\"wrong_role\"} 2"),
        "{metrics}"
    );
    assert_eq!(get(&format!("{}/nowhere", server.url), &[]).0, 404);
    assert_eq!(post(&format!("{}/healthz", server.url), &[], b"").0, 405);
}

fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_key_over_its_rate_is_told_when_to_come_back() {
    let home = Home::new();
    let server = Server::start(&home, &["--max-requests-per-second", "2"]);
    let key = ("X-API-Key", server.write_key.as_str());
    let json = ("Content-Type", "application/json");
    let events = format!("{}/api/v1/events", server.url);
    let statuses: Vec<u16> = (0..3)
        .map(|i| {
            post(
                &events,
                &[key, json],
                events_body(&format!("0d-{i}")).as_bytes(),
            )
            .0
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429]);
    let mut response = agent()
        .post(&events)
        .header("X-API-Key", &server.write_key)
        .header("Content-Type", "application/json")
        .send(events_body("0d-9").as_bytes())
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    assert!(response
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("too many requests"));
}

/// A private CA with a server and a client certificate (`tls_front::private_ca`), in a
/// directory of their own.
struct Certificates(Home);

impl Certificates {
    fn new() -> Certificates {
        let directory = Home::new();
        crate::common::tls_front::private_ca(&directory.dir);
        Certificates(directory)
    }

    /// The path of one of its files (`ca.pem`, `server.pem`, `client.key`, …).
    fn file(&self, name: &str) -> String {
        self.0.dir.join(name).to_str().unwrap().to_string()
    }

    /// `earlyexit serve`'s arguments for HTTPS with the server certificate, and with
    /// `mutual` for requiring a client certificate the CA signed.
    fn serve_tls(&self, mutual: bool) -> Vec<String> {
        let mut arguments = vec![
            "--tls-certificate".into(),
            self.file("server.pem"),
            "--tls-key".into(),
            self.file("server.key"),
        ];
        if mutual {
            arguments.extend(["--client-ca".into(), self.file("ca.pem")]);
        }
        arguments
    }
}

/// Arguments as `Server::start` takes them.
fn strs(arguments: &[String]) -> Vec<&str> {
    arguments.iter().map(String::as_str).collect()
}

/// HTTPS from the server's own certificate files, and with `--client-ca` mTLS: the real client
/// trusts the private CA (`http.ca_file`), and presents its certificate where it must.
#[test]
#[ignore = "needs openssl: run tests/install-and-run.sh"]
fn the_server_speaks_tls_and_requires_client_certificates_when_told() {
    let home = Home::new();
    let certificates = Certificates::new();
    let file = |name: &str| certificates.file(name);
    let server = Server::start(&home, &strs(&certificates.serve_tls(false)));
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let hybrid = |server: &Server, client_certificate: bool| {
        let mut command = home.earlyexit(&["--", "true"]);
        server
            .sends_here(&mut command)
            .env("EARLYEXIT_TELEMETRY_BACKEND", "http")
            .env("EARLYEXIT_TELEMETRY_HTTP_CA_FILE", file("ca.pem"));
        if client_certificate {
            command
                .env("EARLYEXIT_TELEMETRY_HTTP_CLIENT_CERT", file("client.pem"))
                .env("EARLYEXIT_TELEMETRY_HTTP_CLIENT_KEY", file("client.key"));
        }
        run(&mut command)
    };
    let sent = hybrid(&server, false);
    assert_eq!(sent.stderr_text(), "", "trusted through the private CA");
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["1"]]);
    // Plain HTTP to the TLS port is not served.
    let plain = ureq::get(&format!(
        "http://{}/healthz",
        server.url.trim_start_matches("https://")
    ))
    .call();
    assert!(plain.is_err());
    drop(server);

    let mutual = Home::new();
    let server = Server::start(&mutual, &strs(&certificates.serve_tls(true)));
    let without = hybrid(&server, false);
    assert_eq!(without.code, 0);
    assert!(
        without.stderr_text().contains("telemetry not recorded"),
        "{}",
        without.stderr_text()
    );
    let with = hybrid(&server, true);
    assert_eq!(with.stderr_text(), "", "the client certificate is accepted");
    // The refused run waited in the outbox and went with this one.
    assert_eq!(server.query("SELECT count(*) FROM executions"), [["2"]]);
    let bad = run(&mut mutual.earlyexit(&[
        "serve",
        "--tls-certificate",
        &file("server.pem"),
        "--tls-key",
        &file("client.key"),
    ]));
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr_text()
            .contains("the private key does not belong to the certificate"),
        "{}",
        bad.stderr_text()
    );
}

/// OTLP over gRPC through TLS with client certificates: the connection is HTTP/2 by ALPN, the
/// runner trusts the private CA (`OTEL_EXPORTER_OTLP_CERTIFICATE`) and presents its own, and
/// the run is stored once, with nothing said on stderr.
#[test]
#[ignore = "needs openssl: run tests/install-and-run.sh"]
fn otlp_over_grpc_through_mutual_tls_is_stored_once() {
    let home = Home::new();
    let certificates = Certificates::new();
    let file = |name: &str| certificates.file(name);
    let server = Server::start(&home, &strs(&certificates.serve_tls(true)));
    let mut command = home.earlyexit(&["--json", "Error", "--", "sh", "-c", "echo Error x"]);
    let sent = run(server
        .sends_otlp_here(&mut command, "grpc")
        .env("OTEL_EXPORTER_OTLP_CERTIFICATE", file("ca.pem"))
        .env("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", file("client.pem"))
        .env("OTEL_EXPORTER_OTLP_CLIENT_KEY", file("client.key")));
    assert_eq!(sent.stderr_text(), "");
    let summary: serde_json::Value =
        serde_json::from_str(sent.stdout_text().lines().last().unwrap()).unwrap();
    assert_eq!(
        server.query(&format!(
            "SELECT count(*) FROM executions WHERE execution_id = '{}'",
            summary["execution_id"].as_str().unwrap()
        )),
        [["1"]]
    );
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        log.contains("TraceService/Export") && log.contains("\"status\":200"),
        "{log}"
    );
}

/// A key given twice, under a second name, is refused with the reason (not "the name
/// exists"), and a name given twice likewise; neither adds a row.
#[test]
fn a_key_or_a_name_given_twice_is_refused_with_its_reason() {
    let home = Home::new();
    let database = home.dir.join("keys.db");
    let database = database.to_str().unwrap();
    let add = |name: &str, key: &str| {
        let mut command = home
            .earlyexit(&[
                "serve",
                "keys",
                "add",
                name,
                "--from-stdin",
                "--database",
                database,
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(command.stdin.take().unwrap(), "{key}").unwrap();
        let output = command.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let token = "a-runner-token-of-enough-length";
    assert_eq!(add("first", token).0, Some(0));
    let (code, stderr) = add("second", token);
    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("already in the store under another name"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("first") && !stderr.contains(token),
        "{stderr}"
    );
    let (code, stderr) = add("first", "another-token-of-enough-length");
    assert_ne!(code, Some(0));
    assert!(stderr.contains("a key named 'first' exists"), "{stderr}");
    let listed =
        run(&mut home.earlyexit(&["serve", "keys", "list", "--database", database])).stdout_text();
    assert_eq!(listed.lines().count(), 1, "{listed}");
}
