//! V4 signed GET URLs for receipts: what the authenticated receipt endpoint hands out, so the
//! browser downloads the file from Cloud Storage directly and the bucket stays private.
//!
//! A URL is valid for a short time ([`DEFAULT_TTL`], 10 minutes), for one object and one method,
//! and fixes the response's `Content-Disposition` and `Content-Type` (the
//! `response-content-*` parameters are part of what is signed, so they cannot be changed). It
//! is signed with `GOOG4-RSA-SHA256` by the client library's `SignedUrlBuilder` through a
//! `google_cloud_auth::signer::Signer`:
//!
//! - [`ReceiptUrlSigner::from_adc`]: Application Default Credentials. With a service-account key
//!   file (`GOOGLE_APPLICATION_CREDENTIALS`) it signs locally, offline. On Cloud Run there is
//!   no key: the signer asks the metadata server for the service account's e-mail (once) and
//!   signs each URL through the IAM Credentials API (`signBlob`, one network call per URL).
//!   That needs, in the project:
//!   - the IAM Service Account Credentials API (`iamcredentials.googleapis.com`) enabled;
//!   - the runtime service account holding `roles/iam.serviceAccountTokenCreator` **on itself**
//!     (`gcloud iam service-accounts add-iam-policy-binding SA --member=serviceAccount:SA
//!     --role=roles/iam.serviceAccountTokenCreator`), which grants
//!     `iam.serviceAccounts.signBlob`;
//!   - and, for the URL to work, the same account able to read the object
//!     (`roles/storage.objectViewer` on the bucket): a signed URL carries its signer's access.
//! - [`ReceiptUrlSigner::from_service_account_json`]: an explicit key (tests, or a deployment
//!   that mounts one); local signing.
//!
//! On the emulator (`GcsConfig::emulator_endpoint`, or [`ReceiptUrlSigner::with_endpoint`]) the
//! URL points at fake-gcs-server, which serves path-style `GET /<bucket>/<object>` when started
//! with `-public-host` and ignores the signature.

use crate::{GcsConfig, GcsError};
use domain::ports::BlobError;
use google_cloud_auth::signer::Signer;
use google_cloud_storage::builder::storage::SignedUrlBuilder;
use std::time::Duration;

/// How long a receipt URL stays valid unless [`ReceiptUrlSigner::with_ttl`] says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);
/// The longest a V4 signed URL may live.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// How long signing may take (the IAM path retries for up to a minute on its own).
const SIGN_TIMEOUT: Duration = Duration::from_secs(20);

/// How the browser should treat the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Download it ("Save as").
    Attachment,
    /// Show it in the browser when it can (PDF, images).
    Inline,
}

/// Signs receipt URLs for one bucket. Cheap to clone.
#[derive(Clone)]
pub struct ReceiptUrlSigner {
    signer: Signer,
    bucket_path: String,
    endpoint: Option<String>,
    ttl: Duration,
}

impl std::fmt::Debug for ReceiptUrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiptUrlSigner")
            .field("bucket", &self.bucket_path)
            .field("endpoint", &self.endpoint)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl ReceiptUrlSigner {
    /// Application Default Credentials (see the module's notes for the IAM setup on Cloud
    /// Run). Builds without I/O; a missing permission shows at the first signature.
    pub fn from_adc(config: &GcsConfig) -> Result<Self, GcsError> {
        let signer = google_cloud_auth::credentials::Builder::default()
            .build_signer()
            .map_err(|e| GcsError::Credentials(e.to_string()))?;
        Ok(Self::from_signer(config, signer))
    }

    /// A service-account key (the JSON of a key file: `type`, `client_email`, `private_key`,
    /// `private_key_id`, `project_id`). Signs locally.
    pub fn from_service_account_json(
        config: &GcsConfig,
        key: serde_json::Value,
    ) -> Result<Self, GcsError> {
        let signer = google_cloud_auth::credentials::service_account::Builder::new(key)
            .build_signer()
            .map_err(|e| GcsError::Credentials(e.to_string()))?;
        Ok(Self::from_signer(config, signer))
    }

    /// Any signer, for `config`'s bucket (and its emulator, when set).
    pub fn from_signer(config: &GcsConfig, signer: Signer) -> Self {
        Self {
            signer,
            bucket_path: config.bucket_path(),
            endpoint: config.emulator_endpoint.clone(),
            ttl: DEFAULT_TTL,
        }
    }

    /// URLs point at `endpoint` (`http(s)://host:port`) instead of Cloud Storage.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// URLs stay valid for `ttl`: at least a second, at most 7 days.
    pub fn with_ttl(mut self, ttl: Duration) -> Result<Self, GcsError> {
        if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
            return Err(GcsError::Ttl(ttl));
        }
        self.ttl = ttl;
        Ok(self)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed GET URL for `object`, valid for [`ttl`](Self::ttl) from now, whose response
    /// carries `Content-Disposition: <disposition>; filename="<filename>"` and `Content-Type:
    /// <content_type>`. No request reaches Cloud Storage (the object may not exist); with the
    /// ADC signer on Cloud Run, one reaches the IAM Credentials API.
    pub async fn signed_get(
        &self,
        object: &str,
        disposition: Disposition,
        filename: &str,
        content_type: &str,
    ) -> Result<String, BlobError> {
        crate::names::check(object)?;
        let content_type = checked_content_type(content_type)?;
        let mut builder = SignedUrlBuilder::for_object(self.bucket_path.as_str(), object)
            .with_method(http::Method::GET)
            .with_expiration(self.ttl)
            .with_query_param(
                "response-content-disposition",
                content_disposition(disposition, filename),
            )
            .with_query_param("response-content-type", content_type);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint.as_str());
        }
        match tokio::time::timeout(SIGN_TIMEOUT, builder.sign_with(&self.signer)).await {
            Ok(Ok(url)) => Ok(url),
            Ok(Err(e)) => Err(signing_error(&e)),
            Err(_) => Err(BlobError::Unavailable(
                "gcs sign: signing took too long".into(),
            )),
        }
    }
}

