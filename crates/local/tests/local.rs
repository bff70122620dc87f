//! The embedded backend against the shared port contracts, plus what only it has: group
//! commit, reopening the file, operator queries and the orphan sweeper; and the embedded side
//! effects (CSV sheet, file mailer, in-process bus) in the modules below, each also against
//! its side-effect contract (`contract_*`).

#[path = "local/bus.rs"]
mod bus;
#[path = "local/contract_bus.rs"]
mod contract_bus;
#[path = "local/contract_mailer.rs"]
mod contract_mailer;
#[path = "local/contract_sheet.rs"]
mod contract_sheet;
#[path = "local/mailer.rs"]
mod mailer;
#[path = "local/sheet.rs"]
mod sheet;
#[path = "local/sheet_edits.rs"]
mod sheet_edits;

use chrono::{DateTime, Duration, Utc};
use domain::idempotency::{Accept, Answer};
use domain::ports::{AcceptOutcome, Acceptance, BlobError, Blobs, Clock, Store, StoreError};
use domain::receipt::object_name;
use domain::{SubmissionId, SubmissionStatus, SubmissionType};
use futures_util::future::{BoxFuture, join_all};
use local::{BLOBS_DIR, DB_FILE, FsBlobs, LocalError, SqliteStore};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::time::SystemTime;
use testkit::clock::{ManualClock, SystemClock};
use testkit::contract::{
    self, BlobsUnderTest, PipelineUnderTest, SAMPLE_PDF, StoreUnderTest, sample_acceptance,
    sha256_hex, submission_id,
};

// ---------------------------------------------------------------------------------------------
// Factories for the contract suites

async fn make_store(clock: Arc<ManualClock>) -> StoreUnderTest {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join(DB_FILE), clock).expect("open store"));
    let for_records = Arc::clone(&store);
    let for_status = Arc::clone(&store);
    StoreUnderTest {
        store,
        seed_record: Box::new(move |record_id, record| {
            let store = Arc::clone(&for_records);
            let record_id = record_id.to_owned();
            Box::pin(async move {
                store
                    .put_idempotency_record(&record_id, record)
                    .await
                    .expect("seed record");
            })
        }),
        seed_submission_status: Box::new(move |id, status| {
            let store = Arc::clone(&for_status);
            let id = id.clone();
            Box::pin(async move {
                assert!(
                    store
                        .set_submission_status(&id, status)
                        .await
                        .expect("seed status"),
                    "seeded submission exists"
                );
            })
        }),
        keep_alive: Some(Box::new(dir)),
    }
}

async fn make_pipeline_store(clock: Arc<ManualClock>) -> PipelineUnderTest {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join(DB_FILE), clock).expect("open store");
    PipelineUnderTest {
        store: Arc::new(store),
        keep_alive: Some(Box::new(dir)),
    }
}

async fn make_blobs() -> BlobsUnderTest {
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs = FsBlobs::new(dir.path().join(BLOBS_DIR)).expect("open blobs");
    BlobsUnderTest {
        blobs: Arc::new(blobs),
        keep_alive: Some(Box::new(dir)),
    }
}

mod store_contract {
    use super::*;

    #[tokio::test]
    async fn reads_of_missing_documents_return_none() {
        contract::reads_of_missing_documents_return_none(make_store).await;
    }

    #[tokio::test]
    async fn accept_on_an_empty_record_commits_the_three_documents() {
        contract::accept_on_an_empty_record_commits_the_three_documents(make_store).await;
    }

    #[tokio::test]
    async fn a_duplicate_with_the_same_payload_replays_and_writes_nothing() {
        contract::a_duplicate_with_the_same_payload_replays_and_writes_nothing(make_store).await;
    }

    #[tokio::test]
    async fn a_different_payload_under_the_same_key_conflicts() {
        contract::a_different_payload_under_the_same_key_conflicts(make_store).await;
    }

    #[tokio::test]
    async fn a_fresh_claim_of_the_older_system_is_in_progress() {
        contract::a_fresh_claim_of_the_older_system_is_in_progress(make_store).await;
    }

    #[tokio::test]
    async fn a_stale_claim_is_taken_over_keeping_its_creation_time() {
        contract::a_stale_claim_is_taken_over_keeping_its_creation_time(make_store).await;
    }

    #[tokio::test]
    async fn a_failed_submission_under_an_explicit_key_asks_for_a_new_key() {
        contract::a_failed_submission_under_an_explicit_key_asks_for_a_new_key(make_store).await;
    }

