//! The [`Store`] and [`PipelineStore`] ports on Google Cloud Firestore.
//!
//! Each port call is "read, call ONE pure domain function, write what it returns" inside one
//! Firestore transaction (`FirestoreDb::run_transaction`). Firestore re-runs the body when the
//! transaction aborts on contention, so the body reads again and calls the domain again with
//! what it read: the acceptance plan (`domain::accept::plan`) and the `change_*` transitions
//! are pure and `Fn`, so every run decides from that run's reads. Creates carry an
//! `exists = false` precondition, so a document is never overwritten by a create.
//!
//! The documents are the older system's, field for field (`codec`), in the collections its
//! variables name (`config`), so both systems can share one database during a migration. The
//! queries need the composite indexes in `indexes.json` (the emulator does not enforce them).
//! Every read and write is counted ([`FirestoreStore::ops`]) for the cost figures.

mod codec;
pub mod config;

pub use codec::TIMESTAMP_FIELDS;
pub use config::{Collections, ConfigError, FirestoreConfig};

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use domain::accept::{self, AcceptOutcome, Acceptance};
use domain::outbox::OutboxRefusal;
use domain::ports::{
    Clock, OutboxChange, PipelineStore, Store, StoreError, SubmissionChange, SubmissionCursor,
};
use domain::worker::WorkerRefusal;
use domain::{IdempotencyRecord, OutboxRow, Submission, SubmissionId, SubmissionStatus};
use firestore::errors::{BackoffError, FirestoreError};
use firestore::gcloud_sdk::google::firestore::v1::{
    Document, Precondition, Value, Write, precondition, value::ValueType, write,
};
use firestore::{
    FirestoreDb, FirestoreDbOptions, FirestoreQueryCursor, FirestoreResult, FirestoreTransaction,
    FirestoreTransactionOps, FirestoreValue,
};
use futures_util::FutureExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The composite indexes the queries need, in `firestore.indexes.json` form, for Terraform to
/// create (`google_firestore_index`). The collection ids are the defaults.
pub const INDEXES_JSON: &str = include_str!("../indexes.json");

/// Candidate documents read per sweep query before the domain's `is_due` / `is_stuck` filter.
const SWEEP_CANDIDATES: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum FirestoreStoreError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot reach Firestore: {0}")]
    Connect(String),
}

/// Reads and writes done so far, counted the way Firestore bills them: a document read per
/// document returned (at least one per query), a write per document written by a committed
/// transaction. Aborted transaction attempts count their reads too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OpCounts {
    pub reads: u64,
    pub writes: u64,
    /// Transaction attempts (a re-run after contention counts again).
    pub transactions: u64,
}

#[derive(Debug, Default)]
struct Ops {
    reads: AtomicU64,
    writes: AtomicU64,
    transactions: AtomicU64,
}

/// The Firestore store. Cheap to clone (the client is shared).
#[derive(Clone)]
pub struct FirestoreStore {
    db: FirestoreDb,
    cols: Arc<Collections>,
    clock: Arc<dyn Clock>,
    ops: Arc<Ops>,
}

impl std::fmt::Debug for FirestoreStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirestoreStore")
            .field("collections", &self.cols)
            .finish_non_exhaustive()
    }
}

