# Every grant of the deployment outside the services' run.invoker bindings (those are in
# services.tf, through the cloud-run-service module). docs/security.md §7 is the written
# least-privilege table; crates/registro/tests/infra checks that this file and that table agree,
# grant for grant.
#
# Firestore has no collection-level IAM: roles/datastore.user on the project is the narrowest
# role that reads and writes documents (the reference's weakness 22, accepted and documented).

# ---- registro-api --------------------------------------------------------------------------

resource "google_project_iam_member" "api_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.api.email}"
}

# Create (create-only uploads), read (signed URLs carry the signer's access), list and delete
# (uploads a request does not keep, orphans) on the receipts bucket only.
resource "google_storage_bucket_iam_member" "api_receipts" {
  bucket = google_storage_bucket.receipts.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.api.email}"
}

resource "google_storage_bucket_iam_member" "api_catalog" {
  bucket = google_storage_bucket.catalog.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.api.email}"
}

# signBlob with its own account (V4 signed receipt URLs without a key file): on itself only.
resource "google_service_account_iam_member" "api_signs_as_itself" {
  service_account_id = google_service_account.api.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret_iam_member" "api_receipt_link_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.receipt_link_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret_iam_member" "api_receipt_link_previous_keys" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.receipt_link_previous_keys.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

# ---- registro-outbox -----------------------------------------------------------------------

resource "google_project_iam_member" "outbox_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.outbox.email}"
}

resource "google_pubsub_topic_iam_member" "outbox_publishes_work" {
  project = var.project_id
  topic   = google_pubsub_topic.work.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.outbox.email}"
}

# ---- registro-worker -----------------------------------------------------------------------

resource "google_project_iam_member" "worker_firestore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_storage_bucket_iam_member" "worker_catalog" {
  bucket = google_storage_bucket.catalog.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_secret_manager_secret_iam_member" "worker_receipt_link_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.receipt_link_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_secret_manager_secret_iam_member" "worker_receipt_link_previous_keys" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.receipt_link_previous_keys.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_secret_manager_secret_iam_member" "worker_resend_api_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.resend_api_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.worker.email}"
}

# ---- the callers ---------------------------------------------------------------------------

# Eventarc delivers Firestore events as the trigger's account, which must be an event receiver
# (a project-level role: Eventarc has no narrower resource for it).
resource "google_project_iam_member" "outbox_invoker_receives_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.outbox_invoker.email}"
}

# ---- the Pub/Sub service agent -------------------------------------------------------------

# Dead-lettering: the agent republishes a message that ran out of attempts to the dead-letter
# topic and acknowledges it on the work subscription; it needs both grants.
resource "google_pubsub_topic_iam_member" "pubsub_agent_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_forwards_from_work" {
  project      = var.project_id
  subscription = google_pubsub_subscription.worker_push.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# Authenticated push: the agent mints the OIDC tokens as the push account, and as the Eventarc
# trigger's account (Eventarc delivers through Pub/Sub push). Required for projects created
# before April 2021, harmless after; scoped to those two accounts.
resource "google_service_account_iam_member" "pubsub_agent_mints_push_tokens" {
  service_account_id = google_service_account.worker_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

resource "google_service_account_iam_member" "pubsub_agent_mints_event_tokens" {
  service_account_id = google_service_account.outbox_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# ---- the deployer ---------------------------------------------------------------------------

# Attaching an account to a service, a trigger, a job or a subscription requires acting as it:
# the deployer may act as these five, not as every account of the project.
resource "google_service_account_iam_member" "deployer_acts_as" {
  for_each = {
    api            = google_service_account.api.name
    outbox         = google_service_account.outbox.name
    worker         = google_service_account.worker.name
    outbox_invoker = google_service_account.outbox_invoker.name
    worker_invoker = google_service_account.worker_invoker.name
  }

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${var.deployer_service_account}"
}
