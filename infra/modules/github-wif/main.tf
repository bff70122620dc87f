# Workload Identity Federation for GitHub Actions: no service-account key exists anywhere. Only
# this repository's workflows can exchange their GitHub OIDC token, and:
# - the deployer (terraform apply, image push, Firebase deploy) only from a job running in the
#   GitHub environment var.deploy_environment (production: required reviewers);
# - the planner (terraform plan on pull requests, with -refresh=false -lock=false) from any
#   workflow of the repository, and it can only read the state and see the project.

resource "google_iam_workload_identity_pool" "github" {
  project                   = var.project_id
  workload_identity_pool_id = var.pool_id
  display_name              = "GitHub Actions"
  description               = "Workflows of ${var.github_repository}"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  # checkov:skip=CKV_GCP_125: the condition pins the exact assertion.repository (set by GitHub, not by the workflow) instead of one assertion.sub value, because two identities share this provider: the deployer is restricted further by its principalSet on attribute.environment (the protected GitHub environment) and the planner by attribute.repository; no single sub value matches both the environment jobs and the pull-request plans
  project                            = var.project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
    # Jobs outside a GitHub environment (pull-request plans) carry no environment claim.
    "attribute.environment" = "has(assertion.environment) ? assertion.environment : \"none\""
  }
  # Tokens of any other repository are refused outright.
  attribute_condition = "assertion.repository == \"${var.github_repository}\""

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  project      = var.project_id
  account_id   = "registro-deployer"
  display_name = "GitHub deploys (terraform apply, images, hosting)"
}

resource "google_service_account" "planner" {
  project      = var.project_id
  account_id   = "registro-planner"
  display_name = "GitHub pull-request plans (read-only)"
}

resource "google_service_account_iam_member" "deployer_from_environment" {
  service_account_id = google_service_account.deployer.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.environment/${var.deploy_environment}"
}

resource "google_service_account_iam_member" "planner_from_repository" {
  service_account_id = google_service_account.planner.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}

# What terraform apply of infra/modules/registro needs: the deployer manages resources and their
# IAM, pushes images, writes the state (roles/storage.admin covers the state bucket) and
# publishes the front. It is the most powerful identity of the deployment (docs/security.md §7:
# it could read data), which is why only jobs of the protected environment get it. Acting as the
# deployment's service accounts is granted on those five accounts only (modules/registro, iam.tf).
locals {
  deployer_roles = toset([
    "roles/artifactregistry.admin",
    "roles/cloudscheduler.admin",
    "roles/datastore.owner",
    "roles/eventarc.admin",
    "roles/firebase.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/logging.configWriter",
    "roles/monitoring.editor",
    "roles/pubsub.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
  ])
}

resource "google_project_iam_member" "deployer" {
  # checkov:skip=CKV_GCP_49: the deployer creates the deployment's service accounts and manages their IAM (serviceAccountAdmin; acting as them is granted on the five accounts only, registro/iam.tf); it is the deploy identity, usable only from the protected GitHub environment, and no workload runs as it
  for_each = local.deployer_roles

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# Plans on pull requests run without refresh: they read the state, and the project's metadata
# for the data sources (roles/browser), nothing else — no document, receipt or secret.
resource "google_storage_bucket_iam_member" "planner_state" {
  bucket = var.state_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.planner.email}"
}

resource "google_project_iam_member" "planner_browser" {
  project = var.project_id
  role    = "roles/browser"
  member  = "serviceAccount:${google_service_account.planner.email}"
}
