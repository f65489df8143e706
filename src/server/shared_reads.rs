//! Reports being built, shared: a request for a report that another request is building waits
//! for that one rather than build its own. A page over a million runs takes the store most of a
//! second and the server a few hundred MB; the team that opens it at nine o'clock gets it
//! together, not one after another.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::answer::Answer;

/// The reports being built, by what was asked (the route and its query).
#[derive(Default)]
pub struct SharedReads {
    building: Mutex<HashMap<String, watch::Receiver<Option<Arc<Answer>>>>>,
}

/// What a request does about a report.
enum Part {
    Build(watch::Sender<Option<Arc<Answer>>>),
    Wait(watch::Receiver<Option<Arc<Answer>>>),
}

impl SharedReads {
    /// The answer to `asked`: built by `build`, or the one another request is building. A
    /// request that was building and went away (its client left) leaves the others to build
    /// it again.
    pub async fn answer<F: Future<Output = Answer>>(
        &self,
        asked: String,
        build: impl Fn() -> F,
    ) -> Answer {
        loop {
            match self.part(&asked) {
                Part::Build(sender) => {
                    let building = Building {
                        reads: self,
                        asked: &asked,
                    };
                    let answer = build().await;
                    drop(building);
                    let _ = sender.send(Some(Arc::new(answer.clone())));
                    return answer;
                }
                Part::Wait(mut receiver) => {
                    if let Ok(answer) = receiver.wait_for(Option::is_some).await {
                        if let Some(answer) = answer.as_deref() {
                            return answer.clone();
                        }
                    }
                }
            }
        }
    }

    fn part(&self, asked: &str) -> Part {
        let mut building = self.building.lock().unwrap_or_else(PoisonError::into_inner);
        match building.get(asked) {
            Some(receiver) if receiver.has_changed().is_ok() => Part::Wait(receiver.clone()),
            _ => {
                let (sender, receiver) = watch::channel(None);
                building.insert(asked.to_string(), receiver);
                Part::Build(sender)
            }
        }
    }
}

/// A report being built: no longer listed once built, or once its request went away.
struct Building<'a> {
    reads: &'a SharedReads,
    asked: &'a str,
}

impl Drop for Building<'_> {
    fn drop(&mut self) {
        self.reads
            .building
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.asked);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use hyper::StatusCode;

    use super::*;

    /// Ten requests at once for one report build it once and get it together; one that asks
    /// after it was built builds it again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_for_a_report_being_built_share_it() {
        let reads = Arc::new(SharedReads::default());
        let builds = Arc::new(AtomicUsize::new(0));
        let ask = |reads: Arc<SharedReads>, builds: Arc<AtomicUsize>| async move {
            reads
                .answer("report?since=30d".to_string(), || {
                    let builds = Arc::clone(&builds);
                    async move {
                        let n = builds.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Answer::new(StatusCode::OK, "text/plain", format!("{n}").into_bytes())
                    }
                })
                .await
        };
        let asked: Vec<_> = (0..10)
            .map(|_| tokio::spawn(ask(Arc::clone(&reads), Arc::clone(&builds))))
            .collect();
        for request in asked {
            assert_eq!(request.await.unwrap().body, b"0");
        }
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert_eq!(
            ask(Arc::clone(&reads), Arc::clone(&builds)).await.body,
            b"1"
        );
    }

    /// The request that was building goes away: one of those waiting builds it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_report_whose_builder_went_away_is_built_by_a_waiting_request() {
        let reads = Arc::new(SharedReads::default());
        let never = {
            let reads = Arc::clone(&reads);
            tokio::spawn(async move {
                reads
                    .answer("stats?".to_string(), std::future::pending::<Answer>)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiting = {
            let reads = Arc::clone(&reads);
            tokio::spawn(async move {
                reads
                    .answer("stats?".to_string(), || async {
                        Answer::new(StatusCode::OK, "text/plain", b"built".to_vec())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        never.abort();
        let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting request is answered")
            .unwrap();
        assert_eq!(answer.body, b"built");
    }
}
