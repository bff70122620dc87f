# The three Cloud Run services, one image. The environment of each is exactly what its
# configuration reads (runtime::cloud::services::{api,outbox,worker}_variables, and
# deploy/<service>.env.example): crates/registro/tests/infra checks that nothing is missing or
# unused, and that the secrets come from Secret Manager.
#
# Sizing, from bench/results/2026-12-05-07833e9.jsonl (registro-api on the emulators, 2 shared
# cores): 12.4 MiB resident idle, 29.3 MiB after load (32.5 MiB peak); /healthz answers 53–62 ms
# after exec. No service needs more than the smallest second-generation instance (1 vCPU,
# 512 MiB, the minimum for a Cloud Storage volume); memory is not the limit, concurrency is.

locals {
  worker_audience  = "${local.service_url["registro-worker"]}/pubsub/push"
  outbox_audiences = concat([local.service_url["registro-outbox"]], var.outbox_extra_audiences)

  # Settings every service reads.
  common_env = {
    GOOGLE_CLOUD_PROJECT        = var.project_id
    REGISTRO_ENV                = local.registro_env
    REGISTRO_HOST               = "0.0.0.0"
    LOG_LEVEL                   = var.log_level
    FIRESTORE_DATABASE          = local.database_name
    FIRESTORE_COLLECTION_NAME   = var.firestore_collection_name
    IDEMPOTENCY_COLLECTION_NAME = var.idempotency_collection_name
    OUTBOX_COLLECTION_NAME      = var.outbox_collection_name
  }

  receipt_link_secrets = {
    RECEIPT_LINK_KEY = {
      secret  = google_secret_manager_secret.receipt_link_key.secret_id
      version = var.secret_versions.receipt_link_key
    }
    RECEIPT_LINK_PREVIOUS_KEYS = {
      secret  = google_secret_manager_secret.receipt_link_previous_keys.secret_id
      version = var.secret_versions.receipt_link_previous_keys
    }
  }
}

module "api" {
  source = "../cloud-run-service"

  project_id      = var.project_id
  region          = var.region
  name            = "registro-api"
  image           = local.image
  command         = "registro-api"
  service_account = google_service_account.api.email
  labels          = local.labels

  # Browsers post the form from anywhere.
  ingress = "INGRESS_TRAFFIC_ALL"
  public  = true

  # Concurrency 32: the benchmark ran up to 32 concurrent posts with no error and no
  # serialization (unique 100 KB posts: 111 → 156 req/s from 1 to 8 clients; p99 530 ms at 32
  # on 2 shared cores with the emulators). Past 32 latency is queueing, so a second instance is
  # better than more requests on one. Ten instances bound the cost and stay under Firestore's
  # 500 writes/s ramp-up rule (3 writes per accepted submission).
  cpu           = "1"
  memory        = "512Mi"
  concurrency   = 32
  min_instances = var.api_min_instances
  max_instances = var.api_max_instances
  # Above the API's own body limits (a body not finished 120 s after its headers is refused with
  # a page the browser understands), so Cloud Run never cuts an upload first.
  timeout_seconds     = 150
  deletion_protection = var.deletion_protection

  catalog_bucket     = google_storage_bucket.catalog.name
  catalog_mount_path = local.catalog_mount
  catalog_revision   = google_storage_bucket_object.catalog.md5hash

  env = merge(local.common_env, {
    COMPROBANTES_BUCKET_NAME       = google_storage_bucket.receipts.name
    REGISTRO_CATALOG               = local.catalog_path
    REGISTRO_PUBLIC_URL            = local.api_public_url
    REGISTRO_FRONTEND_URL          = var.frontend_url
    REGISTRO_ALLOWED_ORIGINS       = join(",", var.allowed_origins)
    REGISTRO_RATE_LIMIT_PER_MINUTE = tostring(var.rate_limit_per_minute)
    # Cloud Run's front end appends the client's address as the right-most X-Forwarded-For
    # entry: the one the rate limit keys on.
    REGISTRO_TRUST_FORWARDED_FOR = "true"
  })
  secret_env = local.receipt_link_secrets

  # A revision that cannot read its secrets or its catalog does not start.
  depends_on = [
    google_secret_manager_secret_iam_member.api_receipt_link_key,
    google_secret_manager_secret_iam_member.api_receipt_link_previous_keys,
    google_storage_bucket_iam_member.api_catalog,
  ]
}

module "outbox" {
  source = "../cloud-run-service"

  project_id      = var.project_id
  region          = var.region
  name            = "registro-outbox"
  image           = local.image
  command         = "registro-outbox"
  service_account = google_service_account.outbox.email
  labels          = local.labels

