//! The worker lease machine (reference/pipeline.md §2.3–2.8) with the fixes of §11 and
//! DESIGN.md §6, as pure functions `(document, owner, input, now) -> new document | refusal`.
//!
//! - Every write is fenced by the lease owner token, terminal writes included (the reference
//!   could mark a `completed` row `failed` when its claim threw).
//! - Errors are `Retryable` or `Permanent`: a retryable failure releases the lease (the message
//!   is redelivered with backoff) until `max_attempts`, then the submission is `failed`.
//! - The lease has a heartbeat, so a long step never loses it silently.
//! - A completed checkpoint is never started again; `completed` requires every required step.
//! - `failed` and `completed` are final, except through the operator's `admin_retry`.

use crate::model::{Checkpoint, Submission, SubmissionStatus, SubmissionType};
use chrono::{DateTime, Duration, Utc};

pub const STEP_SHEETS: &str = "sheets";
pub const STEP_CONFIRMATION: &str = "resend_confirmation";
pub const STEP_INTERNAL: &str = "resend_internal_notification";

/// Checkpoint statuses (reference values).
pub const CP_PENDING: &str = "pending";
pub const CP_STARTED: &str = "started";
pub const CP_COMPLETED: &str = "completed";
pub const CP_FAILED: &str = "failed";

pub const DEFAULT_LEASE: Duration = Duration::seconds(90);
/// Deliveries before a retryable failure becomes terminal (the dead-letter threshold).
pub const DEFAULT_MAX_ATTEMPTS: i64 = 10;
/// A `pending` submission untouched this long, or a `processing` one whose lease expired this
/// long ago, is re-published by the reconciler.
pub const STUCK_AFTER: Duration = Duration::seconds(60);
pub const MAX_ERROR_CHARS: usize = 500;