/// A failed signature. The IAM path reports every failure (a refused permission too) as a
/// transport error after its own retries, so those are `Unavailable` with the IAM answer in the
/// message (it never quotes the object: only a hash of the request is sent to be signed).
fn signing_error(e: &google_cloud_storage::error::SigningError) -> BlobError {
    if e.is_invalid_parameter() {
        return BlobError::Permanent(format!("gcs sign: {e}"));
    }
    let auth = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<google_cloud_auth::signer::SigningError>());
    match auth {
        Some(a) if a.is_transport() => BlobError::Unavailable(format!("gcs sign: {a}")),
        Some(a) => BlobError::Permanent(format!("gcs sign: {a}")),
        None => BlobError::Permanent("gcs sign: signing failed".into()),
    }
}

/// `type/subtype` (parameters allowed), nothing that could break out of a header.
fn checked_content_type(content_type: &str) -> Result<&str, BlobError> {
    let t = content_type.trim();
    let (kind, rest) = t.split_once('/').unwrap_or(("", ""));
    let ok = !kind.is_empty()
        && !rest.is_empty()
        && t.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if ok {
        Ok(t)
    } else {
        Err(BlobError::Permanent(
            "gcs sign: invalid content type".into(),
        ))
    }
}

/// `attachment; filename="…"` (or `inline`): the name as printable ASCII with `"`, `\`, `/` and
/// anything else replaced by `_`, plus RFC 6266's `filename*=UTF-8''…` when the name is not
/// plain ASCII, so browsers show accents. No filename parameter when the name is empty.
pub(crate) fn content_disposition(disposition: Disposition, filename: &str) -> String {
    let kind = match disposition {
        Disposition::Attachment => "attachment",
        Disposition::Inline => "inline",
    };
    let filename = filename.trim();
    if filename.is_empty() {
        return kind.to_owned();
    }
    let ascii: String = filename
        .chars()
        .map(|c| match c {
            '"' | '\\' | '/' => '_',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '_',
        })
        .collect();
    let mut value = format!("{kind}; filename=\"{ascii}\"");
    if ascii != filename {
        value.push_str("; filename*=UTF-8''");
        for b in filename.bytes() {
            // RFC 8187 attr-char.
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                value.push(char::from(b));
            } else {
                value.push_str(&format!("%{b:02X}"));
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disposition_names_the_file_safely() {
        let cases = [
            (
                Disposition::Attachment,
                "comprobante-T0000000000000000001.pdf",
                "attachment; filename=\"comprobante-T0000000000000000001.pdf\"",
            ),
            (
                Disposition::Inline,
                "comprobante.png",
                "inline; filename=\"comprobante.png\"",
            ),
            (Disposition::Inline, "  ", "inline"),
            (
                Disposition::Attachment,
                "a \"quoted\"\\name/x.pdf",
                "attachment; filename=\"a _quoted__name_x.pdf\"; \
                 filename*=UTF-8''a%20%22quoted%22%5Cname%2Fx.pdf",
            ),
            (
                Disposition::Attachment,
                "Comprobante Núñez.pdf",
                "attachment; filename=\"Comprobante N__ez.pdf\"; \
                 filename*=UTF-8''Comprobante%20N%C3%BA%C3%B1ez.pdf",
            ),
            (
                Disposition::Attachment,
                "x\r\nSet-Cookie: a=b",
                "attachment; filename=\"x__Set-Cookie: a=b\"; \
                 filename*=UTF-8''x%0D%0ASet-Cookie%3A%20a%3Db",
            ),
        ];
        for (disposition, filename, expected) in cases {
            assert_eq!(
                content_disposition(disposition, filename),
                expected,
                "{filename}"
            );
        }
    }

    #[test]
    fn content_types_must_be_plain() {
        assert_eq!(
            checked_content_type(" application/pdf ").unwrap(),
            "application/pdf"
        );
        assert!(checked_content_type("text/plain; charset=utf-8").is_ok());
        for bad in ["", "pdf", "/pdf", "image/", "text/html\r\nX: y", "tipo/ñ"] {
            assert!(checked_content_type(bad).is_err(), "{bad:?}");
        }
    }
}
