# State in a GCS bucket made by hand before the first apply (docs/runbook.md §8.1): versioned,
# uniform access, public access prevention. The bucket name is not in the code:
#   terraform init -backend-config="bucket=<state bucket>"
terraform {
  backend "gcs" {
    prefix = "registro/dev"
  }
}
