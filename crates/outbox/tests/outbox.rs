//! The publisher on a real `SqliteStore` (temp dir) with a bus that records what it is given
//! and fails on demand: claim → publish → fenced finish, the sweep and its reconciler, and the
//! HTTP triggers as Eventarc and Cloud Scheduler call them.

use async_trait::async_trait;
use axum::body::Body;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use domain::failpoints::Failpoints;
use domain::outbox::{self as rules, OutboxRefusal, SENT_TTL, WorkMessage};
use domain::ports::{Bus, Clock, PipelineStore, SideEffectError, Store};
use domain::worker;
use domain::{OutboxRow, OutboxStatus, SubmissionId, SubmissionStatus, SubmissionType};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use local::{DB_FILE, SqliteStore};
use outbox::{PublishReport, Publisher, SweepReport};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use testkit::clock::ManualClock;
use testkit::contract::submission_id;
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------------
// Harness

/// A work topic that records every message it acknowledges and refuses the next `n` publishes
/// with a retryable error when told to.
#[derive(Default)]
struct FakeBus {
    sent: Mutex<Vec<WorkMessage>>,
    failures_left: AtomicUsize,
    calls: AtomicUsize,
    /// When set, the next publish waits for this before answering (a slow broker).
    hold: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

impl FakeBus {
    fn hold_next(&self) -> tokio::sync::oneshot::Sender<()> {
        let (release, held) = tokio::sync::oneshot::channel();
        *self.hold.lock().unwrap() = Some(held);
        release
    }

    fn fail_next(&self, n: usize) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    fn sent(&self) -> Vec<WorkMessage> {
        self.sent.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

const BUS_ERROR: &str = "broker unavailable (503)";

#[async_trait]
impl Bus for FakeBus {
    async fn publish(&self, message: &WorkMessage) -> Result<(), SideEffectError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let held = self.hold.lock().unwrap().take();
        if let Some(held) = held {
            let _ = held.await;
        }
        let failing = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(SideEffectError::Retryable(BUS_ERROR.into()));
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}

struct Harness {
    store: Arc<SqliteStore>,
    bus: Arc<FakeBus>,
    clock: Arc<ManualClock>,
    publisher: Publisher,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A store whose clock starts at `start`, and a publisher on the wall clock (so sweep tests
    /// start the store's clock in the past: time has passed since those writes).
    fn starting_at(start: DateTime<Utc>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let store = Arc::new(SqliteStore::open(&dir.path().join(DB_FILE), clock.clone()).unwrap());
        let bus = Arc::new(FakeBus::default());
        let publisher = Publisher::new(
            store.clone(),
            bus.clone(),
            Arc::new(testkit::clock::SystemClock),
            Arc::new(Failpoints::default()),
        );
        Self {
            store,
            bus,
            clock,
            publisher,
            _dir: dir,
        }
    }

    fn new() -> Self {
        Self::starting_at(ManualClock::reference_start())
    }

    /// Accepts submission `n` the way the API does (submission + record + pending outbox row).
    async fn accept(&self, n: u32, ty: SubmissionType) -> SubmissionId {
        testkit::contract::accept_sample(self.store.as_ref(), n, ty).await
    }

    async fn row(&self, id: &SubmissionId) -> OutboxRow {
        self.store.outbox_row(id).await.unwrap().unwrap()
    }

    async fn publish(&self, id: &SubmissionId) -> PublishReport {
        self.publisher.publish_one(id).await.unwrap()
    }

    /// Another publisher takes the lease on `id` now.
    async fn lease_elsewhere(&self, id: &SubmissionId) -> OutboxRow {
        self.store
            .change_outbox(id, Box::new(|r, now| rules::claim(r, "other", now)))
            .await
            .unwrap()
            .unwrap()
    }
}

fn message_for(id: &SubmissionId, ty: SubmissionType) -> WorkMessage {
    WorkMessage {
        submission_id: id.to_string(),
        request_id: format!("req-{id}"),
        submission_type: ty.as_str().to_owned(),
        traceparent: None,
    }
}

/// Wall-clock time in whole seconds, minus `ago`.
fn wall_clock_minus(ago: Duration) -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0) - ago
}

// ---------------------------------------------------------------------------------------------
// publish_one

#[tokio::test]
async fn publish_one_sends_exactly_the_three_key_body_and_marks_the_row_sent() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.clock.advance(Duration::seconds(3));

