//! The [`Blobs`] contract: create-only, checksum-verified receipt objects.

use super::{SAMPLE_PDF, sha256_hex, submission_id};
use chrono::{Duration, Utc};
use domain::SubmissionType;
use domain::ports::{BlobError, Blobs};
use domain::receipt::object_name;
use std::any::Any;
use std::future::Future;
use std::sync::Arc;

/// A fresh, empty blob store (an empty directory or bucket).
pub struct BlobsUnderTest {
    pub blobs: Arc<dyn Blobs>,
    /// Dropped last, as in [`StoreUnderTest`](super::StoreUnderTest).
    pub keep_alive: Option<Box<dyn Any + Send + Sync>>,
}

/// Builds a [`BlobsUnderTest`]. Implemented by every `Fn() -> impl Future<Output = BlobsUnderTest>`.
pub trait MakeBlobs {
    fn make(&self) -> impl Future<Output = BlobsUnderTest>;
}

impl<F, Fut> MakeBlobs for F
where
    F: Fn() -> Fut,
    Fut: Future<Output = BlobsUnderTest>,
{
    fn make(&self) -> impl Future<Output = BlobsUnderTest> {
        self()
    }
}

fn receipt_name(n: u32, ty: SubmissionType) -> String {
    object_name(ty, &submission_id(n), ".pdf")
}

async fn put(blobs: &dyn Blobs, name: &str, bytes: &[u8]) -> Result<(), BlobError> {
    blobs
        .put_new(name, bytes, "application/pdf", &sha256_hex(bytes))
        .await
}

pub async fn put_new_then_get_returns_the_bytes(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let name = receipt_name(1, SubmissionType::Delegacion);
    put(blobs, &name, SAMPLE_PDF).await.expect("put_new");
    assert_eq!(blobs.get(&name).await.expect("get"), SAMPLE_PDF);
}

pub async fn getting_a_missing_object_is_not_found(make: impl MakeBlobs) {
    let sut = make.make().await;
    let name = receipt_name(404, SubmissionType::Faculty);
    assert!(matches!(
        sut.blobs.get(&name).await,
        Err(BlobError::NotFound)
    ));
}

pub async fn put_new_never_overwrites(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let name = receipt_name(1, SubmissionType::Delegacion);
    put(blobs, &name, SAMPLE_PDF).await.expect("first put_new");
    let other = b"%PDF-1.7\nsomething else\n%%EOF\n";
    assert!(matches!(
        put(blobs, &name, other).await,
        Err(BlobError::AlreadyExists)
    ));
    assert_eq!(
        blobs.get(&name).await.expect("get"),
        SAMPLE_PDF,
        "first bytes kept"
    );
}

pub async fn a_wrong_checksum_is_refused_and_nothing_is_stored(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let name = receipt_name(1, SubmissionType::Delegacion);
    let wrong = sha256_hex(b"not these bytes");
    let result = blobs
        .put_new(&name, SAMPLE_PDF, "application/pdf", &wrong)
        .await;
    assert!(
        matches!(
            result,
            Err(BlobError::Permanent(_) | BlobError::Unavailable(_))
        ),
        "wrong checksum must fail, got {result:?}"
    );
    assert!(matches!(blobs.get(&name).await, Err(BlobError::NotFound)));
    assert!(
        blobs.list("uploads/").await.expect("list").is_empty(),
        "nothing listed"
    );
    put(blobs, &name, SAMPLE_PDF)
        .await
        .expect("the name is still free");
}

pub async fn delete_is_idempotent(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let name = receipt_name(1, SubmissionType::Faculty);
    put(blobs, &name, SAMPLE_PDF).await.expect("put_new");
    blobs.delete(&name).await.expect("delete");
    assert!(matches!(blobs.get(&name).await, Err(BlobError::NotFound)));
    blobs.delete(&name).await.expect("delete again");
    blobs
        .delete(&receipt_name(2, SubmissionType::Faculty))
        .await
        .expect("delete of a never-written object");
    put(blobs, &name, SAMPLE_PDF)
        .await
        .expect("a deleted name can be written again");
}

pub async fn list_returns_the_objects_under_a_prefix(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let d1 = receipt_name(1, SubmissionType::Delegacion);
    let d2 = receipt_name(2, SubmissionType::Delegacion);
    let f1 = receipt_name(3, SubmissionType::Faculty);
    let big = [SAMPLE_PDF, &[b' '; 1000][..]].concat();
    put(blobs, &d1, SAMPLE_PDF).await.expect("put");
    put(blobs, &d2, &big).await.expect("put");
    put(blobs, &f1, SAMPLE_PDF).await.expect("put");

    let mut delegaciones = blobs.list("uploads/delegaciones/").await.expect("list");
    delegaciones.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = delegaciones.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, [d1.as_str(), d2.as_str()]);
    assert_eq!(delegaciones[0].size, SAMPLE_PDF.len() as u64);
    assert_eq!(delegaciones[1].size, big.len() as u64);
    let age = Utc::now() - delegaciones[0].created_at;
    assert!(
        age.abs() < Duration::hours(1),
        "created_at is the write time, got {}",
        delegaciones[0].created_at
    );

    let mut all: Vec<String> = blobs
        .list("uploads/")
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.name)
        .collect();
    all.sort();
    assert_eq!(all, [d1, d2, f1]);
    assert!(blobs.list("other/").await.expect("list").is_empty());
}

/// Every blob check, in sequence, each on a fresh blob store.
pub async fn blobs_contract<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = BlobsUnderTest>,
{
    put_new_then_get_returns_the_bytes(&make).await;
    getting_a_missing_object_is_not_found(&make).await;
    put_new_never_overwrites(&make).await;
    a_wrong_checksum_is_refused_and_nothing_is_stored(&make).await;
    delete_is_idempotent(&make).await;
    list_returns_the_objects_under_a_prefix(&make).await;
}
