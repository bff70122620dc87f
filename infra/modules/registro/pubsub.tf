# The work topic, the push subscription to registro-worker (OIDC, backoff, dead-lettering) and
# the dead-letter topic with a subscription of its own, so dead letters are kept and counted.

resource "google_pubsub_topic" "work" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption; messages carry only submission, request and type ids (no personal data), so a Cloud KMS key would add cost and key management without protecting anything sensitive
  project                    = var.project_id
  name                       = var.pubsub_topic_name
  labels                     = local.labels
  message_retention_duration = "604800s"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption; dead letters are the same id-only work messages as the work topic, no personal data
  project                    = var.project_id
  name                       = "${var.pubsub_topic_name}-dead-letter"
  labels                     = local.labels
  message_retention_duration = "604800s"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_subscription" "worker_push" {
  project = var.project_id
  name    = "registro-worker-push"
  topic   = google_pubsub_topic.work.id
  labels  = local.labels

  # Longer than the worker's request timeout (services.tf), so a message is not redelivered
  # while its first delivery is still being processed.
  ack_deadline_seconds       = 360
  message_retention_duration = "604800s"

  # Retryable failures (lease busy, Sheets or Resend throttling) are answered non-2xx; Pub/Sub
  # backs off from 10 s up to 10 minutes.
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # After worker_max_attempts deliveries the message goes to the dead-letter topic; the worker
  # marks the submission failed on that same last attempt (REGISTRO_WORKER_MAX_ATTEMPTS).
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.worker_max_attempts
  }

  push_config {
    push_endpoint = "${local.service_url["registro-worker"]}/pubsub/push"
    oidc_token {
      service_account_email = google_service_account.worker_invoker.email
      audience              = local.worker_audience
    }
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_project_service.this]
}

resource "google_pubsub_subscription" "dead_letter" {
  project = var.project_id
  name    = "${var.pubsub_topic_name}-dead-letter"
  topic   = google_pubsub_topic.dead_letter.id
  labels  = local.labels

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}