/// Side effects in execution order. Both types get an internal notification (the reference
/// sent none for delegaciones); each step has its own checkpoint so none repeats.
pub fn required_steps(t: SubmissionType) -> &'static [&'static str] {
    match t {
        SubmissionType::Delegacion | SubmissionType::Faculty => {
            &[STEP_SHEETS, STEP_CONFIRMATION, STEP_INTERNAL]
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another delivery: a 429/5xx, a timeout, a lease race.
    Retryable(String),
    /// Will fail again: bad configuration, a 4xx that is not a rate limit, bad data.
    Permanent(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable(m) | Self::Permanent(m) => m,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerRefusal {
    Missing,
    /// `completed` or `failed`: nothing to do (ack the message).
    Terminal(SubmissionStatus),
    /// Another worker holds a live lease (ask for redelivery later).
    Busy {
        until: DateTime<Utc>,
    },
    /// We no longer own the lease: stop without writing.
    LeaseLost,
    /// The step is already completed: never run it again.
    StepDone,
    /// `complete` called with required steps unfinished.
    Incomplete(Vec<String>),
    /// `admin_retry` on a submission that is not `failed`.
    NotFailed(SubmissionStatus),
}

type Outcome = Result<Submission, WorkerRefusal>;

fn default_checkpoint() -> Checkpoint {
    Checkpoint {
        status: CP_PENDING.to_owned(),
        ..Checkpoint::default()
    }
}

fn bounded(e: &str) -> String {
    e.chars().take(MAX_ERROR_CHARS).collect()
}

/// Takes the lease on a `pending` submission, or on a `processing` one whose lease expired.
pub fn claim(
    sub: Option<&Submission>,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Outcome {
    let sub = sub.ok_or(WorkerRefusal::Missing)?;
    match sub.status {
        SubmissionStatus::Completed | SubmissionStatus::Failed => {
            return Err(WorkerRefusal::Terminal(sub.status));
        }
        SubmissionStatus::Processing => {
            if let Some(until) = sub.worker.worker_lease_expires_at
                && until > now
            {
                return Err(WorkerRefusal::Busy { until });
            }
        }
        SubmissionStatus::Pending => {}
    }
    let mut next = sub.clone();
    next.status = SubmissionStatus::Processing;
    next.worker.worker_lease_owner = Some(owner.to_owned());
    next.worker.worker_lease_expires_at = Some(now + lease);
    next.worker.worker_started_at = Some(now);
    next.worker.worker_attempt_count += 1;
    for step in required_steps(sub.submission_type) {
        next.worker
            .worker_checkpoints
            .entry((*step).to_owned())
            .or_insert_with(default_checkpoint);
    }
    next.updated_at = now;
    Ok(next)
}

fn owned<'a>(sub: Option<&'a Submission>, owner: &str) -> Result<&'a Submission, WorkerRefusal> {
    let sub = sub.ok_or(WorkerRefusal::Missing)?;
    if sub.status != SubmissionStatus::Processing
        || sub.worker.worker_lease_owner.as_deref() != Some(owner)
    {
        return Err(WorkerRefusal::LeaseLost);
    }
    Ok(sub)
}

/// Extends our lease while a step runs.
pub fn heartbeat(
    sub: Option<&Submission>,
    owner: &str,
    now: DateTime<Utc>,
    lease: Duration,
) -> Outcome {
    let mut next = owned(sub, owner)?.clone();
    next.worker.worker_lease_expires_at = Some(now + lease);
    next.updated_at = now;
    Ok(next)
}

/// Whether a step still has to run.
pub fn step_done(sub: &Submission, step: &str) -> bool {
    sub.worker
        .worker_checkpoints
        .get(step)
        .is_some_and(|c| c.status == CP_COMPLETED)
}

/// The first required step that is not completed.
pub fn next_step(sub: &Submission) -> Option<&'static str> {
    required_steps(sub.submission_type)
        .iter()
        .copied()
        .find(|s| !step_done(sub, s))
}

/// Updates one not-yet-completed checkpoint of a submission we own.
fn update_step(
    sub: Option<&Submission>,
    owner: &str,
    step: &str,
    now: DateTime<Utc>,
    f: impl FnOnce(&mut Checkpoint),
) -> Outcome {
    let sub = owned(sub, owner)?;
    if step_done(sub, step) {
        return Err(WorkerRefusal::StepDone);
    }
    let mut next = sub.clone();
    let cp = next
        .worker
        .worker_checkpoints
        .entry(step.to_owned())
        .or_insert_with(default_checkpoint);
    f(cp);
    cp.error_message = None;
    cp.updated_at = Some(now);
    next.updated_at = now;
    Ok(next)
}

/// Marks a step `started` just before its side effect runs.
pub fn start_step(
    sub: Option<&Submission>,
    owner: &str,
    step: &str,
    now: DateTime<Utc>,
) -> Outcome {
    update_step(sub, owner, step, now, |cp| {
        cp.status = CP_STARTED.to_owned();
        cp.started_at = Some(now);
    })
}

/// Marks a step `completed` once its side effect is done, with the provider's id if any.
pub fn complete_step(
    sub: Option<&Submission>,
    owner: &str,
    step: &str,
    external_id: Option<String>,
    now: DateTime<Utc>,
) -> Outcome {
    update_step(sub, owner, step, now, |cp| {
        cp.status = CP_COMPLETED.to_owned();
        cp.completed_at = Some(now);
        cp.external_id = external_id;
    })
}

/// Records a failed step. Retryable failures release the lease (status back to `pending`, so
/// the next delivery can claim it) until the attempt budget is spent; then, or for a permanent
/// failure, the submission is `failed` with the reason.
pub fn fail_step(
    sub: Option<&Submission>,
    owner: &str,
    step: &str,
    failure: &Failure,
    now: DateTime<Utc>,
    max_attempts: i64,
) -> Outcome {
    let sub = owned(sub, owner)?;
    let mut next = sub.clone();
    let cp = next
        .worker
        .worker_checkpoints
        .entry(step.to_owned())
        .or_insert_with(default_checkpoint);
    if cp.status != CP_COMPLETED {
        cp.status = CP_FAILED.to_owned();
        cp.error_message = Some(bounded(failure.message()));
        cp.updated_at = Some(now);
    }
    let give_up = match failure {
        Failure::Permanent(_) => true,
        Failure::Retryable(_) => sub.worker.worker_attempt_count >= max_attempts,
    };
    next.status = if give_up {
        SubmissionStatus::Failed
    } else {
        SubmissionStatus::Pending
    };
    next.worker.error_message = Some(bounded(failure.message()));
    next.worker.worker_lease_owner = None;
    next.worker.worker_lease_expires_at = None;
    next.updated_at = now;
    Ok(next)
}

/// Finishes: `completed` only when every required step is.
pub fn complete(sub: Option<&Submission>, owner: &str, now: DateTime<Utc>) -> Outcome {
    let sub = owned(sub, owner)?;
    let missing: Vec<String> = required_steps(sub.submission_type)
        .iter()
        .filter(|s| !step_done(sub, s))
        .map(|s| (*s).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(WorkerRefusal::Incomplete(missing));
    }
    let mut next = sub.clone();
    next.status = SubmissionStatus::Completed;
    next.worker.error_message = None;
    next.worker.worker_lease_owner = None;
    next.worker.worker_lease_expires_at = None;
    next.updated_at = now;
    Ok(next)
}

/// Operator re-drive of a `failed` submission: back to `pending` with a fresh attempt budget;
/// completed checkpoints stay completed, so it resumes at the first unfinished step.
pub fn admin_retry(sub: Option<&Submission>, now: DateTime<Utc>) -> Outcome {
    let sub = sub.ok_or(WorkerRefusal::Missing)?;
    if sub.status != SubmissionStatus::Failed {
        return Err(WorkerRefusal::NotFailed(sub.status));
    }
    let mut next = sub.clone();
    next.status = SubmissionStatus::Pending;
    next.worker.error_message = None;
    next.worker.worker_attempt_count = 0;
    next.worker.worker_lease_owner = None;
    next.worker.worker_lease_expires_at = None;
    for cp in next.worker.worker_checkpoints.values_mut() {
        if cp.status != CP_COMPLETED {
            cp.status = CP_PENDING.to_owned();
            cp.error_message = None;
            cp.updated_at = Some(now);
        }
    }
    next.updated_at = now;
    Ok(next)
}

/// Hands our lease back before finishing (a worker instance shutting down): `pending` again
/// at once, so the next delivery claims it without waiting for the lease to expire. Completed
/// checkpoints and the attempt count are kept; a stale owner writes nothing.
pub fn release(sub: Option<&Submission>, owner: &str, now: DateTime<Utc>) -> Outcome {
    let sub = owned(sub, owner)?;
    let mut next = sub.clone();
    next.status = SubmissionStatus::Pending;
    next.worker.worker_lease_owner = None;
    next.worker.worker_lease_expires_at = None;
    next.updated_at = now;
    Ok(next)
}

/// Ends the lease of a worker that is known to be dead (the embedded mode's startup; see
/// `outbox::requeue_after_restart`): `processing` goes back to `pending`, checkpoints kept.
pub fn release_after_restart(sub: Option<&Submission>, now: DateTime<Utc>) -> Outcome {
    let sub = sub.ok_or(WorkerRefusal::Missing)?;
    match sub.status {
        SubmissionStatus::Pending | SubmissionStatus::Processing => {
            let mut next = sub.clone();
            next.status = SubmissionStatus::Pending;
            next.worker.worker_lease_owner = None;
            next.worker.worker_lease_expires_at = None;
            next.updated_at = now;
            Ok(next)
        }
        s => Err(WorkerRefusal::Terminal(s)),
    }
}

/// Whether the reconciler should publish this submission again.
pub fn is_stuck(sub: &Submission, now: DateTime<Utc>) -> bool {
    match sub.status {
        SubmissionStatus::Pending => now - sub.updated_at >= STUCK_AFTER,
        SubmissionStatus::Processing => sub
            .worker
            .worker_lease_expires_at
            .is_none_or(|t| now - t >= STUCK_AFTER),
        SubmissionStatus::Completed | SubmissionStatus::Failed => false,
    }
}

/// Redelivery delay after the `attempts`-th retryable failure (Pub/Sub's 10 s–600 s policy,
/// scaled down for the embedded mode by the caller if it likes).
pub fn redelivery_backoff(attempts: i64, min: Duration, max: Duration) -> Duration {
    let factor = 1i64 << (attempts.max(1) - 1).min(16);
    (min * i32::try_from(factor).unwrap_or(i32::MAX)).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubmissionId;
    use crate::model::{DelegacionData, DelegacionOficial, SubmissionData, WorkerFields};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }

    fn sub() -> Submission {
        Submission {
            submission_id: SubmissionId::parse("BBBBBBBBBBBBBBBBBBBB").unwrap(),
            submission_type: SubmissionType::Delegacion,
            status: SubmissionStatus::Pending,
            created_at: t(0),
            updated_at: t(0),
            file_path: "uploads/delegaciones/BBBBBBBBBBBBBBBBBBBB.pdf".into(),
            request_id: "r".into(),
            idempotency_key: "k".into(),
            data: SubmissionData::Delegacion(DelegacionData {
                modalidad: "individual".into(),
                delegacion_oficial: DelegacionOficial {
                    is_oficial: false,
                    nombre: "No aplica".into(),
                    responsable: "No aplica".into(),
                },
                participantes: vec![],
                comites: vec![],
            }),
            receipt: None,
            worker: WorkerFields::default(),
        }
    }

    const L: Duration = DEFAULT_LEASE;

    #[test]
    fn a_full_run_completes_every_step_once() {
        let mut s = claim(Some(&sub()), "w", t(0), L).unwrap();
        assert_eq!(s.worker.worker_checkpoints.len(), 3);
        assert!(
            s.worker
                .worker_checkpoints
                .values()
                .all(|c| c.status == CP_PENDING)
        );
        while let Some(step) = next_step(&s) {
            s = start_step(Some(&s), "w", step, t(1)).unwrap();
            assert_eq!(s.worker.worker_checkpoints[step].status, CP_STARTED);
            s = complete_step(Some(&s), "w", step, Some("id".into()), t(2)).unwrap();
            assert_eq!(
                start_step(Some(&s), "w", step, t(3)),
                Err(WorkerRefusal::StepDone)
            );
        }
        let done = complete(Some(&s), "w", t(4)).unwrap();
        assert_eq!(done.status, SubmissionStatus::Completed);
        assert!(done.worker.worker_lease_owner.is_none());
        assert_eq!(
            claim(Some(&done), "x", t(5), L),
            Err(WorkerRefusal::Terminal(SubmissionStatus::Completed))
        );
    }

    #[test]
    fn a_released_lease_is_claimable_at_once_and_keeps_what_was_done() {
        let s = claim(Some(&sub()), "a", t(0), L).unwrap();
        let s = start_step(Some(&s), "a", STEP_SHEETS, t(1)).unwrap();
        let s = complete_step(Some(&s), "a", STEP_SHEETS, None, t(2)).unwrap();
        assert_eq!(release(Some(&s), "b", t(3)), Err(WorkerRefusal::LeaseLost));
        let r = release(Some(&s), "a", t(3)).unwrap();
        assert_eq!(r.status, SubmissionStatus::Pending);
        assert_eq!(r.worker.worker_lease_owner, None);
        assert_eq!(r.worker.worker_attempt_count, 1);
        assert!(step_done(&r, STEP_SHEETS));
        assert_eq!(release(Some(&r), "a", t(4)), Err(WorkerRefusal::LeaseLost));
        let b = claim(Some(&r), "b", t(4), L).expect("no wait for the old lease");
        assert_eq!(next_step(&b), Some(STEP_CONFIRMATION));
    }

    #[test]
    fn a_live_lease_is_busy_and_an_expired_one_is_taken_over_keeping_checkpoints() {
        let s = claim(Some(&sub()), "a", t(0), L).unwrap();
        let s = start_step(Some(&s), "a", STEP_SHEETS, t(1)).unwrap();
        let s = complete_step(Some(&s), "a", STEP_SHEETS, None, t(2)).unwrap();
        assert_eq!(
            claim(Some(&s), "b", t(89), L),
            Err(WorkerRefusal::Busy { until: t(90) })
        );
        let b = claim(Some(&s), "b", t(90), L).unwrap();
        assert_eq!(b.worker.worker_attempt_count, 2);
        assert!(step_done(&b, STEP_SHEETS));
        assert_eq!(next_step(&b), Some(STEP_CONFIRMATION));
        assert_eq!(
            start_step(Some(&b), "a", STEP_CONFIRMATION, t(91)),
            Err(WorkerRefusal::LeaseLost)
        );
        assert_eq!(
            complete(Some(&b), "a", t(91)),
            Err(WorkerRefusal::LeaseLost)
        );
        assert_eq!(
            fail_step(
                Some(&b),
                "a",
                STEP_CONFIRMATION,
                &Failure::Permanent("x".into()),
                t(91),
                10
            ),
            Err(WorkerRefusal::LeaseLost)
        );
    }

    #[test]
    fn retryable_failures_release_the_lease_until_the_budget_is_spent() {
        let mut s = sub();
        for attempt in 1..=3 {
            s = claim(Some(&s), "w", t(attempt), L).unwrap();
            s = fail_step(
                Some(&s),
                "w",
                STEP_SHEETS,
                &Failure::Retryable("503".into()),
                t(attempt),
                3,
            )
            .unwrap();
            let want = if attempt < 3 {
                SubmissionStatus::Pending
            } else {
                SubmissionStatus::Failed
            };
            assert_eq!(s.status, want, "attempt {attempt}");
            assert!(s.worker.worker_lease_owner.is_none());
        }
        assert_eq!(s.worker.error_message.as_deref(), Some("503"));
        let p = claim(Some(&sub()), "w", t(0), L).unwrap();
        let f = fail_step(
            Some(&p),
            "w",
            STEP_SHEETS,
            &Failure::Permanent("bad".into()),
            t(1),
            10,
        )
        .unwrap();
        assert_eq!(f.status, SubmissionStatus::Failed);
    }

    #[test]
    fn completion_requires_every_step() {
        let s = claim(Some(&sub()), "w", t(0), L).unwrap();
        assert_eq!(
            complete(Some(&s), "w", t(1)),
            Err(WorkerRefusal::Incomplete(vec![
                STEP_SHEETS.into(),
                STEP_CONFIRMATION.into(),
                STEP_INTERNAL.into()
            ]))
        );
    }

    #[test]
    fn admin_retry_resumes_at_the_first_unfinished_step() {
        let s = claim(Some(&sub()), "w", t(0), L).unwrap();
        let s = start_step(Some(&s), "w", STEP_SHEETS, t(1)).unwrap();
        let s = complete_step(Some(&s), "w", STEP_SHEETS, None, t(1)).unwrap();
        let s = fail_step(
            Some(&s),
            "w",
            STEP_CONFIRMATION,
            &Failure::Permanent("x".into()),
            t(2),
            10,
        )
        .unwrap();
        assert_eq!(
            admin_retry(Some(&sub()), t(3)),
            Err(WorkerRefusal::NotFailed(SubmissionStatus::Pending))
        );
        let r = admin_retry(Some(&s), t(3)).unwrap();
        assert_eq!(r.status, SubmissionStatus::Pending);
        assert_eq!(r.worker.worker_attempt_count, 0);
        assert_eq!(next_step(&r), Some(STEP_CONFIRMATION));
        assert_eq!(
            r.worker.worker_checkpoints[STEP_CONFIRMATION].status,
            CP_PENDING
        );
    }

    #[test]
    fn a_restart_releases_a_dead_workers_lease_and_keeps_its_checkpoints() {
        let s = claim(Some(&sub()), "dead", t(0), L).unwrap();
        let s = start_step(Some(&s), "dead", STEP_SHEETS, t(1)).unwrap();
        let s = complete_step(Some(&s), "dead", STEP_SHEETS, None, t(1)).unwrap();
        let r = release_after_restart(Some(&s), t(2)).unwrap();
        assert_eq!(r.status, SubmissionStatus::Pending);
        assert!(r.worker.worker_lease_owner.is_none());
        assert!(step_done(&r, STEP_SHEETS));
        assert!(claim(Some(&r), "new", t(3), L).is_ok());
        let done = complete(Some(&claim(Some(&sub()), "w", t(0), L).unwrap()), "w", t(1));
        assert!(done.is_err());
    }

    #[test]
    fn stuck_submissions_are_found_after_the_deadline() {
        let s = sub();
        assert!(!is_stuck(&s, t(59)));
        assert!(is_stuck(&s, t(60)));
        let p = claim(Some(&s), "w", t(0), L).unwrap();
        assert!(!is_stuck(&p, t(90 + 59)));
        assert!(is_stuck(&p, t(90 + 60)));
    }

    #[test]
    fn redelivery_backs_off_exponentially_within_bounds() {
        let min = Duration::seconds(10);
        let max = Duration::seconds(600);
        assert_eq!(redelivery_backoff(1, min, max), min);
        assert_eq!(redelivery_backoff(3, min, max), Duration::seconds(40));
        assert_eq!(redelivery_backoff(30, min, max), max);
    }

    #[test]
    fn item_16_a_heartbeat_extends_the_lease_to_now_plus_the_lease_duration() {
        let s = claim(Some(&sub()), "a", t(0), L).unwrap();
        assert_eq!(s.worker.worker_lease_expires_at, Some(t(90)));
        let h = heartbeat(Some(&s), "a", t(50), L).unwrap();
        assert_eq!(h.worker.worker_lease_expires_at, Some(t(140)));
        assert_eq!(h.updated_at, t(50));
        assert_eq!(h.status, SubmissionStatus::Processing);
        assert_eq!(h.worker.worker_lease_owner.as_deref(), Some("a"));
        assert_eq!(
            h.worker.worker_attempt_count, 1,
            "a heartbeat is not a new attempt"
        );
        // The extended lease keeps other workers out until its new end, and no longer.
        assert_eq!(
            claim(Some(&h), "b", t(139), L),
            Err(WorkerRefusal::Busy { until: t(140) })
        );
        assert!(claim(Some(&h), "b", t(140), L).is_ok());
        assert!(!is_stuck(&h, t(140 + 59)));
        // A shorter lease is honoured too (the value is the caller's, not a constant).
        let short = heartbeat(Some(&s), "a", t(10), Duration::seconds(5)).unwrap();
        assert_eq!(short.worker.worker_lease_expires_at, Some(t(15)));
    }

    #[test]
    fn item_16_only_the_lease_owner_of_a_processing_submission_can_heartbeat() {
        let s = claim(Some(&sub()), "a", t(0), L).unwrap();
        assert_eq!(
            heartbeat(Some(&s), "b", t(1), L),
            Err(WorkerRefusal::LeaseLost)
        );
        assert_eq!(heartbeat(None, "a", t(1), L), Err(WorkerRefusal::Missing));
        // Our name left on a row that is no longer processing is not a lease.
        for status in [
            SubmissionStatus::Pending,
            SubmissionStatus::Completed,
            SubmissionStatus::Failed,
        ] {
            let mut other = s.clone();
            other.status = status;
            assert_eq!(
                heartbeat(Some(&other), "a", t(1), L),
                Err(WorkerRefusal::LeaseLost),
                "{status:?}"
            );
            assert_eq!(
                start_step(Some(&other), "a", STEP_SHEETS, t(1)),
                Err(WorkerRefusal::LeaseLost),
                "{status:?}"
            );
        }
    }

    #[test]
    fn item_16_a_retryable_failure_past_the_budget_is_terminal_even_when_the_budget_shrank() {
        // (attempts already made, budget, ends failed)
        let table = [
            (1, 3, false),
            (2, 3, false),
            (3, 3, true),
            (4, 3, true),
            (10, 3, true),
            (1, 1, true),
            (9, 10, false),
            (10, 10, true),
        ];
        for (attempts, budget, terminal) in table {
            let mut s = claim(Some(&sub()), "w", t(0), L).unwrap();
            s.worker.worker_attempt_count = attempts;
            let f = fail_step(
                Some(&s),
                "w",
                STEP_SHEETS,
                &Failure::Retryable("503".into()),
                t(1),
                budget,
            )
            .unwrap();
            let want = if terminal {
                SubmissionStatus::Failed
            } else {
                SubmissionStatus::Pending
            };
            assert_eq!(f.status, want, "{attempts} attempts, budget {budget}");
            assert_eq!(f.worker.worker_lease_owner, None);
            assert_eq!(f.worker.worker_lease_expires_at, None);
            assert_eq!(f.updated_at, t(1));
        }
    }

    #[test]
    fn item_16_a_failure_never_downgrades_a_completed_checkpoint_and_is_bounded() {
        let s = claim(Some(&sub()), "w", t(0), L).unwrap();
        let s = complete_step(Some(&s), "w", STEP_SHEETS, Some("row-7".into()), t(1)).unwrap();
        let long = "é".repeat(MAX_ERROR_CHARS + 100);
        let f = fail_step(
            Some(&s),
            "w",
            STEP_SHEETS,
            &Failure::Permanent(long.clone()),
            t(2),
            10,
        )
        .unwrap();
        let cp = &f.worker.worker_checkpoints[STEP_SHEETS];
        assert_eq!(cp.status, CP_COMPLETED);
        assert_eq!(cp.error_message, None);
        assert_eq!(cp.updated_at, Some(t(1)));
        assert_eq!(cp.external_id.as_deref(), Some("row-7"));
        assert_eq!(f.status, SubmissionStatus::Failed);
        let msg = f.worker.error_message.unwrap();
        assert_eq!(msg.chars().count(), MAX_ERROR_CHARS);
        assert!(long.starts_with(&msg));
        // The step that did fail records the failure, bounded as well.
        let g = fail_step(
            Some(&s),
            "w",
            STEP_CONFIRMATION,
            &Failure::Retryable(long),
            t(3),
            10,
        )
        .unwrap();
        let cp = &g.worker.worker_checkpoints[STEP_CONFIRMATION];
        assert_eq!(cp.status, CP_FAILED);
        assert_eq!(cp.updated_at, Some(t(3)));
        assert_eq!(
            cp.error_message.as_ref().map(|m| m.chars().count()),
            Some(MAX_ERROR_CHARS)
        );
        assert_eq!(g.status, SubmissionStatus::Pending);
        assert_eq!(Failure::Retryable("r".into()).message(), "r");
        assert_eq!(Failure::Permanent("p".into()).message(), "p");
    }

    #[test]
    fn item_16_checkpoints_record_their_times_and_the_providers_id() {
        let s = claim(Some(&sub()), "w", t(0), L).unwrap();
        assert_eq!(s.worker.worker_started_at, Some(t(0)));
        assert_eq!(s.updated_at, t(0));
        assert_eq!(required_steps(SubmissionType::Faculty).len(), 3);
        assert!(!step_done(&s, STEP_SHEETS));
        assert!(!step_done(&s, "no_such_step"));
        let st = start_step(Some(&s), "w", STEP_SHEETS, t(5)).unwrap();
        let cp = &st.worker.worker_checkpoints[STEP_SHEETS];
        assert_eq!(cp.started_at, Some(t(5)));
        assert_eq!(cp.updated_at, Some(t(5)));
        assert_eq!(st.updated_at, t(5));
        assert!(!step_done(&st, STEP_SHEETS), "started is not done");
        assert_eq!(next_step(&st), Some(STEP_SHEETS));
        let done = complete_step(Some(&st), "w", STEP_SHEETS, Some("x1".into()), t(6)).unwrap();
        let cp = &done.worker.worker_checkpoints[STEP_SHEETS];
        assert_eq!(cp.completed_at, Some(t(6)));
        assert_eq!(cp.external_id.as_deref(), Some("x1"));
        assert!(step_done(&done, STEP_SHEETS));
        assert_eq!(next_step(&done), Some(STEP_CONFIRMATION));
        assert_eq!(
            complete_step(Some(&done), "w", STEP_SHEETS, None, t(7)),
            Err(WorkerRefusal::StepDone)
        );
        assert_eq!(
            complete(Some(&done), "w", t(7)),
            Err(WorkerRefusal::Incomplete(vec![
                STEP_CONFIRMATION.into(),
                STEP_INTERNAL.into()
            ]))
        );
        let fin = complete(Some(&done), "w", t(8));
        assert!(fin.is_err());
        let mut all = done.clone();
        for step in [STEP_CONFIRMATION, STEP_INTERNAL] {
            all = complete_step(Some(&all), "w", step, None, t(8)).unwrap();
        }
        assert_eq!(next_step(&all), None);
        let mut with_error = all.clone();
        with_error.worker.error_message = Some("old".into());
        let fin = complete(Some(&with_error), "w", t(9)).unwrap();
        assert_eq!(fin.worker.error_message, None);
        assert_eq!(fin.worker.worker_lease_expires_at, None);
        assert_eq!(fin.updated_at, t(9));
    }

    #[test]
    fn item_16_admin_retry_and_restart_release_exactly_what_they_should() {
        let s = claim(Some(&sub()), "w", t(0), L).unwrap();
        let s = complete_step(Some(&s), "w", STEP_SHEETS, None, t(1)).unwrap();
        let s = fail_step(
            Some(&s),
            "w",
            STEP_CONFIRMATION,
            &Failure::Permanent("x".into()),
            t(2),
            10,
        )
        .unwrap();
        let r = admin_retry(Some(&s), t(3)).unwrap();
        assert_eq!(r.worker.error_message, None);
        assert_eq!(r.worker.worker_lease_owner, None);
        assert_eq!(r.worker.worker_lease_expires_at, None);
        assert_eq!(r.updated_at, t(3));
        let sheets = &r.worker.worker_checkpoints[STEP_SHEETS];
        assert_eq!(sheets.status, CP_COMPLETED);
        assert_eq!(
            sheets.updated_at,
            Some(t(1)),
            "completed checkpoints are untouched"
        );
        let conf = &r.worker.worker_checkpoints[STEP_CONFIRMATION];
        assert_eq!(conf.error_message, None);
        assert_eq!(conf.updated_at, Some(t(3)));
        assert_eq!(admin_retry(None, t(3)), Err(WorkerRefusal::Missing));
        for status in [SubmissionStatus::Processing, SubmissionStatus::Completed] {
            let mut other = s.clone();
            other.status = status;
            assert_eq!(
                admin_retry(Some(&other), t(3)),
                Err(WorkerRefusal::NotFailed(status))
            );
        }
        // A restart frees pending and processing submissions; terminal ones stay as they are.
        let p = claim(Some(&sub()), "dead", t(0), L).unwrap();
        let freed = release_after_restart(Some(&p), t(4)).unwrap();
        assert_eq!(freed.worker.worker_lease_expires_at, None);
        assert_eq!(freed.updated_at, t(4));
        let pending = release_after_restart(Some(&sub()), t(4)).unwrap();
        assert_eq!(pending.status, SubmissionStatus::Pending);
        assert_eq!(pending.updated_at, t(4));
        for status in [SubmissionStatus::Completed, SubmissionStatus::Failed] {
            let mut done = sub();
            done.status = status;
            assert_eq!(
                release_after_restart(Some(&done), t(4)),
                Err(WorkerRefusal::Terminal(status))
            );
        }
        assert_eq!(
            release_after_restart(None, t(4)),
            Err(WorkerRefusal::Missing)
        );
    }

    #[test]
    fn item_16_a_submission_is_stuck_from_its_deadline_onwards_and_never_when_terminal() {
        // (status, lease end, seconds since the update, stuck)
        use SubmissionStatus::{Completed, Failed, Pending, Processing};
        let table = [
            (Pending, None, 0, false),
            (Pending, None, 59, false),
            (Pending, None, 60, true),
            (Pending, None, 61, true),
            (Pending, None, 10_000, true),
            (Processing, Some(90), 149, false),
            (Processing, Some(90), 150, true),
            (Processing, Some(90), 151, true),
            (Processing, Some(90), 10_000, true),
            (Processing, Some(90), 0, false),
            (Processing, None, 0, true),
            (Completed, None, 10_000, false),
            (Failed, None, 10_000, false),
            (Completed, Some(0), 10_000, false),
        ];
        for (status, lease, after, stuck) in table {
            let mut s = sub();
            s.status = status;
            s.worker.worker_lease_expires_at = lease.map(t);
            assert_eq!(
                is_stuck(&s, t(after)),
                stuck,
                "{status:?}, lease {lease:?}, +{after} s"
            );
        }
    }

    #[test]
    fn item_16_redelivery_doubles_from_the_minimum_and_never_passes_the_maximum() {
        let min = Duration::seconds(10);
        let max = Duration::seconds(600);
        let table = [
            (-3, 10),
            (0, 10),
            (1, 10),
            (2, 20),
            (3, 40),
            (4, 80),
            (6, 320),
            (7, 600),
            (17, 600),
            (40, 600),
            (i64::MAX, 600),
        ];
        for (attempts, secs) in table {
            assert_eq!(
                redelivery_backoff(attempts, min, max),
                Duration::seconds(secs),
                "{attempts}"
            );
        }
        // Not a power of two: the minimum is multiplied, not shifted.
        let ms = Duration::milliseconds(250);
        assert_eq!(
            redelivery_backoff(3, ms, Duration::seconds(10)),
            Duration::seconds(1)
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Claim(u8),
        Heartbeat(u8),
        Start(u8, u8),
        Complete(u8, u8),
        Fail(u8, u8, bool),
        Finish(u8),
        Tick(i64),
        AdminRetry,
        Crash,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..3).prop_map(Op::Claim),
            1 => (0u8..3).prop_map(Op::Heartbeat),
            3 => (0u8..3, 0u8..3).prop_map(|(w, s)| Op::Start(w, s)),
            3 => (0u8..3, 0u8..3).prop_map(|(w, s)| Op::Complete(w, s)),
            1 => (0u8..3, 0u8..3, any::<bool>()).prop_map(|(w, s, r)| Op::Fail(w, s, r)),
            2 => (0u8..3).prop_map(Op::Finish),
            2 => (0i64..120).prop_map(Op::Tick),
            1 => Just(Op::AdminRetry),
            1 => Just(Op::Crash),
        ]
    }

    proptest! {
        /// Any interleaving of deliveries to three workers, crashes (a worker forgets it holds
        /// the lease) and lease expiries keeps the invariants: one owner at a time; only the
        /// owner writes; a completed step is never completed (run) again; `completed` means
        /// every step completed; terminal states change only through `admin_retry`.
        #[test]
        fn no_interleaving_breaks_the_worker_invariants(ops in prop::collection::vec(op(), 0..80)) {
            let steps = required_steps(SubmissionType::Delegacion);
            let mut s = sub();
            let mut now = t(0);
            let mut completions: BTreeMap<&str, u32> = BTreeMap::new();
            for op in ops {
                let before = s.clone();
                let w = |n: u8| format!("w{n}");
                let res = match &op {
                    Op::Claim(n) => claim(Some(&s), &w(*n), now, L),
                    Op::Heartbeat(n) => heartbeat(Some(&s), &w(*n), now, L),
                    Op::Start(n, k) => start_step(Some(&s), &w(*n), steps[*k as usize], now),
                    Op::Complete(n, k) => complete_step(Some(&s), &w(*n), steps[*k as usize], None, now),
                    Op::Fail(n, k, r) => {
                        let f = if *r { Failure::Retryable("e".into()) } else { Failure::Permanent("e".into()) };
                        fail_step(Some(&s), &w(*n), steps[*k as usize], &f, now, 5)
                    }
                    Op::Finish(n) => complete(Some(&s), &w(*n), now),
                    Op::Tick(d) => { now += Duration::seconds(*d); continue; }
                    Op::AdminRetry => admin_retry(Some(&s), now),
                    Op::Crash => continue, // the worker vanishes; only lease expiry frees the row
                };
                let Ok(next) = res else {
                    prop_assert_eq!(&s, &before);
                    continue;
                };
                // One owner at a time, and only while processing.
                prop_assert_eq!(next.status == SubmissionStatus::Processing, next.worker.worker_lease_owner.is_some());
                // Only the owner writes (claims excepted, which need a free or expired lease).
                match &op {
                    Op::Claim(_) => {
                        prop_assert!(matches!(before.status, SubmissionStatus::Pending | SubmissionStatus::Processing));
                        if before.status == SubmissionStatus::Processing {
                            prop_assert!(before.worker.worker_lease_expires_at.is_none_or(|x| x <= now));
                        }
                    }
                    Op::AdminRetry => prop_assert_eq!(before.status, SubmissionStatus::Failed),
                    Op::Heartbeat(n) | Op::Start(n, _) | Op::Complete(n, _) | Op::Fail(n, _, _) | Op::Finish(n) => {
                        prop_assert_eq!(before.worker.worker_lease_owner.clone(), Some(w(*n)));
                    }
                    Op::Tick(_) | Op::Crash => {}
                }
                // Terminal states are final except through admin_retry.
                if matches!(before.status, SubmissionStatus::Completed | SubmissionStatus::Failed) {
                    prop_assert!(matches!(op, Op::AdminRetry), "{:?} changed a terminal row", op);
                }
                // A completed checkpoint stays completed, and is completed once.
                for step in steps {
                    if step_done(&before, step) {
                        prop_assert!(step_done(&next, step));
                    }
                }
                if let Op::Complete(_, k) = &op {
                    *completions.entry(steps[*k as usize]).or_default() += 1;
                }
                if next.status == SubmissionStatus::Completed {
                    prop_assert!(steps.iter().all(|st| step_done(&next, st)));
                }
                s = next;
            }
            for (step, n) in completions {
                prop_assert!(n <= 1, "{} completed {} times", step, n);
            }
        }
    }
}
