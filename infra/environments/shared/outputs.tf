output "api_url" {
  description = "Where the front posts the form."
  value       = module.registro.api_url
}

output "outbox_url" {
  description = "registro-outbox's main URL."
  value       = module.registro.outbox_url
}

output "worker_url" {
  description = "registro-worker's main URL."
  value       = module.registro.worker_url
}

output "worker_service_account" {
  description = "Share both spreadsheets with it (Editor)."
  value       = module.registro.worker_service_account
}

output "service_accounts" {
  description = "Runtime and caller service accounts."
  value       = module.registro.service_accounts
}

output "artifact_registry" {
  description = "Image prefix: <this>/registro:<sha>."
  value       = module.registro.artifact_registry
}

output "receipts_bucket" {
  description = "Receipts bucket."
  value       = module.registro.receipts_bucket
}

output "catalog_bucket" {
  description = "Catalog bucket."
  value       = module.registro.catalog_bucket
}

output "secrets" {
  description = "Secrets to give versions to, out of band."
  value       = module.registro.secrets
}

output "dead_letter_subscription" {
  description = "Dead-letter subscription."
  value       = module.registro.dead_letter_subscription
}

output "hosting_site_id" {
  description = "Firebase Hosting site."
  value       = module.registro.hosting_site_id
}

output "hosting_url" {
  description = "The front's default URL."
  value       = module.registro.hosting_url
}

output "api_domain_dns_records" {
  description = "DNS records for the API's custom domain."
  value       = module.registro.api_domain_dns_records
}

output "workload_identity_provider" {
  description = "GitHub: WIF_PROVIDER."
  value       = module.github.workload_identity_provider
}

output "deployer_service_account" {
  description = "GitHub: DEPLOYER_SERVICE_ACCOUNT."
  value       = module.github.deployer_service_account
}

output "planner_service_account" {
  description = "GitHub: <ENV>_PLANNER_SERVICE_ACCOUNT."
  value       = module.github.planner_service_account
}
