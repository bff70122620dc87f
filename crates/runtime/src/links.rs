//! Receipt links for the embedded mode (reference/pipeline.md §11 item 14).
//!
//! The sheet and the internal e-mail carry a *stable* link,
//! `<public_url>/comprobantes/<id>?k=<hmac>`, which never expires; opening it redirects to a
//! short-lived signed URL (`…/comprobantes/<id>/archivo?exp=<unix>&sig=<hmac>`) that serves the
//! file. Both carry a MAC: the folio alone (which the attendee sees) opens nothing. The signing key
//! lives in `DATA_DIR/link-secret` (random, owner-only). In the cloud the same shape is an
//! authenticated endpoint handing out V4 signed URLs.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::ports::{Blobs, Clock, Store};
use domain::{Submission, SubmissionId};
use hmac::{Hmac, Mac};
use http::{StatusCode, header};
use sha2::Sha256;
use std::sync::Arc;

/// How long a signed file URL stays valid.
pub const SIGNED_TTL_SECS: i64 = 600;

/// Where the receipt-link key lives in a data directory, and the keys it replaced.
pub const KEY_FILE: &str = "link-secret";
pub const PREVIOUS_KEYS_FILE: &str = "link-secret.previous";
const KEY_LEN: usize = 32;

#[derive(Clone)]
pub struct LinkSigner {
    /// Signs every new link.
    secret: Arc<[u8; KEY_LEN]>,
    /// Keys replaced by `registro admin rotate-link-key`: still accepted, never used to sign,
    /// so the links already in the sheet and the e-mails keep working.
    previous: Arc<Vec<[u8; KEY_LEN]>>,
    public_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the receipt-link key {0} is missing, but this data directory already holds data: every \
         receipt link in the sheet and in the e-mails was signed with it. Restore the file from \
         a backup; if it is lost for good, `registro admin rotate-link-key --replace-lost` \
         makes a new one (the links already handed out stop working)"
    )]
    Missing(String),
    #[error(
        "the receipt-link key {0} is not a {KEY_LEN}-byte key (corrupt or truncated): restore it \
         from a backup, or see `registro admin rotate-link-key --replace-lost`"
    )]
    Corrupt(String),
    #[error("the previous receipt-link keys {0} are corrupt (not a multiple of {KEY_LEN} bytes)")]
    CorruptPrevious(String),
    #[error("cannot read or write the receipt-link key {0}: {1}")]
    Io(String, std::io::Error),
}

/// The keys of a data directory: `(current, previous)`.
pub type Keys = ([u8; KEY_LEN], Vec<[u8; KEY_LEN]>);

/// Writes `bytes` to `dir/name` atomically and durably: a temporary file (owner-only), fsync,
/// rename over the target, fsync of the directory. A crash leaves the old file or the new one.
pub(crate) fn write_atomically(
    dir: &std::path::Path,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

fn read_key(path: &std::path::Path) -> Result<Option<[u8; KEY_LEN]>, KeyError> {
    let shown = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => <[u8; KEY_LEN]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| KeyError::Corrupt(shown)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::Io(shown, e)),
    }
}

fn read_previous(dir: &std::path::Path) -> Result<Vec<[u8; KEY_LEN]>, KeyError> {
    let path = dir.join(PREVIOUS_KEYS_FILE);
    let shown = path.display().to_string();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyError::Io(shown, e)),
    };
    if bytes.len() % KEY_LEN != 0 {
        return Err(KeyError::CorruptPrevious(shown));
    }
    Ok(bytes
        .chunks_exact(KEY_LEN)
        .map(|c| <[u8; KEY_LEN]>::try_from(c).expect("exact chunk"))
        .collect())
}

/// Loads the keys of `dir`. The key is created only when `fresh` (a data directory that held
/// no data before this start); afterwards a missing or unreadable key stops the process
/// instead of silently invalidating every link already handed out.
pub fn load_keys(dir: &std::path::Path, fresh: bool) -> Result<Keys, KeyError> {
    let path = dir.join(KEY_FILE);
    let previous = read_previous(dir)?;
    match read_key(&path)? {
        Some(k) => Ok((k, previous)),
        None if fresh => {
            let k: [u8; KEY_LEN] = rand::random();
            write_atomically(dir, KEY_FILE, &k)
                .map_err(|e| KeyError::Io(path.display().to_string(), e))?;
            tracing::info!("link_key_created");
            Ok((k, previous))
        }
        None => Err(KeyError::Missing(path.display().to_string())),
    }
}

