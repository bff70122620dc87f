# The inputs of an environment root (dev/ and prod/ link this file: the same inputs, values in
# each root's terraform.tfvars). Descriptions of the deployment's settings are in
# infra/modules/registro/variables.tf.

variable "project_id" {
  description = "The environment's Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of the services."
  type        = string
  default     = "us-central1"
}

variable "firestore_location" {
  description = "Firestore location (region or multi-region)."
  type        = string
  default     = "us-central1"
}

variable "image_tag" {
  description = "Git commit SHA of the image to run (the deploy workflow passes it)."
  type        = string
}

variable "state_bucket" {
  description = "The Terraform state bucket (also given to terraform init -backend-config)."
  type        = string
}

variable "github_repository" {
  description = "owner/name of the GitHub repository that deploys."
  type        = string
}

variable "catalog_file" {
  description = "Path of the conference's delegaciones.json (TF_VAR_catalog_file in the workflows)."
  type        = string
}

variable "receipts_bucket_name" {
  description = "Receipts bucket (globally unique)."
  type        = string
}

variable "catalog_bucket_name" {
  description = "Catalog bucket (globally unique)."
  type        = string
}

variable "hosting_site_id" {
  description = "Firebase Hosting site id (globally unique)."
  type        = string
}

variable "frontend_url" {
  description = "The front's origin."
  type        = string
}

variable "allowed_origins" {
  description = "Origins allowed to post the form."
  type        = list(string)
}

variable "api_domain" {
  description = "Custom domain of the API, or null."
  type        = string
  default     = null
}

variable "internal_email" {
  description = "Recipient of the internal notices."
  type        = string
}

variable "sheets" {
  description = "The eight Google Sheets ids."
  type = object({
    delegaciones_spreadsheet_id   = string
    delegaciones_sheet_id         = string
    delegaciones_table_id         = string
    faculty_spreadsheet_id        = string
    faculty_general_sheet_id      = string
    faculty_general_table_id      = string
    faculty_delegaciones_sheet_id = string
    faculty_delegaciones_table_id = string
  })
}

variable "secret_versions" {
  description = "Pinned Secret Manager versions (bump after adding a version: docs/runbook.md §8.2)."
  type = object({
    receipt_link_key           = string
    receipt_link_previous_keys = string
    resend_api_key             = string
  })
  default = {
    receipt_link_key           = "1"
    receipt_link_previous_keys = "1"
    resend_api_key             = "1"
  }
}

variable "alert_emails" {
  description = "Who receives the alerts."
  type        = list(string)
  default     = []
}

variable "outbox_extra_audiences" {
  description = "Extra OIDC audiences of registro-outbox (docs/runbook.md §8.4)."
  type        = list(string)
  default     = []
}

variable "api_min_instances" {
  description = "Warm registro-api instances (1 during a registration window)."
  type        = number
  default     = 0
}
