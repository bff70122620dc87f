//! Port traits: what the application needs from the outside world. One adapter crate per
//! vendor implements each (`local` for the embedded backend; GCP crates later), and the same
//! contract suite in `testkit` runs against every implementation.

use crate::SubmissionId;
use crate::model::{IdempotencyRecord, OutboxRow, Submission};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Source of the current time. Rules never read the clock themselves.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock: the one [`Clock`] every binary uses (tests move a manual one instead).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Stable link to a receipt for the sheet and the internal e-mail: an endpoint that hands out
/// a fresh short-lived URL on each visit, so links in the sheet never expire.
pub trait ReceiptLinks: Send + Sync {
    fn link(&self, submission: &Submission) -> String;
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

pub use crate::accept::{AcceptOutcome, Acceptance};

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

    /// ONE transaction: read the record and the status of the submission it points at
    /// ([`crate::accept::referenced_submission`]), call [`crate::accept::plan`] with the time
    /// read inside the transaction, and write its three documents atomically (the submission
    /// and the outbox row create-only) or nothing. A transaction re-run on contention reads and
    /// plans again.
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

    /// Up to `limit` objects whose name starts with `prefix` and sorts strictly after `after`
    /// (byte order), in name order: one page; the next starts after the last name.
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BlobInfo>, BlobError>;
}

/// A transition of a submission, run by the adapter inside one transaction on the document:
/// it gets the current document (if any) and the transaction's `now`, and returns the document
/// to write, or why nothing is written. The functions of `domain::worker` fit this shape.
///
/// `Fn`, not `FnOnce`: a backend with optimistic transactions (Firestore) runs the body again
/// on contention, with the document it read on that attempt. The body is a pure function of
/// its arguments, so every run decides from what that attempt saw.
pub type SubmissionChange = Box<
    dyn Fn(Option<&Submission>, DateTime<Utc>) -> Result<Submission, crate::worker::WorkerRefusal>
        + Send
        + Sync,
>;

/// The same for an outbox row (`domain::outbox`).
pub type OutboxChange = Box<
    dyn Fn(Option<&OutboxRow>, DateTime<Utc>) -> Result<OutboxRow, crate::outbox::OutboxRefusal>
        + Send
        + Sync,
>;

/// The pipeline's view of the store: fenced transitions and the sweeps' queries.
#[async_trait]
pub trait PipelineStore: Store {
    /// Runs `change` in one transaction on `submissions/<id>`; writes its result if `Ok`.
    async fn change_submission(
        &self,
        id: &SubmissionId,
        change: SubmissionChange,
    ) -> Result<Result<Submission, crate::worker::WorkerRefusal>, StoreError>;

    /// Runs `change` in one transaction on `outbox/<id>`; writes its result if `Ok`.
    async fn change_outbox(
        &self,
        id: &SubmissionId,
        change: OutboxChange,
    ) -> Result<Result<OutboxRow, crate::outbox::OutboxRefusal>, StoreError>;

    /// Rows the sweep should publish now (`domain::outbox::is_due`), oldest first.
    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError>;

    /// Submissions the reconciler should publish again (`domain::worker::is_stuck`).
    async fn stuck_submissions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Submission>, StoreError>;

    /// Up to `limit` submissions, optionally of one status, in `(created_at, submission_id)`
    /// order, starting after `after` (operators' listing, one page at a time: see
    /// [`SubmissionCursor`]).
    async fn list_submissions(
        &self,
        status: Option<crate::model::SubmissionStatus>,
        after: Option<&SubmissionCursor>,
        limit: usize,
    ) -> Result<Vec<Submission>, StoreError>;
}

/// Where a listing of submissions resumes: strictly after this `(created_at, submission_id)`.
/// The next page of a listing starts after the last submission of the previous one, so pages
/// neither repeat nor skip a submission, whatever is written meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionCursor {
    pub created_at: DateTime<Utc>,
    pub submission_id: SubmissionId,
}

impl SubmissionCursor {
    pub fn after(s: &Submission) -> Self {
        Self {
            created_at: s.created_at,
            submission_id: s.submission_id.clone(),
        }
    }
}

/// Errors of side-effect ports (bus, sheet, mailer), classified where they happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SideEffectError {
    #[error("retryable: {0}")]
    Retryable(String),
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<SideEffectError> for crate::worker::Failure {
    fn from(e: SideEffectError) -> Self {
        match e {
            SideEffectError::Retryable(m) => Self::Retryable(m),
            SideEffectError::Permanent(m) => Self::Permanent(m),
        }
    }
}

/// The work topic.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Publishes and waits for the broker's acknowledgement.
    async fn publish(&self, message: &crate::outbox::WorkMessage) -> Result<(), SideEffectError>;
}

/// What a sheet write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetWrite {
    Appended,
    /// The submission's rows were already there (a retry after a crash): nothing written.
    AlreadyPresent,
}

/// The organizers' spreadsheet. Writes are idempotent per submission id: the adapter checks
/// for the id before appending, and writes all of a submission's rows in one request.
#[async_trait]
pub trait Sheet: Send + Sync {
    async fn append(
        &self,
        submission_id: &SubmissionId,
        rows: &[crate::sheets::SheetRows],
    ) -> Result<SheetWrite, SideEffectError>;
}

/// Outgoing e-mail. Idempotent per `email.idempotency_key`; returns the provider's message id.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &crate::mail::Email) -> Result<String, SideEffectError>;
}
