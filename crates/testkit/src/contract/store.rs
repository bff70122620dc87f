//! The [`Store`] contract: the acceptance transaction and its idempotency decisions.

use super::{claimed_record, sample_acceptance, submission_id};
use crate::clock::ManualClock;
use chrono::{DateTime, Duration, Utc};
use domain::idempotency::{Accept, Answer, NewRecord, committed_record};
use domain::ports::{AcceptOutcome, Acceptance, Clock, Store};
use domain::{
    IdempotencyRecord, IdempotencyStatus, OutboxRow, OutboxStatus, Submission, SubmissionId,
    SubmissionStatus, SubmissionType,
};
use futures_util::future::{BoxFuture, join_all};
use std::any::Any;
use std::future::Future;
use std::sync::Arc;

/// Writes an idempotency record as is (a port has no such method: the API never needs it).
pub type SeedRecord = Box<dyn Fn(&str, IdempotencyRecord) -> BoxFuture<'static, ()> + Send + Sync>;

/// Sets the status of an existing submission (what the worker does when it fails one).
pub type SeedSubmissionStatus =
    Box<dyn Fn(&SubmissionId, SubmissionStatus) -> BoxFuture<'static, ()> + Send + Sync>;

/// A fresh, empty store plus the backend's seeding hooks. Seeding panics on failure.
pub struct StoreUnderTest {
    pub store: Arc<dyn Store>,
    pub seed_record: SeedRecord,
    pub seed_submission_status: SeedSubmissionStatus,
    /// Dropped last: temp directories, emulator handles, anything the store needs alive.
    pub keep_alive: Option<Box<dyn Any + Send + Sync>>,
}

/// Builds a [`StoreUnderTest`] whose store reads time from the given clock. Implemented by
/// every `Fn(Arc<ManualClock>) -> impl Future<Output = StoreUnderTest>` (and references to one).
pub trait MakeStore {
    fn make(&self, clock: Arc<ManualClock>) -> impl Future<Output = StoreUnderTest>;
}

impl<F, Fut> MakeStore for F
where
    F: Fn(Arc<ManualClock>) -> Fut,
    Fut: Future<Output = StoreUnderTest>,
{
    fn make(&self, clock: Arc<ManualClock>) -> impl Future<Output = StoreUnderTest> {
        self(clock)
    }
}

/// What the submission looks like once accepted at `now`.
fn stamped(a: &Acceptance, now: DateTime<Utc>) -> Submission {
    let mut s = a.submission.clone();
    s.status = SubmissionStatus::Pending;
    s.created_at = now;
    s.updated_at = now;
    s
}

fn expected_record(
    a: &Acceptance,
    previous: Option<&IdempotencyRecord>,
    now: DateTime<Utc>,
) -> IdempotencyRecord {
    committed_record(
        previous,
        NewRecord {
            submission_type: a.submission.submission_type,
            effective_key: &a.effective_key,
            fingerprint: &a.fingerprint,
            request_id: &a.submission.request_id,
            submission_id: &a.submission.submission_id,
            owner_token: &a.owner_token,
        },
        now,
    )
}

async fn setup(make: &impl MakeStore) -> (StoreUnderTest, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let sut = make.make(Arc::clone(&clock)).await;
    (sut, clock)
}

async fn accept(store: &dyn Store, a: &Acceptance) -> AcceptOutcome {
    store.accept(a.clone()).await.expect("accept")
}

async fn record(store: &dyn Store, record_id: &str) -> Option<IdempotencyRecord> {
    store
        .idempotency_record(record_id)
        .await
        .expect("read record")
}

async fn assert_not_written(store: &dyn Store, id: &SubmissionId, what: &str) {
    assert_eq!(
        store.submission(id).await.expect("read submission"),
        None,
        "{what}: no submission may be written"
    );
    assert_eq!(
        store.outbox_row(id).await.expect("read outbox"),
        None,
        "{what}: no outbox row may be written"
    );
}

/// Checks the three documents of an acceptance of `a` at `now` (record created from `previous`).
async fn assert_accepted_documents(
    store: &dyn Store,
    a: &Acceptance,
    previous: Option<&IdempotencyRecord>,
    now: DateTime<Utc>,
) {
    let id = &a.submission.submission_id;
    let want = stamped(a, now);
    let got = store
        .submission(id)
        .await
        .expect("read submission")
        .expect("submission written");
    assert_eq!(got, want, "submission as accepted, stamped with the clock");
    assert_eq!(got.status, SubmissionStatus::Pending);

    let row = store
        .outbox_row(id)
        .await
        .expect("read outbox")
        .expect("outbox row written");
    assert_eq!(row, OutboxRow::for_new_submission(&want));
    assert_eq!(row.status, OutboxStatus::Pending);
    assert_eq!(row.attempt_count, 0);
    assert_eq!((row.created_at, row.updated_at), (now, now));

    let rec = record(store, &a.record_id).await.expect("record written");
    assert_eq!(rec, expected_record(a, previous, now));
    assert_eq!(rec.status, IdempotencyStatus::Committed);
    assert_eq!(rec.submission_id.as_ref(), Some(id));
    assert_eq!(rec.updated_at, Some(now));
}

