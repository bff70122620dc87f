//! The asynchronous half in the embedded mode: the outbox publisher and the worker run as
//! background tasks of `registro serve`, connected by the in-process bus.
//!
//! - New commits wake the publisher at once (the api's hook plays Eventarc's create trigger);
//!   a sweep every second publishes anything missed and re-publishes stuck submissions.
//! - The dispatcher plays Pub/Sub push: it hands each message to the worker (at most
//!   `CONCURRENCY` at a time) and redelivers retried ones after an exponential backoff.

use domain::SubmissionId;
use domain::outbox::WorkMessage;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use worker::{Delivery, Worker};

/// Concurrent publishes (the worker's concurrency is configurable: `--worker-concurrency`).
pub const CONCURRENCY: usize = 16;
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Redelivery backoff, scaled down from Pub/Sub's 10–600 s for a single machine.
pub const REDELIVERY_MIN: chrono::Duration = chrono::Duration::milliseconds(250);
pub const REDELIVERY_MAX: chrono::Duration = chrono::Duration::seconds(10);

/// Wakes the publisher for each new commit.
pub struct Notifier(pub mpsc::UnboundedSender<SubmissionId>);

impl api::AcceptedHook for Notifier {
    fn accepted(&self, id: &SubmissionId) {
        let _ = self.0.send(id.clone());
    }
}

pub fn spawn_publisher(
    publisher: outbox::Publisher,
    mut created: mpsc::UnboundedReceiver<SubmissionId>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Publishes run concurrently so their fenced writes share group commits.
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some(id) = created.recv() => {
                    let Ok(permit) = Arc::clone(&slots).acquire_owned().await else { break };
                    let publisher = publisher.clone();
                    tokio::spawn(async move {
                        if let Err(e) = publisher.publish_one(&id).await {
                            tracing::error!(submission_id = %id, error = %e, "outbox_publish_error");
                        }
                        drop(permit);
                    });
                }
                _ = tick.tick() => {
                    match publisher.sweep().await {
                        Ok(r) if r.due + r.stuck_republished > 0 => tracing::info!(?r, "outbox_sweep_finished"),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "outbox_sweep_failed"),
                    }
                }
            }
        }
    })
}

pub fn spawn_dispatcher(
    worker: Worker,
    concurrency: usize,
    mut messages: mpsc::UnboundedReceiver<WorkMessage>,
    redeliver: mpsc::UnboundedSender<WorkMessage>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        // Deliveries so far per submission, for the backoff (like Pub/Sub's per-message count).
        let attempts: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>> =
            Arc::default();
        while let Some(message) = messages.recv().await {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let worker = worker.clone();
            let redeliver = redeliver.clone();
            let attempts = Arc::clone(&attempts);
            tokio::spawn(async move {
                let outcome = worker.handle(&message).await;
                drop(permit);
                let key = message.submission_id.clone();
                match outcome {
                    Delivery::Ack(_) => {
                        attempts
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&key);
                    }
                    Delivery::Retry(reason) => {
                        let n = {
                            let mut map = attempts.lock().unwrap_or_else(|p| p.into_inner());
                            let n = map.entry(key).or_insert(0);
                            *n += 1;
                            *n
                        };
                        let wait =
                            domain::worker::redelivery_backoff(n, REDELIVERY_MIN, REDELIVERY_MAX);
                        tracing::info!(submission_id = %message.submission_id, reason, delay_ms = wait.num_milliseconds(), "redelivery_scheduled");
                        tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
                        let _ = redeliver.send(message);
                    }
                }
            });
        }
    })
}
