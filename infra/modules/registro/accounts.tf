# One service account per service and one per caller (docs/security.md §7): the API cannot
# publish, the outbox cannot read secrets, the worker cannot touch receipts, and each trigger
# endpoint accepts only its own caller's tokens. Each waits for the APIs (iam.googleapis.com
# first): in a new project the IAM API is not on yet.

resource "google_service_account" "api" {
  project      = var.project_id
  account_id   = "registro-api"
  display_name = "registro-api (form endpoints, receipt links)"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "outbox" {
  project      = var.project_id
  account_id   = "registro-outbox"
  display_name = "registro-outbox (outbox publisher)"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "worker" {
  project      = var.project_id
  account_id   = "registro-worker"
  display_name = "registro-worker (Sheets rows and e-mails)"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "outbox_invoker" {
  project      = var.project_id
  account_id   = "registro-outbox-invoker"
  display_name = "Caller of registro-outbox (Eventarc trigger, Cloud Scheduler sweep)"

  depends_on = [google_project_service.this]
}

resource "google_service_account" "worker_invoker" {
  project      = var.project_id
  account_id   = "registro-worker-invoker"
  display_name = "Caller of registro-worker (Pub/Sub push subscription)"

  depends_on = [google_project_service.this]
}
