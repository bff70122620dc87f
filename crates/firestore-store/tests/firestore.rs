//! The Firestore store on the Firestore emulator: the `Store` and `PipelineStore` contract
//! suites every backend passes, the documents' shape, and the operations per acceptance.
//!
//! Runs when `FIRESTORE_EMULATOR_HOST` is set (`gcloud emulators firestore start
//! --host-port=127.0.0.1:8686`); skips otherwise, unless `REGISTRO_REQUIRE_EMULATORS=1`
//! (`.ci/run`), which makes a missing emulator a failure. Each store gets collections of its
//! own, so the tests share one emulator and run in parallel.

use domain::SubmissionType;
use domain::ports::{Clock, Store};
use firestore::gcloud_sdk::google::firestore::v1::value::ValueType;
use firestore_store::{Collections, FirestoreConfig, FirestoreStore};
use std::sync::Arc;
use testkit::clock::ManualClock;
use testkit::contract::{self, PipelineUnderTest, StoreUnderTest};

fn emulator() -> bool {
    testkit::emulators::firestore()
}

fn config() -> FirestoreConfig {
    let host = testkit::emulators::host(testkit::emulators::FIRESTORE_VAR)
        .expect("the guard checked the emulator");
    let run = uuid::Uuid::new_v4().simple().to_string();
    FirestoreConfig {
        project: std::env::var("GOOGLE_CLOUD_PROJECT").unwrap_or_else(|_| "demo-registro".into()),
        database: "(default)".into(),
        collections: Collections {
            submissions: format!("t{run}_inscripciones"),
            idempotency: format!("t{run}_inscripciones_idempotencia"),
            outbox: format!("t{run}_inscripciones_outbox"),
        },
        emulator_host: Some(host),
    }
}

async fn connect(clock: Arc<dyn Clock>) -> FirestoreStore {
    FirestoreStore::connect(&config(), clock)
        .await
        .expect("connect to the Firestore emulator")
}

async fn make_store(clock: Arc<ManualClock>) -> StoreUnderTest {
    let store = Arc::new(connect(clock).await);
    let for_records = Arc::clone(&store);
    let for_status = Arc::clone(&store);
    StoreUnderTest {
        store,
        seed_record: Box::new(move |record_id, record| {
            let store = Arc::clone(&for_records);
            let record_id = record_id.to_owned();
            Box::pin(async move {
                store
                    .put_idempotency_record(&record_id, &record)
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
        keep_alive: None,
    }
}

async fn make_pipeline_store(clock: Arc<ManualClock>) -> PipelineUnderTest {
    PipelineUnderTest {
        store: Arc::new(connect(clock).await),
        keep_alive: None,
    }
}

mod store_contract {
    testkit::store_contract_tests!(guard = super::emulator; super::make_store);
}

mod pipeline_contract {
    testkit::pipeline_contract_tests!(guard = super::emulator; super::make_pipeline_store);
}

/// The documents are the older system's: its field names, times as Firestore timestamps (the
/// TTL policies and range queries need them), nulls where it writes nulls.
#[tokio::test]
async fn accepted_documents_have_the_older_systems_fields_and_real_timestamps() {
    if !emulator() {
        return;
    }
    let config = config();
    let clock = Arc::new(ManualClock::new(ManualClock::reference_start()));
    let store = FirestoreStore::connect(&config, clock.clone())
        .await
        .unwrap();
    let id = contract::accept_sample(&store, 1, SubmissionType::Faculty).await;

    let db = firestore::FirestoreDb::with_options_auth(
        firestore::FirestoreDbOptions::new(config.project.clone())
            .with_firebase_api_url(format!("http://{}", config.emulator_host.clone().unwrap())),
        firestore::gcloud_sdk::google_cloud_auth::credentials::anonymous::Builder::new().build(),
    )
    .await
    .unwrap();
    let raw = |col: String, doc: String| {
        let db = db.clone();
        async move {
            db.fluent()
                .select()
                .by_id_in(col.as_str())
                .one(doc)
                .await
                .unwrap()
                .expect("document exists")
        }
    };
    let sub = raw(config.collections.submissions.clone(), id.to_string()).await;
    let text = |d: &firestore::gcloud_sdk::google::firestore::v1::Document, f: &str| match &d.fields
        [f]
        .value_type
    {
        Some(ValueType::StringValue(s)) => s.clone(),
        other => panic!("{f} is not a string: {other:?}"),
    };
    let is_time = |d: &firestore::gcloud_sdk::google::firestore::v1::Document, f: &str| {
        matches!(d.fields[f].value_type, Some(ValueType::TimestampValue(_)))
    };
    assert_eq!(text(&sub, "type"), "faculty");
    assert_eq!(text(&sub, "status"), "pending");
    assert!(is_time(&sub, "created_at") && is_time(&sub, "updated_at"));
    assert!(sub.fields.contains_key("file_path"));
    match &sub.fields["data"].value_type {
        Some(ValueType::MapValue(m)) => assert!(m.fields.contains_key("institucion")),
        other => panic!("the form data is a map: {other:?}"),
    }

    let row = raw(config.collections.outbox.clone(), id.to_string()).await;
    assert_eq!(text(&row, "status"), "pending");
    assert!(is_time(&row, "created_at"));
    assert!(matches!(
        row.fields["publish_started_at"].value_type,
        Some(ValueType::NullValue(_))
    ));

    let record = raw(
        config.collections.idempotency.clone(),
        "faculty:key-1".to_owned(),
    )
    .await;
    assert_eq!(text(&record, "status"), "committed");
    assert_eq!(text(&record, "submission_id"), id.to_string());
    assert!(
        is_time(&record, "expires_at"),
        "the TTL field is a timestamp"
    );
}

/// The figure for the cost estimate: what one new registration costs in Firestore, counted the
/// way the API spends it (a plain read of the record, then the acceptance transaction).
#[tokio::test]
async fn an_accepted_submission_costs_two_reads_three_writes_and_one_transaction() {
    if !emulator() {
        return;
    }
    let clock = Arc::new(ManualClock::new(ManualClock::reference_start()));
    let store = connect(clock).await;
    for n in 1..=5 {
        let before = store.ops();
        let acceptance = contract::sample_acceptance(
            SubmissionType::Delegacion,
            &format!("k{n}"),
            &format!("k{n}"),
            true,
            &contract::submission_id(n),
        );
        assert!(
            store
                .idempotency_record(&acceptance.record_id)
                .await
                .unwrap()
                .is_none()
        );
        store.accept(acceptance).await.unwrap();
        let after = store.ops();
        assert_eq!(
            (
                after.reads - before.reads,
                after.writes - before.writes,
                after.transactions - before.transactions
            ),
            (2, 3, 1),
            "reads, writes, transactions for submission {n}"
        );
    }
}
