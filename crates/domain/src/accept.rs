//! The body of the acceptance transaction (DESIGN.md §4) as one pure function.
//!
//! Every store adapter runs the same steps: inside one transaction it reads the idempotency
//! record and the status of the submission that record points at, calls [`plan`], and either
//! writes the three documents of [`AcceptWrites`] atomically or writes nothing and returns the
//! [`Answer`]. What to write, and with which timestamps, is decided here once, so a second
//! backend executes the same rules instead of re-implementing them. The body has no state of
//! its own: a backend that re-runs a transaction on contention calls [`plan`] again with what it
//! read on that attempt.

use crate::SubmissionId;
use crate::idempotency::{Accept, Answer, Decision, NewRecord, committed_record, decide};
use crate::model::{IdempotencyRecord, OutboxRow, Submission, SubmissionStatus};
use chrono::{DateTime, Utc};

/// Everything the acceptance transaction needs from the request.
#[derive(Debug, Clone)]
pub struct Acceptance {
    /// `"<type>:<effective key>"`.
    pub record_id: String,
    pub effective_key: String,
    pub fingerprint: String,
    /// Whether the browser sent its own key (vs the fingerprint fallback).
    pub explicit_key: bool,
    /// Server-generated token that identifies this acceptance attempt.
    pub owner_token: String,
    /// The submission to create if the decision writes. Its status and timestamps are set by
    /// [`plan`] from the transaction's time.
    pub submission: Submission,
    /// W3C `traceparent` of the request, kept on the outbox row so the work message carries
    /// it to the worker (one trace from the form post to the e-mail).
    pub traceparent: Option<String>,
}

/// What [`crate::ports::Store::accept`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Submission, committed record and outbox row were written in one transaction.
    Accepted {
        submission_id: SubmissionId,
        decision: Accept,
    },
    /// Nothing was written; the answer says why (replay, conflict, …).
    NotWritten(Answer),
}

/// The three documents an accepting transaction writes, all or none.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptWrites {
    pub decision: Accept,
    /// `submissions/<id>`: created (it must not exist; the id is fresh).
    pub submission: Submission,
    /// `idempotency/<record_id>`: created or replaced.
    pub record_id: String,
    pub record: IdempotencyRecord,
    /// `outbox/<id>`: created.
    pub outbox: OutboxRow,
}

impl AcceptWrites {
    /// The outcome to return once the writes are committed.
    pub fn outcome(&self) -> AcceptOutcome {
        AcceptOutcome::Accepted {
            submission_id: self.submission.submission_id.clone(),
            decision: self.decision.clone(),
        }
    }
}

/// The submission whose status [`plan`] needs: the one the record points at, if any.
pub fn referenced_submission(record: Option<&IdempotencyRecord>) -> Option<&SubmissionId> {
    record.and_then(|r| r.submission_id.as_ref())
}

