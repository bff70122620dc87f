# What pages the person on call (docs/runbook.md §8.5 says what to do for each): submissions
# that failed, an outbox backlog, dead letters, API 5xx, and Sheets / Resend throttling. Metrics
# come from the services' JSON logs (event name in jsonPayload.message; no personal data) and
# from Cloud Run and Pub/Sub's own metrics.

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  project      = var.project_id
  display_name = "registro on call: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
}

locals {
  channels = [for c in google_monitoring_notification_channel.email : c.id]
  on_service = {
    for s in ["registro-api", "registro-outbox", "registro-worker"] :
    s => "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${s}\""
  }
}

# ---- log-based metrics -------------------------------------------------------------------

resource "google_logging_metric" "submissions_failed" {
  project     = var.project_id
  name        = "registro/submissions_failed"
  description = "Submissions the worker marked failed (permanent error or attempts spent): they need an operator."
  filter      = "${local.on_service["registro-worker"]} AND jsonPayload.message=\"submission_processing_failed\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

resource "google_logging_metric" "outbox_oldest_due" {
  project     = var.project_id
  name        = "registro/outbox_oldest_due_seconds"
  description = "Age of the oldest outbox row each sweep found due (seconds since it was written)."
  filter      = "${local.on_service["registro-outbox"]} AND jsonPayload.message=\"outbox_sweep_finished\""

  value_extractor = "EXTRACT(jsonPayload.oldest_due_secs)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 1
    }
  }
}

resource "google_logging_metric" "downstream_throttled" {
  project     = var.project_id
  name        = "registro/downstream_throttled"
  description = "HTTP 429 answers from Google Sheets or Resend (each one retried with backoff)."
  filter = join(" AND ", [
    local.on_service["registro-worker"],
    "jsonPayload.message=(\"sheets_retrying\" OR \"sheets_giving_up_for_now\" OR \"resend: retrying\" OR \"resend: giving up for now\")",
    "jsonPayload.error:\"HTTP 429\"",
  ])

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key         = "downstream"
      value_type  = "STRING"
      description = "sheets or resend"
    }
  }

  label_extractors = {
    downstream = "REGEXP_EXTRACT(jsonPayload.message, \"^(sheets|resend)\")"
  }
}

# ---- alert policies ----------------------------------------------------------------------

resource "google_monitoring_alert_policy" "submissions_failed" {
  project               = var.project_id
  display_name          = "registro: a submission failed"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "submission_processing_failed logged"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.submissions_failed.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_COUNT"
      }
    }
  }

  documentation {
    content   = "A registration could not be completed. docs/runbook.md §8.5: `registro admin --backend firestore list --status failed`, read the error, fix the cause, `retry <id>`."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "outbox_backlog" {
  project               = var.project_id
  display_name          = "registro: outbox backlog"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "oldest due outbox row older than ${var.outbox_backlog_minutes} min"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.outbox_oldest_due.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.outbox_backlog_minutes * 60
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_PERCENTILE_99"
      }
    }
  }

  # The sweep itself stopped: no sweep log line for 10 minutes (Scheduler job paused, the
  # service refusing the Scheduler's token, or down).
  conditions {
    display_name = "no outbox sweep for 10 min"
    condition_absent {
      filter   = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.outbox_oldest_due.name}\" AND resource.type=\"cloud_run_revision\""
      duration = "600s"
      # ALIGN_COUNT only takes numeric or Boolean points; this metric is a DELTA distribution,
      # which ALIGN_DELTA accepts (any aligned point means a sweep reported).
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_DELTA"
      }
    }
  }

  documentation {
    content   = "Accepted registrations are not reaching Pub/Sub. docs/runbook.md §8.5: look for outbox_publish_failed and caller_refused in registro-outbox's logs."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "registro: dead-lettered messages"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "messages waiting on the dead-letter subscription"
    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    content   = "A work message ran out of delivery attempts. docs/runbook.md §8.5: its submission is failed; re-drive it with `registro admin retry`, then drain the dead-letter subscription."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "api_5xx" {
  project               = var.project_id
  display_name          = "registro: registro-api answers 5xx"
  combiner              = "OR"
  notification_channels = local.channels

  # The API answers browsers with 303s (errors included); a 5xx is Cloud Run's or a crash.
  # registro-outbox and registro-worker answer 429/503 on purpose to ask for a retry, so their
  # 5xx are covered by the backlog and dead-letter alerts instead.
  conditions {
    display_name = "more than 5 5xx answers in 5 min"
    condition_threshold {
      filter          = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"registro-api\" AND metric.labels.response_code_class=\"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = 5
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    content   = "docs/runbook.md §8.5: registro-api's logs (severity>=ERROR) around the alert."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "downstream_throttled" {
  project               = var.project_id
  display_name          = "registro: Google Sheets or Resend throttling"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "more than 20 HTTP 429 in 10 min"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.downstream_throttled.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 20
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.downstream"]
      }
    }
  }

  documentation {
    content   = "The worker is over a quota; it backs off and retries, but registrations slow down. docs/runbook.md §8.5: lower SHEETS_WRITES_PER_MINUTE / RESEND_REQUESTS_PER_SECOND (variables sheets_writes_per_minute, resend_requests_per_second) or raise the quota."
    mime_type = "text/markdown"
  }
}
