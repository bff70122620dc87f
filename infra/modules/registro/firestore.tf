# The Firestore database, the composite indexes the store's queries need and the TTL policies,
# all read from crates/firestore-store/indexes.json (written for the default collection names;
# renamed here to the configured ones), so the store and the deployment cannot disagree.

locals {
  firestore_spec = jsondecode(file("${path.module}/../../../crates/firestore-store/indexes.json"))
  collection_names = {
    inscripciones              = var.firestore_collection_name
    inscripciones_idempotencia = var.idempotency_collection_name
    inscripciones_outbox       = var.outbox_collection_name
  }
}

resource "google_firestore_database" "this" {
  count = var.create_firestore_database ? 1 : 0

  project     = var.project_id
  name        = var.firestore_database_name
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"
  # Restore a deleted or overwritten document from any minute of the last 7 days (runbook §8.6).
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.this]
}

resource "google_firestore_index" "this" {
  for_each = {
    for ix in local.firestore_spec.indexes :
    "${ix.collectionGroup}:${join(",", [for f in ix.fields : f.fieldPath])}" => ix
  }

  project     = var.project_id
  database    = local.database_name
  collection  = local.collection_names[each.value.collectionGroup]
  query_scope = each.value.queryScope

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.fieldPath
      order      = fields.value.order
    }
  }
}

# TTL on expires_at (idempotency records once settled, outbox rows once sent): Firestore deletes
# them within about a day of that time. The field is exempt from single-field indexes (a
# timestamp written in increasing order would make a write hotspot, and nothing queries it).
resource "google_firestore_field" "ttl" {
  for_each = {
    for o in local.firestore_spec.fieldOverrides :
    "${o.collectionGroup}:${o.fieldPath}" => o if o.ttl
  }

  project    = var.project_id
  database   = local.database_name
  collection = local.collection_names[each.value.collectionGroup]
  field      = each.value.fieldPath

  ttl_config {}
  index_config {}
}
