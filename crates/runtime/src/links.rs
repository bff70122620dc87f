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
use domain::ports::{Blobs, Store};
use domain::{Submission, SubmissionId};
use hmac::{Hmac, Mac};
use http::{StatusCode, header};
use sha2::Sha256;
use std::sync::Arc;

/// How long a signed file URL stays valid.
pub const SIGNED_TTL_SECS: i64 = 600;

#[derive(Clone)]
pub struct LinkSigner {
    secret: Arc<[u8; 32]>,
    public_url: String,
}

impl LinkSigner {
    pub fn new(secret: [u8; 32], public_url: String) -> Self {
        Self {
            secret: Arc::new(secret),
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Loads `path`, creating a fresh random secret (mode 0600) the first time.
    pub fn load_or_create_secret(path: &std::path::Path) -> std::io::Result<[u8; 32]> {
        if let Ok(bytes) = std::fs::read(path)
            && let Ok(arr) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            return Ok(arr);
        }
        let secret: [u8; 32] = rand::random();
        std::fs::write(path, secret)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(secret)
    }

    fn signature(&self, id: &str, exp: i64) -> String {
        hex::encode(self.mac(&format!("{id}:{exp}")).finalize().into_bytes())
    }

    fn mac(&self, message: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_ref()).expect("any key length");
        mac.update(message.as_bytes());
        mac
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
        let Ok(k) = hex::decode(k) else { return false };
        self.mac(&format!("stable:{id}")).verify_slice(&k).is_ok()
    }

    pub fn signed_path(&self, id: &SubmissionId, now: i64) -> String {
        let exp = now + SIGNED_TTL_SECS;
        format!(
            "/comprobantes/{id}/archivo?exp={exp}&sig={}",
            self.signature(id.as_str(), exp)
        )
    }

    pub fn verify(&self, id: &SubmissionId, exp: i64, sig: &str, now: i64) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_ref()).expect("any key length");
        mac.update(format!("{id}:{exp}").as_bytes());
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        exp >= now && mac.verify_slice(&sig).is_ok()
    }
}

impl worker::ReceiptLinks for LinkSigner {
    fn link(&self, submission: &Submission) -> String {
        self.stable_link(&submission.submission_id)
    }
}

#[derive(Clone)]
struct LinkState {
    signer: LinkSigner,
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
}

pub fn router(signer: LinkSigner, store: Arc<dyn Store>, blobs: Arc<dyn Blobs>) -> Router {
    Router::new()
        .route("/comprobantes/{id}", get(stable))
        .route("/comprobantes/{id}/archivo", get(file))
        .with_state(LinkState {
            signer,
            store,
            blobs,
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
        Ok(Some(_)) => {
            let now = chrono::Utc::now().timestamp();
            (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, s.signer.signed_path(&id, now))],
            )
                .into_response()
        }
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
        .verify(&id, q.exp, &q.sig, chrono::Utc::now().timestamp())
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    let sub = match s.store.submission(&id).await {
        Ok(Some(sub)) => sub,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let content_type = sub
        .receipt
        .as_ref()
        .map_or("application/octet-stream".to_owned(), |r| {
            r.content_type.clone()
        });
    let ext = sub
        .receipt
        .as_ref()
        .map_or(String::new(), |r| r.extension.clone());
    match s.blobs.get(&sub.file_path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "private, no-store".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"comprobante-{id}{ext}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_until_they_expire_and_not_for_another_id() {
        let s = LinkSigner::new([9; 32], "http://x/".into());
        let id = SubmissionId::parse("AAAAAAAAAAAAAAAAAAAA").unwrap();
        let other = SubmissionId::parse("BBBBBBBBBBBBBBBBBBBB").unwrap();
        let stable = s.stable_link(&id);
        let k = stable
            .strip_prefix("http://x/comprobantes/AAAAAAAAAAAAAAAAAAAA?k=")
            .unwrap();
        assert!(s.verify_stable(&id, k));
        assert!(!s.verify_stable(&other, k));
        assert!(!s.verify_stable(&id, ""));
        let path = s.signed_path(&id, 1000);
        let q = path.split('?').nth(1).unwrap();
        let exp: i64 = q.split('&').next().unwrap()[4..].parse().unwrap();
        let sig = &q.split("sig=").nth(1).unwrap();
        assert!(s.verify(&id, exp, sig, 1000));
        assert!(!s.verify(&id, exp, sig, exp + 1));
        assert!(!s.verify(&other, exp, sig, 1000));
        assert!(!s.verify(&id, exp + 1, sig, 1000));
    }
}
