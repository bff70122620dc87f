//! Removes receipts no submission references.
//!
//! The API uploads a receipt *before* its acceptance transaction (DESIGN.md §4). When the
//! transaction then writes nothing (a replay, a conflict) or the process dies in between, the
//! object is left behind; the API deletes it on a best-effort basis and this sweeper catches
//! the rest. The grace period protects uploads whose transaction may still be running.

use crate::{FsBlobs, LocalError, SqliteStore};
use chrono::{DateTime, Duration, Utc};
use domain::ports::BlobError;
use domain::receipt::submission_id_of;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Files looked at under `uploads/` (temporary ones included).
    pub scanned: u64,
    /// Objects whose name has no submission id or whose submission does not exist.
    pub deleted_orphans: u64,
    /// Leftovers of interrupted writes.
    pub deleted_temp: u64,
    pub kept_referenced: u64,
    /// Younger than the grace period: their transaction may still be in flight.
    pub kept_young: u64,
    /// Deletions that failed (retried by the next sweep).
    pub failed: u64,
}

/// Deletes every file under `uploads/` older than `grace` (by modification time, against
/// `now`) that no submission references, and leftover temporary files. Run with a zero grace
/// only when no request can be in flight (at startup, before serving).
pub async fn sweep_orphans(
    store: &SqliteStore,
    blobs: &FsBlobs,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<SweepReport, LocalError> {
    let mut report = SweepReport::default();
    for entry in blobs.walk("uploads/").await? {
        report.scanned += 1;
        if now - entry.modified < grace {
            report.kept_young += 1;
            continue;
        }
        let orphan = entry.temp
            || match submission_id_of(&entry.name) {
                Some(id) => !store.submission_exists(&id).await?,
                None => true,
            };
        if !orphan {
            report.kept_referenced += 1;
            continue;
        }
        match blobs.remove_entry(&entry.name).await {
            Ok(()) if entry.temp => report.deleted_temp += 1,
            Ok(()) => report.deleted_orphans += 1,
            Err(e) => {
                // Names of the older system may carry personal data: never logged.
                log_failure(&e);
                report.failed += 1;
            }
        }
    }
    if report.deleted_orphans + report.deleted_temp + report.failed > 0 {
        tracing::info!(
            scanned = report.scanned,
            deleted_orphans = report.deleted_orphans,
            deleted_temp = report.deleted_temp,
            failed = report.failed,
            "orphan_receipts_swept"
        );
    }
    Ok(report)
}

fn log_failure(e: &BlobError) {
    tracing::warn!(error = %e, "orphan_receipt_delete_failed");
}
