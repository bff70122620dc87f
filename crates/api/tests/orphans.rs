//! The orphan-receipt sweeper (`api::orphans`) over the ports, on the embedded backend.

use api::orphans::{OrphanReport, sweep_orphans};
use chrono::{Duration, Utc};
use domain::SubmissionType;
use domain::ports::{Blobs, Store};
use domain::receipt::object_name;
use local::{BLOBS_DIR, DB_FILE, FsBlobs, SqliteStore};
use std::sync::Arc;
use std::time::SystemTime;
use testkit::clock::SystemClock;
use testkit::contract::{SAMPLE_PDF, sample_acceptance, sha256_hex, submission_id};

fn backdate(path: &std::path::Path, by: std::time::Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

async fn names(blobs: &FsBlobs) -> Vec<String> {
    blobs
        .list("uploads/", None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect()
}

async fn put(blobs: &FsBlobs, name: String) -> String {
    blobs
        .put_new(
            &name,
            SAMPLE_PDF,
            "application/pdf",
            &sha256_hex(SAMPLE_PDF),
        )
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn the_sweep_deletes_orphans_and_keeps_referenced_and_young_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join(DB_FILE), Arc::new(SystemClock)).unwrap();
    let blobs = FsBlobs::new(dir.path().join(BLOBS_DIR)).unwrap();

    let id = submission_id(1);
    store
        .accept(sample_acceptance(
            SubmissionType::Delegacion,
            "k",
            "k",
            true,
            &id,
        ))
        .await
        .unwrap();
    let referenced = put(&blobs, object_name(SubmissionType::Delegacion, &id, ".pdf")).await;
    let orphan = put(
        &blobs,
        object_name(SubmissionType::Delegacion, &submission_id(2), ".pdf"),
    )
    .await;
    let young = put(
        &blobs,
        object_name(SubmissionType::Faculty, &submission_id(3), ".png"),
    )
    .await;
    // A name of the older system, without a submission id in it.
    let unparseable = put(
        &blobs,
        "uploads/faculty/FACULTY_Escuela_Modelo_x.png".into(),
    )
    .await;
    let hour = std::time::Duration::from_secs(3600);
    for name in [&referenced, &orphan, &unparseable] {
        backdate(&blobs.root().join(name), hour);
    }

    let report = sweep_orphans(&store, &blobs, Utc::now(), Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(
        report,
        OrphanReport {
            scanned: 4,
            deleted_orphans: 2,
            kept_referenced: 1,
            kept_young: 1,
            failed: 0
        }
    );
    let mut left = names(&blobs).await;
    left.sort();
    assert_eq!(left, [referenced.clone(), young.clone()]);
    assert_eq!(blobs.get(&referenced).await.unwrap(), SAMPLE_PDF);

    // At startup no request is in flight: a zero grace takes the young leftovers too.
    let report = sweep_orphans(&store, &blobs, Utc::now(), Duration::zero())
        .await
        .unwrap();
    assert_eq!((report.deleted_orphans, report.kept_referenced), (1, 1));
    assert_eq!(names(&blobs).await, [referenced]);
}

#[tokio::test]
async fn the_sweep_reads_every_page_of_a_large_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join(DB_FILE), Arc::new(SystemClock)).unwrap();
    let blobs = FsBlobs::new(dir.path().join(BLOBS_DIR)).unwrap();
    // More than two pages (500 each) of orphans.
    for n in 0..1203 {
        put(
            &blobs,
            object_name(SubmissionType::Delegacion, &submission_id(n), ".pdf"),
        )
        .await;
    }
    let report = sweep_orphans(&store, &blobs, Utc::now(), Duration::zero())
        .await
        .unwrap();
    assert_eq!((report.scanned, report.deleted_orphans), (1203, 1203));
    assert!(names(&blobs).await.is_empty());
}
