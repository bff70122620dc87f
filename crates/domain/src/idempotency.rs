//! The idempotency decision of DESIGN.md §4, as one pure function.
//!
//! The API calls [`decide`] twice with the same rules: once on a plain read (so replays and
//! conflicts are answered before any upload), and once inside the acceptance transaction, where
//! the answer is authoritative. Only the [`Accept`] decisions write anything; they write the
//! submission, the committed record and the outbox row together (`crate::accept::plan`).

use crate::SubmissionId;
use crate::model::{IdempotencyRecord, IdempotencyStatus, SubmissionStatus};
use chrono::{DateTime, Duration, Utc};

/// A `claimed` record (written by the older system) younger than this is a live request.
pub const CLAIM_STALE_AFTER: Duration = Duration::seconds(30);

/// How long a committed record keeps deduplicating (Firestore TTL on `expires_at`).
pub const RECORD_TTL: Duration = Duration::days(30);

/// What to do with a post. The two kinds are separate types, so a writing decision can never
/// travel where "nothing was written" is meant (`ports::AcceptOutcome::NotWritten` carries an
/// [`Answer`] only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write the submission, the committed record and the outbox row.
    Accept(Accept),
    /// Write nothing; answer the browser.
    Answer(Answer),
}

/// The decisions that write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// No record: accept a new submission.
    Commit,
    /// A stale `claimed` record left by the older system: take it over and accept.
    TakeOver,
    /// The record points at a `failed` submission and the key is the payload fingerprint:
    /// accept a brand-new submission under the same record (reference/api.md §5.5).
    Reopen { previous: SubmissionId },
}

/// The decisions that write nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Same payload already accepted: answer as if this request had been accepted.
    Replay { submission_id: SubmissionId },
    /// Same key, different payload: the browser must rotate its key.
    Conflict { committed: Option<SubmissionId> },
    /// The explicit key points at a `failed` submission: the browser must rotate its key.
    RetryWithNewKey { submission_id: SubmissionId },
    /// The older system is still processing this key: retry with the same key.
    InProgress,
}

impl Decision {
    pub fn writes(&self) -> bool {
        matches!(self, Self::Accept(_))
    }
}

/// Decides what to do with a submission whose fingerprint is `fingerprint`.
///
/// `referenced_status` is the status of the submission the record points at (`None` when the
/// record has no submission or the document is missing). `explicit_key` tells whether the
/// browser sent its own key (as opposed to the fingerprint fallback).
pub fn decide(
    record: Option<&IdempotencyRecord>,
    referenced_status: Option<SubmissionStatus>,
    fingerprint: &str,
    explicit_key: bool,
    now: DateTime<Utc>,
) -> Decision {
    let Some(record) = record else {
        return Decision::Accept(Accept::Commit);
    };
    if record.payload_hash != fingerprint {
        return Decision::Answer(Answer::Conflict {
            committed: record.submission_id.clone(),
        });
    }
    if let Some(id) = &record.submission_id {
        return match referenced_status {
            Some(SubmissionStatus::Failed) if explicit_key => {
                Decision::Answer(Answer::RetryWithNewKey {
                    submission_id: id.clone(),
                })
            }
            Some(SubmissionStatus::Failed) => Decision::Accept(Accept::Reopen {
                previous: id.clone(),
            }),
            _ => Decision::Answer(Answer::Replay {
                submission_id: id.clone(),
            }),
        };
    }
    // No submission yet: only the older system writes such records (status `claimed`, or an
    // unknown status). A missing `updated_at` can never become fresh again, so it counts as
    // stale instead of blocking the key forever.
    let stale = match record.updated_at {
        Some(updated) => now - updated >= CLAIM_STALE_AFTER,
        None => true,
    };
    match (record.status, stale) {
        (_, true) => Decision::Accept(Accept::TakeOver),
        (IdempotencyStatus::Claimed | IdempotencyStatus::Committed, false) => {
            Decision::Answer(Answer::InProgress)
        }
    }
}

