//! Port contract suites: what every [`Store`], [`PipelineStore`] and [`Blobs`] implementation
//! must do, written against the port traits only, so the embedded backend and the cloud
//! backends (Firestore, GCS, on their emulators) are held to the same behaviour.
//!
//! A backend supplies a factory that builds a fresh, empty instance driven by a
//! [`ManualClock`], plus the seeding the checks need but the port deliberately lacks (records
//! left by the older system, a submission that failed). Each check is a `pub async fn`, so a
//! backend can run them as separate tests; [`store_contract`], [`pipeline_contract`],
//! [`blobs_contract`] and [`run_all`] run them in sequence. The pipeline checks need no seeding
//! hooks: `accept` creates documents and the `change_*` transitions can write any state.
//!
//! ```ignore
//! #[tokio::test]
//! async fn a_stale_claim_is_taken_over() {
//!     contract::a_stale_claim_is_taken_over_keeping_its_creation_time(make_store).await;
//! }
//! ```

use crate::clock::ManualClock;
use chrono::{DateTime, Duration, Utc};
use domain::idempotency::{Decision, NewRecord, committed_record};
use domain::model::{
    ComiteChoice, DelegacionData, DelegacionOficial, FacultyData, FacultyPerson, FacultyRow,
    Participante, ReceiptMeta, SubmissionData, WorkerFields,
};
use domain::outbox::{self, OutboxRefusal, Published};
use domain::ports::{AcceptOutcome, Acceptance, BlobError, Blobs, Clock, PipelineStore, Store};
use domain::receipt::object_name;
use domain::worker::{self, WorkerRefusal};
use domain::{
    IdempotencyRecord, IdempotencyStatus, OutboxRow, OutboxStatus, Submission, SubmissionId,
    SubmissionStatus, SubmissionType,
};
use futures_util::future::{BoxFuture, join_all};
use sha2::{Digest, Sha256};
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

