//! `telemetry test-http` and `telemetry send-test`: checking the HTTP endpoint.

use std::time::SystemTime;

use serde_json::json;

use super::{CommandError, EndpointArgs};
use crate::config::telemetry::Secret;
use crate::config::TelemetrySettings;
use crate::telemetry::delivery::DeliveryError;
use crate::telemetry::remote::{self, Endpoint, PostError};

impl EndpointArgs {
    fn resolve(&self, settings: &TelemetrySettings) -> Result<Endpoint, CommandError> {
        let url = self
            .endpoint
            .clone()
            .or_else(|| settings.http.endpoint.as_deref().map(str::to_string))
            .ok_or_else(|| CommandError::Usage(DeliveryError::NoEndpoint.to_string()))?;
        let auth_header = self.auth_header.unwrap_or(settings.http.auth_header);
        let api_key = self
            .api_key
            .clone()
            .map(Secret::new)
            .or_else(|| settings.http.api_key.clone());
        Ok(Endpoint::new(
            &url,
            auth_header,
            api_key,
            settings.http.trust.clone(),
        ))
    }
}

pub fn test_http(settings: &TelemetrySettings, args: &EndpointArgs) -> Result<(), CommandError> {
    let endpoint = args.resolve(settings)?;
    let body = remote::request_body(Vec::new(), true).to_string();
    let deadline = std::time::Instant::now() + settings.http.timeout;
    match remote::post(&endpoint, body.as_bytes(), deadline, 0) {
        Ok(accepted) => {
            println!(
                "{}: reachable, key accepted (HTTP {}) in {:.1} ms",
                endpoint.display(),
                accepted.status,
                accepted.elapsed.as_secs_f64() * 1000.0
            );
            Ok(())
        }
        Err(PostError::Rejected {
            status: 401 | 403,
            endpoint: url,
            ..
        }) => Err(CommandError::KeyRefused(url)),
        Err(error) => Err(error.into()),
    }
}

pub fn send_test(settings: &TelemetrySettings, args: &EndpointArgs) -> Result<(), CommandError> {
    let endpoint = args.resolve(settings)?;
    let execution_id = uuid::Uuid::new_v4().to_string();
    let now = crate::timestamp::millis(SystemTime::now());
    let event = json!({
        "type": "execution",
        "data": {
            "execution_id": execution_id,
            "timestamp": now,
            "command_hash": crate::telemetry::command_hash("earlyexit telemetry send-test"),
            "pattern": "earlyexit-send-test",
            "exit_code": 0,
            "exit_reason": "test",
            "total_runtime": 0.0,
            "match_count": 0,
            "project_type": "unknown",
            "command_category": "test",
            "test": true,
        },
    });
    let body = remote::request_body(vec![event], true).to_string();
    let deadline = std::time::Instant::now() + settings.http.timeout;
    let accepted = remote::post(
        &endpoint,
        body.as_bytes(),
        deadline,
        settings.http.retry_attempts,
    )?;
    println!(
        "sent test execution {execution_id} to {} (HTTP {}, received {})",
        endpoint.display(),
        accepted.status,
        accepted
            .received
            .map_or_else(|| "?".to_string(), |r| r.to_string())
    );
    for warning in accepted.warnings {
        println!("warning: {warning}");
    }
    Ok(())
}
