# Secret Manager secrets. Terraform creates the secrets and never their values (a value in
# Terraform would sit in the state): the operator adds versions out of band (docs/runbook.md
# §8.2) and pins them with var.secret_versions, so a rotation rolls every instance.

resource "google_secret_manager_secret" "receipt_link_key" {
  project   = var.project_id
  secret_id = "receipt-link-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

# Older receipt-link keys that still verify (comma-separated 64-hex keys). Seeded with a fresh
# random key that never signed anything; a rotation moves the old key here.
resource "google_secret_manager_secret" "receipt_link_previous_keys" {
  project   = var.project_id
  secret_id = "receipt-link-previous-keys"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret" "resend_api_key" {
  project   = var.project_id
  secret_id = "resend-api-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}