impl FirestoreStore {
    /// Connects (the client dials at once, so a wrong endpoint fails here, not at the first
    /// request). On the emulator: plain HTTP to `emulator_host`, no credentials; otherwise
    /// Application Default Credentials.
    pub async fn connect(
        config: &FirestoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FirestoreStoreError> {
        let mut options = FirestoreDbOptions::new(config.project.clone())
            .with_database_id(config.database.clone());
        let db = match &config.emulator_host {
            Some(host) => {
                options = options.with_firebase_api_url(format!("http://{host}"));
                FirestoreDb::with_options_auth(
                    options,
                    firestore::gcloud_sdk::google_cloud_auth::credentials::anonymous::Builder::new(
                    )
                    .build(),
                )
                .await
            }
            None => FirestoreDb::with_options(options).await,
        }
        .map_err(|e| FirestoreStoreError::Connect(e.to_string()))?;
        Ok(Self {
            db,
            cols: Arc::new(config.collections.clone()),
            clock,
            ops: Arc::default(),
        })
    }

    pub fn collections(&self) -> &Collections {
        &self.cols
    }

    /// Counts so far (see [`OpCounts`]).
    pub fn ops(&self) -> OpCounts {
        OpCounts {
            reads: self.ops.reads.load(Ordering::Relaxed),
            writes: self.ops.writes.load(Ordering::Relaxed),
            transactions: self.ops.transactions.load(Ordering::Relaxed),
        }
    }

    /// The transaction's time, at the precision Firestore stores.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }

    fn name(&self, collection: &str, id: &str) -> String {
        format!("{}/{collection}/{id}", self.db.get_documents_path())
    }

    fn document<T: serde::Serialize>(
        &self,
        collection: &str,
        id: &str,
        value: &T,
    ) -> Result<Document, StoreError> {
        Ok(Document {
            name: self.name(collection, id),
            fields: codec::encode(value).map_err(|e| StoreError::Permanent(e.to_string()))?,
            ..Document::default()
        })
    }

    fn count(&self, reads: u64, writes: u64) {
        self.ops.reads.fetch_add(reads, Ordering::Relaxed);
        self.ops.writes.fetch_add(writes, Ordering::Relaxed);
    }

    /// One document by id, through `db` (bound to a transaction inside one).
    async fn get_doc(
        &self,
        db: &FirestoreDb,
        collection: &str,
        id: &str,
    ) -> Result<Option<Document>, StoreError> {
        self.count(1, 0);
        db.fluent()
            .select()
            .by_id_in(collection)
            .one(id)
            .await
            .map_err(store_error)
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        db: &FirestoreDb,
        collection: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_doc(db, collection, id)
            .await?
            .map(|d| decode(&d))
            .transpose()
    }

    /// Queues a whole-document write of `value` in `tx`; `exists` is the precondition
    /// (`Some(false)`: create only; `Some(true)`: update only; `None`: upsert).
    fn write<T: serde::Serialize>(
        &self,
        tx: &mut FirestoreTransaction<'_>,
        collection: &str,
        id: &str,
        value: &T,
        exists: Option<bool>,
    ) -> Result<(), StoreError> {
        let doc = self.document(collection, id, value)?;
        tx.add(RawWrite(Write {
            operation: Some(write::Operation::Update(doc)),
            current_document: exists.map(|e| Precondition {
                condition_type: Some(precondition::ConditionType::Exists(e)),
            }),
            ..Write::default()
        }))
        .map(|_| ())
        .map_err(store_error)
    }

    /// Writes an idempotency record as is (for importing records and for tests that need one
    /// in a given state; the API never calls it).
    pub async fn put_idempotency_record(
        &self,
        record_id: &str,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let doc = self.document(&self.cols.idempotency, record_id, record)?;
        self.db
            .fluent()
            .update()
            .in_col(&self.cols.idempotency)
            .document(doc)
            .execute()
            .await
            .map_err(store_error)?;
        self.count(0, 1);
        Ok(())
    }

    /// Sets a submission's status (stamping `updated_at`); `false` when it does not exist.
    /// For tests and data repair; the worker and `registro admin` use fenced transitions.
    pub async fn set_submission_status(
        &self,
        id: &SubmissionId,
        status: SubmissionStatus,
    ) -> Result<bool, StoreError> {
        let changed = self
            .change_submission(
                id,
                Box::new(move |s, now| match s {
                    Some(s) => {
                        let mut s = s.clone();
                        s.status = status;
                        s.updated_at = now;
                        Ok(s)
                    }
                    None => Err(WorkerRefusal::Missing),
                }),
            )
            .await?;
        Ok(changed.is_ok())
    }

    /// Runs a query and decodes its documents, skipping (and logging) unreadable ones so one
    /// bad document does not stop a sweep.
    async fn query<T: serde::de::DeserializeOwned>(
        &self,
        query: impl std::future::Future<Output = FirestoreResult<Vec<Document>>>,
    ) -> Result<Vec<T>, StoreError> {
        let docs = query.await.map_err(store_error)?;
        self.count(docs.len().max(1) as u64, 0);
        Ok(docs
            .iter()
            .filter_map(|d| match decode(d) {
                Ok(v) => Some(v),
                Err(_) => {
                    let id = d.name.rsplit('/').next().unwrap_or_default();
                    tracing::error!(document_id = %id, "firestore_document_unreadable");
                    None
                }
            })
            .collect())
    }
}

/// The shape of `SubmissionChange` and `OutboxChange`, unboxed.
type Transition<T, R> = dyn Fn(Option<&T>, DateTime<Utc>) -> Result<T, R> + Send + Sync;

/// A write built here (whole document, typed values from `codec`), queued as it is.
struct RawWrite(Write);

impl TryInto<Write> for RawWrite {
    type Error = FirestoreError;
    fn try_into(self) -> Result<Write, FirestoreError> {
        Ok(self.0)
    }
}

fn decode<T: serde::de::DeserializeOwned>(doc: &Document) -> Result<T, StoreError> {
    codec::decode(doc).map_err(|e| StoreError::Permanent(format!("corrupt document: {e}")))
}

/// Classifies a client error: what may succeed on a retry is `Unavailable`.
fn store_error(e: FirestoreError) -> StoreError {
    match e {
        FirestoreError::ErrorInTransaction(t) => match t.source.downcast::<StoreError>() {
            Ok(inner) => *inner,
            Err(other) => StoreError::Unavailable(other.to_string()),
        },
        FirestoreError::DatabaseError(ref d) if d.retry_possible => {
            StoreError::Unavailable(e.to_string())
        }
        // A create found its document: the outcome of an earlier attempt is unknown to the
        // caller, which re-reads before deciding (the API reconciles by reading back).
        FirestoreError::DataConflictError(_) | FirestoreError::NetworkError(_) => {
            StoreError::Unavailable(e.to_string())
        }
        FirestoreError::SystemError(_) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Permanent(e.to_string()),
    }
}

/// Inside a transaction body: retryable errors re-run the body, the rest end it.
fn in_body(e: StoreError) -> BackoffError<StoreError> {
    if e.is_retryable() {
        BackoffError::transient(e)
    } else {
        BackoffError::permanent(e)
    }
}

fn timestamp_value(t: DateTime<Utc>) -> FirestoreValue {
    FirestoreValue::from(Value {
        value_type: Some(ValueType::TimestampValue(codec::timestamp(t))),
    })
}

#[async_trait]
impl Store for FirestoreStore {
    async fn idempotency_record(
        &self,
        record_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get(&self.db, &self.cols.idempotency, record_id).await
    }