pub async fn reads_of_missing_documents_return_none(make: impl MakeStore) {
    let (sut, _clock) = setup(&make).await;
    let store = sut.store.as_ref();
    assert_eq!(record(store, "delegacion:nope").await, None);
    assert_not_written(store, &submission_id(404), "empty store").await;
}

pub async fn accept_on_an_empty_record_commits_the_three_documents(make: impl MakeStore) {
    let (sut, clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let now = clock.now();
    for (n, ty) in [
        (1, SubmissionType::Delegacion),
        (2, SubmissionType::Faculty),
    ] {
        let id = submission_id(n);
        let a = sample_acceptance(ty, &format!("key-{n}"), &format!("fp-{n}"), true, &id);
        assert_eq!(
            accept(store, &a).await,
            AcceptOutcome::Accepted {
                submission_id: id.clone(),
                decision: Accept::Commit
            }
        );
        assert_accepted_documents(store, &a, None, now).await;
    }
}

pub async fn a_duplicate_with_the_same_payload_replays_and_writes_nothing(make: impl MakeStore) {
    let (sut, clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let first = submission_id(1);
    let a = sample_acceptance(SubmissionType::Delegacion, "key", "fp", true, &first);
    accept(store, &a).await;
    let before = record(store, &a.record_id).await;

    clock.advance(Duration::seconds(5));
    let second = submission_id(2);
    for explicit in [true, false] {
        let b = sample_acceptance(SubmissionType::Delegacion, "key", "fp", explicit, &second);
        assert_eq!(
            accept(store, &b).await,
            AcceptOutcome::NotWritten(Answer::Replay {
                submission_id: first.clone()
            })
        );
    }
    assert_not_written(store, &second, "replay").await;
    assert_eq!(
        record(store, &a.record_id).await,
        before,
        "record untouched"
    );
}

pub async fn a_different_payload_under_the_same_key_conflicts(make: impl MakeStore) {
    let (sut, clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let first = submission_id(1);
    let a = sample_acceptance(SubmissionType::Faculty, "key", "fp", true, &first);
    accept(store, &a).await;
    let before = record(store, &a.record_id).await;

    clock.advance(Duration::seconds(5));
    let second = submission_id(2);
    let b = sample_acceptance(SubmissionType::Faculty, "key", "other-fp", true, &second);
    assert_eq!(
        accept(store, &b).await,
        AcceptOutcome::NotWritten(Answer::Conflict {
            committed: Some(first)
        })
    );
    assert_not_written(store, &second, "conflict").await;
    assert_eq!(
        record(store, &a.record_id).await,
        before,
        "record untouched"
    );
}

pub async fn a_fresh_claim_of_the_older_system_is_in_progress(make: impl MakeStore) {
    let (sut, clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let now = clock.now();
    let claim = claimed_record(
        SubmissionType::Delegacion,
        "key",
        "fp",
        now - Duration::seconds(10),
        now - Duration::seconds(10),
    );
    let id = submission_id(1);
    let a = sample_acceptance(SubmissionType::Delegacion, "key", "fp", true, &id);
    (sut.seed_record)(&a.record_id, claim.clone()).await;

    assert_eq!(
        accept(store, &a).await,
        AcceptOutcome::NotWritten(Answer::InProgress)
    );
    assert_not_written(store, &id, "in progress").await;
    assert_eq!(
        record(store, &a.record_id).await,
        Some(claim),
        "claim untouched"
    );
}

pub async fn a_stale_claim_is_taken_over_keeping_its_creation_time(make: impl MakeStore) {
    let (sut, clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let now = clock.now();
    let claim = claimed_record(
        SubmissionType::Delegacion,
        "key",
        "fp",
        now - Duration::minutes(2),
        now - Duration::seconds(31),
    );
    let id = submission_id(1);
    let a = sample_acceptance(SubmissionType::Delegacion, "key", "fp", false, &id);
    (sut.seed_record)(&a.record_id, claim.clone()).await;

    assert_eq!(
        accept(store, &a).await,
        AcceptOutcome::Accepted {
            submission_id: id.clone(),
            decision: Accept::TakeOver
        }
    );
    assert_accepted_documents(store, &a, Some(&claim), now).await;
    let rec = record(store, &a.record_id).await.expect("record");
    assert_eq!(
        rec.created_at, claim.created_at,
        "first acceptance time kept"
    );
}

pub async fn a_failed_submission_under_an_explicit_key_asks_for_a_new_key(make: impl MakeStore) {
    let (sut, clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let first = submission_id(1);
    let a = sample_acceptance(SubmissionType::Delegacion, "key", "fp", true, &first);
    accept(store, &a).await;
    (sut.seed_submission_status)(&first, SubmissionStatus::Failed).await;
    let before = record(store, &a.record_id).await;

    clock.advance(Duration::minutes(1));
    let second = submission_id(2);
    let b = sample_acceptance(SubmissionType::Delegacion, "key", "fp", true, &second);
    assert_eq!(
        accept(store, &b).await,
        AcceptOutcome::NotWritten(Answer::RetryWithNewKey {
            submission_id: first
        })
    );
    assert_not_written(store, &second, "retry with new key").await;
    assert_eq!(
        record(store, &a.record_id).await,
        before,
        "record untouched"
    );
}

pub async fn a_failed_submission_under_the_fallback_key_reopens_with_a_new_id(
    make: impl MakeStore,
) {
    let (sut, clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let first = submission_id(1);
    let a = sample_acceptance(SubmissionType::Faculty, "fp", "fp", false, &first);
    accept(store, &a).await;
    (sut.seed_submission_status)(&first, SubmissionStatus::Failed).await;
    let previous = record(store, &a.record_id).await.expect("record");

    let later = clock.advance(Duration::minutes(1));
    let second = submission_id(2);
    let b = sample_acceptance(SubmissionType::Faculty, "fp", "fp", false, &second);
    assert_eq!(
        accept(store, &b).await,
        AcceptOutcome::Accepted {
            submission_id: second.clone(),
            decision: Accept::Reopen {
                previous: first.clone()
            }
        }
    );
    assert_accepted_documents(store, &b, Some(&previous), later).await;
    let failed = store
        .submission(&first)
        .await
        .expect("read")
        .expect("the failed submission stays");
    assert_eq!(failed.status, SubmissionStatus::Failed);
}

/// Concurrent duplicates (double clicks, retries) of one record: exactly one submission.
pub async fn concurrent_duplicates_are_accepted_exactly_once(make: impl MakeStore) {
    const N: u32 = 32;
    let (sut, _clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let acceptances: Vec<Acceptance> = (1..=N)
        .map(|n| {
            sample_acceptance(
                SubmissionType::Delegacion,
                "key",
                "fp",
                true,
                &submission_id(n),
            )
        })
        .collect();
    let outcomes = join_all(acceptances.iter().map(|a| store.accept(a.clone()))).await;

    let winners: Vec<SubmissionId> = outcomes
        .iter()
        .filter_map(|o| match o {
            Ok(AcceptOutcome::Accepted {
                submission_id,
                decision: Accept::Commit,
            }) => Some(submission_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one accepted: {outcomes:?}");
    let winner = &winners[0];
    for o in &outcomes {
        match o {
            Ok(AcceptOutcome::Accepted { submission_id, .. }) => assert_eq!(submission_id, winner),
            Ok(AcceptOutcome::NotWritten(Answer::Replay { submission_id })) => {
                assert_eq!(submission_id, winner);
            }
            other => panic!("expected the winner or a replay of it, got {other:?}"),
        }
    }
    for a in &acceptances {
        let id = &a.submission.submission_id;
        if id != winner {
            assert_not_written(store, id, "losing duplicate").await;
        }
    }
    let rec = record(store, &acceptances[0].record_id)
        .await
        .expect("record");
    assert_eq!(rec.submission_id.as_ref(), Some(winner));
}

/// Independent submissions arriving together are all accepted.
pub async fn concurrent_distinct_submissions_are_all_accepted(make: impl MakeStore) {
    const N: u32 = 16;
    let (sut, clock) = setup(&make).await;
    let store = sut.store.as_ref();
    let now = clock.now();
    let acceptances: Vec<Acceptance> = (1..=N)
        .map(|n| {
            let key = format!("key-{n}");
            sample_acceptance(
                SubmissionType::Delegacion,
                &key,
                &key,
                true,
                &submission_id(n),
            )
        })
        .collect();
    let outcomes = join_all(acceptances.iter().map(|a| store.accept(a.clone()))).await;
    for (a, o) in acceptances.iter().zip(outcomes) {
        assert_eq!(
            o.expect("accept"),
            AcceptOutcome::Accepted {
                submission_id: a.submission.submission_id.clone(),
                decision: Accept::Commit
            }
        );
        assert_accepted_documents(store, a, None, now).await;
    }
}

/// Every store check, in sequence, each on a fresh store.
pub async fn store_contract<F, Fut>(make: F)
where
    F: Fn(Arc<ManualClock>) -> Fut,
    Fut: Future<Output = StoreUnderTest>,
{
    reads_of_missing_documents_return_none(&make).await;
    accept_on_an_empty_record_commits_the_three_documents(&make).await;
    a_duplicate_with_the_same_payload_replays_and_writes_nothing(&make).await;
    a_different_payload_under_the_same_key_conflicts(&make).await;
    a_fresh_claim_of_the_older_system_is_in_progress(&make).await;
    a_stale_claim_is_taken_over_keeping_its_creation_time(&make).await;
    a_failed_submission_under_an_explicit_key_asks_for_a_new_key(&make).await;
    a_failed_submission_under_the_fallback_key_reopens_with_a_new_id(&make).await;
    concurrent_duplicates_are_accepted_exactly_once(&make).await;
    concurrent_distinct_submissions_are_all_accepted(&make).await;
}
