# What calls registro-outbox: the Eventarc trigger on every new outbox row (publishes within
# seconds) and the Cloud Scheduler sweep (rows a missed event left behind, rows `registro admin
# retry` re-queued — an update, which Eventarc does not see — and stuck submissions). Both
# authenticate as registro-outbox-invoker with Google-signed OIDC tokens.

locals {
  # Firestore events are delivered in the database's location, except that Eventarc has no
  # multi-region triggers: a database in nam5 or eur3 is served by the Eventarc region Google
  # maps it to (https://cloud.google.com/firestore/docs/eventarc, "Eventarc and Firestore
  # locations").
  eventarc_location = lookup(
    { nam5 = "us-central1", eur3 = "europe-west4" },
    var.firestore_location,
    var.firestore_location,
  )
}

resource "google_eventarc_trigger" "outbox_created" {
  project         = var.project_id
  name            = "registro-outbox-created"
  location        = local.eventarc_location
  service_account = google_service_account.outbox_invoker.email
  labels          = local.labels

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.firestore.document.v1.created"
  }

  matching_criteria {
    attribute = "database"
    value     = local.database_name
  }

  matching_criteria {
    attribute = "document"
    value     = "${var.outbox_collection_name}/{outboxId}"
    operator  = "match-path-pattern"
  }

  # The handler reads the document id from ce-subject and ignores the payload.
  event_data_content_type = "application/protobuf"

  destination {
    cloud_run_service {
      service = module.outbox.name
      region  = var.region
      path    = "/events/outbox"
    }
  }

  depends_on = [
    google_project_iam_member.outbox_invoker_receives_events,
    module.outbox,
  ]
}

resource "google_cloud_scheduler_job" "outbox_sweep" {
  project          = var.project_id
  region           = var.region
  name             = "registro-outbox-sweep"
  description      = "POST /sweep on registro-outbox: publishes due outbox rows and re-drives stuck submissions"
  schedule         = var.sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  # The next run comes within a minute anyway: one quick retry, no pile-up.
  retry_config {
    retry_count          = 1
    min_backoff_duration = "5s"
    max_backoff_duration = "10s"
  }

  http_target {
    http_method = "POST"
    uri         = "${local.service_url["registro-outbox"]}/sweep"

    oidc_token {
      service_account_email = google_service_account.outbox_invoker.email
      audience              = local.service_url["registro-outbox"]
    }
  }

  depends_on = [google_project_service.this, module.outbox]
}
