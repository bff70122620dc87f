//! The [`Blobs`] port on Google Cloud Storage, and V4 signed URLs for receipts ([`signing`]).
//!
//! Two HTTP paths, because neither alone covers production and the emulator (fake-gcs-server):
//! - uploads and reads go through the official client (`google_cloud_storage::client::Storage`,
//!   the JSON API's upload and media endpoints). An upload is one buffered multipart request
//!   with `ifGenerationMatch=0`, so it creates or fails with 412 and never overwrites; its
//!   CRC32C, computed here from bytes already checked against their SHA-256, travels in the
//!   request, so Cloud Storage refuses a body damaged on the way, and the client compares it
//!   with the object's checksum as stored. Reads check CRC32C too.
//! - listing and deleting are plain JSON API calls through reqwest: the client library does
//!   those over gRPC only (`StorageControl`), which the emulator does not speak. The same calls
//!   work on Cloud Storage with an access token from Application Default Credentials.
//!
//! The emulator needs three things the production path does not: its endpoint, no credentials,
//! and no resumable uploads (fake-gcs builds the session URL from a `Host` header that lacks the
//! port, so they hang; it also ignores `ifGenerationMatch` on them). fake-gcs does not verify
//! the checksum sent with an upload either, so a mismatch shows only after the write, when the
//! client compares: the object just written is then deleted (by generation) before answering.
//!
//! No error or log line holds an object name (see `errors`): names of the older system's
//! receipts can carry personal data.

pub mod config;
mod errors;
mod names;
pub mod signing;

pub use config::{ConfigError, GcsConfig, VARIABLES};
pub use signing::{DEFAULT_TTL, Disposition, ReceiptUrlSigner};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{BlobError, BlobInfo, Blobs};
use google_cloud_auth::credentials::{CacheableResource, Credentials};
use google_cloud_gax::retry_policy::RetryPolicyExt;
use google_cloud_storage::client::Storage;
use google_cloud_storage::error::WriteError;
use google_cloud_storage::retry_policy::RetryableErrors;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Cloud Storage's endpoint (JSON API, uploads, media and signed URLs).
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// The custom metadata key holding the object's SHA-256 (lowercase hex), for operators to
/// verify a receipt against the submission's `receipt.sha256`.
pub const SHA256_METADATA_KEY: &str = "sha256";

/// How long the client library keeps retrying an upload or a read that failed in a way worth
/// retrying, unless [`GcsBlobs::with_retry_time_limit`] says otherwise (the library's own
/// default is 5 minutes, longer than a form submission should wait).
pub const DEFAULT_RETRY_TIME_LIMIT: Duration = Duration::from_secs(30);
/// Attempts of an upload or a read, within that time.
const STORAGE_ATTEMPTS: u32 = 5;
/// Per-request limits of the JSON API calls.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts of an idempotent JSON API call (list, delete) that failed in a way worth retrying,
/// and the pause before the second one (doubling after), within the same time limit.
const JSON_ATTEMPTS: u32 = 3;
const JSON_FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The JSON API's largest page.
const MAX_PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum GcsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot load Google credentials (Application Default Credentials): {0}")]
    Credentials(String),
    #[error("cannot build the Cloud Storage client: {0}")]
    Client(String),
    #[error("a signed URL lives between 1 second and 7 days, not {0:?}")]
    Ttl(Duration),
}

/// The receipts bucket. Cheap to clone (everything is shared).
#[derive(Clone)]
pub struct GcsBlobs {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    storage: Storage,
    http: reqwest::Client,
    /// `None` on the emulator, which takes no credentials.
    credentials: Option<Credentials>,
    /// Base of the JSON API URLs, without a trailing slash.
    endpoint: String,
    bucket: String,
    /// `projects/_/buckets/<bucket>`, as the client library names it.
    bucket_path: String,
    /// Objects per JSON API page (the API's maximum; smaller in tests).
    page_size: usize,
    /// How long an upload or a read keeps retrying.
    retry_time_limit: Duration,
}

impl std::fmt::Debug for GcsBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsBlobs")
            .field("bucket", &self.inner.bucket)
            .field("endpoint", &self.inner.endpoint)
            .field("emulator", &self.inner.credentials.is_none())
            .finish_non_exhaustive()
    }
}

