output "workload_identity_provider" {
  description = "WIF_PROVIDER for google-github-actions/auth."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "deployer_service_account" {
  description = "DEPLOYER_SERVICE_ACCOUNT (GitHub environment variable)."
  value       = google_service_account.deployer.email
}

output "planner_service_account" {
  description = "<ENV>_PLANNER_SERVICE_ACCOUNT (GitHub repository variable)."
  value       = google_service_account.planner.email
}
