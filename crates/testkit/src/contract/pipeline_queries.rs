//! The [`PipelineStore`](domain::ports::PipelineStore) queries of the sweeps and the
//! operators: due outbox rows, stuck submissions, listings.

use super::pipeline::{
    MakePipelineStore, force_outbox, force_submission, ids_of, read_outbox, read_submission,
    seed_accepted, setup_pipeline,
};
use chrono::{DateTime, Duration, Utc};
use domain::outbox::{self, Published};
use domain::ports::{Clock, SubmissionCursor};
use domain::worker;
use domain::{SubmissionId, SubmissionStatus};
use std::sync::Arc;

pub async fn due_outbox_returns_what_the_sweep_should_publish_oldest_first(
    make: impl MakePipelineStore,
) {
    let (sut, clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    let t0 = clock.now();
    let at = move |s: i64| t0 + Duration::seconds(s);
    // Accepted in id order, long ago.
    clock.set(at(-1000));
    let fresh = seed_accepted(store, 1).await; // pending, never tried: due at once
    let expired = seed_accepted(store, 2).await; // publishing, lease expired
    let sent = seed_accepted(store, 3).await; // sent: never due
    let leased = seed_accepted(store, 4).await; // publishing, live lease
    let backing_off = seed_accepted(store, 5).await; // pending after 3 failures
    clock.set(t0);

    force_outbox(store, &fresh, move |r| r.updated_at = at(-100)).await;
    force_outbox(store, &expired, move |r| {
        *r = outbox::claim(Some(r), "dead", at(-61)).expect("claim");
    })
    .await;
    force_outbox(store, &sent, move |r| {
        let c = outbox::claim(Some(r), "p", at(-56)).expect("claim");
        *r = outbox::finish(Some(&c), "p", &Published::Ok, at(-55)).expect("finish");
    })
    .await;
    force_outbox(store, &leased, move |r| {
        *r = outbox::claim(Some(r), "alive", at(-50)).expect("claim");
    })
    .await;
    force_outbox(store, &backing_off, move |r| {
        r.attempt_count = 3; // backoff 4 s
        r.last_error = Some("broker down".into());
        r.updated_at = at(-2);
    })
    .await;

    let due = |now: DateTime<Utc>, limit: usize| async move {
        let rows = store.due_outbox(now, limit).await.expect("due_outbox");
        ids_of(&rows, |r| &r.submission_id)
    };
    assert_eq!(
        due(t0, 100).await,
        [fresh.clone(), expired.clone()],
        "pending without backoff and expired leases"
    );
    assert_eq!(
        due(at(2), 100).await,
        [fresh.clone(), expired.clone(), backing_off.clone()],
        "a failed row is due once its backoff has passed"
    );
    assert_eq!(
        due(at(10), 100).await,
        [
            fresh.clone(),
            expired.clone(),
            leased.clone(),
            backing_off.clone()
        ],
        "a lease is due once it expired; oldest first by last write"
    );
    assert_eq!(
        due(at(10), 2).await,
        [fresh.clone(), expired.clone()],
        "limit"
    );
    assert!(
        !due(at(100_000), 100).await.contains(&sent),
        "a sent row is never due"
    );
    let rows = store.due_outbox(at(10), 100).await.expect("due_outbox");
    assert_eq!(
        rows[3],
        read_outbox(store, &backing_off).await,
        "whole rows"
    );
}

pub async fn stuck_submissions_are_the_pending_and_expired_ones_past_the_deadline(
    make: impl MakePipelineStore,
) {
    let (sut, clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    let t0 = clock.now();
    let at = move |s: i64| t0 + Duration::seconds(s);
    let stuck_after = worker::STUCK_AFTER.num_seconds();
    let lease = worker::DEFAULT_LEASE;
    let claim_at = |id: &SubmissionId, when: i64| {
        let id = id.clone();
        let clock = Arc::clone(&clock);
        async move {
            clock.set(at(when));
            store
                .change_submission(
                    &id,
                    Box::new(move |s, now| worker::claim(s, "w", now, lease)),
                )
                .await
                .expect("store")
                .expect("claim")
        }
    };

    clock.set(at(-1000));
    let completed = seed_accepted(store, 1).await;
    let failed = seed_accepted(store, 2).await;
    let expired_long_ago = seed_accepted(store, 3).await;
    let expired_recently = seed_accepted(store, 4).await;
    let live = seed_accepted(store, 5).await;
    force_submission(store, &completed, |s| {
        s.status = SubmissionStatus::Completed;
    })
    .await;
    force_submission(store, &failed, |s| {
        s.status = SubmissionStatus::Failed;
        s.worker.error_message = Some("bad".into());
    })
    .await;
    // Leases of 90 s that expired exactly STUCK_AFTER ago, 30 s ago, and not yet.
    claim_at(&expired_long_ago, -stuck_after - lease.num_seconds()).await;
    claim_at(&expired_recently, -30 - lease.num_seconds()).await;
    claim_at(&live, -60).await;
    clock.set(at(-stuck_after));
    let old_pending = seed_accepted(store, 6).await;
    clock.set(at(-stuck_after + 1));
    let young_pending = seed_accepted(store, 7).await;
    clock.set(t0);

    let stuck = |now: DateTime<Utc>, limit: usize| async move {
        let subs = store
            .stuck_submissions(now, limit)
            .await
            .expect("stuck_submissions");
        let mut ids = ids_of(&subs, |s| &s.submission_id);
        ids.sort();
        ids
    };
    assert_eq!(
        stuck(t0, 100).await,
        [expired_long_ago.clone(), old_pending.clone()],
        "pending untouched for STUCK_AFTER, processing whose lease expired STUCK_AFTER ago"
    );
    assert_eq!(
        stuck(at(1), 100).await,
        [
            expired_long_ago.clone(),
            old_pending.clone(),
            young_pending.clone()
        ]
    );
    assert_eq!(
        stuck(at(30), 100).await,
        [
            expired_long_ago.clone(),
            expired_recently.clone(),
            old_pending.clone(),
            young_pending.clone()
        ]
    );
    let later = stuck(at(100_000), 100).await;
    assert!(later.contains(&live), "every lease expires eventually");
    assert!(
        !later.contains(&completed) && !later.contains(&failed),
        "terminal submissions are never stuck: {later:?}"
    );
    assert_eq!(stuck(at(100_000), 2).await.len(), 2, "limit");
    let whole = store.stuck_submissions(t0, 100).await.expect("stuck");
    for s in whole {
        assert_eq!(
            s,
            read_submission(store, &s.submission_id).await,
            "whole documents"
        );
    }
}

pub async fn list_submissions_filters_by_status_oldest_first(make: impl MakePipelineStore) {
    let (sut, clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(seed_accepted(store, n).await);
        clock.advance(Duration::seconds(1));
    }
    let statuses = [
        SubmissionStatus::Completed,
        SubmissionStatus::Pending,
        SubmissionStatus::Failed,
        SubmissionStatus::Processing,
        SubmissionStatus::Completed,
    ];
    for (id, status) in ids.iter().zip(statuses) {
        if status == SubmissionStatus::Processing {
            store
                .change_submission(
                    id,
                    Box::new(|s, now| worker::claim(s, "w", now, worker::DEFAULT_LEASE)),
                )
                .await
                .expect("store")
                .expect("claim");
        } else if status != SubmissionStatus::Pending {
            force_submission(store, id, move |s| s.status = status).await;
        }
    }
    let list = |status: Option<SubmissionStatus>, limit: usize| async move {
        let subs = store
            .list_submissions(status, None, limit)
            .await
            .expect("list_submissions");
        if let Some(want) = status {
            assert!(subs.iter().all(|s| s.status == want), "{subs:?}");
        }
        ids_of(&subs, |s| &s.submission_id)
    };
    assert_eq!(list(None, 100).await, ids, "all, oldest first");
    assert_eq!(list(None, 2).await, ids[..2], "limit");
    assert_eq!(
        list(Some(SubmissionStatus::Completed), 100).await,
        [ids[0].clone(), ids[4].clone()]
    );
    assert_eq!(
        list(Some(SubmissionStatus::Completed), 1).await,
        [ids[0].clone()]
    );
    assert_eq!(
        list(Some(SubmissionStatus::Pending), 100).await,
        [ids[1].clone()]
    );
    assert_eq!(
        list(Some(SubmissionStatus::Failed), 100).await,
        [ids[2].clone()]
    );
    assert_eq!(
        list(Some(SubmissionStatus::Processing), 100).await,
        [ids[3].clone()]
    );
}

pub async fn list_submissions_pages_with_a_cursor_through_ties(make: impl MakePipelineStore) {
    let (sut, clock) = setup_pipeline(&make).await;
    let store = sut.store.as_ref();
    // Three accepted at the same instant (ordered by id among themselves), then two later.
    let mut ids = Vec::new();
    for n in [3, 1, 2] {
        ids.push(seed_accepted(store, n).await);
    }
    clock.advance(Duration::seconds(1));
    for n in [5, 4] {
        ids.push(seed_accepted(store, n).await);
        clock.advance(Duration::seconds(1));
    }
    ids[..3].sort();
    for limit in [1, 2, 3, 10] {
        let mut seen = Vec::new();
        let mut after: Option<SubmissionCursor> = None;
        loop {
            let page = store
                .list_submissions(None, after.as_ref(), limit)
                .await
                .expect("list_submissions");
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = Some(SubmissionCursor::after(last));
            seen.extend(page.into_iter().map(|s| s.submission_id));
        }
        assert_eq!(
            seen, ids,
            "page size {limit}: each once, in (created_at, id) order"
        );
    }
    force_submission(store, &ids[1], |s| s.status = SubmissionStatus::Failed).await;
    force_submission(store, &ids[4], |s| s.status = SubmissionStatus::Failed).await;
    let first = store
        .list_submissions(Some(SubmissionStatus::Failed), None, 1)
        .await
        .expect("list");
    assert_eq!(ids_of(&first, |s| &s.submission_id), [ids[1].clone()]);
    let next = store
        .list_submissions(
            Some(SubmissionStatus::Failed),
            Some(&SubmissionCursor::after(&first[0])),
            10,
        )
        .await
        .expect("list");
    assert_eq!(
        ids_of(&next, |s| &s.submission_id),
        [ids[4].clone()],
        "the status filter and the cursor together"
    );
}