    assert_eq!(h.publish(&id).await, PublishReport::Sent);

    let sent = h.bus.sent();
    assert_eq!(sent, [message_for(&id, SubmissionType::Delegacion)]);
    let body = serde_json::to_value(&sent[0]).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "submission_id": id.as_str(),
            "request_id": format!("req-{id}"),
            "submission_type": "delegacion",
        }),
        "exactly the three contract keys"
    );

    let row = h.row(&id).await;
    let now = h.clock.now();
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.attempt_count, 1);
    assert_eq!(row.last_error.as_deref(), Some(""));
    assert_eq!(row.publisher_request_id, None, "lease released");
    assert_eq!(row.publish_started_at, None);
    assert_eq!(row.publish_lease_expires_at, None);
    assert_eq!(row.updated_at, now);
    assert_eq!(row.expires_at, Some(now + SENT_TTL), "TTL set on sent rows");
}

#[tokio::test]
async fn a_faculty_row_publishes_its_type() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Faculty).await;
    assert_eq!(h.publish(&id).await, PublishReport::Sent);
    assert_eq!(h.bus.sent(), [message_for(&id, SubmissionType::Faculty)]);
}

#[tokio::test]
async fn a_failing_bus_leaves_the_row_pending_with_the_error_and_asks_for_a_retry() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.bus.fail_next(1);

    let report = h.publish(&id).await;
    let PublishReport::Failed(error) = &report else {
        panic!("expected Failed, got {report:?}");
    };
    assert!(error.contains(BUS_ERROR), "{error}");
    assert!(report.wants_retry());
    assert!(h.bus.sent().is_empty());

    let row = h.row(&id).await;
    assert_eq!(row.status, OutboxStatus::Pending);
    assert_eq!(row.attempt_count, 1);
    assert_eq!(row.last_error.as_deref(), Some(error.as_str()));
    assert_eq!(row.publisher_request_id, None, "lease released");
    assert_eq!(row.publish_lease_expires_at, None);
    assert_eq!(row.expires_at, None);

    assert_eq!(h.publish(&id).await, PublishReport::Sent, "the retry works");
    let row = h.row(&id).await;
    assert_eq!(row.attempt_count, 2);
    assert_eq!(row.last_error.as_deref(), Some(""));
    assert_eq!(h.bus.sent().len(), 1);
}

#[tokio::test]
async fn a_row_leased_by_another_publisher_is_busy_until_the_lease_expires() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    let leased = h.lease_elsewhere(&id).await;

    let report = h.publish(&id).await;
    assert_eq!(report, PublishReport::Busy);
    assert!(report.wants_retry());
    assert_eq!(h.bus.calls(), 0, "nothing published");
    assert_eq!(h.row(&id).await, leased, "the other lease is untouched");

    h.clock.advance(rules::PUBLISH_LEASE - Duration::seconds(1));
    assert_eq!(h.publish(&id).await, PublishReport::Busy);

    h.clock.advance(Duration::seconds(1));
    assert_eq!(
        h.publish(&id).await,
        PublishReport::Sent,
        "an expired lease is taken over"
    );
    assert_eq!(h.row(&id).await.attempt_count, 2);
    assert_eq!(h.bus.sent().len(), 1);
}

#[tokio::test]
async fn sent_and_missing_rows_are_skipped() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    assert_eq!(h.publish(&id).await, PublishReport::Sent);
    let sent_row = h.row(&id).await;

    let report = h.publish(&id).await;
    assert_eq!(report, PublishReport::Skipped(OutboxRefusal::AlreadySent));
    assert!(!report.wants_retry());
    assert_eq!(h.row(&id).await, sent_row, "a sent row is not touched");

    let missing = submission_id(404);
    assert_eq!(
        h.publish(&missing).await,
        PublishReport::Skipped(OutboxRefusal::Missing)
    );
    assert_eq!(h.store.outbox_row(&missing).await.unwrap(), None);
    assert_eq!(h.bus.calls(), 1, "only the first publish reached the bus");
}

