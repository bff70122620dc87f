# The body of an environment root (dev/ and prod/ link this file); what differs between them is
# in each root's environment.tf.

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
  # The Firebase resources (the only ones on this provider) bill their quota to the project
  # they manage; without it, user credentials (the first, manual apply) are refused by the
  # Firebase APIs for want of a quota project.
  user_project_override = true
}

module "registro" {
  source = "../../modules/registro"

  project_id             = var.project_id
  region                 = var.region
  firestore_location     = var.firestore_location
  environment            = local.environment
  image_tag              = var.image_tag
  receipts_bucket_name   = var.receipts_bucket_name
  catalog_bucket_name    = var.catalog_bucket_name
  catalog_file           = var.catalog_file
  hosting_site_id        = var.hosting_site_id
  frontend_url           = var.frontend_url
  allowed_origins        = var.allowed_origins
  api_domain             = var.api_domain
  internal_email         = var.internal_email
  sheets                 = var.sheets
  secret_versions        = var.secret_versions
  alert_emails           = var.alert_emails
  outbox_extra_audiences = var.outbox_extra_audiences
  api_min_instances      = var.api_min_instances

  deployer_service_account = module.github.deployer_service_account

  deletion_protection    = local.deletion_protection
  receipt_retention_days = local.receipt_retention_days
  soft_delete_days       = local.soft_delete_days
  log_level              = local.log_level
}

module "github" {
  source = "../../modules/github-wif"

  project_id         = var.project_id
  github_repository  = var.github_repository
  deploy_environment = local.github_environment
  state_bucket       = var.state_bucket
}
