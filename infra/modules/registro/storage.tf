# The receipts bucket (personal data: private, uniform access, soft delete, a retention limit) and
# the catalog bucket (the conference's delegaciones.json, mounted read-only into the services).

resource "google_storage_bucket" "receipts" {
  # checkov:skip=CKV_GCP_62: reads of receipts are recorded by Data Access audit logs (audit.tf), not by legacy usage logs
  # checkov:skip=CKV_GCP_78: uploads are create-only (ifGenerationMatch=0), so nothing is overwritten; deleted receipts stay restorable through soft delete, and versioning would keep noncurrent copies of personal data past the retention rule below
  project                     = var.project_id
  name                        = var.receipts_bucket_name
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  # Uploads are create-only (ifGenerationMatch=0): nothing is ever overwritten, so object
  # versioning would only duplicate soft delete, which keeps every deleted receipt restorable.
  versioning {
    enabled = false
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_days * 86400
  }

  # Receipts are kept for the conference and its accounting, then deleted (weakness 19). This
  # also bounds orphans: uploads no submission references, which the request could not delete.
  lifecycle_rule {
    condition {
      age            = var.receipt_retention_days
      matches_prefix = ["uploads/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket" "catalog" {
  # checkov:skip=CKV_GCP_62: reads are recorded by the Data Access audit logs enabled for all of storage.googleapis.com (audit.tf), not by legacy usage logs; the catalog is not secret
  project                     = var.project_id
  name                        = var.catalog_bucket_name
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels

  # Earlier catalogs stay available for a rollback.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 10
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

# The conference's catalog (never in this repository: var.catalog_file points at the operator's
# copy). Its MD5 labels the services' revisions, so a new catalog rolls them: they read it at
# start.
resource "google_storage_bucket_object" "catalog" {
  bucket       = google_storage_bucket.catalog.name
  name         = "delegaciones.json"
  source       = var.catalog_file
  content_type = "application/json"
}
