# One registro deployment (an environment: its own project). The roots in infra/environments/
# call this module with their settings; everything a deployment needs from an empty project is
# here except what must exist before Terraform runs (the state bucket, the secret values, the
# spreadsheets' sharing: docs/runbook.md §8).

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  registro_env = var.environment == "prod" ? "production" : "development"
  labels = {
    app         = "registro"
    environment = var.environment
  }

  # Cloud Run's deterministic URLs (https://<service>-<project number>.<region>.run.app) are
  # known before the services exist, so each service's own URL (its OIDC audience, the push
  # endpoint, the receipt links) can be in its settings without a dependency cycle.
  service_url = {
    for s in ["registro-api", "registro-outbox", "registro-worker"] :
    s => "https://${s}-${data.google_project.this.number}.${var.region}.run.app"
  }
  api_public_url = var.api_domain == null ? local.service_url["registro-api"] : "https://${var.api_domain}"

  image = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.registro.repository_id}/registro:${var.image_tag}"

  database_name = var.create_firestore_database ? google_firestore_database.this[0].name : var.firestore_database_name

  # Where the catalog bucket is mounted in registro-api and registro-worker.
  catalog_mount = "/etc/registro"
  catalog_path  = "${local.catalog_mount}/delegaciones.json"

  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
