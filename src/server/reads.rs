//! The read routes: `GET /` (the team's report), `GET /api/v1/report` (its figures) and
//! `GET /api/v1/stats`, each built in its turn and shared by the requests that ask for it
//! while it is built (`shared_reads`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use super::answer::Answer;
use super::keys::KeyRole;
use super::request::Query;
use super::routes::{App, RETRY_STORE_AFTER};
use crate::analysis::report::Filter;

/// How long a reader waits for its turn before it is told to come back.
const REPORT_TURN: Duration = Duration::from_secs(30);

impl App {
    /// `GET /` (the report), `GET /api/v1/report` (its figures) and `GET /api/v1/stats`,
    /// with a read key. Requests for the same one share its building.
    pub(super) async fn read(
        self: Arc<App>,
        route: &'static str,
        request: Request<Incoming>,
    ) -> Answer {
        let caller = match self.caller(request.headers(), KeyRole::Read).await {
            Ok(caller) => caller,
            Err(answer) => return answer,
        };
        let asked = request.uri().query().unwrap_or("");
        let query = Query::parse(asked);
        let (start, since) = match query.since() {
            Ok(since) => since,
            Err(message) => return Answer::error(StatusCode::BAD_REQUEST, message),
        };
        let filter = match query.filter() {
            Ok(filter) => filter,
            Err(message) => return Answer::error(StatusCode::BAD_REQUEST, message),
        };
        let mut answer = self
            .shared_reads
            .answer(format!("{route}?{asked}"), || {
                self.build_read(route, filter.clone(), start, since.clone())
            })
            .await;
        answer.caller = Some(caller.name);
        answer
    }

    /// Builds a report, in its turn.
    async fn build_read(
        &self,
        route: &'static str,
        filter: Filter,
        start: SystemTime,
        since: String,
    ) -> Answer {
        let Ok(Ok(_turn)) = tokio::time::timeout(REPORT_TURN, self.reports.acquire()).await else {
            return Answer::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "other reports are being built: come back later",
            )
            .with_header("retry-after", RETRY_STORE_AFTER.to_string());
        };
        let made = match route {
            "report" | "report_json" => {
                let label = format!("team server {}", self.options.database.shown());
                self.store
                    .report(start, since, filter, label, self.options.lost_after)
                    .await
                    .map(|report| match route {
                        "report" => Answer::new(
                            StatusCode::OK,
                            "text/html; charset=utf-8",
                            report.html().into_bytes(),
                        ),
                        _ => Answer::json(StatusCode::OK, report.json()),
                    })
            }
            _ => self
                .store
                .stats(start, &self.options.database.shown())
                .await
                .map(|stats| Answer::json(StatusCode::OK, json!(stats))),
        };
        made.unwrap_or_else(|error| {
            Answer {
                failure: Some(format!("the store does not answer: {error}")),
                ..Answer::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the store does not answer: {}", error.cause()),
                )
            }
            .with_header("retry-after", RETRY_STORE_AFTER.to_string())
        })
    }
}
