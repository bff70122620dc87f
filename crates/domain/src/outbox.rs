//! The outbox lease machine (reference/pipeline.md §1.5–1.7), as pure functions over the row
//! and `now`. The adapter runs each inside a transaction: read the row, call the function,
//! write what it returns.
//!
//! Fixed here: staleness has one source of truth (`publish_lease_expires_at`; a `publishing`
//! row without an expiry is claimable, not stuck forever), and failed publishes back off
//! exponentially instead of being retried at a fixed pace forever.

use crate::model::{OutboxRow, OutboxStatus};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long a publisher owns a row (matches the reference).
pub const PUBLISH_LEASE: Duration = Duration::seconds(60);
/// Sent rows may be deleted by the store's TTL after this long.
pub const SENT_TTL: Duration = Duration::days(7);
/// Longest wait between two publish attempts of a failing row.
pub const MAX_BACKOFF: Duration = Duration::seconds(300);
/// Longest stored error text (errors come from our adapters, never from user input).
pub const MAX_ERROR_CHARS: usize = 500;

/// The Pub/Sub message body: exactly these three keys (compatibility contract).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkMessage {
    pub submission_id: String,
    pub request_id: String,
    pub submission_type: String,
    /// W3C `traceparent` of the request that made the submission, carried as a message
    /// attribute (never in the body), so the worker's logs join the request's trace.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

impl WorkMessage {
    pub fn for_row(row: &OutboxRow) -> Self {
        Self {
            submission_id: row.submission_id.to_string(),
            request_id: row.request_id.clone(),
            submission_type: row.submission_type.as_str().to_owned(),
            traceparent: row.traceparent.clone(),
        }
    }
}

/// Why a transition wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxRefusal {
    Missing,
    AlreadySent,
    /// Another publisher holds a live lease.
    Busy {
        until: DateTime<Utc>,
    },
    /// The row is no longer ours (lease expired and taken, or finished).
    LeaseLost,
}

/// Takes the publish lease: pending, expired `publishing`, or `publishing` without expiry.
pub fn claim(
    row: Option<&OutboxRow>,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<OutboxRow, OutboxRefusal> {
    let row = row.ok_or(OutboxRefusal::Missing)?;
    match row.status {
        OutboxStatus::Sent => return Err(OutboxRefusal::AlreadySent),
        OutboxStatus::Publishing => {
            if let Some(until) = row.publish_lease_expires_at
                && until > now
            {
                return Err(OutboxRefusal::Busy { until });
            }
        }
        OutboxStatus::Pending => {}
    }
    let mut next = row.clone();
    next.status = OutboxStatus::Publishing;
    next.publisher_request_id = Some(owner.to_owned());
    next.publish_started_at = Some(now);
    next.publish_lease_expires_at = Some(now + PUBLISH_LEASE);
    next.attempt_count += 1;
    next.updated_at = now;
    Ok(next)
}

/// Drops the publish lease fields.
fn clear_lease(row: &mut OutboxRow) {
    row.publisher_request_id = None;
    row.publish_started_at = None;
    row.publish_lease_expires_at = None;
}

/// Outcome of one publish attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Ok,
    Failed(String),
}

/// Records the publish outcome, only if `owner` still holds the lease (fencing).
pub fn finish(
    row: Option<&OutboxRow>,
    owner: &str,
    outcome: &Published,
    now: DateTime<Utc>,
) -> Result<OutboxRow, OutboxRefusal> {
    let row = row.ok_or(OutboxRefusal::Missing)?;
    if row.status != OutboxStatus::Publishing || row.publisher_request_id.as_deref() != Some(owner)
    {
        return Err(OutboxRefusal::LeaseLost);
    }
    let mut next = row.clone();
    clear_lease(&mut next);
    next.updated_at = now;
    match outcome {
        Published::Ok => {
            next.status = OutboxStatus::Sent;
            next.last_error = Some(String::new());
            next.expires_at = Some(now + SENT_TTL);
        }
        Published::Failed(e) => {
            next.status = OutboxStatus::Pending;
            next.last_error = Some(e.chars().take(MAX_ERROR_CHARS).collect());
        }
    }
    Ok(next)
}