    #[tokio::test]
    async fn a_failed_submission_under_the_fallback_key_reopens_with_a_new_id() {
        contract::a_failed_submission_under_the_fallback_key_reopens_with_a_new_id(make_store)
            .await;
    }

    #[tokio::test]
    async fn concurrent_duplicates_are_accepted_exactly_once() {
        contract::concurrent_duplicates_are_accepted_exactly_once(make_store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_distinct_submissions_are_all_accepted() {
        contract::concurrent_distinct_submissions_are_all_accepted(make_store).await;
    }

    #[tokio::test]
    async fn the_whole_suite_passes_in_sequence() {
        contract::store_contract(make_store).await;
    }
}

mod pipeline_contract {
    use super::*;

    #[tokio::test]
    async fn change_submission_writes_only_on_ok_and_returns_the_refusal_otherwise() {
        contract::change_submission_writes_only_on_ok_and_returns_the_refusal_otherwise(
            make_pipeline_store,
        )
        .await;
    }

    #[tokio::test]
    async fn change_outbox_writes_only_on_ok_and_returns_the_refusal_otherwise() {
        contract::change_outbox_writes_only_on_ok_and_returns_the_refusal_otherwise(
            make_pipeline_store,
        )
        .await;
    }

    #[tokio::test]
    async fn the_transactions_now_is_the_clocks() {
        contract::the_transactions_now_is_the_clocks(make_pipeline_store).await;
    }

    #[tokio::test]
    async fn due_outbox_returns_what_the_sweep_should_publish_oldest_first() {
        contract::due_outbox_returns_what_the_sweep_should_publish_oldest_first(
            make_pipeline_store,
        )
        .await;
    }

    #[tokio::test]
    async fn stuck_submissions_are_the_pending_and_expired_ones_past_the_deadline() {
        contract::stuck_submissions_are_the_pending_and_expired_ones_past_the_deadline(
            make_pipeline_store,
        )
        .await;
    }

    #[tokio::test]
    async fn list_submissions_filters_by_status_oldest_first() {
        contract::list_submissions_filters_by_status_oldest_first(make_pipeline_store).await;
    }

    #[tokio::test]
    async fn list_submissions_pages_with_a_cursor_through_ties() {
        contract::list_submissions_pages_with_a_cursor_through_ties(make_pipeline_store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_claims_of_one_submission_have_exactly_one_winner() {
        contract::concurrent_claims_of_one_submission_have_exactly_one_winner(make_pipeline_store)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_claims_of_one_outbox_row_have_exactly_one_winner() {
        contract::concurrent_claims_of_one_outbox_row_have_exactly_one_winner(make_pipeline_store)
            .await;
    }

    #[tokio::test]
    async fn the_whole_suite_passes_in_sequence() {
        contract::pipeline_contract(make_pipeline_store).await;
    }
}

mod blobs_contract {
    use super::*;

    #[tokio::test]
    async fn put_new_then_get_returns_the_bytes() {
        contract::put_new_then_get_returns_the_bytes(make_blobs).await;
    }

    #[tokio::test]
    async fn getting_a_missing_object_is_not_found() {
        contract::getting_a_missing_object_is_not_found(make_blobs).await;
    }

    #[tokio::test]
    async fn put_new_never_overwrites() {
        contract::put_new_never_overwrites(make_blobs).await;
    }

    #[tokio::test]
    async fn a_wrong_checksum_is_refused_and_nothing_is_stored() {
        contract::a_wrong_checksum_is_refused_and_nothing_is_stored(make_blobs).await;
    }

    #[tokio::test]
    async fn delete_is_idempotent() {
        contract::delete_is_idempotent(make_blobs).await;
    }

    #[tokio::test]
    async fn list_returns_the_objects_under_a_prefix() {
        contract::list_returns_the_objects_under_a_prefix(make_blobs).await;
    }

    #[tokio::test]
    async fn list_goes_page_by_page_in_name_order_after_a_cursor() {
        contract::list_goes_page_by_page_in_name_order_after_a_cursor(make_blobs).await;
    }

    #[tokio::test]
    async fn both_suites_pass_through_run_all() {
        contract::run_all(make_store, make_blobs).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Group commit

/// A clock that can hold the writer thread inside a batch: its read at the start of the next
/// batch blocks until released, so everything queued meanwhile lands in one later batch. Each
/// reading is `base + n` seconds, `n` counting readings, which tells batches apart.
struct GateClock {
    base: DateTime<Utc>,
    readings: AtomicI64,
    gate: Mutex<Option<mpsc::Receiver<()>>>,
    holding: AtomicBool,
}

impl GateClock {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            base: ManualClock::reference_start(),
            readings: AtomicI64::new(0),
            gate: Mutex::new(None),
            holding: AtomicBool::new(false),
        })
    }

    fn hold_next_batch(&self) -> mpsc::Sender<()> {
        let (release, gate) = mpsc::channel();
        *self.gate.lock().unwrap() = Some(gate);
        release
    }

    fn batch_time(&self, reading: i64) -> DateTime<Utc> {
        self.base + Duration::seconds(reading)
    }
}

impl Clock for GateClock {
    fn now(&self) -> DateTime<Utc> {
        let n = self.readings.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            self.holding.store(true, Ordering::SeqCst);
            let _ = gate.recv();
            self.holding.store(false, Ordering::SeqCst);
        }
        self.batch_time(n)
    }
}

fn gated_store() -> (Arc<SqliteStore>, Arc<GateClock>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let clock = GateClock::new();
    let store = SqliteStore::open(&dir.path().join(DB_FILE), clock.clone()).unwrap();
    (Arc::new(store), clock, dir)
}

fn delegacion(key: &str, n: u32) -> Acceptance {
    sample_acceptance(
        SubmissionType::Delegacion,
        key,
        key,
        true,
        &submission_id(n),
    )
}

/// Runs `accepts` as ONE batch: a blocker acceptance holds the writer in the batch before,
/// every accept is queued (polled once), then the writer is let go. Returns the outcomes in
/// order and the clock reading of their batch.
async fn accept_in_one_batch(
    store: &Arc<SqliteStore>,
    clock: &GateClock,
    blocker: u32,
    accepts: Vec<Acceptance>,
) -> (Vec<Result<AcceptOutcome, StoreError>>, DateTime<Utc>) {
    let release = clock.hold_next_batch();
    let held = clock.readings.load(Ordering::SeqCst);
    let blocker = tokio::spawn({
        let store = Arc::clone(store);
        async move {
            store
                .accept(delegacion(&format!("blocker-{blocker}"), blocker))
                .await
        }
    });
    while !clock.holding.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }

    let mut futures: Vec<BoxFuture<'_, _>> = accepts.into_iter().map(|a| store.accept(a)).collect();
    let mut cx = Context::from_waker(std::task::Waker::noop());
    for f in &mut futures {
        assert!(
            matches!(f.as_mut().poll(&mut cx), Poll::Pending),
            "queued behind the held batch"
        );
    }
    release.send(()).unwrap();
    let outcomes = join_all(futures).await;
    blocker.await.unwrap().expect("blocker accepted");
    (outcomes, clock.batch_time(held + 1))
}

#[tokio::test]
async fn sixty_four_concurrent_duplicates_in_one_batch_are_accepted_exactly_once() {
    let (store, clock, _dir) = gated_store();
    let accepts: Vec<Acceptance> = (1..=64).map(|n| delegacion("same-key", n)).collect();
    let (outcomes, batch_time) = accept_in_one_batch(&store, &clock, 1000, accepts).await;

    let first = submission_id(1);
    assert_eq!(
        outcomes[0].as_ref().unwrap(),
        &AcceptOutcome::Accepted {
            submission_id: first.clone(),
            decision: Accept::Commit
        },
        "the first queued duplicate commits"
    );
    for o in &outcomes[1..] {
        assert_eq!(
            o.as_ref().unwrap(),
            &AcceptOutcome::NotWritten(Answer::Replay {
                submission_id: first.clone()
            })
        );
    }
    let s = store.submission(&first).await.unwrap().unwrap();
    assert_eq!(
        s.created_at, batch_time,
        "committed by the batch after the held one"
    );
    for n in 2..=64 {
        assert!(!store.submission_exists(&submission_id(n)).await.unwrap());
    }
    assert_eq!(
        store.count_submissions().await.unwrap(),
        2,
        "winner + blocker"
    );
}

#[tokio::test]
async fn sixty_four_distinct_submissions_in_one_batch_are_all_accepted_by_one_commit() {
    let (store, clock, _dir) = gated_store();
    let accepts: Vec<Acceptance> = (1..=64)
        .map(|n| delegacion(&format!("key-{n}"), n))
        .collect();
    let (outcomes, batch_time) = accept_in_one_batch(&store, &clock, 1000, accepts).await;

    for (n, o) in (1..=64).zip(&outcomes) {
        assert_eq!(
            o.as_ref().unwrap(),
            &AcceptOutcome::Accepted {
                submission_id: submission_id(n),
                decision: Accept::Commit
            }
        );
        let s = store.submission(&submission_id(n)).await.unwrap().unwrap();
        assert_eq!(s.created_at, batch_time, "one transaction, one timestamp");
        assert!(store.outbox_row(&submission_id(n)).await.unwrap().is_some());
    }
    assert_eq!(store.count_submissions().await.unwrap(), 65);
}

#[tokio::test]
async fn a_failed_job_does_not_roll_back_the_rest_of_its_batch() {
    let (store, clock, _dir) = gated_store();
    let taken = submission_id(1);
    store.accept(delegacion("k0", 1)).await.unwrap();

    // The middle job reuses an existing submission id: its INSERT violates the primary key.
    let accepts = vec![
        delegacion("k1", 2),
        delegacion("k2", 1),
        delegacion("k3", 3),
    ];
    let (outcomes, batch_time) = accept_in_one_batch(&store, &clock, 1000, accepts).await;

    assert!(matches!(outcomes[0], Ok(AcceptOutcome::Accepted { .. })));
    assert!(
        matches!(outcomes[1], Err(StoreError::Permanent(_))),
        "constraint violation is permanent: {:?}",
        outcomes[1]
    );
    assert!(matches!(outcomes[2], Ok(AcceptOutcome::Accepted { .. })));
    for n in [2, 3] {
        let s = store.submission(&submission_id(n)).await.unwrap().unwrap();
        assert_eq!(s.created_at, batch_time, "same batch as the failed job");
    }
    assert_eq!(
        store.idempotency_record("delegacion:k2").await.unwrap(),
        None,
        "the failed job's writes were rolled back to its savepoint"
    );
    let original = store.submission(&taken).await.unwrap().unwrap();
    assert_eq!(
        original.idempotency_key, "k0",
        "the existing submission is untouched"
    );
    assert_eq!(store.count_submissions().await.unwrap(), 4);
}

// ---------------------------------------------------------------------------------------------
// The database file

#[tokio::test]
async fn reopening_the_database_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join(DB_FILE);
    let clock = Arc::new(ManualClock::default());
    let a = delegacion("key", 1);
    {
        let store = SqliteStore::open(&path, clock.clone()).unwrap();
        store.accept(a.clone()).await.unwrap();
    }
    let store = SqliteStore::open(&path, clock.clone()).unwrap();
    let s = store.submission(&submission_id(1)).await.unwrap().unwrap();
    assert_eq!(s.data, a.submission.data);
    assert!(store.outbox_row(&submission_id(1)).await.unwrap().is_some());
    assert_eq!(
        store.accept(delegacion("key", 2)).await.unwrap(),
        AcceptOutcome::NotWritten(Answer::Replay {
            submission_id: submission_id(1)
        }),
        "the idempotency record survived"
    );
    assert_eq!(store.count_submissions().await.unwrap(), 1);
}

#[tokio::test]
async fn the_database_is_in_wal_mode_with_a_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let _store = SqliteStore::open(&path, Arc::new(SystemClock)).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(version, local::SCHEMA_VERSION);
}

