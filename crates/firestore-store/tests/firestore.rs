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

/// Reads, writes and transactions spent between two counts of the store's operations.
fn spent(before: firestore_store::OpCounts, after: firestore_store::OpCounts) -> (u64, u64, u64) {
    (
        after.reads - before.reads,
        after.writes - before.writes,
        after.transactions - before.transactions,
    )
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
        assert_eq!(
            spent(before, store.ops()),
            (2, 3, 1),
            "reads, writes, transactions for submission {n}"
        );
    }
}

/// The figures of docs/cost.md: one registration from the form post to `completed`, counted
/// call by call the way each service spends it, the extra traffic a registration brings (a
/// duplicate post, a repeated trigger event, a Pub/Sub redelivery, a receipt link followed), and
/// the sweep Cloud Scheduler runs every minute when there is nothing to do.
///
/// The calls are those of `api::accept` (a plain read of the record, then `Store::accept`),
/// `outbox::Publisher::publish_one` (claim, publish, fenced finish), `worker::Worker::run_steps`
/// (claim, start and complete per step, complete), `outbox::Publisher::sweep` (due rows, then
/// stuck submissions) and the stable receipt link (`runtime::links`, one read of the
/// submission), through the same ports and the same domain transitions. If one of them starts
/// calling the store differently, change this test and the doc together.
#[tokio::test]
async fn a_registration_end_to_end_and_an_idle_sweep_cost_what_docs_cost_md_says() {
    use domain::idempotency::{self, Answer, Decision};
    use domain::outbox::{self as publisher, OutboxRefusal, Published};
    use domain::ports::PipelineStore;
    use domain::worker::{self as machine, WorkerRefusal};
    use domain::{OutboxStatus, SubmissionStatus};

    if !emulator() {
        return;
    }
    /// Rows handled per sweep list (`outbox::SWEEP_BATCH`).
    const SWEEP_BATCH: usize = 100;

    let clock = Arc::new(ManualClock::new(ManualClock::reference_start()));
    let store = connect(clock.clone()).await;
    for n in 1..=4 {
        let kind = if n % 2 == 1 {
            SubmissionType::Delegacion
        } else {
            SubmissionType::Faculty
        };
        let label = format!("submission {n} ({})", kind.as_str());
        let key = format!("k{n}");
        let id = contract::submission_id(n);
        let acceptance = contract::sample_acceptance(kind, &key, &key, true, &id);
        let record_id = acceptance.record_id.clone();

        // registro-api: the plain read answers nothing, so the transaction writes all three.
        let before = store.ops();
        let record = store.idempotency_record(&record_id).await.unwrap();
        assert!(matches!(
            idempotency::decide(record.as_ref(), None, &key, true, clock.now()),
            Decision::Accept(_)
        ));
        store.accept(acceptance).await.unwrap();
        let accepted = store.ops();
        assert_eq!(spent(before, accepted), (2, 3, 1), "acceptance of {label}");

        // registro-outbox, on the Eventarc event: claim, publish (no Firestore), finish.
        clock.advance(chrono::Duration::milliseconds(300));
        let owner = format!("publisher-{n}");
        let claim_owner = owner.clone();
        let row = store
            .change_outbox(
                &id,
                Box::new(move |row, now| publisher::claim(row, &claim_owner, now)),
            )
            .await
            .unwrap()
            .expect("the row is claimed");
        assert_eq!(row.status, OutboxStatus::Publishing);
        let finished = store
            .change_outbox(
                &id,
                Box::new(move |row, now| publisher::finish(row, &owner, &Published::Ok, now)),
            )
            .await
            .unwrap()
            .expect("the row is finished");
        assert_eq!(finished.status, OutboxStatus::Sent);
        let published = store.ops();
        assert_eq!(spent(accepted, published), (2, 2, 2), "publishing {label}");

        // registro-worker, on the push delivery: claim, each step started and completed, done.
        clock.advance(chrono::Duration::milliseconds(300));
        let owner = format!("worker-{n}");
        let claim_owner = owner.clone();
        store
            .change_submission(
                &id,
                Box::new(move |s, now| {
                    machine::claim(s, &claim_owner, now, machine::DEFAULT_LEASE)
                }),
            )
            .await
            .unwrap()
            .expect("the submission is claimed");
        for step in machine::required_steps(kind).iter().copied() {
            let o = owner.clone();
            store
                .change_submission(
                    &id,
                    Box::new(move |s, now| machine::start_step(s, &o, step, now)),
                )
                .await
                .unwrap()
                .expect("step started");
            let o = owner.clone();
            let external_id = (step != machine::STEP_SHEETS).then(|| format!("email-{step}-{n}"));
            store
                .change_submission(
                    &id,
                    Box::new(move |s, now| {
                        machine::complete_step(s, &o, step, external_id.clone(), now)
                    }),
                )
                .await
                .unwrap()
                .expect("step completed");
        }
        let o = owner.clone();
        let done = store
            .change_submission(&id, Box::new(move |s, now| machine::complete(s, &o, now)))
            .await
            .unwrap()
            .expect("completed");
        assert_eq!(done.status, SubmissionStatus::Completed);
        let worked = store.ops();
        assert_eq!(spent(published, worked), (8, 8, 8), "processing {label}");
        assert_eq!(
            spent(before, worked),
            (12, 13, 11),
            "{label} from the form post to completed"
        );

        // A duplicate post of the same form: two plain reads, answered with the same folio.
        let before = store.ops();
        let record = store.idempotency_record(&record_id).await.unwrap();
        let referenced = store.submission(&id).await.unwrap().map(|s| s.status);
        assert_eq!(
            idempotency::decide(record.as_ref(), referenced, &key, true, clock.now()),
            Decision::Answer(Answer::Replay {
                submission_id: id.clone()
            })
        );
        let replayed = store.ops();
        assert_eq!(spent(before, replayed), (2, 0, 0), "a replay of {label}");

        // The same event again (Eventarc delivers at least once): the claim is refused.
        let refused = store
            .change_outbox(
                &id,
                Box::new(|row, now| publisher::claim(row, "publisher-again", now)),
            )
            .await
            .unwrap();
        assert_eq!(refused, Err(OutboxRefusal::AlreadySent));
        let event_again = store.ops();
        assert_eq!(
            spent(replayed, event_again),
            (1, 0, 1),
            "a repeated event of {label}"
        );

        // The same message again (Pub/Sub delivers at least once): the claim is refused.
        let refused = store
            .change_submission(
                &id,
                Box::new(|s, now| machine::claim(s, "worker-again", now, machine::DEFAULT_LEASE)),
            )
            .await
            .unwrap();
        assert_eq!(
            refused,
            Err(WorkerRefusal::Terminal(SubmissionStatus::Completed))
        );
        let delivery_again = store.ops();
        assert_eq!(
            spent(event_again, delivery_again),
            (1, 0, 1),
            "a redelivery of {label}"
        );

        // An organizer follows the receipt link in the sheet: one read of the submission.
        assert!(store.submission(&id).await.unwrap().is_some());
        assert_eq!(
            spent(delivery_again, store.ops()),
            (1, 0, 0),
            "the receipt link of {label}"
        );
    }

    // Cloud Scheduler's sweep with nothing to do: two queries, one read each (Firestore bills
    // a query that returns nothing as one read), no transaction.
    for sweep in 1..=3 {
        clock.advance(chrono::Duration::minutes(1));
        let before = store.ops();
        let now = clock.now();
        assert!(store.due_outbox(now, SWEEP_BATCH).await.unwrap().is_empty());
        assert!(
            store
                .stuck_submissions(now, SWEEP_BATCH)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(spent(before, store.ops()), (2, 0, 0), "idle sweep {sweep}");
    }
}
