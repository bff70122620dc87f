//! The [`PipelineStore`] contract: fenced transitions of submissions and outbox rows, and the
//! races between them. The sweeps' queries are in `pipeline_queries`.

use super::pipeline_queries::{
    due_outbox_returns_what_the_sweep_should_publish_oldest_first,
    list_submissions_filters_by_status_oldest_first,
    list_submissions_pages_with_a_cursor_through_ties,
    stuck_submissions_are_the_pending_and_expired_ones_past_the_deadline,
};
use super::{sample_acceptance, submission_id};
use crate::clock::ManualClock;
use chrono::{DateTime, Duration, Utc};
use domain::outbox::{self, OutboxRefusal};
use domain::ports::{AcceptOutcome, Clock, PipelineStore};
use domain::worker::{self, WorkerRefusal};
use domain::{OutboxRow, OutboxStatus, Submission, SubmissionId, SubmissionStatus, SubmissionType};
use futures_util::future::join_all;
use std::any::Any;
use std::future::Future;
use std::sync::Arc;

/// A fresh, empty [`PipelineStore`], as [`StoreUnderTest`](super::StoreUnderTest) is for
/// [`Store`](domain::ports::Store). Its documents are seeded through the port itself: `accept`
/// creates them and `change_*` can write any state.
pub struct PipelineUnderTest {
    pub store: Arc<dyn PipelineStore>,
    /// Dropped last, as in [`StoreUnderTest`](super::StoreUnderTest).
    pub keep_alive: Option<Box<dyn Any + Send + Sync>>,
}

/// Builds a [`PipelineUnderTest`] whose store reads time from the given clock. Implemented by
/// every `Fn(Arc<ManualClock>) -> impl Future<Output = PipelineUnderTest>` (and references to one).
pub trait MakePipelineStore {
    fn make(&self, clock: Arc<ManualClock>) -> impl Future<Output = PipelineUnderTest>;
}

impl<F, Fut> MakePipelineStore for F
where
    F: Fn(Arc<ManualClock>) -> Fut,
    Fut: Future<Output = PipelineUnderTest>,
{
    fn make(&self, clock: Arc<ManualClock>) -> impl Future<Output = PipelineUnderTest> {
        self(clock)
    }
}

pub(super) async fn setup_pipeline(
    make: &impl MakePipelineStore,
) -> (PipelineUnderTest, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let sut = make.make(Arc::clone(&clock)).await;
    (sut, clock)
}

/// Accepts a new delegación `n` (key `key-<n>`) at the clock's current time.
pub(super) async fn seed_accepted(store: &dyn PipelineStore, n: u32) -> SubmissionId {
    let id = submission_id(n);
    let key = format!("key-{n}");
    let outcome = store
        .accept(sample_acceptance(
            SubmissionType::Delegacion,
            &key,
            &key,
            true,
            &id,
        ))
        .await
        .expect("accept");
    assert!(
        matches!(outcome, AcceptOutcome::Accepted { .. }),
        "seeded submission {n} accepted: {outcome:?}"
    );
    id
}

pub(super) async fn read_submission(store: &dyn PipelineStore, id: &SubmissionId) -> Submission {
    store
        .submission(id)
        .await
        .expect("read submission")
        .expect("submission exists")
}

pub(super) async fn read_outbox(store: &dyn PipelineStore, id: &SubmissionId) -> OutboxRow {
    store
        .outbox_row(id)
        .await
        .expect("read outbox")
        .expect("outbox row exists")
}

/// Writes `edit(current)` as the submission, whatever the transaction's time.
pub(super) async fn force_submission(
    store: &dyn PipelineStore,
    id: &SubmissionId,
    edit: impl Fn(&mut Submission) + Send + Sync + 'static,
) -> Submission {
    store
        .change_submission(
            id,
            Box::new(move |s, _now| {
                let mut next = s.expect("seeded submission exists").clone();
                edit(&mut next);
                Ok(next)
            }),
        )
        .await
        .expect("store")
        .expect("forced write")
}

/// Writes `edit(current)` as the outbox row, whatever the transaction's time.
pub(super) async fn force_outbox(
    store: &dyn PipelineStore,
    id: &SubmissionId,
    edit: impl Fn(&mut OutboxRow) + Send + Sync + 'static,
) -> OutboxRow {
    store
        .change_outbox(
            id,
            Box::new(move |r, _now| {
                let mut next = r.expect("seeded outbox row exists").clone();
                edit(&mut next);
                Ok(next)
            }),
        )
        .await
        .expect("store")
        .expect("forced write")
}

pub(super) fn ids_of<T>(docs: &[T], id: impl Fn(&T) -> &SubmissionId) -> Vec<SubmissionId> {
    docs.iter().map(|d| id(d).clone()).collect()
}

