# Inputs of one registro deployment. Names and defaults follow the older system's Terraform
# (reference: collection, bucket and topic names), so both can share a project during a migration.

variable "project_id" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, Artifact Registry, Pub/Sub, Eventarc, Scheduler and the buckets."
  type        = string
  default     = "us-central1"
}

variable "environment" {
  description = "dev or prod: names the deployment in labels and sets REGISTRO_ENV (prod → production, which refuses test switches)."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "image_tag" {
  description = "Tag of the image to run: the git commit SHA the deploy workflow pushed."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{7,40}$", var.image_tag))
    error_message = "image_tag must be a git commit SHA (the image is tagged by commit, never latest)."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the three services."
  type        = string
  default     = "info"
}

# ---- Firestore ---------------------------------------------------------------------------

variable "firestore_database_name" {
  description = "Firestore database (FIRESTORE_DATABASE)."
  type        = string
  default     = "(default)"
}

variable "firestore_location" {
  description = "Firestore location (a region such as us-central1, or a multi-region such as nam5). The Eventarc trigger lives there too (for nam5 / eur3: in us-central1 / europe-west4, the regions Eventarc maps them to)."
  type        = string
  default     = "us-central1"
}

variable "create_firestore_database" {
  description = "Create the database here; false when it already exists (shared with the older system) and only indexes and TTL policies are added."
  type        = bool
  default     = true
}

variable "firestore_collection_name" {
  description = "Submissions collection (FIRESTORE_COLLECTION_NAME)."
  type        = string
  default     = "inscripciones"
}

variable "idempotency_collection_name" {
  description = "Idempotency records (IDEMPOTENCY_COLLECTION_NAME)."
  type        = string
  default     = "inscripciones_idempotencia"
}

variable "outbox_collection_name" {
  description = "Outbox rows (OUTBOX_COLLECTION_NAME)."
  type        = string
  default     = "inscripciones_outbox"
}

variable "deletion_protection" {
  description = "Protect the Firestore database and the services against terraform destroy (the receipts bucket is never force-destroyed: a bucket holding receipts cannot be deleted by Terraform)."
  type        = bool
  default     = true
}

# ---- Cloud Storage -------------------------------------------------------------------------

variable "receipts_bucket_name" {
  description = "Private bucket of payment receipts (COMPROBANTES_BUCKET_NAME)."
  type        = string
}

variable "receipt_retention_days" {
  description = "Receipts older than this are deleted (personal data: keep them for the conference and its accounting, no longer)."
  type        = number
  default     = 400
}

variable "soft_delete_days" {
  description = "Deleted receipts stay restorable this long (bucket soft delete)."
  type        = number
  default     = 30
  # soft_delete_policy.retention_duration_seconds must be between 7 and 90 days.
  validation {
    condition     = var.soft_delete_days >= 7 && var.soft_delete_days <= 90
    error_message = "Cloud Storage soft delete keeps objects 7 to 90 days."
  }
}

variable "catalog_bucket_name" {
  description = "Bucket holding the conference catalog (delegaciones.json), mounted read-only into registro-api and registro-worker."
  type        = string
}

variable "catalog_file" {
  description = "Path of the conference's delegaciones.json on the machine running Terraform (the conference's data: never in this repository)."
  type        = string
}

# ---- Pub/Sub and the pipeline --------------------------------------------------------------

variable "pubsub_topic_name" {
  description = "Work topic (PUB_SUB_TOPIC_NAME)."
  type        = string
  default     = "smmun-inscripciones-topic"
}

variable "worker_max_attempts" {
  description = "Deliveries of one message before it goes to the dead-letter topic; also REGISTRO_WORKER_MAX_ATTEMPTS (the worker marks the submission failed on the last one)."
  type        = number
  default     = 10
  validation {
    condition     = var.worker_max_attempts >= 5 && var.worker_max_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "sweep_schedule" {
  description = "Cron (UTC) of the outbox sweep: publishes rows a missed trigger left behind, re-queued rows, and stuck submissions. Two indexed queries (2 reads) when there is nothing to do."
  type        = string
  default     = "* * * * *"
}

# ---- The form ------------------------------------------------------------------------------

variable "frontend_url" {
  description = "The front's origin, where the API redirects browsers (REGISTRO_FRONTEND_URL)."
  type        = string
}

variable "allowed_origins" {
  description = "Origins allowed to post the form (REGISTRO_ALLOWED_ORIGINS)."
  type        = list(string)
}

variable "api_domain" {
  description = "Custom domain of registro-api (e.g. api.smmun.com), mapped to the service; null uses the run.app URL."
  type        = string
  default     = null
}

variable "rate_limit_per_minute" {
  description = "Posts per client per minute per instance (REGISTRO_RATE_LIMIT_PER_MINUTE); 0 switches it off."
  type        = number
  default     = 30
}

variable "internal_email" {
  description = "Where the internal notice of each registration goes (REGISTRO_INTERNAL_EMAIL)."
  type        = string
}

variable "sheets" {
  description = "The Google Sheets the worker appends to (the eight ids of the older system; share both spreadsheets with the worker's service account)."
  type = object({
    delegaciones_spreadsheet_id   = string
    delegaciones_sheet_id         = string
    delegaciones_table_id         = string
    faculty_spreadsheet_id        = string
    faculty_general_sheet_id      = string
    faculty_general_table_id      = string
    faculty_delegaciones_sheet_id = string
    faculty_delegaciones_table_id = string
  })
}

variable "sheets_writes_per_minute" {
  description = "The worker's Sheets write budget (the API's per-user quota is 60)."
  type        = number
  default     = 60
}

variable "resend_requests_per_second" {
  description = "The worker's Resend request budget (the account's rate limit)."
  type        = number
  default     = 2
}

# ---- Secrets (values set out of band: docs/runbook.md) --------------------------------------

variable "secret_versions" {
  description = "Pinned Secret Manager versions the services read. Bumping one and applying rolls new revisions (a rotation reaches every instance, unlike `latest`)."
  type = object({
    receipt_link_key           = string
    receipt_link_previous_keys = string
    resend_api_key             = string
  })
  default = {
    receipt_link_key           = "1"
    receipt_link_previous_keys = "1"
    resend_api_key             = "1"
  }
}

# ---- Scaling (see the comments in services.tf) ---------------------------------------------

variable "api_min_instances" {
  description = "Warm registro-api instances (1 during a registration window removes the ~60 ms cold start and the catalog mount)."
  type        = number
  default     = 0
}

variable "api_max_instances" {
  description = "Upper bound of registro-api instances."
  type        = number
  default     = 10
}

# ---- Monitoring ----------------------------------------------------------------------------

variable "alert_emails" {
  description = "Who receives the alerts (e-mail notification channels)."
  type        = list(string)
  default     = []
}

variable "outbox_backlog_minutes" {
  description = "Alert when an outbox row has waited this long (the sweep runs every minute)."
  type        = number
  default     = 10
}

# ---- Front ----------------------------------------------------------------------------------

variable "hosting_site_id" {
  description = "Firebase Hosting site of the front (globally unique)."
  type        = string
}

variable "outbox_extra_audiences" {
  description = "More OIDC audiences registro-outbox accepts besides its deterministic URL: if Eventarc mints its tokens for the service's hashed URL (log caller_refused, reason audience), add output outbox_url here (docs/runbook.md §8.4)."
  type        = list(string)
  default     = []
}

variable "deployer_service_account" {
  description = "E-mail of the account that applies this configuration (modules/github-wif): it may act as the deployment's five service accounts."
  type        = string
}
