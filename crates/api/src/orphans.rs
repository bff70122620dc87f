//! Removes receipts no submission references, through the ports (any backend).
//!
//! The API uploads a receipt *before* its acceptance transaction (DESIGN.md §4). When the
//! transaction then writes nothing (a replay, a conflict) or the process dies in between, the
//! object is left behind; the request deletes it on a best-effort basis and this sweeper
//! catches the rest. The grace period protects uploads whose transaction may still be running.
//! The listing goes page by page, so a bucket of any size is swept in bounded memory.

use chrono::{DateTime, Duration, Utc};
use domain::ports::{BlobError, Blobs, Store, StoreError};
use domain::receipt::submission_id_of;

/// Where receipts live (`domain::receipt::object_name`).
pub const UPLOADS_PREFIX: &str = "uploads/";

/// Objects listed per page.
const PAGE: usize = 500;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrphanReport {
    /// Objects looked at under `uploads/`.
    pub scanned: u64,
    /// Objects whose name has no submission id or whose submission does not exist.
    pub deleted_orphans: u64,
    pub kept_referenced: u64,
    /// Younger than the grace period: their transaction may still be in flight.
    pub kept_young: u64,
    /// Deletions that failed (retried by the next sweep).
    pub failed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    #[error("listing receipts failed: {0}")]
    List(#[from] BlobError),
    #[error("reading a submission failed: {0}")]
    Store(#[from] StoreError),
}

/// Deletes every object under `uploads/` created before `now - grace` that no submission
/// references. Run with a zero grace only when no request can be in flight.
pub async fn sweep_orphans(
    store: &dyn Store,
    blobs: &dyn Blobs,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<OrphanReport, OrphanError> {
    let mut report = OrphanReport::default();
    let mut after: Option<String> = None;
    loop {
        let page = blobs.list(UPLOADS_PREFIX, after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        let full = page.len() == PAGE;
        for object in page {
            report.scanned += 1;
            if now - object.created_at < grace {
                report.kept_young += 1;
                continue;
            }
            let referenced = match submission_id_of(&object.name) {
                Some(id) => store.submission(&id).await?.is_some(),
                None => false,
            };
            if referenced {
                report.kept_referenced += 1;
                continue;
            }
            match blobs.delete(&object.name).await {
                Ok(()) => report.deleted_orphans += 1,
                Err(e) => {
                    // Names of the older system may carry personal data: never logged.
                    tracing::warn!(error = %e, "orphan_receipt_delete_failed");
                    report.failed += 1;
                }
            }
        }
        if !full {
            break;
        }
    }
    if report.deleted_orphans + report.failed > 0 {
        tracing::info!(
            scanned = report.scanned,
            deleted_orphans = report.deleted_orphans,
            failed = report.failed,
            "orphan_receipts_swept"
        );
    }
    Ok(report)
}