/// What [`Blobs::list`] reads of an object.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedObject {
    name: String,
    /// An int64, which the JSON API writes as a string.
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(default)]
    time_created: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    #[serde(default)]
    items: Vec<ListedObject>,
    #[serde(default)]
    next_page_token: Option<String>,
}

impl GcsBlobs {
    /// Builds the clients; no request is made yet. In production: Application Default
    /// Credentials (the metadata server on Cloud Run, `GOOGLE_APPLICATION_CREDENTIALS`, or
    /// `gcloud auth application-default login`), shared by both paths so one token is cached.
    /// On the emulator (`config.emulator_endpoint`): its URL, anonymous, single-shot uploads.
    pub async fn connect(config: &GcsConfig) -> Result<Self, GcsError> {
        config::check_bucket(&config.bucket).map_err(|reason| ConfigError::Invalid {
            var: config::BUCKET_VAR,
            value: config.bucket.clone(),
            reason,
        })?;
        let builder = Storage::builder();
        let (builder, credentials, endpoint) = match &config.emulator_endpoint {
            Some(endpoint) => (
                builder
                    .with_endpoint(endpoint)
                    .with_credentials(
                        google_cloud_auth::credentials::anonymous::Builder::new().build(),
                    )
                    .with_resumable_upload_threshold(usize::MAX),
                None,
                endpoint.trim_end_matches('/').to_owned(),
            ),
            None => {
                let credentials = google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| GcsError::Credentials(e.to_string()))?;
                (
                    builder.with_credentials(credentials.clone()),
                    Some(credentials),
                    DEFAULT_ENDPOINT.to_owned(),
                )
            }
        };
        let storage = builder
            .build()
            .await
            .map_err(|e| GcsError::Client(e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| GcsError::Client(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                storage,
                http,
                credentials,
                endpoint,
                bucket: config.bucket.clone(),
                bucket_path: config.bucket_path(),
                page_size: MAX_PAGE,
                retry_time_limit: DEFAULT_RETRY_TIME_LIMIT,
            }),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The same bucket, with uploads and reads retrying failures worth retrying for `limit` at
    /// most (5 attempts; [`DEFAULT_RETRY_TIME_LIMIT`] unless set). Zero retries nothing.
    pub fn with_retry_time_limit(&self, limit: Duration) -> Self {
        let mut inner = (*self.inner).clone();
        inner.retry_time_limit = limit;
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The same bucket with listing pages of `size` objects (tests make it small to cross page
    /// boundaries with few objects).
    #[cfg(test)]
    fn with_page_size(&self, size: usize) -> Self {
        let mut inner = (*self.inner).clone();
        inner.page_size = size.clamp(1, MAX_PAGE);
        Self {
            inner: Arc::new(inner),
        }
    }

    fn retry_policy(&self) -> impl google_cloud_gax::retry_policy::RetryPolicy + use<> {
        RetryableErrors
            .with_time_limit(self.inner.retry_time_limit)
            .with_attempt_limit(STORAGE_ATTEMPTS)
    }

    /// The create-only upload, with the CRC32C the service must find (`put_new` passes the
    /// bytes' own; tests pass a wrong one to see the cleanup).
    async fn upload(
        &self,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        sha256_hex: &str,
        crc32c: u32,
    ) -> Result<(), BlobError> {
        let inner = &self.inner;
        let written = inner
            .storage
            .write_object(
                inner.bucket_path.as_str(),
                name,
                bytes::Bytes::copy_from_slice(bytes),
            )
            .set_if_generation_match(0_i64)
            .set_content_type(content_type)
            .set_metadata([(SHA256_METADATA_KEY, sha256_hex)])
            .with_known_crc32c(crc32c)
            .with_retry_policy(self.retry_policy())
            .send_buffered()
            .await;
        let e = match written {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if e.http_status_code() == Some(412) {
            return Err(BlobError::AlreadyExists);
        }
        if let Some(WriteError::ChecksumMismatch { object, .. }) = errors::find::<WriteError>(&e) {
            // Cloud Storage refuses such an upload itself (400); the emulator stores it. The
            // generation makes sure only the object this call wrote is removed.
            let removed = self.delete_object(name, Some(object.generation)).await;
            if let Err(cleanup) = &removed {
                tracing::error!(
                    bucket = %inner.bucket,
                    error = %cleanup,
                    "gcs_corrupt_upload_not_removed"
                );
            }
            return Err(BlobError::Unavailable(format!(
                "gcs upload: the stored object failed its CRC32C check and was {}",
                if removed.is_ok() {
                    "deleted"
                } else {
                    "NOT deleted"
                }
            )));
        }
        Err(errors::from_storage("upload", &e))
    }

    /// `Authorization` (and `x-goog-user-project` when the credentials name a quota project)
    /// for a JSON API call; nothing on the emulator.
    async fn auth_headers(&self, op: &str) -> Result<http::HeaderMap, BlobError> {
        let Some(credentials) = &self.inner.credentials else {
            return Ok(http::HeaderMap::new());
        };
        match credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Err(BlobError::Unavailable(format!(
                "gcs {op}: the credentials returned no headers"
            ))),
            Err(e) if e.is_transient() => Err(BlobError::Unavailable(format!(
                "gcs {op}: access token temporarily unavailable"
            ))),
            Err(e) => Err(BlobError::Permanent(format!(
                "gcs {op}: cannot get an access token: {e}"
            ))),
        }
    }

    /// One idempotent JSON API call, retried while it fails in a way worth retrying. Returns
    /// the response when its status is a success or one of `accepted`.
    async fn json_call(
        &self,
        op: &str,
        method: reqwest::Method,
        url: &str,
        accepted: &[u16],
    ) -> Result<reqwest::Response, BlobError> {
        let started = std::time::Instant::now();
        let mut backoff = JSON_FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let result = self.json_attempt(op, method.clone(), url, accepted).await;
            match result {
                Err(e)
                    if e.is_retryable()
                        && attempt < JSON_ATTEMPTS
                        && started.elapsed() + backoff <= self.inner.retry_time_limit =>
                {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn json_attempt(
        &self,
        op: &str,
        method: reqwest::Method,
        url: &str,
        accepted: &[u16],
    ) -> Result<reqwest::Response, BlobError> {
        let headers = self.auth_headers(op).await?;
        let response = self
            .inner
            .http
            .request(method, url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| errors::from_reqwest(op, &e))?;
        let status = response.status();
        if status.is_success() || accepted.contains(&status.as_u16()) {
            Ok(response)
        } else {
            Err(errors::from_status(op, status.as_u16()))
        }
    }

    /// `…/storage/v1/b/<bucket>/o` (and `/<object>`).
    fn objects_url(&self, object: Option<&str>) -> String {
        let mut url = format!(
            "{}/storage/v1/b/{}/o",
            self.inner.endpoint,
            names::encode(&self.inner.bucket)
        );
        if let Some(object) = object {
            url.push('/');
            url.push_str(&names::encode(object));
        }
        url
    }

    /// Deletes `name` (only at `generation` when given); a missing object is success, and so
    /// is a different generation (someone else's object, left alone).
    async fn delete_object(&self, name: &str, generation: Option<i64>) -> Result<(), BlobError> {
        let mut url = self.objects_url(Some(name));
        if let Some(generation) = generation {
            url.push_str(&format!("?ifGenerationMatch={generation}"));
        }
        self.json_call("delete", reqwest::Method::DELETE, &url, &[404, 412])
            .await
            .map(drop)
    }

    /// One page of the listing: `max` objects at most, from `start` (inclusive) on.
    async fn list_page(
        &self,
        prefix: &str,
        start: Option<&str>,
        max: usize,
        token: Option<&str>,
    ) -> Result<ListPage, BlobError> {
        let mut url = self.objects_url(None);
        url.push_str("?fields=");
        url.push_str(&names::encode("items(name,size,timeCreated),nextPageToken"));
        url.push_str(&format!("&maxResults={max}"));
        if !prefix.is_empty() {
            url.push_str("&prefix=");
            url.push_str(&names::encode(prefix));
        }
        if let Some(start) = start {
            url.push_str("&startOffset=");
            url.push_str(&names::encode(start));
        }
        if let Some(token) = token {
            url.push_str("&pageToken=");
            url.push_str(&names::encode(token));
        }
        let response = self
            .json_call("list", reqwest::Method::GET, &url, &[])
            .await?;
        response
            .json::<ListPage>()
            .await
            .map_err(|e| errors::from_reqwest("list", &e))
    }
}

fn blob_info(o: ListedObject) -> Result<BlobInfo, BlobError> {
    let unreadable = || BlobError::Permanent("gcs list: unreadable object metadata".into());
    let size = match o.size {
        Some(serde_json::Value::String(s)) => s.parse::<u64>().map_err(|_| unreadable())?,
        Some(serde_json::Value::Number(n)) => n.as_u64().ok_or_else(unreadable)?,
        _ => return Err(unreadable()),
    };
    let created_at = o
        .time_created
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(unreadable)?
        .with_timezone(&Utc);
    Ok(BlobInfo {
        name: o.name,
        size,
        created_at,
    })
}

#[async_trait]
impl Blobs for GcsBlobs {
    async fn put_new(
        &self,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        sha256_hex: &str,
    ) -> Result<(), BlobError> {
        names::check(name)?;
        let digest = hex::encode(Sha256::digest(bytes));
        if !digest.eq_ignore_ascii_case(sha256_hex.trim()) {
            return Err(BlobError::Permanent(
                "the bytes do not match the expected SHA-256; nothing was uploaded".into(),
            ));
        }
        self.upload(name, bytes, content_type, &digest, crc32c::crc32c(bytes))
            .await
    }

    async fn get(&self, name: &str) -> Result<Vec<u8>, BlobError> {
        names::check(name)?;
        let inner = &self.inner;
        let not_found_or = |e: google_cloud_storage::Error| {
            if e.http_status_code() == Some(404) {
                BlobError::NotFound
            } else {
                errors::from_storage("read", &e)
            }
        };
        let mut response = inner
            .storage
            .read_object(inner.bucket_path.as_str(), name)
            .with_retry_policy(self.retry_policy())
            .send()
            .await
            .map_err(not_found_or)?;
        let mut out = Vec::new();
        while let Some(chunk) = response.next().await.transpose().map_err(not_found_or)? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    async fn delete(&self, name: &str) -> Result<(), BlobError> {
        names::check(name)?;
        self.delete_object(name, None).await
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BlobInfo>, BlobError> {
        names::check_prefix(prefix)?;
        if let Some(after) = after {
            names::check_prefix(after)?;
        }
        let mut out: Vec<BlobInfo> = Vec::new();
        let mut token: Option<String> = None;
        while out.len() < limit {
            // `startOffset` is inclusive: one more than needed covers `after` itself.
            let max = (limit - out.len())
                .saturating_add(1)
                .min(self.inner.page_size);
            let page = self.list_page(prefix, after, max, token.as_deref()).await?;
            for object in page.items {
                // The service already filters; these guard the port's promise regardless.
                if !object.name.starts_with(prefix)
                    || after.is_some_and(|a| object.name.as_str() <= a)
                {
                    continue;
                }
                out.push(blob_info(object)?);
            }
            match page.next_page_token {
                // A token that does not change would make this loop forever.
                Some(t) if token.as_deref() == Some(t.as_str()) => {
                    return Err(BlobError::Unavailable(
                        "gcs list: the listing does not advance".into(),
                    ));
                }
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(size: serde_json::Value, time: Option<&str>) -> ListedObject {
        ListedObject {
            name: "uploads/x".into(),
            size: Some(size),
            time_created: time.map(str::to_owned),
        }
    }

    #[test]
    fn listed_objects_read_their_size_and_creation_time() {
        let info = blob_info(listed(
            serde_json::json!("1234"),
            Some("2026-12-05T08:46:18.322292Z"),
        ))
        .unwrap();
        assert_eq!(info.size, 1234);
        assert_eq!(
            info.created_at.to_rfc3339(),
            "2026-12-05T08:46:18.322292+00:00"
        );
        let info = blob_info(listed(
            serde_json::json!(7),
            Some("2026-12-05T09:46:18+01:00"),
        ))
        .unwrap();
        assert_eq!(info.size, 7);
        assert_eq!(info.created_at.to_rfc3339(), "2026-12-05T08:46:18+00:00");
        for bad in [
            listed(serde_json::json!("x"), Some("2026-12-05T08:46:18Z")),
            listed(serde_json::json!(-1), Some("2026-12-05T08:46:18Z")),
            listed(serde_json::json!("1"), Some("yesterday")),
            listed(serde_json::json!("1"), None),
        ] {
            let e = blob_info(bad).unwrap_err();
            assert!(matches!(e, BlobError::Permanent(_)), "{e:?}");
            assert!(!e.to_string().contains("uploads/x"), "{e}");
        }
    }

    // On the emulator: what the port cannot reach (a wrong checksum, a small page size).
    // Skipped without `STORAGE_EMULATOR_HOST`, as `tests/gcs.rs` is.

    /// A fresh bucket on the emulator, or `None` when its suite is skipped.
    async fn emulator_blobs() -> Option<GcsBlobs> {
        if !testkit::emulators::storage() {
            return None;
        }
        let host = testkit::emulators::host(testkit::emulators::STORAGE_VAR)?;
        let endpoint = config::emulator_url(&host).expect("a valid STORAGE_EMULATOR_HOST");
        let bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
        let created = reqwest::Client::new()
            .post(format!("{endpoint}/storage/v1/b?project=demo-registro"))
            .json(&serde_json::json!({ "name": bucket }))
            .send()
            .await
            .expect("create a bucket on the emulator");
        assert!(created.status().is_success(), "{}", created.status());
        let config = GcsConfig {
            bucket,
            emulator_endpoint: Some(endpoint),
            project: None,
        };
        Some(GcsBlobs::connect(&config).await.expect("connect"))
    }

    #[tokio::test]
    async fn an_upload_failing_its_checksum_is_refused_and_its_object_deleted() {
        let Some(blobs) = emulator_blobs().await else {
            return;
        };
        let name = "uploads/delegaciones/T0000000000000000001.pdf";
        let bytes = testkit::contract::SAMPLE_PDF;
        let sha = testkit::contract::sha256_hex(bytes);
        let wrong = crc32c::crc32c(bytes) ^ 1;
        let e = blobs
            .upload(name, bytes, "application/pdf", &sha, wrong)
            .await
            .unwrap_err();
        assert!(matches!(e, BlobError::Unavailable(_)), "{e:?}");
        assert!(e.to_string().ends_with("and was deleted"), "{e}");
        assert!(!e.to_string().contains(name), "{e}");
        assert!(matches!(blobs.get(name).await, Err(BlobError::NotFound)));
        blobs
            .put_new(name, bytes, "application/pdf", &sha)
            .await
            .expect("the name is free again");
        assert_eq!(blobs.get(name).await.unwrap(), bytes);
    }

    #[tokio::test]
    async fn a_listing_longer_than_a_page_follows_the_page_tokens() {
        let Some(blobs) = emulator_blobs().await else {
            return;
        };
        let names: Vec<String> = (0..10).map(|n| format!("uploads/p/{n:02}.pdf")).collect();
        let bytes = b"%PDF-1.4 x";
        let sha = testkit::contract::sha256_hex(bytes);
        for name in &names {
            blobs
                .put_new(name, bytes, "application/pdf", &sha)
                .await
                .unwrap();
        }
        blobs
            .put_new("uploads/q/00.pdf", bytes, "application/pdf", &sha)
            .await
            .unwrap();
        let small = blobs.with_page_size(3);
        let listed = |page: Vec<BlobInfo>| page.into_iter().map(|b| b.name).collect::<Vec<_>>();

        let all = listed(small.list("uploads/p/", None, 100).await.unwrap());
        assert_eq!(all, names, "every object once, in order, across 4 pages");
        let some = listed(small.list("uploads/p/", None, 4).await.unwrap());
        assert_eq!(some, names[..4]);
        let after = listed(
            small
                .list("uploads/p/", Some(names[2].as_str()), 5)
                .await
                .unwrap(),
        );
        assert_eq!(after, names[3..8], "strictly after the cursor, 5 of them");
        let tail = listed(
            small
                .list("uploads/", Some(names[8].as_str()), 100)
                .await
                .unwrap(),
        );
        assert_eq!(tail, [names[9].as_str(), "uploads/q/00.pdf"]);
        assert!(small.list("uploads/p/", None, 0).await.unwrap().is_empty());
    }
}