/// Puts a row back to `pending` so the publisher sends the message again (operator re-drive).
pub fn requeue(row: Option<&OutboxRow>, now: DateTime<Utc>) -> Result<OutboxRow, OutboxRefusal> {
    let row = row.ok_or(OutboxRefusal::Missing)?;
    if row.status == OutboxStatus::Publishing
        && row.publish_lease_expires_at.is_some_and(|t| t > now)
    {
        return Err(OutboxRefusal::Busy {
            until: row.publish_lease_expires_at.unwrap_or(now),
        });
    }
    let mut next = row.clone();
    next.status = OutboxStatus::Pending;
    clear_lease(&mut next);
    next.expires_at = None;
    next.updated_at = now;
    Ok(next)
}

/// The reconciler's re-queue of a stuck submission: its row back to `pending` (as [`requeue`]),
/// or a fresh row when there is none any more (sent rows expire through the store's TTL).
pub fn requeue_for(
    sub: &crate::Submission,
    row: Option<&OutboxRow>,
    now: DateTime<Utc>,
) -> Result<OutboxRow, OutboxRefusal> {
    match row {
        Some(_) => requeue(row, now),
        None => {
            let mut fresh = OutboxRow::for_new_submission(sub);
            fresh.updated_at = now;
            Ok(fresh)
        }
    }
}

/// Puts a row back to `pending` whatever its lease, for a publisher that is known to be dead
/// (the embedded mode's startup: one server per data directory, so any lease found at startup
/// belongs to a process that no longer exists). Never use it while publishers may be alive.
pub fn requeue_after_restart(
    row: Option<&OutboxRow>,
    now: DateTime<Utc>,
) -> Result<OutboxRow, OutboxRefusal> {
    let row = row.ok_or(OutboxRefusal::Missing)?;
    let mut next = row.clone();
    next.status = OutboxStatus::Pending;
    clear_lease(&mut next);
    next.expires_at = None;
    next.updated_at = now;
    // No backoff wait: the restart is the retry.
    next.attempt_count = 0;
    Ok(next)
}

/// Wait before retrying a row that failed `attempts` times: 1 s, 2 s, 4 s … capped.
pub fn backoff(attempts: i64) -> Duration {
    if attempts <= 0 {
        return Duration::zero();
    }
    let secs = 1i64 << (attempts - 1).min(16);
    Duration::seconds(secs).min(MAX_BACKOFF)
}

