output "api_url" {
  description = "registro-api's URL (the custom domain when set): the front posts the form here."
  value       = local.api_public_url
}

output "api_run_url" {
  description = "registro-api's run.app URL."
  value       = module.api.uri
}

output "outbox_url" {
  description = "registro-outbox's main URL (see var.outbox_extra_audiences)."
  value       = module.outbox.uri
}

output "worker_url" {
  description = "registro-worker's main URL."
  value       = module.worker.uri
}

output "service_accounts" {
  description = "The runtime and caller service accounts."
  value = {
    api            = google_service_account.api.email
    outbox         = google_service_account.outbox.email
    worker         = google_service_account.worker.email
    outbox_invoker = google_service_account.outbox_invoker.email
    worker_invoker = google_service_account.worker_invoker.email
  }
}

output "worker_service_account" {
  description = "Share both spreadsheets with this account as Editor (docs/runbook.md §8.3)."
  value       = google_service_account.worker.email
}

output "artifact_registry" {
  description = "Push images as <this>/registro:<git sha>."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.registro.repository_id}"
}

output "receipts_bucket" {
  description = "The private receipts bucket."
  value       = google_storage_bucket.receipts.name
}

output "catalog_bucket" {
  description = "The bucket holding delegaciones.json."
  value       = google_storage_bucket.catalog.name
}

output "secrets" {
  description = "Secret Manager secrets whose versions the operator adds (docs/runbook.md §8.2)."
  value = [
    google_secret_manager_secret.receipt_link_key.secret_id,
    google_secret_manager_secret.receipt_link_previous_keys.secret_id,
    google_secret_manager_secret.resend_api_key.secret_id,
  ]
}

output "dead_letter_subscription" {
  description = "Where messages that ran out of attempts wait."
  value       = google_pubsub_subscription.dead_letter.name
}

output "hosting_site_id" {
  description = "The Firebase Hosting site of the front."
  value       = google_firebase_hosting_site.front.site_id
}

output "hosting_url" {
  description = "The front's default URL."
  value       = google_firebase_hosting_site.front.default_url
}

output "api_domain_dns_records" {
  description = "DNS records to create for var.api_domain."
  value       = var.api_domain == null ? [] : google_cloud_run_domain_mapping.api[0].status[0].resource_records
}
