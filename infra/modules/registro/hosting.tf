# The front's Firebase Hosting site (front/firebase.json; the deploy workflow publishes
# front/build to it). Both resources exist only in the google-beta provider.

resource "google_firebase_project" "this" {
  provider = google-beta
  project  = var.project_id

  depends_on = [google_project_service.this]
}

resource "google_firebase_hosting_site" "front" {
  provider = google-beta
  project  = var.project_id
  site_id  = var.hosting_site_id

  depends_on = [google_firebase_project.this]
}