/// Starts a publish that hangs in the broker, lets its lease expire and has another publisher
/// send the row meanwhile; returns the stalled publish's report.
async fn publish_outliving_its_lease(h: &Harness, id: &SubmissionId, fail: bool) -> PublishReport {
    let release = h.bus.hold_next();
    let stalled = tokio::spawn({
        let publisher = h.publisher.clone();
        let id = id.clone();
        async move { publisher.publish_one(&id).await.unwrap() }
    });
    while h.bus.calls() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    h.clock.advance(rules::PUBLISH_LEASE);
    assert_eq!(h.publish(id).await, PublishReport::Sent, "taken over");
    if fail {
        h.bus.fail_next(1);
    }
    release.send(()).unwrap();
    stalled.await.unwrap()
}

#[tokio::test]
async fn a_publish_that_outlived_its_lease_does_not_overwrite_the_new_owner() {
    for fail in [false, true] {
        let h = Harness::new();
        let id = h.accept(1, SubmissionType::Delegacion).await;
        let report = publish_outliving_its_lease(&h, &id, fail).await;
        let want = if fail {
            PublishReport::FailedAfterLeaseLost
        } else {
            PublishReport::SentAfterLeaseLost
        };
        assert_eq!(report, want);
        assert!(
            !report.wants_retry(),
            "{report:?}: the row is someone else's"
        );
        let row = h.row(&id).await;
        assert_eq!(row.status, OutboxStatus::Sent, "{report:?}");
        assert_eq!(row.attempt_count, 2);
        assert_eq!(row.last_error.as_deref(), Some(""), "{report:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// sweep

#[tokio::test]
async fn the_sweep_publishes_due_rows_and_leaves_backing_off_and_leased_ones() {
    // Recent enough that no submission is stuck, old enough that new rows are due.
    let h = Harness::starting_at(wall_clock_minus(Duration::seconds(10)));
    let first = h.accept(1, SubmissionType::Delegacion).await;
    h.clock.advance(Duration::seconds(1));
    let second = h.accept(2, SubmissionType::Faculty).await;
    let backing_off = h.accept(3, SubmissionType::Delegacion).await;
    let leased = h.accept(4, SubmissionType::Delegacion).await;
    let already_sent = h.accept(5, SubmissionType::Delegacion).await;
    h.bus.fail_next(7);
    for _ in 0..7 {
        assert!(matches!(
            h.publish(&backing_off).await,
            PublishReport::Failed(_)
        ));
    }
    assert_eq!(h.publish(&already_sent).await, PublishReport::Sent);
    let leased_row = h.lease_elsewhere(&leased).await;
    let backing_off_row = h.row(&backing_off).await;
    assert_eq!(backing_off_row.attempt_count, 7, "backs off for 64 s");
    let calls_before = h.bus.calls();

    let report = h.publisher.sweep().await.unwrap();
    assert_eq!(
        report,
        SweepReport {
            due: 2,
            sent: 2,
            oldest_due_secs: report.oldest_due_secs,
            ..SweepReport::default()
        }
    );
    assert_eq!(h.bus.calls(), calls_before + 2);
    assert_eq!(
        h.bus.sent()[1..],
        [
            message_for(&first, SubmissionType::Delegacion),
            message_for(&second, SubmissionType::Faculty)
        ],
        "oldest first"
    );
    for id in [&first, &second] {
        assert_eq!(h.row(id).await.status, OutboxStatus::Sent);
    }
    assert_eq!(h.row(&backing_off).await, backing_off_row);
    assert_eq!(h.row(&leased).await, leased_row);

    let again = h.publisher.sweep().await.unwrap();
    assert_eq!(again, SweepReport::default(), "nothing left to do");
}

#[tokio::test]
async fn the_sweep_reports_how_long_its_oldest_due_row_has_waited() {
    // The outbox backlog alert (infra/modules/registro/monitoring.tf) reads this figure.
    let h = Harness::starting_at(wall_clock_minus(Duration::seconds(30)));
    h.accept(1, SubmissionType::Delegacion).await;
    h.clock.advance(Duration::seconds(20));
    h.accept(2, SubmissionType::Faculty).await;

    // The publisher runs on the wall clock: the first row was written 30 s (and a few ms) ago.
    let report = h.publisher.sweep().await.unwrap();
    assert_eq!(report.due, 2);
    assert!(
        (30..=31).contains(&report.oldest_due_secs),
        "{}",
        report.oldest_due_secs
    );
    let again = h.publisher.sweep().await.unwrap();
    assert_eq!((again.due, again.oldest_due_secs), (0, 0), "nothing due");
}

#[tokio::test]
async fn the_sweep_counts_publish_failures_and_keeps_going() {
    let h = Harness::starting_at(wall_clock_minus(Duration::seconds(10)));
    let first = h.accept(1, SubmissionType::Delegacion).await;
    let second = h.accept(2, SubmissionType::Delegacion).await;
    h.bus.fail_next(1);

    let report = h.publisher.sweep().await.unwrap();
    assert_eq!(
        report,
        SweepReport {
            due: 2,
            sent: 1,
            failed: 1,
            oldest_due_secs: report.oldest_due_secs,
            ..SweepReport::default()
        }
    );
    assert_eq!(h.row(&first).await.status, OutboxStatus::Pending);
    assert_eq!(
        h.row(&first).await.last_error.as_deref(),
        Some(format!("retryable: {BUS_ERROR}").as_str())
    );
    assert_eq!(h.row(&second).await.status, OutboxStatus::Sent);
}

#[tokio::test]
async fn the_sweep_republishes_stuck_submissions() {
    // Everything happened an hour ago: the messages were sent, but no worker finished.
    let h = Harness::starting_at(wall_clock_minus(Duration::hours(1)));
    let pending = h.accept(1, SubmissionType::Delegacion).await;
    let expired = h.accept(2, SubmissionType::Faculty).await;
    let completed = h.accept(3, SubmissionType::Delegacion).await;
    let failed = h.accept(4, SubmissionType::Delegacion).await;
    for id in [&pending, &expired, &completed, &failed] {
        assert_eq!(h.publish(id).await, PublishReport::Sent);
    }
    h.clock.advance(Duration::seconds(1));
    h.store
        .change_submission(
            &expired,
            Box::new(|s, now| worker::claim(s, "dead-worker", now, worker::DEFAULT_LEASE)),
        )
        .await
        .unwrap()
        .unwrap();
    h.store
        .set_submission_status(&completed, SubmissionStatus::Completed)
        .await
        .unwrap();
    h.store
        .set_submission_status(&failed, SubmissionStatus::Failed)
        .await
        .unwrap();
    assert_eq!(h.bus.sent().len(), 4);

    let report = h.publisher.sweep().await.unwrap();
    assert_eq!(
        report,
        SweepReport {
            due: 0,
            sent: 2,
            stuck_republished: 2,
            ..SweepReport::default()
        }
    );
    assert_eq!(
        h.bus.sent()[4..],
        [
            message_for(&pending, SubmissionType::Delegacion),
            message_for(&expired, SubmissionType::Faculty)
        ],
        "one more message for each stuck submission"
    );
    for id in [&pending, &expired] {
        let row = h.row(id).await;
        assert_eq!(row.status, OutboxStatus::Sent);
        assert_eq!(row.attempt_count, 2);
    }
    for id in [&completed, &failed] {
        assert_eq!(h.row(id).await.attempt_count, 1, "finished: left alone");
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

async fn post(h: &Harness, uri: &str, subject: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method("POST").uri(uri);
    if let Some(s) = subject {
        req = req
            .header("ce-subject", s)
            .header("ce-type", "google.cloud.firestore.document.v1.created");
    }
    let response = outbox::http::router(h.publisher.clone())
        .oneshot(req.body(Body::from(vec![0x0a, 0x01])).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

fn subject(id: &SubmissionId) -> String {
    format!("documents/inscripciones_outbox/{id}")
}

#[tokio::test]
async fn a_creation_event_publishes_the_row_and_answers_204() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    let (status, _) = post(&h, "/events/outbox", Some(&subject(&id))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h.bus.sent(), [message_for(&id, SubmissionType::Delegacion)]);
    assert_eq!(h.row(&id).await.status, OutboxStatus::Sent);

    let (status, _) = post(&h, "/events/outbox", Some(&subject(&id))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a redelivered event acks");
    assert_eq!(h.bus.sent().len(), 1, "and publishes nothing more");
}

#[tokio::test]
async fn the_row_id_may_come_from_the_ce_document_extension() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Faculty).await;
    let response = outbox::http::router(h.publisher.clone())
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/events/outbox")
                .header("ce-document", format!("inscripciones_outbox/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.bus.sent(), [message_for(&id, SubmissionType::Faculty)]);
}

#[tokio::test]
async fn an_event_without_a_usable_subject_is_dropped_with_204() {
    let h = Harness::new();
    h.accept(1, SubmissionType::Delegacion).await;
    for subject in [None, Some("documents/inscripciones_outbox/not-an-id")] {
        let (status, _) = post(&h, "/events/outbox", subject).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{subject:?}");
    }
    let (status, _) = post(&h, "/events/outbox", Some(&subject(&submission_id(404)))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a missing row acks");
    assert_eq!(h.bus.calls(), 0, "nothing published");
}

#[tokio::test]
async fn an_event_whose_publish_fails_answers_503_so_eventarc_retries() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.bus.fail_next(1);
    let (status, _) = post(&h, "/events/outbox", Some(&subject(&id))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let row = h.row(&id).await;
    assert_eq!(row.status, OutboxStatus::Pending);
    assert!(row.last_error.unwrap().contains(BUS_ERROR));

    let (status, _) = post(&h, "/events/outbox", Some(&subject(&id))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "the retry publishes");
    assert_eq!(h.bus.sent().len(), 1);
}

#[tokio::test]
async fn an_event_for_a_row_leased_elsewhere_answers_503() {
    let h = Harness::new();
    let id = h.accept(1, SubmissionType::Delegacion).await;
    h.lease_elsewhere(&id).await;
    let (status, _) = post(&h, "/events/outbox", Some(&subject(&id))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h.bus.calls(), 0);
}

#[tokio::test]
async fn the_sweep_endpoint_answers_its_report_as_json() {
    let h = Harness::starting_at(wall_clock_minus(Duration::seconds(10)));
    let id = h.accept(1, SubmissionType::Delegacion).await;
    let (status, body) = post(&h, "/sweep", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let waited = report["oldest_due_secs"].take().as_u64().unwrap();
    assert!((10..=11).contains(&waited), "{waited}");
    assert_eq!(
        report,
        serde_json::json!({
            "due": 1, "sent": 1, "failed": 0, "busy": 0, "stuck_republished": 0, "errors": 0,
            "oldest_due_secs": null
        })
    );
    assert_eq!(h.bus.sent(), [message_for(&id, SubmissionType::Delegacion)]);
}

#[tokio::test]
async fn the_sweep_recreates_the_outbox_row_of_a_stuck_submission_whose_row_expired() {
    // Firestore deletes sent rows after their TTL; the submission can still get stuck later.
    let h = Harness::starting_at(wall_clock_minus(Duration::hours(1)));
    let id = h.accept(1, SubmissionType::Delegacion).await;
    assert_eq!(h.publish(&id).await, PublishReport::Sent);
    let db = rusqlite::Connection::open(h.store.path()).unwrap();
    assert_eq!(
        db.execute("DELETE FROM outbox WHERE id = ?1", [id.as_str()])
            .unwrap(),
        1
    );

    let report = h.publisher.sweep().await.unwrap();
    assert_eq!(report.stuck_republished, 1, "{report:?}");
    assert_eq!(report.sent, 1);
    assert_eq!(h.row(&id).await.status, OutboxStatus::Sent);
    assert_eq!(
        h.bus.sent().len(),
        2,
        "the original message and the re-published one"
    );
}
