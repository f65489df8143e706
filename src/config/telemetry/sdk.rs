//! The OpenTelemetry SDK's own variables, as the specification reads them: which exporters
//! (`OTEL_TRACES_EXPORTER`, `OTEL_LOGS_EXPORTER`), which propagators, the span limits, the
//! resource (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`), and what only the whole OTLP
//! configuration tells. Empty is unset; a value earlyexit cannot use is one warning, and the
//! default stays.

use super::{Backend, Origin, OtlpProtocol, Remote, Signal, TelemetrySettings, MAX_SPAN_EVENTS};

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl TelemetrySettings {
    /// The SDK's own variables (the specification's "General SDK configuration"): which
    /// exporters, which propagators, the span limits and the resource. Empty is unset; a value
    /// earlyexit cannot use is a warning, and the default stays.
    pub(super) fn apply_sdk_variables(&mut self, env: Env) {
        let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        if let Some(exporters) = set("OTEL_TRACES_EXPORTER") {
            self.apply_exporters(Signal::Traces, &exporters);
        }
        if let Some(exporters) = set("OTEL_LOGS_EXPORTER") {
            self.apply_exporters(Signal::Logs, &exporters);
        }
        if let Some(propagators) = set("OTEL_PROPAGATORS") {
            self.apply_propagators(&propagators);
        }
        if let Some(limit) = set("OTEL_SPAN_EVENT_COUNT_LIMIT") {
            match limit.trim().parse::<usize>() {
                Ok(limit) => self.span_event_limit = limit.min(MAX_SPAN_EVENTS),
                Err(_) => self.warn(format!(
                    "OTEL_SPAN_EVENT_COUNT_LIMIT: expected a whole number, found '{limit}'; \
                     the default {} kept",
                    self.span_event_limit
                )),
            }
        }
        if let Some(attributes) = set("OTEL_RESOURCE_ATTRIBUTES") {
            match resource_attributes(&attributes) {
                Ok(attributes) => self.resource = attributes,
                Err(entry) => self.warn(format!(
                    "OTEL_RESOURCE_ATTRIBUTES: '{entry}' is not key=value with a \
                     percent-encoded value; the whole variable is ignored"
                )),
            }
        }
        // The specification: OTEL_SERVICE_NAME wins over service.name in the attributes.
        if let Some(name) = set("OTEL_SERVICE_NAME") {
            self.resource.retain(|(key, _)| key != "service.name");
            self.resource
                .push(("service.name".into(), name.trim().to_string()));
        }
    }

    /// `OTEL_TRACES_EXPORTER` and `OTEL_LOGS_EXPORTER`, comma-separated lists as the SDKs
    /// read them: `otlp` sends to the collector (for traces, the backend becomes otlp, or
    /// hybrid's remote does, unless an earlyexit variable or the file chose the backend),
    /// `console` also prints each span on stderr, `none` sends nothing of the signal.
    fn apply_exporters(&mut self, signal: Signal, exporters: &str) {
        let variable = match signal {
            Signal::Traces => "OTEL_TRACES_EXPORTER",
            Signal::Logs => "OTEL_LOGS_EXPORTER",
        };
        let origin = Origin::Environment(variable.into());
        for exporter in exporters.split(',').map(|e| e.trim().to_ascii_lowercase()) {
            match (signal, exporter.as_str()) {
                (Signal::Traces, "none") => self.otlp.traces.disabled = true,
                (Signal::Logs, "none") => self.otlp.logs.disabled = true,
                (Signal::Traces, "console") => self.console = true,
                (Signal::Traces, "otlp")
                    if self.origin_of("telemetry.backend") == Origin::Default =>
                {
                    self.backend = Backend::Otlp;
                    self.set_origin("telemetry.backend", origin.clone());
                }
                (Signal::Traces, "otlp") if self.backend == Backend::Hybrid => {
                    self.hybrid.remote_backend = Remote::Otlp;
                    self.set_origin("telemetry.hybrid.remote_backend", origin.clone());
                }
                (_, "otlp") => {}
                (_, other) => self.warn(format!(
                    "{variable}: '{other}' is not an exporter earlyexit has (otlp, {}none); \
                     ignored",
                    if signal == Signal::Traces {
                        "console, "
                    } else {
                        ""
                    }
                )),
            }
        }
    }

    /// `OTEL_PROPAGATORS`: earlyexit reads and hands on W3C trace context (`tracecontext`)
    /// only; a list without it, or `none`, turns that off.
    fn apply_propagators(&mut self, propagators: &str) {
        const KNOWN: &[&str] = &[
            "tracecontext",
            "baggage",
            "b3",
            "b3multi",
            "jaeger",
            "xray",
            "ottrace",
            "none",
        ];
        let names: Vec<String> = propagators
            .split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        if let Some(unknown) = names.iter().find(|name| !KNOWN.contains(&name.as_str())) {
            self.warn(format!(
                "OTEL_PROPAGATORS: '{unknown}' is not a propagator the specification names; \
                 ignored"
            ));
        }
        self.propagate_trace_context = names.iter().any(|name| name == "tracecontext")
            && !names.iter().any(|name| name == "none");
    }

    /// What only the whole OTLP configuration tells: an endpoint without a scheme is for gRPC
    /// alone (`OtlpSettings::export`); one that an HTTP export would use is said, once.
    pub(super) fn check_otlp(&mut self) {
        let mut unusable: Vec<&str> = Vec::new();
        for signal in [Signal::Traces, Signal::Logs] {
            if self.otlp.protocol_of(signal) == OtlpProtocol::Grpc {
                continue;
            }
            let own = match signal {
                Signal::Traces => ("telemetry.otlp.traces_endpoint", &self.otlp.traces.endpoint),
                Signal::Logs => ("telemetry.otlp.logs_endpoint", &self.otlp.logs.endpoint),
            };
            for (key, endpoint) in [own, ("telemetry.otlp.endpoint", &self.otlp.endpoint)] {
                if endpoint.as_ref().is_some_and(|e| !e.has_scheme()) && !unusable.contains(&key) {
                    unusable.push(key);
                }
            }
        }
        for key in unusable {
            let origin = self.origin_of(key);
            self.warn(format!(
                "{origin}: an OTLP endpoint without http:// or https:// is for gRPC only; \
                 exports over HTTP go to the default instead"
            ));
        }
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values
/// percent-encoded; the first entry that is not one is the error.
fn resource_attributes(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (key, value) = entry.split_once('=').ok_or_else(|| entry.to_string())?;
            let key = key.trim();
            if key.is_empty() || !percent_encoded(value) {
                return Err(entry.to_string());
            }
            Ok((key.to_string(), crate::urls::percent_decode(value.trim())))
        })
        .collect()
}

/// True when every `%` starts two hex digits.
fn percent_encoded(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(at, &byte)| {
        byte != b'%'
            || (bytes.get(at + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(at + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}
