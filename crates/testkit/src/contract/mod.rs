//! Port contract suites: what every implementation of a port must do, written against the
//! port traits only, so the embedded backend and the cloud backends (Firestore, GCS, Pub/Sub,
//! Google Sheets, Resend, on their emulators or HTTP fakes) are held to the same behaviour.
//!
//! - [`Store`] ([`store`]), [`PipelineStore`](domain::ports::PipelineStore) ([`pipeline`],
//!   [`pipeline_queries`]) and [`Blobs`](domain::ports::Blobs) ([`blobs`]): the storage ports.
//! - [`Sheet`](domain::ports::Sheet) ([`sheet`]), [`Mailer`](domain::ports::Mailer)
//!   ([`mailer`]) and [`Bus`](domain::ports::Bus) ([`bus`]): the side-effect ports, idempotent
//!   per submission, with retryable and permanent errors and the crash between a call and its
//!   checkpoint ([`FaultKind`]).
//!
//! A backend supplies a factory that builds a fresh, empty instance (driven by a
//! [`ManualClock`] for the stores), plus the hooks the checks need but the port deliberately
//! lacks: seeding (records left by the older system, a submission that failed), reading back
//! what a side effect wrote, injecting a fault. Each check is a `pub async fn`, so a backend
//! can run them as separate tests; [`store_contract`], [`pipeline_contract`],
//! [`blobs_contract`], [`sheet_contract`], [`mailer_contract`], [`bus_contract`] and
//! [`run_all`] run them in sequence. The pipeline checks need no seeding hooks: `accept`
//! creates documents and the `change_*` transitions can write any state. Backends without a
//! fault mechanism of their own wrap the port in [`FaultySheet`] or [`FaultyMailer`].
//!
//! Every item of the submodules is re-exported here: `testkit::contract::<name>` is the path.
//!
//! ```ignore
//! #[tokio::test]
//! async fn a_stale_claim_is_taken_over() {
//!     contract::a_stale_claim_is_taken_over_keeping_its_creation_time(make_store).await;
//! }
//! ```

pub mod blobs;
pub mod bus;
pub mod faults;
pub mod mailer;
pub mod pipeline;
pub mod pipeline_queries;
pub mod sheet;
pub mod store;

pub use blobs::*;
pub use bus::*;
pub use faults::*;
pub use mailer::*;
pub use pipeline::*;
pub use pipeline_queries::*;
pub use sheet::*;
pub use store::*;

use crate::clock::ManualClock;
use chrono::{DateTime, Utc};
use domain::model::{
    ComiteChoice, DelegacionData, DelegacionOficial, FacultyData, FacultyPerson, FacultyRow,
    Participante, ReceiptMeta, SubmissionData, WorkerFields,
};
use domain::ports::{Acceptance, Store};
use domain::receipt::object_name;
use domain::{
    IdempotencyRecord, IdempotencyStatus, Submission, SubmissionId, SubmissionStatus,
    SubmissionType,
};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the suites

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
        traceparent: None,
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

/// One `#[tokio::test]` per named check, each calling `testkit::contract::<check>($make)`, so a
/// backend runs every check of a suite as its own test without writing the wrappers out.
///
/// With `guard = <fn() -> bool>;` first, each test returns at once when the guard says so: for
/// suites that need an emulator (see [`crate::emulators`]), which decide there whether a
/// missing emulator skips the test or fails it.
#[macro_export]
macro_rules! contract_tests {
    ($make:path; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                $crate::contract::$check($make).await;
            }
        )+
    };
    (guard = $guard:path; $make:path; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                if !$guard() {
                    return;
                }
                $crate::contract::$check($make).await;
            }
        )+
    };
}

/// Every check of the [`Store`] suite, one test each (optionally `guard = f;` first).
#[macro_export]
macro_rules! store_contract_tests {
    (guard = $guard:path; $make:path) => {
        $crate::store_contract_tests!(@checks (guard = $guard;) $make);
    };
    ($make:path) => {
        $crate::store_contract_tests!(@checks () $make);
    };
    (@checks ($($guard:tt)*) $make:path) => {
        $crate::contract_tests!($($guard)* $make;
            reads_of_missing_documents_return_none,
            accept_on_an_empty_record_commits_the_three_documents,
            a_duplicate_with_the_same_payload_replays_and_writes_nothing,
            a_different_payload_under_the_same_key_conflicts,
            a_fresh_claim_of_the_older_system_is_in_progress,
            a_stale_claim_is_taken_over_keeping_its_creation_time,
            a_failed_submission_under_an_explicit_key_asks_for_a_new_key,
            a_failed_submission_under_the_fallback_key_reopens_with_a_new_id,
            concurrent_duplicates_are_accepted_exactly_once,
            concurrent_distinct_submissions_are_all_accepted,
        );
    };
}