/// The committed record written by `Commit`, `TakeOver` and `Reopen`.
pub fn committed_record(
    previous: Option<&IdempotencyRecord>,
    new: NewRecord<'_>,
    now: DateTime<Utc>,
) -> IdempotencyRecord {
    IdempotencyRecord {
        submission_type: new.submission_type,
        idempotency_key: new.effective_key.to_owned(),
        payload_hash: new.fingerprint.to_owned(),
        request_id: new.request_id.to_owned(),
        status: IdempotencyStatus::Committed,
        submission_id: Some(new.submission_id.clone()),
        // The first acceptance time survives takeovers and reopens.
        created_at: previous.map_or(now, |p| p.created_at),
        updated_at: Some(now),
        owner_token: Some(new.owner_token.to_owned()),
        expires_at: Some(now + RECORD_TTL),
    }
}

/// What the acceptance knows about itself when it writes the record.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    pub submission_type: crate::SubmissionType,
    pub effective_key: &'a str,
    pub fingerprint: &'a str,
    pub request_id: &'a str,
    pub submission_id: &'a SubmissionId,
    pub owner_token: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubmissionType;
    use proptest::prelude::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + secs, 0).unwrap()
    }

    fn id(c: char) -> SubmissionId {
        SubmissionId::parse(&c.to_string().repeat(20)).unwrap()
    }

    fn record(
        status: IdempotencyStatus,
        sub: Option<SubmissionId>,
        updated: Option<i64>,
    ) -> IdempotencyRecord {
        IdempotencyRecord {
            submission_type: SubmissionType::Delegacion,
            idempotency_key: "k".into(),
            payload_hash: "h".into(),
            request_id: "r".into(),
            status,
            submission_id: sub,
            created_at: t(0),
            updated_at: updated.map(t),
            owner_token: None,
            expires_at: None,
        }
    }

    use IdempotencyStatus::{Claimed, Committed};
    use SubmissionStatus::{Completed, Failed, Pending, Processing};

    #[test]
    fn every_branch_of_the_decision_table() {
        let a = id('a');
        /// (name, record, referenced status, fingerprint, explicit key, now as `t(secs)`, decision)
        type Case<'a> = (
            &'a str,
            Option<IdempotencyRecord>,
            Option<SubmissionStatus>,
            &'a str,
            bool,
            i64,
            Decision,
        );
        let cases: Vec<Case> = vec![
            (
                "no record commits",
                None,
                None,
                "h",
                true,
                0,
                Decision::Accept(Accept::Commit),
            ),
            (
                "other payload conflicts",
                Some(record(Committed, Some(a.clone()), Some(0))),
                Some(Pending),
                "x",
                true,
                1,
                Decision::Answer(Answer::Conflict {
                    committed: Some(a.clone()),
                }),
            ),
            (
                "conflict is checked before a fresh claim",
                Some(record(Claimed, None, Some(0))),
                None,
                "x",
                true,
                1,
                Decision::Answer(Answer::Conflict { committed: None }),
            ),
            (
                "pending submission replays",
                Some(record(Committed, Some(a.clone()), Some(0))),
                Some(Pending),
                "h",
                true,
                1,
                Decision::Answer(Answer::Replay {
                    submission_id: a.clone(),
                }),
            ),
            (
                "processing submission replays",
                Some(record(Committed, Some(a.clone()), Some(0))),
                Some(Processing),
                "h",
                false,
                1,
                Decision::Answer(Answer::Replay {
                    submission_id: a.clone(),
                }),
            ),
            (
                "completed submission replays",
                Some(record(Committed, Some(a.clone()), Some(0))),
                Some(Completed),
                "h",
                true,
                1,
                Decision::Answer(Answer::Replay {
                    submission_id: a.clone(),
                }),
            ),
            (
                "missing submission document replays",
                Some(record(Committed, Some(a.clone()), Some(0))),
                None,
                "h",
                true,
                1,
                Decision::Answer(Answer::Replay {
                    submission_id: a.clone(),
                }),
            ),
            (
                "claimed record with a submission id replays",
                Some(record(Claimed, Some(a.clone()), Some(0))),
                Some(Pending),
                "h",
                true,
                1,
                Decision::Answer(Answer::Replay {
                    submission_id: a.clone(),
                }),
            ),
            (
                "failed submission with explicit key asks for a new key",
                Some(record(Committed, Some(a.clone()), Some(0))),
                Some(Failed),
                "h",
                true,
                1,
                Decision::Answer(Answer::RetryWithNewKey {
                    submission_id: a.clone(),
                }),
            ),
            (
                "failed submission with fallback key reopens",
                Some(record(Committed, Some(a.clone()), Some(0))),
                Some(Failed),
                "h",
                false,
                1,
                Decision::Accept(Accept::Reopen {
                    previous: a.clone(),
                }),
            ),
            (
                "fresh claim is in progress",
                Some(record(Claimed, None, Some(0))),
                None,
                "h",
                true,
                29,
                Decision::Answer(Answer::InProgress),
            ),
            (
                "claim stale at exactly 30 s is taken over",
                Some(record(Claimed, None, Some(0))),
                None,
                "h",
                true,
                30,
                Decision::Accept(Accept::TakeOver),
            ),
            (
                "claim without updated_at is taken over",
                Some(record(Claimed, None, None)),
                None,
                "h",
                true,
                0,
                Decision::Accept(Accept::TakeOver),
            ),
        ];
        for (name, rec, status, fp, explicit, at, want) in cases {
            assert_eq!(
                decide(rec.as_ref(), status, fp, explicit, t(at)),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn committed_record_keeps_the_first_creation_time() {
        let prev = record(Claimed, None, Some(5));
        let sid = id('b');
        let new = NewRecord {
            submission_type: SubmissionType::Faculty,
            effective_key: "k",
            fingerprint: "h",
            request_id: "req",
            submission_id: &sid,
            owner_token: "tok",
        };
        let r = committed_record(Some(&prev), new, t(100));
        assert_eq!(r.created_at, t(0));
        assert_eq!(r.updated_at, Some(t(100)));
        assert_eq!(r.status, Committed);
        assert_eq!(r.submission_id, Some(sid));
        assert_eq!(r.expires_at, Some(t(100) + RECORD_TTL));
    }

    #[test]
    fn item_16_exactly_commit_takeover_and_reopen_write() {
        let a = id('a');
        let table = [
            (Decision::Accept(Accept::Commit), true),
            (Decision::Accept(Accept::TakeOver), true),
            (
                Decision::Accept(Accept::Reopen {
                    previous: a.clone(),
                }),
                true,
            ),
            (
                Decision::Answer(Answer::Replay {
                    submission_id: a.clone(),
                }),
                false,
            ),
            (
                Decision::Answer(Answer::Conflict {
                    committed: Some(a.clone()),
                }),
                false,
            ),
            (
                Decision::Answer(Answer::Conflict { committed: None }),
                false,
            ),
            (
                Decision::Answer(Answer::RetryWithNewKey {
                    submission_id: a.clone(),
                }),
                false,
            ),
            (Decision::Answer(Answer::InProgress), false),
        ];
        for (decision, writes) in table {
            assert_eq!(decision.writes(), writes, "{decision:?}");
        }
    }

    #[test]
    fn item_16_a_claim_without_a_submission_is_live_before_30_s_and_stale_from_then_on() {
        // (record status, age in seconds, decision is a takeover)
        let table = [
            (Claimed, 0, false),
            (Claimed, 1, false),
            (Claimed, 29, false),
            (Claimed, 30, true),
            (Claimed, 31, true),
            (Claimed, 3_600, true),
            (Committed, 29, false),
            (Committed, 30, true),
            (Committed, 31, true),
            // A clock that went backwards makes the claim look younger, never stale.
            (Claimed, -5, false),
        ];
        for (status, age, takeover) in table {
            for explicit in [true, false] {
                let rec = record(status, None, Some(100));
                let want = if takeover {
                    Decision::Accept(Accept::TakeOver)
                } else {
                    Decision::Answer(Answer::InProgress)
                };
                assert_eq!(
                    decide(Some(&rec), None, "h", explicit, t(100 + age)),
                    want,
                    "{status:?} aged {age} s, explicit {explicit}"
                );
            }
        }
    }

    #[test]
    fn item_16_a_first_committed_record_starts_its_life_and_ttl_now() {
        let sid = id('c');
        let new = NewRecord {
            submission_type: SubmissionType::Faculty,
            effective_key: "key",
            fingerprint: "fp",
            request_id: "req",
            submission_id: &sid,
            owner_token: "tok",
        };
        let r = committed_record(None, new, t(50));
        assert_eq!(r.created_at, t(50));
        assert_eq!(r.updated_at, Some(t(50)));
        assert_eq!(r.expires_at, Some(t(50) + RECORD_TTL));
        assert_eq!(r.submission_type, SubmissionType::Faculty);
        assert_eq!(r.idempotency_key, "key");
        assert_eq!(r.payload_hash, "fp");
        assert_eq!(r.request_id, "req");
        assert_eq!(r.owner_token.as_deref(), Some("tok"));
        assert_eq!(r.status, Committed);
        assert_eq!(r.submission_id, Some(sid));
    }

    fn arb_status() -> impl Strategy<Value = Option<SubmissionStatus>> {
        prop_oneof![
            Just(None),
            Just(Some(Pending)),
            Just(Some(Processing)),
            Just(Some(Completed)),
            Just(Some(Failed)),
        ]
    }

    proptest! {
        /// Once a record points at a submission that did not fail, every later request with the
        /// same payload is a replay of that submission: nothing can create a second one.
        #[test]
        fn a_committed_live_submission_is_never_duplicated(
            status in arb_status(),
            explicit in any::<bool>(),
            age in 0i64..1_000_000,
        ) {
            let a = id('a');
            let rec = record(Committed, Some(a.clone()), Some(0));
            let d = decide(Some(&rec), status, "h", explicit, t(age));
            if status != Some(Failed) {
                prop_assert_eq!(d, Decision::Answer(Answer::Replay { submission_id: a }));
            } else {
                prop_assert!(!matches!(d, Decision::Accept(Accept::Commit) | Decision::Accept(Accept::TakeOver)));
            }
        }

        /// A different fingerprint never writes, whatever the record's state.
        #[test]
        fn a_different_payload_never_writes(
            claimed in any::<bool>(),
            has_sub in any::<bool>(),
            status in arb_status(),
            explicit in any::<bool>(),
            age in 0i64..1_000,
        ) {
            let rec = record(if claimed { Claimed } else { Committed }, has_sub.then(|| id('a')), Some(0));
            let d = decide(Some(&rec), status, "other", explicit, t(age));
            prop_assert!(!d.writes());
            prop_assert!(matches!(d, Decision::Answer(Answer::Conflict { .. })), "conflict expected");
        }

        /// Applying the decision's write and deciding again (a duplicate arriving right after)
        /// always replays the submission just written.
        #[test]
        fn deciding_again_after_a_write_replays(
            start in prop_oneof![Just(0u8), Just(1u8), Just(2u8)],
            explicit in any::<bool>(),
            age in 0i64..100,
        ) {
            let rec = match start {
                0 => None,
                1 => Some(record(Claimed, None, Some(0))),
                _ => Some(record(Committed, Some(id('a')), Some(0))),
            };
            let status = if start == 2 { Some(Failed) } else { None };
            let d = decide(rec.as_ref(), status, "h", explicit, t(age));
            if d.writes() {
                let sid = id('n');
                let new = NewRecord {
                    submission_type: SubmissionType::Delegacion,
                    effective_key: "k", fingerprint: "h", request_id: "r",
                    submission_id: &sid, owner_token: "o",
                };
                let written = committed_record(rec.as_ref(), new, t(age));
                let again = decide(Some(&written), Some(Pending), "h", explicit, t(age));
                prop_assert_eq!(again, Decision::Answer(Answer::Replay { submission_id: sid }));
            }
        }
    }
}