/// Whether the sweep should (re)publish this row now.
pub fn is_due(row: &OutboxRow, now: DateTime<Utc>) -> bool {
    match row.status {
        OutboxStatus::Sent => false,
        OutboxStatus::Pending => now >= row.updated_at + backoff(row.attempt_count),
        OutboxStatus::Publishing => row.publish_lease_expires_at.is_none_or(|t| t <= now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SubmissionId, SubmissionType};
    use proptest::prelude::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
    }

    fn row() -> OutboxRow {
        OutboxRow {
            submission_id: SubmissionId::parse("AAAAAAAAAAAAAAAAAAAA").unwrap(),
            submission_type: SubmissionType::Faculty,
            request_id: "r".into(),
            status: OutboxStatus::Pending,
            created_at: t(0),
            updated_at: t(0),
            publish_started_at: None,
            publish_lease_expires_at: None,
            publisher_request_id: None,
            last_error: None,
            attempt_count: 0,
            expires_at: None,
            traceparent: None,
        }
    }

    #[test]
    fn the_message_body_has_exactly_the_three_contract_keys() {
        let v = serde_json::to_value(WorkMessage::for_row(&row())).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["request_id", "submission_id", "submission_type"]);
        assert_eq!(v["submission_type"], "faculty");
    }

    #[test]
    fn claim_finish_and_refusals() {
        let r = row();
        let c = claim(Some(&r), "a", t(1)).unwrap();
        assert_eq!(c.status, OutboxStatus::Publishing);
        assert_eq!(c.attempt_count, 1);
        assert_eq!(c.publish_lease_expires_at, Some(t(61)));
        assert_eq!(
            claim(Some(&c), "b", t(60)),
            Err(OutboxRefusal::Busy { until: t(61) })
        );
        let stolen = claim(Some(&c), "b", t(61)).unwrap();
        assert_eq!(
            finish(Some(&stolen), "a", &Published::Ok, t(62)),
            Err(OutboxRefusal::LeaseLost)
        );
        let sent = finish(Some(&stolen), "b", &Published::Ok, t(62)).unwrap();
        assert_eq!(sent.status, OutboxStatus::Sent);
        assert_eq!(sent.last_error.as_deref(), Some(""));
        assert_eq!(sent.expires_at, Some(t(62) + SENT_TTL));
        assert_eq!(
            claim(Some(&sent), "c", t(63)),
            Err(OutboxRefusal::AlreadySent)
        );
        assert_eq!(claim(None, "c", t(63)), Err(OutboxRefusal::Missing));
        let failed = finish(
            Some(&claim(Some(&r), "a", t(1)).unwrap()),
            "a",
            &Published::Failed("x".repeat(900)),
            t(2),
        )
        .unwrap();
        assert_eq!(failed.status, OutboxStatus::Pending);
        assert_eq!(failed.last_error.unwrap().len(), MAX_ERROR_CHARS);
    }

    #[test]
    fn the_reconciler_recreates_a_row_that_expired() {
        let r = row();
        let sub_json = serde_json::json!({
            "submission_id": "AAAAAAAAAAAAAAAAAAAA", "type": "faculty", "status": "pending",
            "created_at": "2026-05-01T00:00:00Z", "updated_at": "2026-05-01T00:00:00Z",
            "file_path": "uploads/faculty/AAAAAAAAAAAAAAAAAAAA.png", "request_id": "r", "idempotency_key": "k",
            "data": {"institucion": "X", "faculty": {"nombre": "a", "apellido": "b", "celular": "c", "correo": "d", "ciudad_estado": "e", "pais": "f"}, "numero_delegaciones": 4, "delegaciones": []}
        });
        let sub: crate::Submission = serde_json::from_value(sub_json).unwrap();
        let fresh = requeue_for(&sub, None, t(5)).unwrap();
        assert_eq!(fresh.status, OutboxStatus::Pending);
        assert_eq!(fresh.submission_id, r.submission_id);
        assert_eq!(fresh.updated_at, t(5));
        assert!(is_due(&fresh, t(5)));
        let mut sent = r.clone();
        sent.status = OutboxStatus::Sent;
        assert_eq!(
            requeue_for(&sub, Some(&sent), t(6)).unwrap().status,
            OutboxStatus::Pending
        );
    }

    #[test]
    fn a_publishing_row_without_expiry_is_claimable() {
        let mut r = row();
        r.status = OutboxStatus::Publishing;
        assert!(claim(Some(&r), "a", t(0)).is_ok());
        assert!(is_due(&r, t(0)));
    }

    #[test]
    fn failed_rows_back_off_exponentially_up_to_a_cap() {
        assert_eq!(backoff(0), Duration::zero());
        assert_eq!(backoff(1), Duration::seconds(1));
        assert_eq!(backoff(4), Duration::seconds(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
        let mut r = row();
        r.attempt_count = 3;
        assert!(!is_due(&r, t(3)));
        assert!(is_due(&r, t(4)));
    }

    /// A row in `status` whose publish lease (if any) ends at `lease`, updated at `t(0)`.
    fn leased(status: OutboxStatus, lease: Option<i64>) -> OutboxRow {
        let mut r = row();
        r.status = status;
        r.publish_lease_expires_at = lease.map(t);
        if status == OutboxStatus::Publishing {
            r.publisher_request_id = Some("p".into());
            r.publish_started_at = Some(t(0));
        }
        r.attempt_count = 2;
        r
    }

    #[test]
    fn item_16_requeue_refuses_exactly_a_publishing_row_whose_lease_is_still_live() {
        use OutboxStatus::{Pending, Publishing, Sent};
        /// (name, status, lease end, now, refused with Busy until)
        type Case<'a> = (&'a str, OutboxStatus, Option<i64>, i64, Option<i64>);
        let cases: [Case; 9] = [
            ("live lease", Publishing, Some(61), 10, Some(61)),
            (
                "live lease one second before its end",
                Publishing,
                Some(61),
                60,
                Some(61),
            ),
            ("lease ending exactly now", Publishing, Some(61), 61, None),
            ("lease ended in the past", Publishing, Some(61), 100, None),
            ("publishing without an expiry", Publishing, None, 10, None),
            (
                "pending with a leftover future expiry",
                Pending,
                Some(61),
                10,
                None,
            ),
            ("pending without a lease", Pending, None, 10, None),
            (
                "sent with a leftover future expiry",
                Sent,
                Some(61),
                10,
                None,
            ),
            ("sent without a lease", Sent, None, 10, None),
        ];
        for (name, status, lease, now, busy) in cases {
            let mut r = leased(status, lease);
            r.expires_at = Some(t(5) + SENT_TTL);
            let got = requeue(Some(&r), t(now));
            match busy {
                Some(until) => {
                    assert_eq!(got, Err(OutboxRefusal::Busy { until: t(until) }), "{name}");
                }
                None => {
                    let next = got.unwrap_or_else(|e| panic!("{name}: refused with {e:?}"));
                    assert_eq!(next.status, Pending, "{name}");
                    assert_eq!(next.publisher_request_id, None, "{name}");
                    assert_eq!(next.publish_started_at, None, "{name}");
                    assert_eq!(next.publish_lease_expires_at, None, "{name}");
                    assert_eq!(next.expires_at, None, "{name}");
                    assert_eq!(next.updated_at, t(now), "{name}");
                    assert_eq!(next.attempt_count, 2, "{name}: the backoff history is kept");
                    assert!(is_due(&next, t(now) + backoff(2)), "{name}");
                }
            }
        }
        assert_eq!(requeue(None, t(0)), Err(OutboxRefusal::Missing));
    }

    #[test]
    fn item_16_the_reconciler_requeue_of_an_existing_row_obeys_the_live_lease() {
        let sub: crate::Submission = serde_json::from_value(serde_json::json!({
            "submission_id": "AAAAAAAAAAAAAAAAAAAA", "type": "faculty", "status": "pending",
            "created_at": "2026-05-01T00:00:00Z", "updated_at": "2026-05-01T00:00:00Z",
            "file_path": "uploads/faculty/AAAAAAAAAAAAAAAAAAAA.png", "request_id": "r", "idempotency_key": "k",
            "data": {"institucion": "X", "faculty": {"nombre": "a", "apellido": "b", "celular": "c", "correo": "d", "ciudad_estado": "e", "pais": "f"}, "numero_delegaciones": 4, "delegaciones": []}
        }))
        .unwrap();
        let live = leased(OutboxStatus::Publishing, Some(61));
        assert_eq!(
            requeue_for(&sub, Some(&live), t(60)),
            Err(OutboxRefusal::Busy { until: t(61) })
        );
        let next = requeue_for(&sub, Some(&live), t(61)).unwrap();
        assert_eq!(next.status, OutboxStatus::Pending);
        assert_eq!(next.attempt_count, 2, "an existing row keeps its attempts");
        assert_eq!(next.updated_at, t(61));
    }

    #[test]
    fn item_16_a_restart_requeues_any_row_at_once_whatever_its_lease() {
        for status in [
            OutboxStatus::Pending,
            OutboxStatus::Publishing,
            OutboxStatus::Sent,
        ] {
            let mut r = leased(status, Some(1_000));
            r.expires_at = Some(t(9));
            let next = requeue_after_restart(Some(&r), t(10)).unwrap();
            assert_eq!(next.status, OutboxStatus::Pending, "{status:?}");
            assert_eq!(next.publisher_request_id, None, "{status:?}");
            assert_eq!(next.publish_started_at, None, "{status:?}");
            assert_eq!(next.publish_lease_expires_at, None, "{status:?}");
            assert_eq!(next.expires_at, None, "{status:?}");
            assert_eq!(next.attempt_count, 0, "{status:?}");
            assert_eq!(next.updated_at, t(10), "{status:?}");
            assert!(is_due(&next, t(10)), "{status:?}");
        }
        assert_eq!(
            requeue_after_restart(None, t(0)),
            Err(OutboxRefusal::Missing)
        );
    }

    #[test]
    fn item_16_finishing_clears_the_lease_and_a_failed_publish_keeps_its_attempts() {
        let c = claim(Some(&row()), "a", t(1)).unwrap();
        assert_eq!(c.publish_started_at, Some(t(1)));
        assert_eq!(c.updated_at, t(1));
        for outcome in [Published::Ok, Published::Failed("boom".into())] {
            let f = finish(Some(&c), "a", &outcome, t(2)).unwrap();
            assert_eq!(f.publisher_request_id, None, "{outcome:?}");
            assert_eq!(f.publish_started_at, None, "{outcome:?}");
            assert_eq!(f.publish_lease_expires_at, None, "{outcome:?}");
            assert_eq!(f.updated_at, t(2), "{outcome:?}");
            assert_eq!(f.attempt_count, 1, "{outcome:?}");
        }
        let failed = finish(Some(&c), "a", &Published::Failed("boom".into()), t(2)).unwrap();
        assert_eq!(failed.last_error.as_deref(), Some("boom"));
        assert_eq!(failed.expires_at, None);
        // A non-publishing row is never finished, even by the owner it still names.
        let mut stale = c.clone();
        stale.status = OutboxStatus::Pending;
        assert_eq!(
            finish(Some(&stale), "a", &Published::Ok, t(2)),
            Err(OutboxRefusal::LeaseLost)
        );
        assert_eq!(
            finish(None, "a", &Published::Ok, t(2)),
            Err(OutboxRefusal::Missing)
        );
    }

    #[test]
    fn item_16_backoff_doubles_from_one_second_and_never_passes_the_cap() {
        let table = [
            (-5, 0),
            (-1, 0),
            (0, 0),
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 8),
            (5, 16),
            (8, 128),
            (9, 256),
            (10, 300),
            (17, 300),
            (18, 300),
            (i64::MAX, 300),
        ];
        for (attempts, secs) in table {
            assert_eq!(backoff(attempts), Duration::seconds(secs), "{attempts}");
        }
    }

    #[test]
    fn item_16_a_pending_row_is_due_from_the_end_of_its_backoff_onwards() {
        // (attempts, seconds after the update, due)
        let table = [
            (0, -1, false),
            (0, 0, true),
            (0, 1, true),
            (1, 0, false),
            (1, 1, true),
            (1, 2, true),
            (3, 3, false),
            (3, 4, true),
            (3, 5, true),
            (3, 1_000, true),
            (12, 299, false),
            (12, 300, true),
            (12, 301, true),
        ];
        for (attempts, after, due) in table {
            let mut r = row();
            r.updated_at = t(100);
            r.attempt_count = attempts;
            assert_eq!(
                is_due(&r, t(100 + after)),
                due,
                "{attempts} attempts, +{after} s"
            );
        }
    }

    #[test]
    fn item_16_a_publishing_row_is_due_from_the_end_of_its_lease_and_a_sent_row_never() {
        // (lease end, now, due)
        let table = [
            (Some(61), 0, false),
            (Some(61), 60, false),
            (Some(61), 61, true),
            (Some(61), 62, true),
            (Some(61), 10_000, true),
            (None, 0, true),
        ];
        for (lease, now, due) in table {
            let r = leased(OutboxStatus::Publishing, lease);
            assert_eq!(is_due(&r, t(now)), due, "lease {lease:?} at {now}");
        }
        for now in [-10, 0, 61, 10_000] {
            let mut sent = leased(OutboxStatus::Sent, None);
            sent.attempt_count = 0;
            assert!(!is_due(&sent, t(now)), "sent at {now}");
            let sent_with_lease = leased(OutboxStatus::Sent, Some(0));
            assert!(
                !is_due(&sent_with_lease, t(now)),
                "sent with a lease at {now}"
            );
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Claim(u8),
        FinishOk(u8),
        FinishErr(u8),
        Tick(i64),
        Requeue,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3).prop_map(Op::Claim),
            (0u8..3).prop_map(Op::FinishOk),
            (0u8..3).prop_map(Op::FinishErr),
            (0i64..90).prop_map(Op::Tick),
            Just(Op::Requeue),
        ]
    }

    proptest! {
        /// Any interleaving of publishers: a row has at most one owner, only the owner can finish
        /// it, `sent` is final unless re-queued by an operator, and attempts only grow.
        #[test]
        fn publishers_never_share_a_row(ops in prop::collection::vec(op(), 0..60)) {
            let mut r = row();
            let mut now = t(0);
            for op in ops {
                let before = r.clone();
                let owner = |n: u8| format!("p{n}");
                let res = match op {
                    Op::Claim(n) => claim(Some(&r), &owner(n), now),
                    Op::FinishOk(n) => finish(Some(&r), &owner(n), &Published::Ok, now),
                    Op::FinishErr(n) => finish(Some(&r), &owner(n), &Published::Failed("e".into()), now),
                    Op::Tick(s) => { now += Duration::seconds(s); continue; }
                    Op::Requeue => requeue(Some(&r), now),
                };
                if let Ok(next) = res {
                    match &op {
                        Op::Claim(n) => {
                            prop_assert!(before.status != OutboxStatus::Sent);
                            prop_assert!(before.status != OutboxStatus::Publishing || before.publish_lease_expires_at.is_none_or(|x| x <= now));
                            prop_assert_eq!(next.publisher_request_id.clone(), Some(owner(*n)));
                        }
                        Op::FinishOk(n) | Op::FinishErr(n) => {
                            prop_assert_eq!(before.publisher_request_id.clone(), Some(owner(*n)));
                            prop_assert!(next.publisher_request_id.is_none());
                        }
                        _ => {}
                    }
                    prop_assert!(next.attempt_count >= before.attempt_count);
                    prop_assert_eq!(next.status == OutboxStatus::Publishing, next.publisher_request_id.is_some());
                    r = next;
                } else {
                    prop_assert_eq!(&r, &before);
                }
            }
        }
    }
}
