//! The worker: one delivery of a work message → lease the submission → run each side effect
//! behind its checkpoint → `completed`, or release for redelivery, or `failed`.
//!
//! Every state write is a fenced transition of `domain::worker` run in one store transaction.
//! Side effects are idempotent on their own (the sheet checks for the submission id, the mailer
//! uses `<kind>/<submission_id>` keys), so a crash between a side effect and its checkpoint
//! repeats nothing: the retry finds the row or the e-mail already there.

pub mod http;

use domain::failpoints::{FailAction, Failpoints};
use domain::mail::{self, MailKind, MailSettings};
use domain::outbox::WorkMessage;
use domain::ports::{Mailer, PipelineStore, Sheet, SheetWrite};
use domain::worker::{self as machine, Failure, WorkerRefusal};
use domain::{Catalog, Submission, SubmissionId, SubmissionStatus};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

pub use domain::ports::ReceiptLinks;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub lease: chrono::Duration,
    pub heartbeat_every: Duration,
    pub max_attempts: i64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            lease: machine::DEFAULT_LEASE,
            heartbeat_every: Duration::from_secs(30),
            max_attempts: machine::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// How the delivery ends, as Pub/Sub push sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// 2xx: done, skipped, terminal, or a poison message.
    Ack(&'static str),
    /// Non-2xx: redeliver later (busy lease, retryable failure, store trouble).
    Retry(&'static str),
}

#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn PipelineStore>,
    sheet: Arc<dyn Sheet>,
    mailer: Arc<dyn Mailer>,
    catalog: Arc<Catalog>,
    mail: MailSettings,
    links: Arc<dyn ReceiptLinks>,
    config: WorkerConfig,
    failpoints: Arc<Failpoints>,
    /// Leases this instance holds now (submission → owner token), handed back on shutdown.
    held: std::sync::Mutex<std::collections::HashMap<SubmissionId, String>>,
}

/// Builder arguments, grouped so the composition root stays readable.
pub struct Deps {
    pub store: Arc<dyn PipelineStore>,
    pub sheet: Arc<dyn Sheet>,
    pub mailer: Arc<dyn Mailer>,
    pub catalog: Arc<Catalog>,
    pub mail: MailSettings,
    pub links: Arc<dyn ReceiptLinks>,
    pub config: WorkerConfig,
    pub failpoints: Arc<Failpoints>,
}

