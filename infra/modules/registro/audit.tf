# Data Access audit logs for Cloud Storage: every read of a receipt object (a signed URL used, an
# operator's download) is recorded with its principal. Reads are rare (organizers following a
# link), so the log volume is small. Admin Activity logs are always on.
resource "google_project_iam_audit_config" "storage_reads" {
  project = var.project_id
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_READ"
  }
}
