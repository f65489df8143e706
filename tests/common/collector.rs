//! rotel, a real OpenTelemetry Collector, on free loopback ports, and what it printed of the
//! spans it received.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{closed_port, run, Home};

/// `rotel-agent`, which `tests/install-and-run.sh` installs (PyPI's rotel, in
/// `target/test-venv`) and names in `$EARLYEXIT_TEST_ROTEL`. No test installs anything.
pub fn rotel_agent() -> PathBuf {
    PathBuf::from(
        std::env::var("EARLYEXIT_TEST_ROTEL")
            .expect("EARLYEXIT_TEST_ROTEL names rotel-agent: run tests/install-and-run.sh"),
    )
}

/// A span as the collector printed it.
#[derive(Debug, Default, Clone)]
pub struct DumpedSpan {
    pub fields: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
    pub events: Vec<BTreeMap<String, String>>,
    pub resource: BTreeMap<String, String>,
}

/// `     -> key: Str(value)` → (key, value)
pub fn attribute(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix("-> ")?;
    let (key, value) = rest.split_once(": ")?;
    let value = value
        .split_once('(')
        .map_or(value, |(_, v)| v.strip_suffix(')').unwrap_or(v));
    Some((key.to_string(), value.to_string()))
}

pub fn parse_dump(text: &str) -> Vec<DumpedSpan> {
    let mut spans = Vec::new();
    let mut resource = BTreeMap::new();
    let mut section = "";
    let mut current: Option<DumpedSpan> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("ResourceSpans #") {
            resource.clear();
            section = "";
        } else if trimmed.starts_with("ResourceLog") {
            // Log records follow (`parse_logs`): nothing of them belongs to a span.
            spans.extend(current.take());
            section = "";
        } else if let Some(url) = trimmed.strip_prefix("Resource SchemaURL:") {
            resource.insert("(schema url)".to_string(), url.trim().to_string());
        } else if trimmed == "Resource attributes:" {
            section = "resource";
        } else if trimmed.starts_with("Span #") {
            spans.extend(current.take());
            current = Some(DumpedSpan {
                resource: resource.clone(),
                ..DumpedSpan::default()
            });
            section = "span";
        } else if trimmed == "Attributes:" {
            section = "attributes";
        } else if trimmed.starts_with("SpanEvent #") {
            if let Some(span) = &mut current {
                span.events.push(BTreeMap::new());
            }
            section = "event";
        } else if let Some((key, value)) = attribute(line) {
            match (section, &mut current) {
                ("resource", _) => {
                    resource.insert(key, value);
                }
                ("attributes", Some(span)) => {
                    span.attributes.insert(key, value);
                }
                ("event", Some(span)) => {
                    let key = key.trim_end_matches(':').to_string();
                    span.events.last_mut().unwrap().insert(key, value);
                }
                _ => {}
            }
        } else if let (Some(span), Some((key, value))) = (&mut current, trimmed.split_once(':')) {
            if section == "span" {
                span.fields
                    .insert(key.trim().to_string(), value.trim().to_string());
            }
        }
    }
    spans.extend(current);
    spans
}

/// A log record as the collector printed it: its fields (`EventName`, `SeverityText`,
/// `Trace ID`, `Span ID` …) and attributes.
#[derive(Debug, Default, Clone)]
pub struct DumpedLog {
    pub fields: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
}

pub fn parse_logs(text: &str) -> Vec<DumpedLog> {
    let mut logs = Vec::new();
    let mut current: Option<DumpedLog> = None;
    let mut in_attributes = false;
    // A field or an attribute whose text goes on over lines (a failure block): its key, and
    // whether it is a field, until the line that closes its `Str(`.
    let mut continued: Option<(String, bool)> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let (Some((key, field)), Some(log)) = (&continued, &mut current) {
            let map = if *field {
                &mut log.fields
            } else {
                &mut log.attributes
            };
            let value = map.entry(key.clone()).or_default();
            value.push('\n');
            value.push_str(line.strip_suffix(')').unwrap_or(line));
            if line.ends_with(')') {
                continued = None;
            }
            continue;
        }
        if trimmed.starts_with("LogRecord #") {
            logs.extend(current.take());
            current = Some(DumpedLog::default());
            in_attributes = false;
        } else if trimmed.starts_with("Resource") || trimmed.starts_with("Span #") {
            logs.extend(current.take());
        } else if let Some(log) = &mut current {
            if trimmed == "Attributes:" {
                in_attributes = true;
            } else if let (true, Some((key, value))) = (in_attributes, attribute(line)) {
                if line.contains("Str(") && !line.ends_with(')') {
                    continued = Some((key.clone(), false));
                }
                log.attributes.insert(key, value);
            } else if let Some((key, value)) = trimmed.split_once(':') {
                in_attributes = false;
                let value = value.trim();
                if value.starts_with("Str(") && !value.ends_with(')') {
                    continued = Some((key.trim().to_string(), true));
                }
                log.fields.insert(key.trim().to_string(), value.to_string());
            }
        }
    }
    logs.extend(current);
    logs
}

