output "name" {
  description = "Service name."
  value       = google_cloud_run_v2_service.this.name
}

output "uri" {
  description = "The service's main URL."
  value       = google_cloud_run_v2_service.this.uri
}

output "id" {
  description = "Service resource id."
  value       = google_cloud_run_v2_service.this.id
}
