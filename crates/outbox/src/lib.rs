//! The outbox publisher: turns durable outbox rows into work messages.
//!
//! Two triggers run the same path (reference/pipeline.md §1): the row's creation event
//! (Eventarc CloudEvent in the cloud, an in-process notification in the embedded mode) and a
//! periodic sweep that catches everything the events missed. Each row is claimed with a lease,
//! published, and finished with a write fenced by the lease owner; a crash anywhere means at
//! worst a duplicate message, which the worker absorbs. The sweep also runs the reconciler:
//! submissions stuck in `pending`/`processing` past a deadline get their message again.

pub mod http;

use domain::SubmissionId;
use domain::failpoints::{FailAction, Failpoints};
use domain::outbox::{self, OutboxRefusal, Published, WorkMessage};
use domain::ports::{Bus, Clock, PipelineStore, StoreError};
use std::sync::Arc;

/// Rows handled per sweep (each of the due and the stuck lists).
pub const SWEEP_BATCH: usize = 100;

/// What one publish attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishReport {
    Sent,
    /// Nothing to do: the row is missing or already sent.
    Skipped(OutboxRefusal),
    /// Another publisher holds a live lease: try again later.
    Busy,
    /// The broker refused; the row is back to `pending` with the error.
    Failed(String),
    /// Published, but our lease was taken meanwhile: a duplicate message is possible.
    SentAfterLeaseLost,
    FailedAfterLeaseLost,
}

impl PublishReport {
    /// Whether the trigger should be retried (non-2xx for Eventarc).
    pub fn wants_retry(&self) -> bool {
        matches!(self, Self::Busy | Self::Failed(_))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub due: usize,
    pub sent: usize,
    pub failed: usize,
    pub busy: usize,
    pub stuck_republished: usize,
    pub errors: usize,
    /// How long the oldest row this sweep found due had waited since it was written, in whole
    /// seconds (0 when none was due). The outbox backlog alert watches it: the trigger publishes a
    /// row within seconds, so an old due row means publishing keeps failing.
    pub oldest_due_secs: u64,
}

#[derive(Clone)]
pub struct Publisher {
    store: Arc<dyn PipelineStore>,
    bus: Arc<dyn Bus>,
    clock: Arc<dyn Clock>,
    failpoints: Arc<Failpoints>,
}

impl Publisher {
    pub fn new(
        store: Arc<dyn PipelineStore>,
        bus: Arc<dyn Bus>,
        clock: Arc<dyn Clock>,
        failpoints: Arc<Failpoints>,
    ) -> Self {
        Self {
            store,
            bus,
            clock,
            failpoints,
        }
    }

    /// Claims, publishes and finishes one row.
    pub async fn publish_one(&self, id: &SubmissionId) -> Result<PublishReport, StoreError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let claim_owner = owner.clone();
        let claimed = self
            .store
            .change_outbox(
                id,
                Box::new(move |row, now| outbox::claim(row, &claim_owner, now)),
            )
            .await?;
        let row = match claimed {
            Ok(row) => row,
            Err(OutboxRefusal::Busy { .. }) => {
                tracing::info!(submission_id = %id, "outbox_entry_busy");
                return Ok(PublishReport::Busy);
            }
            Err(refusal) => {
                tracing::info!(submission_id = %id, reason = ?refusal, "outbox_entry_skipped");
                return Ok(PublishReport::Skipped(refusal));
            }
        };
        let message = WorkMessage::for_row(&row);
        tracing::info!(
            submission_id = %id,
            request_id = %row.request_id,
            attempt = row.attempt_count,
            "outbox_publish_started"
        );
        let published = match self.bus.publish(&message).await {
            Ok(()) => Published::Ok,
            Err(e) => {
                tracing::error!(submission_id = %id, error = %e, "outbox_publish_failed");
                Published::Failed(e.to_string())
            }
        };
        if published == Published::Ok {
            // Published but not (yet) marked sent: the lease expires and the row is published
            // again; the worker absorbs the duplicate message.
            match self.failpoints.hit("after_publish") {
                Some(FailAction::Abort) => {
                    tracing::error!(failpoint = "after_publish", "failpoint_abort");
                    std::process::abort();
                }
                Some(FailAction::Error) => {
                    return Err(StoreError::Unavailable(
                        "injected fault at after_publish".into(),
                    ));
                }
                None => {}
            }
        }
        let fin_owner = owner;
        let fin = published.clone();
        let finished = self
            .store
            .change_outbox(
                id,
                Box::new(move |row, now| outbox::finish(row, &fin_owner, &fin, now)),
            )
            .await?;
        Ok(match (published, finished) {
            (Published::Ok, Ok(_)) => {
                tracing::info!(submission_id = %id, "outbox_publish_succeeded");
                PublishReport::Sent
            }
            (Published::Ok, Err(_)) => {
                tracing::warn!(submission_id = %id, "outbox_publish_succeeded_after_lease_lost");
                PublishReport::SentAfterLeaseLost
            }
            (Published::Failed(e), Ok(_)) => PublishReport::Failed(e),
            (Published::Failed(_), Err(_)) => {
                tracing::warn!(submission_id = %id, "outbox_publish_failed_after_lease_lost");
                PublishReport::FailedAfterLeaseLost
            }
        })
    }

    /// The safety net: publishes every due row, then re-publishes stuck submissions.
    pub async fn sweep(&self) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let now = self.clock.now();
        let due = self.store.due_outbox(now, SWEEP_BATCH).await?;
        report.due = due.len();
        report.oldest_due_secs = due
            .iter()
            .map(|row| (now - row.created_at).num_seconds().max(0) as u64)
            .max()
            .unwrap_or(0);
        let mut published = std::collections::HashSet::new();
        for row in due {
            let id = row.submission_id;
            self.tally(&mut report, self.publish_one(&id).await, &id);
            published.insert(id);
        }
        for sub in self.store.stuck_submissions(now, SWEEP_BATCH).await? {
            let id = sub.submission_id.clone();
            if published.contains(&id) {
                continue;
            }
            let status = sub.status;
            match self
                .store
                .change_outbox(
                    &id,
                    Box::new(move |row, now| outbox::requeue_for(&sub, row, now)),
                )
                .await
            {
                Ok(Ok(_)) => {
                    tracing::warn!(submission_id = %id, status = status.as_str(), "submission_republished");
                    report.stuck_republished += 1;
                    self.tally(&mut report, self.publish_one(&id).await, &id);
                }
                Ok(Err(_)) => report.busy += 1,
                Err(e) => {
                    tracing::error!(submission_id = %id, error = %e, "outbox_sweep_row_failed");
                    report.errors += 1;
                }
            }
        }
        Ok(report)
    }

    fn tally(
        &self,
        report: &mut SweepReport,
        result: Result<PublishReport, StoreError>,
        id: &SubmissionId,
    ) {
        match result {
            Ok(PublishReport::Sent | PublishReport::SentAfterLeaseLost) => report.sent += 1,
            Ok(PublishReport::Failed(_) | PublishReport::FailedAfterLeaseLost) => {
                report.failed += 1
            }
            Ok(PublishReport::Busy) => report.busy += 1,
            Ok(PublishReport::Skipped(_)) => {}
            Err(e) => {
                tracing::error!(submission_id = %id, error = %e, "outbox_sweep_row_failed");
                report.errors += 1;
            }
        }
    }
}