  # Only Eventarc and Cloud Scheduler call it (internal sources), with OIDC tokens of
  # registro-outbox-invoker, which alone may invoke it.
  ingress  = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  invokers = ["serviceAccount:${google_service_account.outbox_invoker.email}"]

  # A request claims one row and publishes one message (5.5 ms median publish on the emulator):
  # 16 at once absorb a burst of creates; three instances are plenty for 2,000 registrations a
  # week and keep duplicate publishes (harmless, but work) rare.
  cpu                 = "1"
  memory              = "512Mi"
  concurrency         = 16
  min_instances       = 0
  max_instances       = 3
  timeout_seconds     = 60
  deletion_protection = var.deletion_protection

  env = merge(local.common_env, {
    PUB_SUB_TOPIC_NAME   = google_pubsub_topic.work.name
    OIDC_AUDIENCE        = join(",", local.outbox_audiences)
    OIDC_SERVICE_ACCOUNT = google_service_account.outbox_invoker.email
  })
}

module "worker" {
  source = "../cloud-run-service"

  project_id      = var.project_id
  region          = var.region
  name            = "registro-worker"
  image           = local.image
  command         = "registro-worker"
  service_account = google_service_account.worker.email
  labels          = local.labels

  # Only the push subscription calls it, with OIDC tokens of registro-worker-invoker.
  ingress  = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  invokers = ["serviceAccount:${google_service_account.worker_invoker.email}"]

  # One instance: the Sheets write budget (60 a minute, the API's per-user quota) and the Resend
  # rate are enforced in the process, so a second instance would double them and earn 429s.
  # Eight deliveries at once keep that budget busy while each waits on the network. The timeout
  # covers the slowest honest delivery: the Sheets step's 120 s retry budget plus two Resend
  # sends of up to 30 s each; the subscription's ack deadline (360 s) is longer still.
  cpu                 = "1"
  memory              = "512Mi"
  concurrency         = 8
  min_instances       = 0
  max_instances       = 1
  timeout_seconds     = 300
  deletion_protection = var.deletion_protection

  catalog_bucket     = google_storage_bucket.catalog.name
  catalog_mount_path = local.catalog_mount
  catalog_revision   = google_storage_bucket_object.catalog.md5hash

  env = merge(local.common_env, {
    OIDC_AUDIENCE                 = local.worker_audience
    OIDC_SERVICE_ACCOUNT          = google_service_account.worker_invoker.email
    REGISTRO_CATALOG              = local.catalog_path
    REGISTRO_PUBLIC_URL           = local.api_public_url
    REGISTRO_INTERNAL_EMAIL       = var.internal_email
    REGISTRO_WORKER_MAX_ATTEMPTS  = tostring(var.worker_max_attempts)
    DELEGACIONES_SPREADSHEET_ID   = var.sheets.delegaciones_spreadsheet_id
    DELEGACIONES_SHEET_ID         = var.sheets.delegaciones_sheet_id
    DELEGACIONES_TABLE_ID         = var.sheets.delegaciones_table_id
    FACULTY_SPREADSHEET_ID        = var.sheets.faculty_spreadsheet_id
    FACULTY_GENERAL_SHEET_ID      = var.sheets.faculty_general_sheet_id
    FACULTY_GENERAL_TABLE_ID      = var.sheets.faculty_general_table_id
    FACULTY_DELEGACIONES_SHEET_ID = var.sheets.faculty_delegaciones_sheet_id
    FACULTY_DELEGACIONES_TABLE_ID = var.sheets.faculty_delegaciones_table_id
    SHEETS_WRITES_PER_MINUTE      = tostring(var.sheets_writes_per_minute)
    SHEETS_READS_PER_MINUTE       = "60"
    SHEETS_REQUEST_TIMEOUT_SECS   = "30"
    RESEND_REQUESTS_PER_SECOND    = tostring(var.resend_requests_per_second)
  })
  secret_env = merge(local.receipt_link_secrets, {
    RESEND_API_KEY = {
      secret  = google_secret_manager_secret.resend_api_key.secret_id
      version = var.secret_versions.resend_api_key
    }
  })

  depends_on = [
    google_secret_manager_secret_iam_member.worker_receipt_link_key,
    google_secret_manager_secret_iam_member.worker_receipt_link_previous_keys,
    google_secret_manager_secret_iam_member.worker_resend_api_key,
    google_storage_bucket_iam_member.worker_catalog,
  ]
}

# A custom domain for the API (v1 domain mapping: the DNS records are an output).
resource "google_cloud_run_domain_mapping" "api" {
  count = var.api_domain == null ? 0 : 1

  project  = var.project_id
  location = var.region
  name     = var.api_domain

  metadata {
    namespace = var.project_id
  }

  spec {
    route_name = module.api.name
  }
}
