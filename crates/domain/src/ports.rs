//! Port traits: what the application needs from the outside world. One adapter crate per
//! vendor implements each (`local` for the embedded backend; GCP crates later), and the same
//! contract suite in `testkit` runs against every implementation.

use crate::SubmissionId;
use crate::idempotency::Decision;
use crate::model::{IdempotencyRecord, OutboxRow, Submission};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Source of the current time. Rules never read the clock themselves.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Errors of the [`Store`] port. Adapters map their own errors into these inside the impl.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying: contention, a timeout, the backend briefly unreachable. The outcome of a
    /// write that failed this way may be unknown; callers re-read before deciding.
    #[error("store temporarily unavailable: {0}")]
    Unavailable(String),
    /// Will fail again: corrupt data, a schema mismatch, a bug.
    #[error("store failure: {0}")]
    Permanent(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Everything the acceptance transaction needs. The adapter stamps `created_at`/`updated_at`
/// of the submission and outbox row with the time it reads *inside* its transaction.
#[derive(Debug, Clone)]
pub struct Acceptance {
    /// `"<type>:<effective key>"`.
    pub record_id: String,
    pub effective_key: String,
    pub fingerprint: String,
    /// Whether the browser sent its own key (vs the fingerprint fallback).
    pub explicit_key: bool,
    /// Server-generated token that identifies this acceptance attempt.
    pub owner_token: String,
    /// The submission to create (status `pending`) if the decision writes.
    pub submission: Submission,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Submission, committed record and outbox row were written in one transaction.
    /// `decision` is `Commit`, `TakeOver` or `Reopen`.
    Accepted {
        submission_id: SubmissionId,
        decision: Decision,
    },
    /// Nothing was written; the decision says why (replay, conflict, …).
    NotWritten(Decision),
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Plain read of an idempotency record (no transaction).
    async fn idempotency_record(
        &self,
        record_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Plain read of a submission.
    async fn submission(&self, id: &SubmissionId) -> Result<Option<Submission>, StoreError>;

    /// Plain read of an outbox row.
    async fn outbox_row(&self, id: &SubmissionId) -> Result<Option<OutboxRow>, StoreError>;

    /// ONE transaction: read the record (and the status of the submission it points at), call
    /// [`crate::idempotency::decide`], and when the decision writes, write the submission, the
    /// committed record and the outbox row atomically.
    async fn accept(&self, acceptance: Acceptance) -> Result<AcceptOutcome, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Create-only write found an object with that name.
    #[error("object already exists")]
    AlreadyExists,
    #[error("object not found")]
    NotFound,
    #[error("blob store temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("blob store failure: {0}")]
    Permanent(String),
}

impl BlobError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub name: String,
    pub size: u64,
    pub created_at: DateTime<Utc>,
}

/// Private object storage for receipts.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Create-only, durable write. Fails with [`BlobError::AlreadyExists`] rather than overwrite.
    /// Returns only once the bytes are stored and verified against their SHA-256.
    async fn put_new(
        &self,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        sha256_hex: &str,
    ) -> Result<(), BlobError>;

    /// Reads an object whole.
    async fn get(&self, name: &str) -> Result<Vec<u8>, BlobError>;

    /// Deletes an object; deleting a missing object succeeds.
    async fn delete(&self, name: &str) -> Result<(), BlobError>;

    /// Lists objects whose name starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<BlobInfo>, BlobError>;
}