/// A fresh, empty blob store (an empty directory or bucket).
pub struct BlobsUnderTest {
    pub blobs: Arc<dyn Blobs>,
    /// Dropped last, as in [`StoreUnderTest`].
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

/// Builds a [`BlobsUnderTest`]. Implemented by every `Fn() -> impl Future<Output = BlobsUnderTest>`.
pub trait MakeBlobs {
    fn make(&self) -> impl Future<Output = BlobsUnderTest>;
}

impl<F, Fut> MakeBlobs for F
where
    F: Fn() -> Fut,
    Fut: Future<Output = BlobsUnderTest>,
{
    fn make(&self) -> impl Future<Output = BlobsUnderTest> {
        self()
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A valid, distinct submission id per `n`: `T` followed by `n` in 19 digits.
pub fn submission_id(n: u32) -> SubmissionId {
    SubmissionId::parse(&format!("T{n:019}")).expect("20 alphanumerics")
}

/// A complete submission of `submission_type` as the API would build it. Timestamps are
/// placeholders (the store stamps them); the status is `pending`.
pub fn sample_submission(id: &SubmissionId, submission_type: SubmissionType) -> Submission {
    let data = match submission_type {
        SubmissionType::Delegacion => SubmissionData::Delegacion(DelegacionData {
            modalidad: "individual".into(),
            delegacion_oficial: DelegacionOficial {
                is_oficial: true,
                nombre: "Colegio Ejemplo".into(),
                responsable: "Laura Pérez".into(),
            },
            participantes: vec![Participante {
                nombre: "Ana".into(),
                apellido: "García Núñez".into(),
                edad: 17,
                celular: "5512345678".into(),
                correo: "ana@example.com".into(),
                pais: "México".into(),
                ciudad_estado: "CDMX".into(),
                escolaridad: "Preparatoria".into(),
                escuela: "Colegio Ejemplo".into(),
                contacto_emergencia: "Rosa (Madre): 5587654321".into(),
                info_extra: None,
            }],
            comites: vec![ComiteChoice {
                nombre: "SOCHUM".into(),
                opciones: vec![Some("Francia".into()), Some("Japón".into()), None],
            }],
        }),
        SubmissionType::Faculty => SubmissionData::Faculty(FacultyData {
            institucion: "Escuela Modelo".into(),
            faculty: FacultyPerson {
                nombre: "Jorge".into(),
                apellido: "Ramírez".into(),
                celular: "5511112222".into(),
                correo: "jorge@example.com".into(),
                ciudad_estado: "Puebla".into(),
                pais: "México".into(),
            },
            numero_delegaciones: 1,
            delegaciones: vec![FacultyRow {
                nombre: "Luis".into(),
                apellido: "Soto".into(),
                edad: Some(16),
                celular: "5533334444".into(),
                correo: "luis@example.com".into(),
                pais: "México".into(),
                ciudad_estado: "Puebla".into(),
                escolaridad: "Secundaria".into(),
                escuela: "Escuela Modelo".into(),
            }],
        }),
    };
    Submission {
        submission_id: id.clone(),
        submission_type,
        status: SubmissionStatus::Pending,
        created_at: DateTime::UNIX_EPOCH,
        updated_at: DateTime::UNIX_EPOCH,
        file_path: object_name(submission_type, id, ".pdf"),
        request_id: format!("req-{id}"),
        idempotency_key: "key".into(),
        data,
        receipt: Some(ReceiptMeta {
            content_type: "application/pdf".into(),
            extension: ".pdf".into(),
            size_bytes: SAMPLE_PDF.len() as u64,
            sha256: sha256_hex(SAMPLE_PDF),
        }),
        worker: WorkerFields::default(),
    }
}

/// The acceptance of a new submission `id` under `key` with payload `fingerprint`.
pub fn sample_acceptance(
    submission_type: SubmissionType,
    key: &str,
    fingerprint: &str,
    explicit_key: bool,
    id: &SubmissionId,
) -> Acceptance {
    let mut submission = sample_submission(id, submission_type);
    submission.idempotency_key = key.to_owned();
    Acceptance {
        record_id: IdempotencyRecord::doc_id(submission_type, key),
        effective_key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        explicit_key,
        owner_token: format!("owner-{id}"),
        submission,
    }
}

/// A `claimed` record as the older system leaves it while it uploads.
pub fn claimed_record(
    submission_type: SubmissionType,
    key: &str,
    fingerprint: &str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> IdempotencyRecord {
    IdempotencyRecord {
        submission_type,
        idempotency_key: key.to_owned(),
        payload_hash: fingerprint.to_owned(),
        request_id: "older-system-request".into(),
        status: IdempotencyStatus::Claimed,
        submission_id: None,
        created_at,
        updated_at: Some(updated_at),
        owner_token: None,
        expires_at: None,
    }
}

/// A minimal PDF (passes the receipt's magic-byte check).
pub const SAMPLE_PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
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

// ---------------------------------------------------------------------------------------------
// Store checks

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
                decision: Decision::Commit
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
            AcceptOutcome::NotWritten(Decision::Replay {
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
        AcceptOutcome::NotWritten(Decision::Conflict {
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
        AcceptOutcome::NotWritten(Decision::InProgress)
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
            decision: Decision::TakeOver
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
        AcceptOutcome::NotWritten(Decision::RetryWithNewKey {
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
            decision: Decision::Reopen {
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
                decision: Decision::Commit,
            }) => Some(submission_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one accepted: {outcomes:?}");
    let winner = &winners[0];
    for o in &outcomes {
        match o {
            Ok(AcceptOutcome::Accepted { submission_id, .. }) => assert_eq!(submission_id, winner),
            Ok(AcceptOutcome::NotWritten(Decision::Replay { submission_id })) => {
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
                decision: Decision::Commit
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

// ---------------------------------------------------------------------------------------------
// Blob checks

fn receipt_name(n: u32, ty: SubmissionType) -> String {
    object_name(ty, &submission_id(n), ".pdf")
}

async fn put(blobs: &dyn Blobs, name: &str, bytes: &[u8]) -> Result<(), BlobError> {
    blobs
        .put_new(name, bytes, "application/pdf", &sha256_hex(bytes))
        .await
}

pub async fn put_new_then_get_returns_the_bytes(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let name = receipt_name(1, SubmissionType::Delegacion);
    put(blobs, &name, SAMPLE_PDF).await.expect("put_new");
    assert_eq!(blobs.get(&name).await.expect("get"), SAMPLE_PDF);
}

pub async fn getting_a_missing_object_is_not_found(make: impl MakeBlobs) {
    let sut = make.make().await;
    let name = receipt_name(404, SubmissionType::Faculty);
    assert!(matches!(
        sut.blobs.get(&name).await,
        Err(BlobError::NotFound)
    ));
}

pub async fn put_new_never_overwrites(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let name = receipt_name(1, SubmissionType::Delegacion);
    put(blobs, &name, SAMPLE_PDF).await.expect("first put_new");
    let other = b"%PDF-1.7\nsomething else\n%%EOF\n";
    assert!(matches!(
        put(blobs, &name, other).await,
        Err(BlobError::AlreadyExists)
    ));
    assert_eq!(
        blobs.get(&name).await.expect("get"),
        SAMPLE_PDF,
        "first bytes kept"
    );
}

pub async fn a_wrong_checksum_is_refused_and_nothing_is_stored(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let name = receipt_name(1, SubmissionType::Delegacion);
    let wrong = sha256_hex(b"not these bytes");
    let result = blobs
        .put_new(&name, SAMPLE_PDF, "application/pdf", &wrong)
        .await;
    assert!(
        matches!(
            result,
            Err(BlobError::Permanent(_) | BlobError::Unavailable(_))
        ),
        "wrong checksum must fail, got {result:?}"
    );
    assert!(matches!(blobs.get(&name).await, Err(BlobError::NotFound)));
    assert!(
        blobs.list("uploads/").await.expect("list").is_empty(),
        "nothing listed"
    );
    put(blobs, &name, SAMPLE_PDF)
        .await
        .expect("the name is still free");
}

pub async fn delete_is_idempotent(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let name = receipt_name(1, SubmissionType::Faculty);
    put(blobs, &name, SAMPLE_PDF).await.expect("put_new");
    blobs.delete(&name).await.expect("delete");
    assert!(matches!(blobs.get(&name).await, Err(BlobError::NotFound)));
    blobs.delete(&name).await.expect("delete again");
    blobs
        .delete(&receipt_name(2, SubmissionType::Faculty))
        .await
        .expect("delete of a never-written object");
    put(blobs, &name, SAMPLE_PDF)
        .await
        .expect("a deleted name can be written again");
}

pub async fn list_returns_the_objects_under_a_prefix(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let d1 = receipt_name(1, SubmissionType::Delegacion);
    let d2 = receipt_name(2, SubmissionType::Delegacion);
    let f1 = receipt_name(3, SubmissionType::Faculty);
    let big = [SAMPLE_PDF, &[b' '; 1000][..]].concat();
    put(blobs, &d1, SAMPLE_PDF).await.expect("put");
    put(blobs, &d2, &big).await.expect("put");
    put(blobs, &f1, SAMPLE_PDF).await.expect("put");

    let mut delegaciones = blobs.list("uploads/delegaciones/").await.expect("list");
    delegaciones.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = delegaciones.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, [d1.as_str(), d2.as_str()]);
    assert_eq!(delegaciones[0].size, SAMPLE_PDF.len() as u64);
    assert_eq!(delegaciones[1].size, big.len() as u64);
    let age = Utc::now() - delegaciones[0].created_at;
    assert!(
        age.abs() < Duration::hours(1),
        "created_at is the write time, got {}",
        delegaciones[0].created_at
    );

    let mut all: Vec<String> = blobs
        .list("uploads/")
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.name)
        .collect();
    all.sort();
    assert_eq!(all, [d1, d2, f1]);
    assert!(blobs.list("other/").await.expect("list").is_empty());
}

/// Every blob check, in sequence, each on a fresh blob store.
pub async fn blobs_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = BlobsUnderTest>,
{
    put_new_then_get_returns_the_bytes(&make).await;
    getting_a_missing_object_is_not_found(&make).await;
    put_new_never_overwrites(&make).await;
    a_wrong_checksum_is_refused_and_nothing_is_stored(&make).await;
    delete_is_idempotent(&make).await;
    list_returns_the_objects_under_a_prefix(&make).await;
}

/// Both suites.
pub async fn run_all<S, SFut, B, BFut>(make_store: S, make_blobs: B)
where
    S: Fn(Arc<ManualClock>) -> SFut,
    SFut: Future<Output = StoreUnderTest>,
    B: Fn() -> BFut,
    BFut: Future<Output = BlobsUnderTest>,
{
    store_contract(make_store).await;
    blobs_contract(make_blobs).await;
}

/// Accepts sample submission `n` of type `ty` through `store` the way the API does (submission,
/// committed record and pending outbox row), with key and fingerprint `key-<n>`.
pub async fn accept_sample(store: &dyn Store, n: u32, ty: SubmissionType) -> SubmissionId {
    let id = submission_id(n);
    let key = format!("key-{n}");
    store
        .accept(sample_acceptance(ty, &key, &key, true, &id))
        .await
        .expect("accept");
    id
}

// ---------------------------------------------------------------------------------------------
// Pipeline store checks

/// A fresh, empty [`PipelineStore`], as [`StoreUnderTest`] is for [`Store`]. Its documents are
/// seeded through the port itself: `accept` creates them and `change_*` can write any state.
pub struct PipelineUnderTest {
    pub store: Arc<dyn PipelineStore>,
    /// Dropped last, as in [`StoreUnderTest`].
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

async fn setup_pipeline(make: &impl MakePipelineStore) -> (PipelineUnderTest, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let sut = make.make(Arc::clone(&clock)).await;
    (sut, clock)
}

/// Accepts a new delegación `n` (key `key-<n>`) at the clock's current time.
async fn seed_accepted(store: &dyn PipelineStore, n: u32) -> SubmissionId {
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

async fn read_submission(store: &dyn PipelineStore, id: &SubmissionId) -> Submission {
    store
        .submission(id)
        .await
        .expect("read submission")
        .expect("submission exists")
}

async fn read_outbox(store: &dyn PipelineStore, id: &SubmissionId) -> OutboxRow {
    store
        .outbox_row(id)
        .await
        .expect("read outbox")
        .expect("outbox row exists")
}

/// Writes `edit(current)` as the submission, whatever the transaction's time.
async fn force_submission(
    store: &dyn PipelineStore,
    id: &SubmissionId,
    edit: impl FnOnce(&mut Submission) + Send + 'static,
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
async fn force_outbox(
    store: &dyn PipelineStore,
    id: &SubmissionId,
    edit: impl FnOnce(&mut OutboxRow) + Send + 'static,
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

fn ids_of<T>(docs: &[T], id: impl Fn(&T) -> &SubmissionId) -> Vec<SubmissionId> {
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
            .list_submissions(status, limit)
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
    concurrent_claims_of_one_submission_have_exactly_one_winner(&make).await;
    concurrent_claims_of_one_outbox_row_have_exactly_one_winner(&make).await;
}
