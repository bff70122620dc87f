# The image registry: one image per commit (tags are immutable: a tag always names the commit
# that built it), old untagged or stale images cleaned up, the recent ones kept for rollback.

resource "google_artifact_registry_repository" "registro" {
  # checkov:skip=CKV_GCP_84: Google-managed encryption; the images hold the public source's binaries and the built front, no secrets (Secret Manager) and no personal data
  project       = var.project_id
  location      = var.region
  repository_id = "registro"
  format        = "DOCKER"
  description   = "registro images, tagged by git commit"
  labels        = local.labels

  docker_config {
    immutable_tags = true
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "7776000s" # 90 days
    }
  }

  depends_on = [google_project_service.this]
}
