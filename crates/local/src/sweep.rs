//! Removes the leftovers of interrupted receipt writes (`FsBlobs`' temporary files).
//!
//! Unreferenced receipts are the business of `api::orphans`, which works through the ports on
//! any backend; temporary files exist only on this one and are never listed by the port.

use crate::FsBlobs;
use chrono::{DateTime, Duration, Utc};
use domain::ports::BlobError;

impl FsBlobs {
    /// Deletes temporary files under `prefix` modified before `now - grace`; returns how many.
    /// Run with a zero grace only when no write can be in flight (at startup).
    pub async fn remove_stale_temp_files(
        &self,
        prefix: &str,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<u64, BlobError> {
        let mut removed = 0;
        for entry in self.walk(prefix).await? {
            if !entry.temp || now - entry.modified < grace {
                continue;
            }
            match self.remove_entry(&entry.name).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(error = %e, "temp_receipt_delete_failed"),
            }
        }
        Ok(removed)
    }
}