/// Decides, from what the transaction read, what it writes.
///
/// `record` is the idempotency record `a.record_id` (if any), `referenced` the status of
/// [`referenced_submission`] (`None` when there is none or it is missing), `now` the time read
/// inside the transaction: it stamps the submission, the record and the outbox row alike.
pub fn plan(
    a: &Acceptance,
    record: Option<&IdempotencyRecord>,
    referenced: Option<SubmissionStatus>,
    now: DateTime<Utc>,
) -> Result<AcceptWrites, Answer> {
    let decision = match decide(record, referenced, &a.fingerprint, a.explicit_key, now) {
        Decision::Accept(d) => d,
        Decision::Answer(answer) => return Err(answer),
    };
    let mut submission = a.submission.clone();
    submission.status = SubmissionStatus::Pending;
    submission.created_at = now;
    submission.updated_at = now;
    let committed = committed_record(
        record,
        NewRecord {
            submission_type: submission.submission_type,
            effective_key: &a.effective_key,
            fingerprint: &a.fingerprint,
            request_id: &submission.request_id,
            submission_id: &submission.submission_id,
            owner_token: &a.owner_token,
        },
        now,
    );
    let mut outbox = OutboxRow::for_new_submission(&submission);
    outbox.traceparent = a.traceparent.clone();
    Ok(AcceptWrites {
        decision,
        submission,
        record_id: a.record_id.clone(),
        record: committed,
        outbox,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IdempotencyStatus, OutboxStatus};
    use crate::sheets::fixtures;
    use chrono::Duration;
    use proptest::prelude::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).unwrap()
    }

    fn acceptance(explicit_key: bool) -> Acceptance {
        let mut submission = fixtures::individual();
        submission.status = SubmissionStatus::Completed;
        submission.created_at = t(-500);
        submission.updated_at = t(-400);
        Acceptance {
            record_id: "delegacion:k".into(),
            effective_key: "k".into(),
            fingerprint: "h".into(),
            explicit_key,
            owner_token: "owner".into(),
            submission,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        }
    }

    fn record(hash: &str, points_to: Option<&str>, status: IdempotencyStatus) -> IdempotencyRecord {
        IdempotencyRecord {
            submission_type: crate::SubmissionType::Delegacion,
            idempotency_key: "k".into(),
            payload_hash: hash.into(),
            request_id: "old-request".into(),
            status,
            submission_id: points_to.map(|id| SubmissionId::parse(id).unwrap()),
            created_at: t(-1000),
            updated_at: Some(t(-1000)),
            owner_token: None,
            expires_at: None,
        }
    }

    const OLD: &str = "OLDoldOLDoldOLDold00";

    #[test]
    fn each_case_writes_all_three_documents_or_answers() {
        type Case = (
            &'static str,
            Option<IdempotencyRecord>,
            Option<SubmissionStatus>,
            bool,
            Result<Accept, Answer>,
        );
        let old = SubmissionId::parse(OLD).unwrap();
        let cases: Vec<Case> = vec![
            ("fresh key", None, None, true, Ok(Accept::Commit)),
            (
                "stale claim of the older system",
                Some(record("h", None, IdempotencyStatus::Claimed)),
                None,
                true,
                Ok(Accept::TakeOver),
            ),
            (
                "fallback key of a failed submission",
                Some(record("h", Some(OLD), IdempotencyStatus::Committed)),
                Some(SubmissionStatus::Failed),
                false,
                Ok(Accept::Reopen {
                    previous: old.clone(),
                }),
            ),
            (
                "replay",
                Some(record("h", Some(OLD), IdempotencyStatus::Committed)),
                Some(SubmissionStatus::Pending),
                true,
                Err(Answer::Replay {
                    submission_id: old.clone(),
                }),
            ),
            (
                "conflict",
                Some(record("x", Some(OLD), IdempotencyStatus::Committed)),
                Some(SubmissionStatus::Pending),
                true,
                Err(Answer::Conflict {
                    committed: Some(old.clone()),
                }),
            ),
            (
                "explicit key of a failed submission",
                Some(record("h", Some(OLD), IdempotencyStatus::Committed)),
                Some(SubmissionStatus::Failed),
                true,
                Err(Answer::RetryWithNewKey {
                    submission_id: old.clone(),
                }),
            ),
        ];
        for (name, rec, referenced, explicit, expected) in cases {
            let a = acceptance(explicit);
            let got = plan(&a, rec.as_ref(), referenced, t(0));
            match (got, expected) {
                (Ok(w), Ok(d)) => {
                    assert_eq!(w.decision, d, "{name}");
                    assert_eq!(
                        w.outcome(),
                        AcceptOutcome::Accepted {
                            submission_id: a.submission.submission_id.clone(),
                            decision: d
                        },
                        "{name}"
                    );
                }
                (Err(got), Err(want)) => assert_eq!(got, want, "{name}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_written_documents_agree_and_carry_the_transaction_time() {
        let a = acceptance(true);
        let now = t(7);
        let w = plan(&a, None, None, now).unwrap();
        let id = &a.submission.submission_id;
        assert_eq!(w.submission.submission_id, *id);
        assert_eq!(w.submission.status, SubmissionStatus::Pending);
        assert_eq!(
            (w.submission.created_at, w.submission.updated_at),
            (now, now)
        );
        assert_eq!(
            w.submission.data, a.submission.data,
            "the form data as given"
        );
        assert_eq!(w.record_id, a.record_id);
        assert_eq!(w.record.submission_id.as_ref(), Some(id));
        assert_eq!(w.record.status, IdempotencyStatus::Committed);
        assert_eq!(w.record.payload_hash, a.fingerprint);
        assert_eq!(w.record.idempotency_key, a.effective_key);
        assert_eq!(w.record.owner_token.as_deref(), Some("owner"));
        assert_eq!(w.record.request_id, a.submission.request_id);
        assert_eq!(w.record.created_at, now);
        assert_eq!(
            w.record.expires_at,
            Some(now + crate::idempotency::RECORD_TTL)
        );
        assert_eq!(w.outbox.submission_id, *id);
        assert_eq!(w.outbox.status, OutboxStatus::Pending);
        assert_eq!((w.outbox.created_at, w.outbox.updated_at), (now, now));
        assert_eq!(w.outbox.request_id, a.submission.request_id);
        assert_eq!(
            w.outbox.traceparent, a.traceparent,
            "the trace goes on with the work"
        );
    }

    #[test]
    fn a_takeover_keeps_the_first_acceptance_time_of_the_record() {
        let a = acceptance(true);
        let claimed = record("h", None, IdempotencyStatus::Claimed);
        let w = plan(&a, Some(&claimed), None, t(0)).unwrap();
        assert_eq!(w.decision, Accept::TakeOver);
        assert_eq!(w.record.created_at, claimed.created_at);
        assert_eq!(w.record.updated_at, Some(t(0)));
    }

    fn arb_status() -> impl Strategy<Value = Option<SubmissionStatus>> {
        prop_oneof![
            Just(None),
            Just(Some(SubmissionStatus::Pending)),
            Just(Some(SubmissionStatus::Processing)),
            Just(Some(SubmissionStatus::Completed)),
            Just(Some(SubmissionStatus::Failed)),
        ]
    }

    proptest! {
        /// The plan writes exactly when the decision writes, and never answers with a
        /// decision that would have written; re-running it on the same reads gives the same
        /// plan (a re-run transaction body decides the same way).
        #[test]
        fn plan_follows_the_decision_and_is_repeatable(
            has_record in any::<bool>(),
            same_hash in any::<bool>(),
            points in any::<bool>(),
            claimed in any::<bool>(),
            age in 0i64..120,
            referenced in arb_status(),
            explicit in any::<bool>(),
        ) {
            let status = if claimed { IdempotencyStatus::Claimed } else { IdempotencyStatus::Committed };
            let mut rec = record(if same_hash { "h" } else { "x" }, points.then_some(OLD), status);
            rec.updated_at = Some(t(0) - Duration::seconds(age));
            let rec = has_record.then_some(rec);
            let referenced = if rec.as_ref().is_some_and(|r| r.submission_id.is_some()) { referenced } else { None };
            let a = acceptance(explicit);
            let decision = decide(rec.as_ref(), referenced, &a.fingerprint, explicit, t(0));
            let first = plan(&a, rec.as_ref(), referenced, t(0));
            prop_assert_eq!(first.is_ok(), decision.writes());
            match (&first, decision) {
                (Ok(w), Decision::Accept(d)) => prop_assert_eq!(&w.decision, &d),
                (Err(ans), Decision::Answer(d)) => prop_assert_eq!(ans, &d),
                _ => prop_assert!(false, "plan and decision disagree"),
            }
            prop_assert_eq!(first, plan(&a, rec.as_ref(), referenced, t(0)));
        }
    }
}