#[tokio::test]
async fn a_database_written_by_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    drop(SqliteStore::open(&path, Arc::new(SystemClock)).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    match SqliteStore::open(&path, Arc::new(SystemClock)) {
        Err(LocalError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn operator_queries_count_list_and_check_submissions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let store = SqliteStore::open(&dir.path().join(DB_FILE), clock.clone()).unwrap();
    for n in 1..=3 {
        store.accept(delegacion(&format!("k{n}"), n)).await.unwrap();
        clock.advance(Duration::seconds(1));
    }
    assert!(
        store
            .set_submission_status(&submission_id(2), SubmissionStatus::Failed)
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_submission_status(&submission_id(9), SubmissionStatus::Failed)
            .await
            .unwrap()
    );

    assert_eq!(store.count_submissions().await.unwrap(), 3);
    assert!(store.submission_exists(&submission_id(3)).await.unwrap());
    assert!(!store.submission_exists(&submission_id(4)).await.unwrap());

    let ids = |v: Vec<domain::Submission>| -> Vec<SubmissionId> {
        v.into_iter().map(|s| s.submission_id).collect()
    };
    assert_eq!(
        ids(store.list_submissions(None, None, 2).await.unwrap()),
        [submission_id(1), submission_id(2)],
        "oldest first"
    );
    assert_eq!(
        ids(store
            .list_submissions(Some(SubmissionStatus::Failed), None, 10)
            .await
            .unwrap()),
        [submission_id(2)]
    );
    assert_eq!(
        ids(store
            .list_submissions(Some(SubmissionStatus::Pending), None, 10)
            .await
            .unwrap()),
        [submission_id(1), submission_id(3)]
    );
}

// ---------------------------------------------------------------------------------------------
// Blobs and the sweeper

#[tokio::test]
async fn object_names_that_could_escape_the_root_are_refused() {
    let sut = make_blobs().await;
    let blobs = sut.blobs.as_ref();
    let sha = sha256_hex(SAMPLE_PDF);
    for name in [
        "",
        "/etc/passwd",
        "uploads/../../x.pdf",
        "uploads//x.pdf",
        "uploads\\x.pdf",
        "uploads/./x.pdf",
        "uploads/.x.pdf.tmp-1",
        "uploads/x/",
    ] {
        assert!(
            matches!(
                blobs
                    .put_new(name, SAMPLE_PDF, "application/pdf", &sha)
                    .await,
                Err(BlobError::Permanent(_))
            ),
            "put_new {name:?}"
        );
        assert!(
            matches!(blobs.get(name).await, Err(BlobError::Permanent(_))),
            "get {name:?}"
        );
        assert!(
            matches!(blobs.delete(name).await, Err(BlobError::Permanent(_))),
            "delete {name:?}"
        );
    }
    assert!(matches!(
        blobs.list("uploads/../", None, 10).await,
        Err(BlobError::Permanent(_))
    ));
}

fn backdate(path: &std::path::Path, by: std::time::Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

#[tokio::test]
async fn stale_temporary_files_are_removed_and_never_listed() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobs::new(dir.path().join(BLOBS_DIR)).unwrap();
    let kept = object_name(SubmissionType::Delegacion, &submission_id(1), ".pdf");
    blobs
        .put_new(
            &kept,
            SAMPLE_PDF,
            "application/pdf",
            &sha256_hex(SAMPLE_PDF),
        )
        .await
        .unwrap();
    let uploads = blobs.root().join("uploads").join("delegaciones");
    let old_temp = uploads.join(".AAAAAAAAAAAAAAAAAAAA.pdf.tmp-00000000deadbeef");
    let young_temp = uploads.join(".BBBBBBBBBBBBBBBBBBBB.pdf.tmp-00000000cafebabe");
    std::fs::write(&old_temp, b"partial").unwrap();
    std::fs::write(&young_temp, b"partial").unwrap();
    let hour = std::time::Duration::from_secs(3600);
    backdate(&old_temp, hour);
    backdate(&blobs.root().join(&kept), hour);
    let listed: Vec<String> = blobs
        .list("uploads/", None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(
        listed,
        std::slice::from_ref(&kept),
        "temporary files are never listed"
    );

    let removed = blobs
        .remove_stale_temp_files("uploads/", Utc::now(), Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(!old_temp.exists());
    assert!(young_temp.exists());
    // At startup no write is in flight: a zero grace takes the young one too.
    let removed = blobs
        .remove_stale_temp_files("uploads/", Utc::now(), Duration::zero())
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(!young_temp.exists());
    assert_eq!(
        blobs.get(&kept).await.unwrap(),
        SAMPLE_PDF,
        "objects are untouched"
    );
}

#[tokio::test]
async fn an_unreadable_row_does_not_stop_the_sweep_queries_for_the_others() {
    use domain::ports::PipelineStore;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(ManualClock::reference_start()));
    let store = SqliteStore::open(&dir.path().join(DB_FILE), clock.clone()).unwrap();
    let good = testkit::contract::accept_sample(&store, 1, SubmissionType::Delegacion).await;
    let bad = testkit::contract::accept_sample(&store, 2, SubmissionType::Faculty).await;
    let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    for table in ["submissions", "outbox"] {
        let n = db
            .execute(
                &format!("UPDATE {table} SET doc = json_set(doc, '$.type', 'alien', '$.submission_type', 'alien') WHERE id = ?1"),
                [bad.as_str()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let later = clock.advance(Duration::hours(1));
    let due = store.due_outbox(later, 10).await.unwrap();
    let due: Vec<&SubmissionId> = due.iter().map(|r| &r.submission_id).collect();
    assert_eq!(due, [&good]);
    let stuck = store.stuck_submissions(later, 10).await.unwrap();
    let stuck: Vec<&SubmissionId> = stuck.iter().map(|s| &s.submission_id).collect();
    assert_eq!(stuck, [&good]);
}