/// `registro admin rotate-link-key`: a new signing key; the current one joins the previous
/// keys (written first, so a crash in between loses nothing). With `replace_lost`, a missing or
/// corrupt current key is replaced (links signed with it stay dead: there is nothing to keep).
/// Takes effect when `registro serve` next starts.
pub fn rotate_key(dir: &std::path::Path, replace_lost: bool) -> Result<usize, KeyError> {
    let path = dir.join(KEY_FILE);
    let shown = path.display().to_string();
    let current = match read_key(&path) {
        Ok(Some(k)) => Some(k),
        Ok(None) if replace_lost => None,
        Err(KeyError::Corrupt(_)) if replace_lost => None,
        Ok(None) => return Err(KeyError::Missing(shown)),
        Err(e) => return Err(e),
    };
    let mut previous = read_previous(dir)?;
    if let Some(k) = current {
        previous.insert(0, k);
        let bytes: Vec<u8> = previous.iter().flatten().copied().collect();
        write_atomically(dir, PREVIOUS_KEYS_FILE, &bytes)
            .map_err(|e| KeyError::Io(dir.join(PREVIOUS_KEYS_FILE).display().to_string(), e))?;
    }
    let next: [u8; KEY_LEN] = rand::random();
    write_atomically(dir, KEY_FILE, &next).map_err(|e| KeyError::Io(shown, e))?;
    Ok(previous.len())
}

impl LinkSigner {
    pub fn new(secret: [u8; KEY_LEN], public_url: String) -> Self {
        Self::with_previous(secret, Vec::new(), public_url)
    }

    pub fn with_previous(
        secret: [u8; KEY_LEN],
        previous: Vec<[u8; KEY_LEN]>,
        public_url: String,
    ) -> Self {
        Self {
            secret: Arc::new(secret),
            previous: Arc::new(previous),
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Every key a link may have been signed with, the current one first.
    fn keys(&self) -> impl Iterator<Item = &[u8; KEY_LEN]> {
        std::iter::once(self.secret.as_ref()).chain(self.previous.iter())
    }

    fn signature(&self, id: &str, exp: i64) -> String {
        hex::encode(self.mac(&format!("{id}:{exp}")).finalize().into_bytes())
    }

    fn mac(&self, message: &str) -> Hmac<Sha256> {
        mac_with(self.secret.as_ref(), message)
    }

    /// Whether `tag` is the MAC of `message` under any of the keys (constant time per key).
    fn verifies(&self, message: &str, tag: &str) -> bool {
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        self.keys()
            .any(|k| mac_with(k, message).verify_slice(&tag).is_ok())
    }

    fn stable_key(&self, id: &SubmissionId) -> String {
        hex::encode(self.mac(&format!("stable:{id}")).finalize().into_bytes())
    }

    pub fn stable_link(&self, id: &SubmissionId) -> String {
        format!(
            "{}/comprobantes/{id}?k={}",
            self.public_url,
            self.stable_key(id)
        )
    }

    pub fn verify_stable(&self, id: &SubmissionId, k: &str) -> bool {
        self.verifies(&format!("stable:{id}"), k)
    }

    pub fn signed_path(&self, id: &SubmissionId, now: i64) -> String {
        let exp = now + SIGNED_TTL_SECS;
        format!(
            "/comprobantes/{id}/archivo?exp={exp}&sig={}",
            self.signature(id.as_str(), exp)
        )
    }

    pub fn verify(&self, id: &SubmissionId, exp: i64, sig: &str, now: i64) -> bool {
        exp >= now && self.verifies(&format!("{id}:{exp}"), sig)
    }
}

fn mac_with(key: &[u8], message: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message.as_bytes());
    mac
}

impl domain::ports::ReceiptLinks for LinkSigner {
    fn link(&self, submission: &Submission) -> String {
        self.stable_link(&submission.submission_id)
    }
}

/// Where a verified stable link sends the organizer: a short-lived URL of the receipt itself.
#[async_trait::async_trait]
pub trait ReceiptUrls: Send + Sync {
    /// A URL valid for about [`SIGNED_TTL_SECS`] from `now`.
    async fn fresh_url(&self, submission: &Submission, now: i64) -> Result<String, String>;
}

/// The embedded mode: this process serves the file at an HMAC-signed path.
struct SignedPaths(LinkSigner);

#[async_trait::async_trait]
impl ReceiptUrls for SignedPaths {
    async fn fresh_url(&self, submission: &Submission, now: i64) -> Result<String, String> {
        Ok(self.0.signed_path(&submission.submission_id, now))
    }
}

/// How a receipt is served, by any server that hands it out (this one, or Cloud Storage
/// through `response-*` parameters): its content type, whether it shows inline (images) or is
/// downloaded (everything else), and a file name made of the id and the whitelisted extension
/// only (nothing the attendee typed).
pub struct Presentation {
    pub content_type: String,
    pub inline: bool,
    pub filename: String,
}

pub fn receipt_presentation(submission: &Submission) -> Presentation {
    let (content_type, ext) = submission.receipt.as_ref().map_or(
        ("application/octet-stream".to_owned(), String::new()),
        |r| (r.content_type.clone(), r.extension.clone()),
    );
    let content_type = if content_type.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        content_type
    };
    Presentation {
        inline: content_type.starts_with("image/"),
        filename: format!("comprobante-{}{ext}", submission.submission_id),
        content_type,
    }
}