impl Worker {
    pub fn new(d: Deps) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: d.store,
                sheet: d.sheet,
                mailer: d.mailer,
                catalog: d.catalog,
                mail: d.mail,
                links: d.links,
                config: d.config,
                failpoints: d.failpoints,
                held: std::sync::Mutex::default(),
            }),
        }
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.inner.config
    }

    /// Handles one delivery of a work message.
    pub async fn handle(&self, message: &WorkMessage) -> Delivery {
        let Ok(id) = SubmissionId::parse(&message.submission_id) else {
            tracing::warn!(reason = "bad submission_id", "pubsub_message_poison");
            return Delivery::Ack("poison");
        };
        let request_id = domain::RequestId::parse(&message.request_id)
            .map_or_else(String::new, |r| r.to_string());
        // The accepting request's trace, so Cloud Logging shows the work under it.
        let trace_id = message
            .traceparent
            .as_deref()
            .and_then(domain::ids::traceparent_trace_id)
            .unwrap_or_default();
        let span = tracing::info_span!(
            "work",
            submission_id = %id,
            request_id = %request_id,
            trace_id = %trace_id
        );
        self.process(id).instrument(span).await
    }

    async fn process(&self, id: SubmissionId) -> Delivery {
        tracing::info!("submission_processing_started");
        let owner = uuid::Uuid::new_v4().to_string();
        let inner = &self.inner;
        let lease = inner.config.lease;
        let claim_owner = owner.clone();
        let claimed = inner
            .store
            .change_submission(
                &id,
                Box::new(move |s, now| machine::claim(s, &claim_owner, now, lease)),
            )
            .await;
        let mut sub = match claimed {
            Ok(Ok(s)) => s,
            Ok(Err(WorkerRefusal::Busy { .. })) => {
                tracing::warn!(submission_id = %id, "submission_processing_lease_active");
                return Delivery::Retry("lease active");
            }
            Ok(Err(refusal)) => {
                tracing::info!(submission_id = %id, reason = ?refusal, "submission_skipped");
                return Delivery::Ack("skipped");
            }
            Err(e) => {
                tracing::error!(submission_id = %id, error = %e, "submission_claim_failed");
                return Delivery::Retry("store unavailable");
            }
        };
        tracing::info!(
            submission_id = %id,
            submission_type = sub.submission_type.as_str(),
            attempt = sub.worker.worker_attempt_count,
            "submission_claimed"
        );
        self.held().insert(id.clone(), owner.clone());
        let heartbeat = self.spawn_heartbeat(id.clone(), owner.clone());
        let outcome = self.run_steps(&id, &owner, &mut sub).await;
        heartbeat.abort();
        self.held().remove(&id);
        outcome
    }

    fn held(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<SubmissionId, String>> {
        self.inner.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives back every lease this instance still holds (`domain::worker::release`), so a
    /// shutting-down instance does not leave submissions blocked until their leases expire:
    /// the next delivery claims them at once and resumes at the first unfinished step. A
    /// handler still running afterwards finds its lease gone and writes nothing. Returns how
    /// many leases were given back.
    pub async fn hand_back(&self) -> usize {
        let held: Vec<(SubmissionId, String)> = self.held().drain().collect();
        let mut released = 0;
        for (id, owner) in held {
            match self
                .inner
                .store
                .change_submission(
                    &id,
                    Box::new(move |s, now| machine::release(s, &owner, now)),
                )
                .await
            {
                Ok(Ok(_)) => {
                    tracing::warn!(submission_id = %id, "submission_lease_handed_back");
                    released += 1;
                }
                Ok(Err(_)) => {}
                Err(e) => {
                    tracing::error!(submission_id = %id, error = %e, "submission_lease_hand_back_failed")
                }
            }
        }
        released
    }

    fn spawn_heartbeat(&self, id: SubmissionId, owner: String) -> tokio::task::JoinHandle<()> {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(inner.config.heartbeat_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let owner = owner.clone();
                let lease = inner.config.lease;
                match inner
                    .store
                    .change_submission(
                        &id,
                        Box::new(move |s, now| machine::heartbeat(s, &owner, now, lease)),
                    )
                    .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => break,
                    Err(e) => {
                        tracing::warn!(submission_id = %id, error = %e, "worker_heartbeat_failed")
                    }
                }
            }
        })
    }

    async fn run_steps(&self, id: &SubmissionId, owner: &str, sub: &mut Submission) -> Delivery {
        let inner = &self.inner;
        let steps = machine::required_steps(sub.submission_type);
        for (i, step) in steps.iter().copied().enumerate() {
            if machine::step_done(sub, step) {
                tracing::info!(submission_id = %id, checkpoint = step, reason = "completed", "worker_checkpoint_skipped");
                continue;
            }
            match self
                .transition(id, owner, move |s, now, o| {
                    machine::start_step(s, o, step, now)
                })
                .await
            {
                Ok(s) => *sub = s,
                Err(d) => return d,
            }
            tracing::info!(submission_id = %id, checkpoint = step, "worker_checkpoint_started");
            // A crash (or outage) while holding the lease, before the first side effect.
            let performed = async {
                if i == 0 {
                    self.crash_point("worker_mid_lease")?;
                }
                self.perform(step, sub).await
            }
            .await;
            let result = match performed {
                Ok(external_id) => {
                    self.transition(id, owner, move |s, now, o| {
                        machine::complete_step(s, o, step, external_id.clone(), now)
                    })
                    .await
                }
                Err(failure) => {
                    let max = inner.config.max_attempts;
                    let f = failure.clone();
                    tracing::warn!(submission_id = %id, checkpoint = step, error = failure.message(), "worker_checkpoint_failed");
                    return match self
                        .transition(id, owner, move |s, now, o| {
                            machine::fail_step(s, o, step, &f, now, max)
                        })
                        .await
                    {
                        Ok(s) if s.status == SubmissionStatus::Failed => {
                            tracing::error!(submission_id = %id, error = failure.message(), "submission_processing_failed");
                            Delivery::Ack("failed")
                        }
                        Ok(_) => Delivery::Retry("retryable failure"),
                        Err(d) => d,
                    };
                }
            };
            match result {
                Ok(s) => *sub = s,
                Err(d) => return d,
            }
            tracing::info!(submission_id = %id, checkpoint = step, "worker_checkpoint_completed");
        }
        match self
            .transition(id, owner, |s, now, o| machine::complete(s, o, now))
            .await
        {
            Ok(_) => {
                tracing::info!(submission_id = %id, final_status = "completed", "submission_terminal_success");
                Delivery::Ack("completed")
            }
            Err(d) => d,
        }
    }

    /// Runs a fenced transition; maps refusals and store trouble to the delivery's end.
    async fn transition<F>(
        &self,
        id: &SubmissionId,
        owner: &str,
        f: F,
    ) -> Result<Submission, Delivery>
    where
        F: Fn(
                Option<&Submission>,
                chrono::DateTime<chrono::Utc>,
                &str,
            ) -> Result<Submission, WorkerRefusal>
            + Send
            + Sync
            + 'static,
    {
        let owner = owner.to_owned();
        match self
            .inner
            .store
            .change_submission(id, Box::new(move |s, now| f(s, now, &owner)))
            .await
        {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(WorkerRefusal::LeaseLost)) => {
                tracing::warn!(submission_id = %id, "submission_processing_lease_lost");
                Err(Delivery::Retry("lease lost"))
            }
            Ok(Err(refusal)) => {
                tracing::warn!(submission_id = %id, reason = ?refusal, "submission_transition_refused");
                Err(Delivery::Retry("refused"))
            }
            Err(e) => {
                tracing::error!(submission_id = %id, error = %e, "submission_write_failed");
                Err(Delivery::Retry("store unavailable"))
            }
        }
    }

    /// The side effect of one step. Returns the provider's id when there is one.
    async fn perform(&self, step: &str, sub: &Submission) -> Result<Option<String>, Failure> {
        let inner = &self.inner;
        let link = inner.links.link(sub);
        match step {
            machine::STEP_SHEETS => {
                let rows = domain::sheets::rows_for(sub, &link);
                let written = inner
                    .sheet
                    .append(&sub.submission_id, &rows)
                    .await
                    .map_err(Failure::from)?;
                if written == SheetWrite::AlreadyPresent {
                    tracing::info!(submission_id = %sub.submission_id, "sheet_rows_already_present");
                }
                self.crash_point("after_sheet_write")?;
                Ok(None)
            }
            machine::STEP_CONFIRMATION | machine::STEP_INTERNAL => {
                let kind = if step == machine::STEP_CONFIRMATION {
                    MailKind::Confirmation
                } else {
                    MailKind::InternalNotification
                };
                let email = mail::render(sub, kind, &inner.catalog, &inner.mail, &link)
                    .map_err(|e| Failure::Permanent(e.to_string()))?;
                self.crash_point("mailer_send")?;
                let id = inner.mailer.send(&email).await.map_err(Failure::from)?;
                self.crash_point("after_email_send")?;
                Ok(Some(id))
            }
            other => Err(Failure::Permanent(format!("unknown step {other}"))),
        }
    }

    /// A configured failpoint: `abort` crashes here; `error` fails the step retryably, as an
    /// outage of the downstream service would.
    fn crash_point(&self, name: &str) -> Result<(), Failure> {
        match self.inner.failpoints.hit(name) {
            Some(FailAction::Abort) => {
                tracing::error!(failpoint = name, "failpoint_abort");
                std::process::abort()
            }
            Some(FailAction::Error) => Err(Failure::Retryable(format!("injected fault at {name}"))),
            None => Ok(()),
        }
    }
}
