# One Cloud Run service of registro. Every service of the image shares this shape: the binary is
# chosen by `command`, settings come from `env` and pinned Secret Manager versions, `/healthz`
# answers the startup and liveness probes, and the conference catalog (too large for a secret,
# not secret either) is mounted read-only from its bucket.

resource "google_cloud_run_v2_service" "this" {
  project             = var.project_id
  location            = var.region
  name                = var.name
  ingress             = var.ingress
  deletion_protection = var.deletion_protection
  labels              = var.labels

  template {
    service_account                  = var.service_account
    timeout                          = "${var.timeout_seconds}s"
    max_instance_request_concurrency = var.concurrency
    # The second generation is what mounts Cloud Storage volumes (the catalog).
    execution_environment = "EXECUTION_ENVIRONMENT_GEN2"
    labels                = var.labels
    annotations = var.catalog_revision == "" ? {} : {
      "registro/catalog-md5" = var.catalog_revision
    }

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      image = var.image
      # Absolute: Cloud Run execs the command directly, with no shell to search PATH.
      command = ["/usr/local/bin/${var.command}"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        cpu_idle          = var.cpu_idle
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = var.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret
              version = env.value.version
            }
          }
        }
      }

      dynamic "volume_mounts" {
        for_each = var.catalog_bucket == null ? [] : [var.catalog_bucket]
        content {
          name       = "catalog"
          mount_path = var.catalog_mount_path
        }
      }

      # The binaries answer /healthz 53–62 ms after exec (bench/results/2026-12-05-07833e9.jsonl),
      # Firestore client included: a 1 s period finds a new instance ready at once, and 10
      # failures leave room for a slow mount of the catalog bucket before the instance is
      # replaced.
      startup_probe {
        http_get {
          path = "/healthz"
          port = 8080
        }
        initial_delay_seconds = 0
        period_seconds        = 1
        timeout_seconds       = 1
        failure_threshold     = 10
      }

      # /healthz does no I/O, so it only fails when the process is wedged: three misses in a row
      # (90 s) replace the instance.
      liveness_probe {
        http_get {
          path = "/healthz"
          port = 8080
        }
        period_seconds    = 30
        timeout_seconds   = 2
        failure_threshold = 3
      }
    }

    dynamic "volumes" {
      for_each = var.catalog_bucket == null ? [] : [var.catalog_bucket]
      content {
        name = "catalog"
        gcs {
          bucket    = volumes.value
          read_only = true
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = toset(var.invokers)

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = each.value
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.public ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
