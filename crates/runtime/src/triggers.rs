//! Who may call the cloud trigger routes that `registro serve` also serves (`/events/outbox`,
//! `/sweep`, `/pubsub/push`).
//!
//! In the cloud these routes check a Google OIDC token. The embedded server has no such caller:
//! its own loops publish and deliver in-process, and the routes exist so that a person or a test
//! can drive the pipeline by hand. They must not be open to the network when `serve` listens
//! beyond loopback (the Docker image binds 0.0.0.0): a caller on loopback is let in, any other
//! must send `Authorization: Bearer <token>` with the token `serve` keeps in
//! `DATA_DIR/trigger-token` (random, owner-only, created once), unless the operator opened them
//! explicitly with `--open-triggers`.

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub const TOKEN_FILE: &str = "trigger-token";

#[derive(Clone)]
pub struct TriggerAccess {
    /// `None`: open to every caller (explicitly configured).
    token: Option<Arc<str>>,
}

impl TriggerAccess {
    pub fn open() -> Self {
        Self { token: None }
    }

    pub fn with_token(token: String) -> Self {
        Self {
            token: Some(token.into()),
        }
    }

    /// Reads `DATA_DIR/trigger-token`, creating it (atomically, owner-only) the first time.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(t) if t.trim().len() >= 32 => return Ok(Self::with_token(t.trim().to_owned())),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a token (delete it to get a new one)",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let token = hex::encode(rand::random::<[u8; 32]>());
        crate::links::write_atomically(dir, TOKEN_FILE, token.as_bytes())?;
        Ok(Self::with_token(token))
    }

    fn allows(&self, peer: Option<SocketAddr>, headers: &http::HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        if peer.is_some_and(|p| p.ip().is_loopback()) {
            return true;
        }
        let sent = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(sent.as_bytes(), token.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware for the trigger routes: 401 for a caller that is neither local nor holding the token.
pub async fn guard(State(access): State<TriggerAccess>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if access.allows(peer, req.headers()) {
        return next.run(req).await;
    }
    tracing::warn!(path = %req.uri().path(), "trigger_refused");
    (
        StatusCode::UNAUTHORIZED,
        [(http::header::WWW_AUTHENTICATE, "Bearer")],
        "trigger routes need a loopback caller or the bearer token in DATA_DIR/trigger-token\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn item_09_trigger_callers_need_loopback_or_the_token_unless_opened() {
        let dir = tempfile::tempdir().unwrap();
        let access = TriggerAccess::load_or_create(dir.path()).unwrap();
        let token = std::fs::read_to_string(dir.path().join(TOKEN_FILE)).unwrap();
        assert_eq!(token.len(), 64);
        let remote: SocketAddr = "192.0.2.10:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let none = http::HeaderMap::new();
        assert!(access.allows(Some(local), &none));
        assert!(access.allows(Some("[::1]:1".parse().unwrap()), &none));
        assert!(!access.allows(Some(remote), &none));
        assert!(!access.allows(None, &none));
        assert!(!access.allows(Some(remote), &auth("Bearer wrong")));
        assert!(!access.allows(Some(remote), &auth(&token)));
        assert!(access.allows(Some(remote), &auth(&format!("Bearer {token}"))));
        assert!(TriggerAccess::open().allows(Some(remote), &none));
        // The same token on the next start.
        let again = TriggerAccess::load_or_create(dir.path()).unwrap();
        assert!(again.allows(Some(remote), &auth(&format!("Bearer {token}"))));
    }

    #[tokio::test]
    async fn item_09_the_guard_answers_401_to_a_remote_caller_without_the_token() {
        use tower::ServiceExt;
        let app = |access: TriggerAccess| {
            axum::Router::new()
                .route("/sweep", axum::routing::post(|| async { "swept" }))
                .layer(axum::middleware::from_fn_with_state(access, guard))
        };
        let req = |peer: &str, bearer: Option<&str>| {
            let mut r = http::Request::post("/sweep");
            if let Some(b) = bearer {
                r = r.header("authorization", format!("Bearer {b}"));
            }
            let mut r = r.body(axum::body::Body::empty()).unwrap();
            r.extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
            r
        };
        let access = TriggerAccess::with_token("t".repeat(64));
        let status = |r: http::Request<axum::body::Body>| {
            let app = app(access.clone());
            async move { app.oneshot(r).await.unwrap().status() }
        };
        assert_eq!(status(req("203.0.113.5:9", None)).await, 401);
        assert_eq!(status(req("203.0.113.5:9", Some("nope"))).await, 401);
        assert_eq!(
            status(req("203.0.113.5:9", Some(&"t".repeat(64)))).await,
            200
        );
        assert_eq!(status(req("127.0.0.1:9", None)).await, 200);
        let open = app(TriggerAccess::open());
        assert_eq!(
            open.oneshot(req("203.0.113.5:9", None))
                .await
                .unwrap()
                .status(),
            200
        );
    }
}