    async fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError> {
        self.get(&self.db, &self.cols.submissions, id.as_str())
            .await
    }

    async fn outbox_row(&self, id: &SubmissionId) -> Result<Option<OutboxRow>, StoreError> {
        self.get(&self.db, &self.cols.outbox, id.as_str()).await
    }

    async fn accept(&self, acceptance: Acceptance) -> Result<AcceptOutcome, StoreError> {
        let a = Arc::new(acceptance);
        let outcome = self
            .db
            .run_transaction(|db, tx| {
                let a = Arc::clone(&a);
                let this = self.clone();
                async move { this.accept_attempt(&db, tx, &a).await }.boxed()
            })
            .await
            .map_err(store_error)?;
        if matches!(outcome, AcceptOutcome::Accepted { .. }) {
            self.count(0, 3);
        }
        Ok(outcome)
    }
}

impl FirestoreStore {
    /// One run of the acceptance transaction's body: the reads, the domain's plan, its writes.
    async fn accept_attempt(
        &self,
        db: &FirestoreDb,
        tx: &mut FirestoreTransaction<'_>,
        a: &Acceptance,
    ) -> Result<AcceptOutcome, BackoffError<StoreError>> {
        self.ops.transactions.fetch_add(1, Ordering::Relaxed);
        let cols = &self.cols;
        let record: Option<IdempotencyRecord> = self
            .get(db, &cols.idempotency, &a.record_id)
            .await
            .map_err(in_body)?;
        let referenced = match accept::referenced_submission(record.as_ref()) {
            Some(id) => self
                .get_doc(db, &cols.submissions, id.as_str())
                .await
                .map_err(in_body)?
                .and_then(|d| codec::string_field(&d, "status").and_then(SubmissionStatus::parse)),
            None => None,
        };
        let w = match accept::plan(a, record.as_ref(), referenced, self.now()) {
            Ok(w) => w,
            Err(answer) => return Ok(AcceptOutcome::NotWritten(answer)),
        };
        let id = w.submission.submission_id.as_str();
        self.write(tx, &cols.submissions, id, &w.submission, Some(false))
            .map_err(in_body)?;
        self.write(tx, &cols.idempotency, &w.record_id, &w.record, None)
            .map_err(in_body)?;
        self.write(tx, &cols.outbox, id, &w.outbox, Some(false))
            .map_err(in_body)?;
        Ok(w.outcome())
    }

    /// One transaction running `change` on `collection/id` (re-run on contention).
    async fn transition<T, R>(
        &self,
        collection: String,
        id: &SubmissionId,
        exists: Option<bool>,
        change: Box<Transition<T, R>>,
    ) -> Result<Result<T, R>, StoreError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        R: Send + 'static,
    {
        let change: Arc<Transition<T, R>> = Arc::from(change);
        let result = self
            .db
            .run_transaction(|db, tx| {
                let change = Arc::clone(&change);
                let (this, id, collection) = (self.clone(), id.clone(), collection.clone());
                async move {
                    this.change_attempt(&db, tx, &collection, &id, exists, change.as_ref())
                        .await
                }
                .boxed()
            })
            .await
            .map_err(store_error)?;
        if result.is_ok() {
            self.count(0, 1);
        }
        Ok(result)
    }