pub async fn change_submission_writes_only_on_ok_and_returns_the_refusal_otherwise(
    make: impl MakePipelineStore,
) {
    let (sut, clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    let id = seed_accepted(store, 1).await;
    let before = read_submission(store, &id).await;
    let outbox_before = read_outbox(store, &id).await;
    clock.advance(Duration::seconds(5));

    let seen: Arc<std::sync::Mutex<Option<Submission>>> = Arc::default();
    let seen_in = Arc::clone(&seen);
    let until = clock.now() + Duration::seconds(30);
    let refused = store
        .change_submission(
            &id,
            Box::new(move |s, _now| {
                *seen_in.lock().expect("lock") = s.cloned();
                Err(WorkerRefusal::Busy { until })
            }),
        )
        .await
        .expect("store");
    assert_eq!(refused, Err(WorkerRefusal::Busy { until }));
    assert_eq!(
        seen.lock().expect("lock").as_ref(),
        Some(&before),
        "the change reads the current document"
    );
    assert_eq!(
        read_submission(store, &id).await,
        before,
        "a refusal writes nothing"
    );

    let written = store
        .change_submission(
            &id,
            Box::new(|s, now| {
                let mut next = s.expect("exists").clone();
                next.status = SubmissionStatus::Processing;
                next.worker.worker_lease_owner = Some("w".into());
                next.worker.worker_lease_expires_at = Some(now + Duration::seconds(90));
                next.updated_at = now;
                Ok(next)
            }),
        )
        .await
        .expect("store")
        .expect("ok change");
    assert_eq!(written.status, SubmissionStatus::Processing);
    assert_eq!(
        read_submission(store, &id).await,
        written,
        "an Ok change is written as returned"
    );
    assert_eq!(
        read_outbox(store, &id).await,
        outbox_before,
        "a submission change leaves the outbox row alone"
    );

    let missing = submission_id(404);
    let seen_missing: Arc<std::sync::Mutex<Option<bool>>> = Arc::default();
    let seen_in = Arc::clone(&seen_missing);
    let refused = store
        .change_submission(
            &missing,
            Box::new(move |s, _now| {
                *seen_in.lock().expect("lock") = Some(s.is_some());
                Err(WorkerRefusal::Missing)
            }),
        )
        .await
        .expect("store");
    assert_eq!(refused, Err(WorkerRefusal::Missing));
    assert_eq!(
        *seen_missing.lock().expect("lock"),
        Some(false),
        "a missing document reads as None"
    );
    assert_eq!(store.submission(&missing).await.expect("read"), None);
}

pub async fn change_outbox_writes_only_on_ok_and_returns_the_refusal_otherwise(
    make: impl MakePipelineStore,
) {
    let (sut, clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    let id = seed_accepted(store, 1).await;
    let before = read_outbox(store, &id).await;
    let submission_before = read_submission(store, &id).await;
    clock.advance(Duration::seconds(5));

    let seen: Arc<std::sync::Mutex<Option<OutboxRow>>> = Arc::default();
    let seen_in = Arc::clone(&seen);
    let refused = store
        .change_outbox(
            &id,
            Box::new(move |r, _now| {
                *seen_in.lock().expect("lock") = r.cloned();
                Err(OutboxRefusal::LeaseLost)
            }),
        )
        .await
        .expect("store");
    assert_eq!(refused, Err(OutboxRefusal::LeaseLost));
    assert_eq!(
        seen.lock().expect("lock").as_ref(),
        Some(&before),
        "the change reads the current row"
    );
    assert_eq!(
        read_outbox(store, &id).await,
        before,
        "a refusal writes nothing"
    );

    let written = store
        .change_outbox(&id, Box::new(|r, now| outbox::claim(r, "p", now)))
        .await
        .expect("store")
        .expect("ok change");
    assert_eq!(written.status, OutboxStatus::Publishing);
    assert_eq!(written.publisher_request_id.as_deref(), Some("p"));
    assert_eq!(
        read_outbox(store, &id).await,
        written,
        "an Ok change is written as returned"
    );
    assert_eq!(
        store
            .change_outbox(&id, Box::new(|r, now| outbox::claim(r, "q", now)))
            .await
            .expect("store"),
        Err(OutboxRefusal::Busy {
            until: written.publish_lease_expires_at.expect("lease")
        }),
        "the domain's refusal comes back as is"
    );
    assert_eq!(read_outbox(store, &id).await, written);
    assert_eq!(
        read_submission(store, &id).await,
        submission_before,
        "an outbox change leaves the submission alone"
    );

    let missing = submission_id(404);
    assert_eq!(
        store
            .change_outbox(&missing, Box::new(|r, now| outbox::claim(r, "p", now)))
            .await
            .expect("store"),
        Err(OutboxRefusal::Missing)
    );
    assert_eq!(store.outbox_row(&missing).await.expect("read"), None);
}

pub async fn the_transactions_now_is_the_clocks(make: impl MakePipelineStore) {
    let (sut, clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    let id = seed_accepted(store, 1).await;
    for step in [Duration::seconds(7), Duration::minutes(3)] {
        let want = clock.advance(step);
        let seen: Arc<std::sync::Mutex<Vec<DateTime<Utc>>>> = Arc::default();
        let (a, b) = (Arc::clone(&seen), Arc::clone(&seen));
        store
            .change_submission(
                &id,
                Box::new(move |s, now| {
                    a.lock().expect("lock").push(now);
                    Err(WorkerRefusal::Terminal(s.expect("exists").status))
                }),
            )
            .await
            .expect("store")
            .expect_err("refused");
        store
            .change_outbox(
                &id,
                Box::new(move |_r, now| {
                    b.lock().expect("lock").push(now);
                    Err(OutboxRefusal::LeaseLost)
                }),
            )
            .await
            .expect("store")
            .expect_err("refused");
        assert_eq!(*seen.lock().expect("lock"), [want, want]);
    }
    let claimed = store
        .change_submission(
            &id,
            Box::new(|s, now| worker::claim(s, "w", now, worker::DEFAULT_LEASE)),
        )
        .await
        .expect("store")
        .expect("claimed");
    assert_eq!(claimed.updated_at, clock.now());
    assert_eq!(
        read_submission(store, &id).await.worker.worker_started_at,
        Some(clock.now()),
        "stamped with the clock"
    );
}

/// Sixteen deliveries of one message race for the lease: exactly one gets it.
pub async fn concurrent_claims_of_one_submission_have_exactly_one_winner(
    make: impl MakePipelineStore,
) {
    const N: usize = 16;
    let (sut, _clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    let id = seed_accepted(store, 1).await;
    let claims = (0..N).map(|n| {
        store.change_submission(
            &id,
            Box::new(move |s, now| worker::claim(s, &format!("w{n}"), now, worker::DEFAULT_LEASE)),
        )
    });
    let outcomes = join_all(claims).await;
    let winners: Vec<&Submission> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().expect("store").as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins: {outcomes:?}");
    let winner = winners[0];
    for o in &outcomes {
        match o.as_ref().expect("store") {
            Ok(s) => assert_eq!(s, winner),
            Err(WorkerRefusal::Busy { until }) => {
                assert_eq!(Some(*until), winner.worker.worker_lease_expires_at);
            }
            Err(other) => panic!("a losing claim is Busy, got {other:?}"),
        }
    }
    let stored = read_submission(store, &id).await;
    assert_eq!(&stored, winner);
    assert_eq!(stored.worker.worker_attempt_count, 1, "one attempt counted");
}

/// The same race on the outbox row: one publisher.
pub async fn concurrent_claims_of_one_outbox_row_have_exactly_one_winner(
    make: impl MakePipelineStore,
) {
    const N: usize = 16;
    let (sut, _clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    let id = seed_accepted(store, 1).await;
    let claims = (0..N).map(|n| {
        store.change_outbox(
            &id,
            Box::new(move |r, now| outbox::claim(r, &format!("p{n}"), now)),
        )
    });
    let outcomes = join_all(claims).await;
    let winners: Vec<&OutboxRow> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().expect("store").as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins: {outcomes:?}");
    for o in &outcomes {
        if let Err(refusal) = o.as_ref().expect("store") {
            assert!(
                matches!(refusal, OutboxRefusal::Busy { .. }),
                "a losing claim is Busy, got {refusal:?}"
            );
        }
    }
    let stored = read_outbox(store, &id).await;
    assert_eq!(&stored, winners[0]);
    assert_eq!(stored.attempt_count, 1, "one attempt counted");
}

/// Every pipeline check, in sequence, each on a fresh store.
pub async fn pipeline_contract<F, Fut>(make: F)
where
    F: Fn(Arc<ManualClock>) -> Fut,
    Fut: Future<Output = PipelineUnderTest>,
{
    change_submission_writes_only_on_ok_and_returns_the_refusal_otherwise(&make).await;
    change_outbox_writes_only_on_ok_and_returns_the_refusal_otherwise(&make).await;
    the_transactions_now_is_the_clocks(&make).await;
    due_outbox_returns_what_the_sweep_should_publish_oldest_first(&make).await;
    stuck_submissions_are_the_pending_and_expired_ones_past_the_deadline(&make).await;
    list_submissions_filters_by_status_oldest_first(&make).await;
    list_submissions_pages_with_a_cursor_through_ties(&make).await;
    concurrent_claims_of_one_submission_have_exactly_one_winner(&make).await;
    concurrent_claims_of_one_outbox_row_have_exactly_one_winner(&make).await;
}
