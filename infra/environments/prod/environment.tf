# Production: deletion protection on, receipts kept 400 days (the conference and its accounting),
# deployed from main only after a reviewer approves the GitHub environment "production"
# (.github/workflows/delivery.yml).
locals {
  environment            = "prod"
  github_environment     = "production"
  deletion_protection    = true
  receipt_retention_days = 400
  soft_delete_days       = 30
  log_level              = "info"
}
