//! The alerts' two tasks (see `alerts`): one compares stored runs with their commands' states,
//! the other posts the messages that queues.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::sync::mpsc;

use super::alerts::{body, Seen, Target};
use super::routes::App;
use crate::store::{Change, Messages};

/// Posts of one message before it is given up.
const ATTEMPTS: i64 = 5;
/// How long a post may take, and how long a message is held by the server posting it.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
const LEASE: Duration = Duration::from_secs(30);
/// How often the messages due are looked for.
const POST_EVERY: Duration = Duration::from_secs(1);

/// An error's text up to the first URL in it: a webhook's URL holds its secret in its path,
/// which the log must never show.
fn without_urls(text: &str) -> String {
    match text.find("://") {
        Some(at) => {
            let scheme = text[..at]
                .rfind(|c: char| !c.is_ascii_alphanumeric())
                .map_or(0, |i| i + 1);
            format!("{}[a URL]", &text[..scheme])
        }
        None => text.to_string(),
    }
}

/// Compares each stored run as it comes; a store that fails costs that run's comparison.
pub async fn compare(app: Arc<App>, mut runs: mpsc::Receiver<Seen>, targets: Vec<Target>) {
    while let Some(seen) = runs.recv().await {
        let messages = Messages(
            [Change::Failing, Change::Passing, Change::Flaky]
                .into_iter()
                .map(|change| {
                    let text = body(change, &seen);
                    let to_each = targets.iter().map(|t| (t.id.clone(), text.clone()));
                    (change, to_each.collect())
                })
                .collect(),
        );
        if let Err(error) = app.store.observe(&seen.observed, messages).await {
            super::log_line(&json!({"event": "alert", "error": error.to_string()}));
        }
    }
}

/// Posts the messages due, target by target, for as long as the server runs.
pub async fn post(app: Arc<App>, targets: Vec<Target>) {
    let tls = crate::delivery::tls::Trust::default().ureq_config().ok();
    let agent = crate::delivery::tls::agent(POST_TIMEOUT, tls.as_ref());
    loop {
        for (number, target) in targets.iter().enumerate() {
            while let Ok(Some(message)) = {
                let now = SystemTime::now();
                app.store
                    .claim_notification(&target.id, now, now + LEASE)
                    .await
            } {
                let (agent, url, body) = (agent.clone(), target.url.clone(), message.body);
                let posted = tokio::task::spawn_blocking(move || {
                    agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(body.as_bytes())
                        .map(|response| response.status().as_u16())
                })
                .await;
                let status = match posted {
                    Ok(Ok(status)) if (200..300).contains(&status) => None,
                    Ok(Ok(status)) => Some(format!("status {status}")),
                    Ok(Err(error)) => Some(without_urls(&error.to_string())),
                    Err(_) => Some("the posting thread failed".to_string()),
                };
                let done = match &status {
                    None => true,
                    Some(why) => {
                        let gave_up = message.attempts >= ATTEMPTS;
                        super::log_line(&json!({
                            "event": "notify",
                            "target": number + 1,
                            "attempt": message.attempts,
                            "error": why,
                            "gave_up": gave_up,
                        }));
                        gave_up
                    }
                };
                let _ = match done {
                    true => app.store.forget_notification(&message.id).await,
                    false => {
                        let wait = Duration::from_secs(1 << message.attempts.clamp(0, 10));
                        let at = SystemTime::now() + wait;
                        app.store.retry_notification(&message.id, at).await
                    }
                };
                if status.is_some() {
                    break;
                }
            }
        }
        tokio::time::sleep(POST_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_never_reaches_the_log() {
        assert_eq!(
            without_urls("http: https://hooks.slack.com/services/T0/B0/secret: status 404"),
            "http: [a URL]"
        );
        assert_eq!(
            without_urls("io: Connection refused"),
            "io: Connection refused"
        );
    }
}
