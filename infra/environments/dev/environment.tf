# The dev environment: its own project, cheap and disposable, deployed automatically from main by
# .github/workflows/delivery.yml (GitHub environment "dev").
locals {
  environment            = "dev"
  github_environment     = "dev"
  deletion_protection    = false
  receipt_retention_days = 30
  soft_delete_days       = 7
  log_level              = "debug"
}
