//! Port contract suites: what every [`Store`] and [`Blobs`] implementation must do, written
//! against the port traits only, so the embedded backend and the cloud backends (Firestore,
//! GCS, on their emulators) are held to the same behaviour.
//!
//! A backend supplies a factory that builds a fresh, empty instance driven by a
//! [`ManualClock`], plus the seeding the checks need but the port deliberately lacks (records
//! left by the older system, a submission that failed). Each check is a `pub async fn`, so a
//! backend can run them as separate tests; [`store_contract`], [`blobs_contract`] and
//! [`run_all`] run them in sequence.
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
use domain::ports::{AcceptOutcome, Acceptance, BlobError, Blobs, Clock, Store};
use domain::receipt::object_name;
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