    /// One run of a transition's body on `collection/id`: read, `change`, write if `Ok`.
    async fn change_attempt<T, R>(
        &self,
        db: &FirestoreDb,
        tx: &mut FirestoreTransaction<'_>,
        collection: &str,
        id: &SubmissionId,
        exists: Option<bool>,
        change: &Transition<T, R>,
    ) -> Result<Result<T, R>, BackoffError<StoreError>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        self.ops.transactions.fetch_add(1, Ordering::Relaxed);
        let current: Option<T> = self
            .get(db, collection, id.as_str())
            .await
            .map_err(in_body)?;
        match change(current.as_ref(), self.now()) {
            Ok(next) => {
                self.write(tx, collection, id.as_str(), &next, exists)
                    .map_err(in_body)?;
                Ok(Ok(next))
            }
            Err(refusal) => Ok(Err(refusal)),
        }
    }
}

#[async_trait]
impl PipelineStore for FirestoreStore {
    async fn change_submission(
        &self,
        id: &SubmissionId,
        change: SubmissionChange,
    ) -> Result<Result<Submission, WorkerRefusal>, StoreError> {
        // A transition never creates a submission.
        let col = self.cols.submissions.clone();
        self.transition(col, id, Some(true), change).await
    }

    async fn change_outbox(
        &self,
        id: &SubmissionId,
        change: OutboxChange,
    ) -> Result<Result<OutboxRow, OutboxRefusal>, StoreError> {
        // An upsert: the reconciler may recreate a row that is gone.
        let col = self.cols.outbox.clone();
        self.transition(col, id, None, change).await
    }

    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        // Index: outbox (status ASC, updated_at ASC).
        let rows: Vec<OutboxRow> = self
            .query(
                self.db
                    .fluent()
                    .select()
                    .from(self.cols.outbox.as_str())
                    .filter(|q| q.for_all([q.field("status").is_in(["pending", "publishing"])]))
                    .order(|o| {
                        o.fields([
                            o.field("updated_at").ascending(),
                            o.field("__name__").ascending(),
                        ])
                    })
                    .limit(SWEEP_CANDIDATES)
                    .query(),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| domain::outbox::is_due(r, now))
            .take(limit)
            .collect())
    }

    async fn stuck_submissions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Submission>, StoreError> {
        // A stuck submission was last written at least STUCK_AFTER ago (a processing lease
        // never expires before its last write), so the range narrows the scan soundly.
        // Index: submissions (status ASC, updated_at ASC).
        let cutoff = timestamp_value(now - domain::worker::STUCK_AFTER);
        let subs: Vec<Submission> = self
            .query(
                self.db
                    .fluent()
                    .select()
                    .from(self.cols.submissions.as_str())
                    .filter(|q| {
                        q.for_all([
                            q.field("status").is_in(["pending", "processing"]),
                            q.field("updated_at").less_than_or_equal(cutoff.clone()),
                        ])
                    })
                    .order(|o| {
                        o.fields([
                            o.field("updated_at").ascending(),
                            o.field("__name__").ascending(),
                        ])
                    })
                    .limit(SWEEP_CANDIDATES)
                    .query(),
            )
            .await?;
        Ok(subs
            .into_iter()
            .filter(|s| domain::worker::is_stuck(s, now))
            .take(limit)
            .collect())
    }

    async fn list_submissions(
        &self,
        status: Option<SubmissionStatus>,
        after: Option<&SubmissionCursor>,
        limit: usize,
    ) -> Result<Vec<Submission>, StoreError> {
        // Index (with a status): submissions (status ASC, created_at ASC).
        let query = self
            .db
            .fluent()
            .select()
            .from(self.cols.submissions.as_str())
            .filter(|q| q.for_all([status.and_then(|s| q.field("status").eq(s.as_str()))]))
            .order(|o| {
                o.fields([
                    o.field("created_at").ascending(),
                    o.field("__name__").ascending(),
                ])
            })
            .limit(u32::try_from(limit).unwrap_or(u32::MAX));
        let query = match after {
            Some(c) => query.start_at(FirestoreQueryCursor::AfterValue(vec![
                timestamp_value(c.created_at),
                FirestoreValue::from(Value {
                    value_type: Some(ValueType::ReferenceValue(
                        self.name(&self.cols.submissions, c.submission_id.as_str()),
                    )),
                }),
            ])),
            None => query,
        };
        self.query(query.query()).await
    }
}