#[derive(Clone)]
struct LinkState {
    signer: LinkSigner,
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
    clock: Arc<dyn Clock>,
    urls: Arc<dyn ReceiptUrls>,
}

/// The embedded receipt links: `/comprobantes/<id>?k=…` (stable) → `/comprobantes/<id>/archivo`
/// (signed, 10 minutes), served from `blobs`.
pub fn router(
    signer: LinkSigner,
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
    clock: Arc<dyn Clock>,
) -> Router {
    let urls = Arc::new(SignedPaths(signer.clone()));
    Router::new()
        .route("/comprobantes/{id}", get(stable))
        .route("/comprobantes/{id}/archivo", get(file))
        .with_state(LinkState {
            signer,
            store,
            blobs,
            clock,
            urls,
        })
}

/// Stable links only, sending to `urls` (the cloud API: a V4 signed Cloud Storage URL).
pub fn stable_router(
    signer: LinkSigner,
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
    clock: Arc<dyn Clock>,
    urls: Arc<dyn ReceiptUrls>,
) -> Router {
    Router::new()
        .route("/comprobantes/{id}", get(stable))
        .with_state(LinkState {
            signer,
            store,
            blobs,
            clock,
            urls,
        })
}

#[derive(serde::Deserialize)]
struct Stable {
    #[serde(default)]
    k: String,
}

async fn stable(
    State(s): State<LinkState>,
    Path(id): Path<String>,
    Query(q): Query<Stable>,
) -> Response {
    let Ok(id) = SubmissionId::parse(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !s.signer.verify_stable(&id, &q.k) {
        return StatusCode::FORBIDDEN.into_response();
    }
    match s.store.submission(&id).await {
        Ok(Some(sub)) => match s.urls.fresh_url(&sub, s.clock.now().timestamp()).await {
            Ok(url) => {
                // Each hand-out is logged (id only), so a leaked link shows up in the logs.
                tracing::info!(submission_id = %id, "receipt_link_followed");
                (
                    StatusCode::SEE_OTHER,
                    [
                        (header::LOCATION, url),
                        (header::CACHE_CONTROL, "no-store".to_owned()),
                        (header::REFERRER_POLICY, "no-referrer".to_owned()),
                    ],
                )
                    .into_response()
            }
            Err(e) => {
                tracing::error!(submission_id = %id, error = %e, "receipt_url_failed");
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        },
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Signed {
    exp: i64,
    sig: String,
}

async fn file(
    State(s): State<LinkState>,
    Path(id): Path<String>,
    Query(q): Query<Signed>,
) -> Response {
    let Ok(id) = SubmissionId::parse(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !s
        .signer
        .verify(&id, q.exp, &q.sig, s.clock.now().timestamp())
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    let sub = match s.store.submission(&id).await {
        Ok(Some(sub)) => sub,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let p = receipt_presentation(&sub);
    match s.blobs.get(&sub.file_path).await {
        Ok(bytes) => {
            // Each download is logged (id only), so a leaked link shows up in the logs.
            tracing::info!(submission_id = %id, size_bytes = bytes.len(), "receipt_downloaded");
            (receipt_headers(&p), bytes).into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Headers of a served receipt. The bytes are the attendee's: even though only files whose
/// magic bytes match are accepted, the browser is told never to sniff them (`nosniff`) and to
/// treat the document as a sandboxed, script-less origin (`sandbox`). Images show inline; a PDF
/// is downloaded (browsers' PDF viewers refuse to run inside a sandboxed document) and opens in
/// the organizer's own viewer. The file name is built from the id and a whitelisted extension
/// only: nothing the attendee typed.
fn receipt_headers(p: &Presentation) -> [(header::HeaderName, String); 6] {
    let how = if p.inline { "inline" } else { "attachment" };
    [
        (header::CONTENT_TYPE, p.content_type.clone()),
        (header::CACHE_CONTROL, "private, no-store".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'; img-src 'self'".to_owned(),
        ),
        (
            header::CONTENT_DISPOSITION,
            format!("{how}; filename=\"{}\"", p.filename),
        ),
        (header::REFERRER_POLICY, "no-referrer".to_owned()),
    ]
}
