//! The team's report at `/`: the same page as `telemetry report`, made from the figures the
//! store keeps folded (`store::report`) instead of from the runs, so that a million runs cost
//! a few thousand rows. Kept figures are whole UTC days; where a period starts or ends inside
//! a day, that part of the day is read as runs and folded here.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::controls::{self, Choices};
use super::in_progress::{RunsNow, LISTED};
use super::team_store::TeamStore;
use crate::analysis::report::{self, Figures, Filter, Page, TOP};
use crate::analysis::rollup::{stored_revisions, Rollup};
use crate::store::{Stats, StoreError, StoredGroup};
use crate::timestamp::{day, millis, next_start_of_day, start_of_day};

/// Runs a fold takes at once. A fold rewrites each group its runs fall in once, so larger
/// folds keep up with more runs spread over more groups, but they hold more memory and more
/// of the database's time among requests: under the ingest benchmark (a new command, so a new
/// group, with every run) folds of 20,000 took the server to 195 MiB and requests' p99 to
/// 1.8 s, and folds of 5,000 cut its runs a second by half against folds of 2,000. A million
/// runs sent over 25 days' groups at 7,000 a second outrun folds of 2,000 on PostgreSQL, even
/// taken a day at a time: the first page after that load folded for 65 s (benches/README.md).
pub const FOLD_BATCH: usize = 2_000;
/// Failed runs read at once while looking for the latest ones the filter keeps.
const FAILED_PAGE: usize = 200;

impl TeamStore {
    /// Folds every run stored so far into the kept figures.
    pub async fn fold_all(&self) -> Result<(), StoreError> {
        while self.fold_pending(FOLD_BATCH).await? == FOLD_BATCH {}
        Ok(())
    }

    /// `/api/v1/stats`: the figures of `telemetry stats` over the runs since `start`, from the
    /// kept days after it and the runs of the day it cuts.
    pub async fn stats(&self, start: SystemTime, database: &str) -> Result<Stats, StoreError> {
        self.fold_all().await?;
        let kept = kept_rollup(self.kept_groups().await?, database)?;
        let first_whole_day = millis(next_start_of_day(start));
        let mut period = Rollup {
            groups: kept
                .groups
                .into_iter()
                .filter(|((day_of_group, _), _)| day_of_group.as_str() >= day(&first_whole_day))
                .collect(),
            ..Rollup::default()
        };
        period.merge(self.folded_runs(start, next_start_of_day(start)).await?);
        Ok(period.stats())
    }

    /// The runs from `since` until `until`, folded (nothing when the stretch is empty).
    async fn folded_runs(
        &self,
        since: SystemTime,
        until: SystemTime,
    ) -> Result<Rollup, StoreError> {
        if since >= until {
            return Ok(Rollup::default());
        }
        Ok(Rollup::of(&self.report_runs(since, until).await?))
    }