/// Every check of the [`PipelineStore`](domain::ports::PipelineStore) suite, one test each.
#[macro_export]
macro_rules! pipeline_contract_tests {
    (guard = $guard:path; $make:path) => {
        $crate::pipeline_contract_tests!(@checks (guard = $guard;) $make);
    };
    ($make:path) => {
        $crate::pipeline_contract_tests!(@checks () $make);
    };
    (@checks ($($guard:tt)*) $make:path) => {
        $crate::contract_tests!($($guard)* $make;
            change_submission_writes_only_on_ok_and_returns_the_refusal_otherwise,
            change_outbox_writes_only_on_ok_and_returns_the_refusal_otherwise,
            the_transactions_now_is_the_clocks,
            due_outbox_returns_what_the_sweep_should_publish_oldest_first,
            stuck_submissions_are_the_pending_and_expired_ones_past_the_deadline,
            list_submissions_filters_by_status_oldest_first,
            list_submissions_pages_with_a_cursor_through_ties,
            concurrent_claims_of_one_submission_have_exactly_one_winner,
            concurrent_claims_of_one_outbox_row_have_exactly_one_winner,
        );
    };
}

/// Every check of the [`Blobs`](domain::ports::Blobs) suite, one test each.
#[macro_export]
macro_rules! blobs_contract_tests {
    (guard = $guard:path; $make:path) => {
        $crate::blobs_contract_tests!(@checks (guard = $guard;) $make);
    };
    ($make:path) => {
        $crate::blobs_contract_tests!(@checks () $make);
    };
    (@checks ($($guard:tt)*) $make:path) => {
        $crate::contract_tests!($($guard)* $make;
            put_new_then_get_returns_the_bytes,
            getting_a_missing_object_is_not_found,
            put_new_never_overwrites,
            a_wrong_checksum_is_refused_and_nothing_is_stored,
            delete_is_idempotent,
            list_returns_the_objects_under_a_prefix,
            list_goes_page_by_page_in_name_order_after_a_cursor,
        );
    };
}

/// Every check of the [`Sheet`](domain::ports::Sheet) suite, one test each.
#[macro_export]
macro_rules! sheet_contract_tests {
    ($make:path) => {
        $crate::contract_tests!($make;
            a_first_append_writes_exactly_the_submissions_rows_to_each_tab,
            appending_the_same_submission_again_is_already_present_and_adds_nothing,
            a_delegacion_is_one_row_of_41_cells_in_delegaciones_ending_with_its_id,
            a_faculty_registration_is_one_faculty_row_a_row_per_delegate_and_its_own_tab,
            formula_like_text_comes_back_as_literal_text,
            a_retryable_fault_writes_nothing_and_the_retry_writes_one_row_set,
            a_lost_response_is_retryable_and_the_retry_finds_the_rows_already_present,
            a_permanent_fault_is_permanent_and_writes_nothing,
            many_distinct_submissions_appended_concurrently_all_land_exactly_once,
            the_same_submission_appended_concurrently_lands_once,
        );
    };
}

/// Every check of the [`Mailer`](domain::ports::Mailer) suite, one test each.
#[macro_export]
macro_rules! mailer_contract_tests {
    ($make:path) => {
        $crate::contract_tests!($make;
            a_send_returns_an_id_and_delivers_exactly_that_message,
            sending_the_same_email_again_returns_the_same_id_and_delivers_nothing_more,
            the_confirmation_and_the_internal_notification_of_one_submission_are_two_messages,
            a_retryable_fault_then_a_retry_delivers_exactly_one_message,
            a_lost_response_then_a_retry_returns_the_first_id_and_delivers_exactly_one_message,
            a_permanent_fault_is_permanent_and_delivers_nothing,
            concurrent_sends_of_one_email_deliver_one_message,
            distinct_emails_sent_concurrently_are_each_delivered_once,
        );
    };
}

/// Every check of the [`Bus`](domain::ports::Bus) suite, one test each.
#[macro_export]
macro_rules! bus_contract_tests {
    (guard = $guard:path; $make:path) => {
        $crate::bus_contract_tests!(@checks (guard = $guard;) $make);
    };
    ($make:path) => {
        $crate::bus_contract_tests!(@checks () $make);
    };
    (@checks ($($guard:tt)*) $make:path) => {
        $crate::contract_tests!($($guard)* $make;
            a_published_message_is_received_with_the_same_fields,
            every_one_of_many_published_messages_is_received,
            publishing_on_an_unavailable_bus_is_a_retryable_error,
        );
    };
}
