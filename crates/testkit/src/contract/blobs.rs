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
        blobs
            .list("uploads/", None, 1000)
            .await
            .expect("list")
            .is_empty(),
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

    let mut delegaciones = blobs
        .list("uploads/delegaciones/", None, 1000)
        .await
        .expect("list");
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
        .list("uploads/", None, 1000)
        .await
        .expect("list")
        .into_iter()
        .map(|b| b.name)
        .collect();
    all.sort();
    assert_eq!(all, [d1, d2, f1]);
    assert!(
        blobs
            .list("other/", None, 1000)
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn list_goes_page_by_page_in_name_order_after_a_cursor(make: impl MakeBlobs) {
    let sut = make.make().await;
    let blobs = sut.blobs.as_ref();
    let mut names: Vec<String> = (1..=5)
        .map(|n| receipt_name(n, SubmissionType::Delegacion))
        .chain([receipt_name(6, SubmissionType::Faculty)])
        .collect();
    for name in names.iter().rev() {
        put(blobs, name, SAMPLE_PDF).await.expect("put");
    }
    names.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = blobs
            .list("uploads/", after.as_deref(), 2)
            .await
            .expect("list");
        assert!(page.len() <= 2, "a page holds at most `limit` objects");
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        seen.extend(page.into_iter().map(|b| b.name));
    }
    assert_eq!(seen, names, "every object once, in name order");
    let tail = blobs
        .list("uploads/", Some(names[3].as_str()), 100)
        .await
        .expect("list");
    let tail: Vec<&str> = tail.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        tail,
        [names[4].as_str(), names[5].as_str()],
        "strictly after the cursor"
    );
    let only_delegaciones = blobs
        .list("uploads/delegaciones/", Some(names[4].as_str()), 100)
        .await
        .expect("list");
    assert!(
        only_delegaciones.is_empty(),
        "the prefix still applies after the cursor"
    );
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
    list_goes_page_by_page_in_name_order_after_a_cursor(&make).await;
}
