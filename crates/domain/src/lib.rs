//! The registration domain, free of I/O.
//!
//! Everything that decides something lives here: form parsing and every business rule, the
//! catalog, the payload fingerprint, the idempotency decision and the documents the adapters
//! persist. Adapters (SQLite, Firestore, GCS…) only execute what these functions return, so the
//! embedded backend and the cloud backend run the same rules. Time and ids come in as arguments.

pub mod accept;
pub mod admin;
pub mod catalog;
pub mod email;
pub mod faculty_tab;
pub mod failpoints;
pub mod form;
pub mod hash;
pub mod idempotency;
pub mod ids;
pub mod mail;
pub mod model;
pub mod outbox;
pub mod ports;
pub mod receipt;
pub mod sheets;
pub mod worker;

pub use catalog::Catalog;
pub use ids::{RequestId, SubmissionId};
pub use model::{
    IdempotencyRecord, IdempotencyStatus, OutboxRow, OutboxStatus, Submission, SubmissionStatus,
    SubmissionType,
};
