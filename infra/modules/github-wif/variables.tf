variable "project_id" {
  description = "Project the workflows deploy to."
  type        = string
}

variable "github_repository" {
  description = "owner/name of the repository whose workflows may authenticate."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "deploy_environment" {
  description = "The GitHub environment whose jobs may impersonate the deployer (dev, or production with required reviewers)."
  type        = string
}

variable "state_bucket" {
  description = "The Terraform state bucket (made by hand before the first apply: docs/runbook.md §8.1)."
  type        = string
}

variable "pool_id" {
  description = "Workload identity pool id."
  type        = string
  default     = "github"
}
