variable "project_id" {
  description = "Project of the service."
  type        = string
}

variable "region" {
  description = "Cloud Run region."
  type        = string
}

variable "name" {
  description = "Service name (registro-api, registro-outbox, registro-worker)."
  type        = string
}

variable "image" {
  description = "Container image, tagged by commit (<region>-docker.pkg.dev/<project>/registro/registro:<sha>)."
  type        = string
}

variable "command" {
  description = "The binary the container runs, from /usr/local/bin: the image holds registro, registro-api, registro-outbox and registro-worker."
  type        = string
}

variable "service_account" {
  description = "E-mail of the service's own runtime service account."
  type        = string
}

variable "ingress" {
  description = "INGRESS_TRAFFIC_ALL for the public API; INGRESS_TRAFFIC_INTERNAL_ONLY for services only Google's event sources call."
  type        = string
  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "public" {
  description = "Grant roles/run.invoker to allUsers (only the API: browsers post the form)."
  type        = bool
  default     = false
}

variable "invokers" {
  description = "Members granted roles/run.invoker on this service (the OIDC callers)."
  type        = list(string)
  default     = []
}

variable "env" {
  description = "Plain environment variables (name → value). Never secrets."
  type        = map(string)
}

variable "secret_env" {
  description = "Environment variables read from Secret Manager (name → secret id and pinned version)."
  type = map(object({
    secret  = string
    version = string
  }))
  default = {}
}

variable "catalog_bucket" {
  description = "Bucket holding the conference catalog, mounted read-only at catalog_mount_path; null mounts nothing."
  type        = string
  default     = null
}

variable "catalog_mount_path" {
  description = "Where the catalog bucket is mounted (REGISTRO_CATALOG points inside it)."
  type        = string
  default     = "/etc/registro"
}

variable "catalog_revision" {
  description = "A fingerprint of the catalog object: a change rolls a new revision, since the services read the catalog at start."
  type        = string
  default     = ""
}

variable "cpu" {
  description = "vCPU limit per instance."
  type        = string
}

variable "memory" {
  description = "Memory limit per instance (at least 512Mi on the second-generation environment)."
  type        = string
}

variable "cpu_idle" {
  description = "Throttle the CPU outside requests (request-based billing)."
  type        = bool
  default     = true
}

variable "concurrency" {
  description = "Maximum concurrent requests per instance."
  type        = number
}

variable "min_instances" {
  description = "Instances kept warm."
  type        = number
  default     = 0
}

variable "max_instances" {
  description = "Upper bound on instances (cost and downstream quotas)."
  type        = number
}

variable "timeout_seconds" {
  description = "Request timeout."
  type        = number
}

variable "labels" {
  description = "Labels on the service and its revisions."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Refuse terraform destroy of the service."
  type        = bool
  default     = true
}