    /// The page's figures: the kept days, the runs of the days the period and the one before
    /// it cut, and the latest failures.
    async fn figures(
        &self,
        start: SystemTime,
        filter: &Filter,
        database: &str,
    ) -> Result<(Figures, Choices), StoreError> {
        self.fold_all().await?;
        let previous_start = report::previous_start(start);
        // Whole days: the period's from the first midnight at or after its start; the
        // previous period's from its first midnight until the one before the period starts.
        let period_days = millis(next_start_of_day(start));
        let (whole_from, whole_until) = (next_start_of_day(previous_start), start_of_day(start));
        let previous_days = (millis(whole_from), millis(whole_until));
        let since_day = day(&millis(start)).to_string();
        // The revision tables keep none as ''; a filter of the place alone reads them by group.
        let repository_like = match filter.repository.as_deref() {
            Some(report::NONE) => Some(String::new()),
            Some(part) => {
                let escaped = part
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                Some(format!("%{escaped}%"))
            }
            None => filter.place.map(|_| "%".to_string()),
        };
        let branch = match filter.branch.as_deref() {
            Some(report::NONE) => Some(String::new()),
            other => other.map(str::to_string),
        };
        let (groups, revisions) = self
            .kept_figures(since_day.clone(), branch.clone(), repository_like.clone())
            .await?;
        let kept = kept_rollup(groups, database)?;
        let baseline = kept.baseline();
        let revisions = report::revisions_on_page(stored_revisions(revisions), filter, &since_day);
        let (mut period, mut previous) = (Rollup::default(), Rollup::default());
        for ((day_of_group, dims), group) in kept.groups {
            if day_of_group.as_str() >= day(&period_days) {
                period.groups.insert((day_of_group, dims), group);
            } else if day_of_group.as_str() >= day(&previous_days.0)
                && day_of_group.as_str() < day(&previous_days.1)
            {
                previous.groups.insert((day_of_group, dims), group);
            }
        }
        period.merge(self.folded_runs(start, next_start_of_day(start)).await?);
        if whole_from < whole_until {
            previous.merge(self.folded_runs(previous_start, whole_from).await?);
            previous.merge(self.folded_runs(whole_until, start).await?);
        } else {
            previous = self.folded_runs(previous_start, start).await?;
        }
        let choices = Choices::of(&period);
        filter.apply(&mut period);
        filter.apply(&mut previous);
        let mut streaks = HashMap::new();
        let in_ci = filter.place.map(|place| place == report::Place::Ci);
        for hash in report::failing_hashes(&period) {
            let streak = self
                .streak(hash, branch.clone(), repository_like.clone(), in_ci)
                .await?;
            streaks.insert(hash.to_string(), streak);
        }
        let figures = Figures {
            period,
            previous,
            baseline,
            revisions,
            latest_failures: self.latest_failures(start, filter).await?,
            streaks,
        };
        Ok((figures, choices))
    }

    /// The period's latest failed runs that the filter keeps, newest first.
    async fn latest_failures(
        &self,
        start: SystemTime,
        filter: &Filter,
    ) -> Result<Vec<crate::store::ReportRun>, StoreError> {
        let mut latest = Vec::new();
        let mut skip = 0;
        while latest.len() < TOP {
            let page = self.latest_failed(start, FAILED_PAGE, skip).await?;
            latest.extend(report::latest_failures(&page, filter));
            if page.len() < FAILED_PAGE {
                break;
            }
            skip += page.len();
        }
        latest.truncate(TOP);
        Ok(latest)
    }

    /// The team's report: the same as `telemetry report`, and the runs in progress (those not
    /// heard of for `lost_after` are lost).
    pub async fn report(
        &self,
        start: SystemTime,
        since: String,
        filter: Filter,
        database: String,
        lost_after: Duration,
    ) -> Result<TeamReport, StoreError> {
        let (figures, choices) = self.figures(start, &filter, &database).await?;
        let lost_before = SystemTime::now() - lost_after;
        let running = self.running_now(lost_before, LISTED).await?;
        Ok(TeamReport {
            page: report::page(&figures, start, &since, &filter, &database),
            controls: controls::html(&since, &filter, &choices),
            running: RunsNow::new(running, lost_before, lost_after),
        })
    }
}

/// The kept groups as figures; `database` names the store whose figures cannot be read.
fn kept_rollup(groups: Vec<StoredGroup>, database: &str) -> Result<Rollup, StoreError> {
    Rollup::from_stored(groups).map_err(|message| StoreError::Figures {
        database: database.to_string(),
        message,
    })
}

/// The page of `telemetry report`, with the runs in progress above it.
pub struct TeamReport {
    page: Page,
    /// The controls' section, above the runs in progress.
    controls: String,
    running: RunsNow,
}

impl TeamReport {
    /// The page, which asks for itself again every few minutes.
    pub fn html(&self) -> String {
        let refresh = format!(
            "<head><meta http-equiv=\"refresh\" content=\"{}\">",
            controls::REFRESH_SECONDS
        );
        self.page.html().replacen("<head>", &refresh, 1).replacen(
            "</h1>\n",
            &format!("</h1>\n{}{}", self.controls, self.running.html()),
            1,
        )
    }

    /// `telemetry report --json`'s object, with `in_progress`, `lost` and the `running` runs.
    pub fn json(&self) -> serde_json::Value {
        let mut json = self.page.json();
        json["in_progress"] = self.running.in_progress.into();
        json["lost"] = self.running.lost.into();
        json["lost_after_seconds"] = self.running.lost_after_seconds.into();
        json["running"] = serde_json::json!(self.running.runs);
        json
    }
}