/// rotel on two free loopback ports, its stdout collected. Killed on drop.
pub struct Collector {
    child: Child,
    pub grpc: String,
    pub http: String,
    pub output: Arc<Mutex<String>>,
}

impl Collector {
    /// Starts rotel on two free ports; again on two others when a port it was given was taken
    /// meanwhile by another test's peer (rotel then exits at once).
    pub fn start() -> Collector {
        let mut last = String::new();
        for _ in 0..3 {
            match Collector::start_on(closed_port(), closed_port()) {
                Ok(collector) => return collector,
                Err(problem) => last = problem,
            }
        }
        panic!("the collector did not start: {last}");
    }

    pub fn start_on(grpc_port: u16, http_port: u16) -> Result<Collector, String> {
        Collector::start_batching(grpc_port, http_port, &["--batch-timeout", "50ms"])
    }

    /// rotel with the batching flags of `collector-config/rotel.sh`, the shipped settings.
    pub fn start_as_shipped() -> Collector {
        let script = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("collector-config/rotel.sh"),
        )
        .unwrap();
        let batching: Vec<String> = script
            .lines()
            .map(|line| line.trim().trim_end_matches('\\').trim())
            .filter(|line| {
                line.starts_with("--batch")
                    || line.starts_with("--traces-batch")
                    || line.starts_with("--logs-batch")
            })
            .flat_map(|line| {
                line.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(!batching.is_empty(), "rotel.sh batches");
        let batching: Vec<&str> = batching.iter().map(String::as_str).collect();
        Collector::start_batching(closed_port(), closed_port(), &batching)
            .unwrap_or_else(|problem| panic!("the collector did not start: {problem}"))
    }

    fn start_batching(
        grpc_port: u16,
        http_port: u16,
        batching: &[&str],
    ) -> Result<Collector, String> {
        let mut child = Command::new(rotel_agent())
            .args([
                "start",
                "--otlp-grpc-endpoint",
                &format!("127.0.0.1:{grpc_port}"),
            ])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args([
                "--exporter",
                "blackhole",
                "--debug-log",
                "traces",
                "--debug-log",
                "logs",
                "--debug-log-verbosity",
                "detailed",
            ])
            .args(batching)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("rotel-agent starts");
        let output = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                sink.lock().unwrap().push_str(&text);
            }
        });
        let until = Instant::now() + Duration::from_secs(20);
        for port in [grpc_port, http_port] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "rotel exited ({status}) before it listened on {port}"
                    ));
                }
                if Instant::now() > until {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("nothing listened on {port} within 20 s"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(Collector {
            child,
            grpc: format!("http://127.0.0.1:{grpc_port}"),
            http: format!("http://127.0.0.1:{http_port}"),
            output,
        })
    }

    /// The span with this execution id, waiting up to 10 s for the collector to print it.
    pub fn span(&self, execution_id: &str) -> DumpedSpan {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let text = strip_ansi(&self.output.lock().unwrap());
            if let Some(span) = parse_dump(&text).into_iter().find(|s| {
                s.attributes
                    .get("earlyexit.execution_id")
                    .map(String::as_str)
                    == Some(execution_id)
            }) {
                return span;
            }
            assert!(Instant::now() < until, "no span {execution_id} in:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log record received so far.
    pub fn logs(&self) -> Vec<DumpedLog> {
        parse_logs(&strip_ansi(&self.output.lock().unwrap()))
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<DumpedSpan> {
        parse_dump(&strip_ansi(&self.output.lock().unwrap()))
    }

    pub fn span_count(&self) -> usize {
        parse_dump(&strip_ansi(&self.output.lock().unwrap())).len()
    }

    /// That none of these runs reached the collector, shown the only way absence can be: a
    /// run sent after them arrives, and they are still not there. The later run has a home of
    /// its own, whose outbox holds none of theirs.
    pub fn never_received(&self, execution_ids: &[String]) {
        let later = run_otlp(
            &Home::new(),
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", &self.grpc)],
            &["--", "true"],
        );
        self.span(later["execution_id"].as_str().unwrap());
        let text = strip_ansi(&self.output.lock().unwrap());
        for id in execution_ids {
            assert!(!text.contains(id.as_str()), "run {id} arrived:\n{text}");
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until every port accepts connections on 127.0.0.1; the first one that does not
/// within `limit` is the error.
pub fn wait_until_listening(ports: &[u16], limit: Duration) -> Result<(), u16> {
    let until = Instant::now() + limit;
    for &port in ports {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > until {
                return Err(port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs earlyexit with the OTLP backend and returns its --json summary.
pub fn run_otlp(home: &Home, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let mut command =
        home.earlyexit(&[&["--json", "--telemetry-backend", "otlp"][..], args].concat());
    command.envs(env.iter().copied());
    let run = run(&mut command);
    assert_eq!(run.stderr_text(), "", "no warning expected");
    run.json()
}
