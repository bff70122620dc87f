//! The registration API: the two form endpoints, the catalog for the front, and health.
//!
//! Handlers are thin: parse the multipart body, let `domain` validate and decide, let the ports
//! store, and map every outcome to a 303 in `redirect`. Which backends fill the ports is decided
//! by the `runtime` crate; this crate only sees `Arc<dyn Port>`.

mod accept;
pub mod multipart;
pub mod rate_limit;
pub mod redirect;
mod request;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use domain::Catalog;
use domain::failpoints::Failpoints;
use domain::ports::{Blobs, Clock, Store};
use std::sync::Arc;
use std::time::Duration;

/// Typed API configuration (validated by the runtime before it gets here).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Exact origins allowed for redirects and CORS (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Where redirects go when neither Origin nor Referer is allowed.
    pub frontend_url: String,
    /// Form posts per client per minute; 0 switches the limit off.
    pub rate_limit_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Hard cap on a request body (a 5 MiB receipt plus 1,000 fields fit well below it;
    /// Cloud Run's own cap is 32 MiB).
    pub max_body_bytes: u64,
    /// Cloud project for `logging.googleapis.com/trace`; none in the embedded mode.
    pub trace_project: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            allowed_origins: vec![
                "http://localhost:8080".into(),
                "http://127.0.0.1:8080".into(),
                "http://localhost:5173".into(),
            ],
            frontend_url: "http://localhost:8080".into(),
            rate_limit_per_minute: 0,
            trust_forwarded_for: false,
            max_body_bytes: 16 * 1024 * 1024,
            trace_project: None,
        }
    }
}

/// Everything a handler needs, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
    clock: Arc<dyn Clock>,
    catalog: Arc<Catalog>,
    catalog_json: Bytes,
    config: ApiConfig,
    failpoints: Arc<Failpoints>,
    limiter: Option<rate_limit::RateLimiter>,
    hook: Option<Arc<dyn AcceptedHook>>,
}

/// Told about every newly committed submission (not replays). The embedded mode uses it to
/// wake the outbox publisher at once; in the cloud the Firestore create event does that job.
pub trait AcceptedHook: Send + Sync {
    fn accepted(&self, id: &domain::SubmissionId);
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn Blobs>,
        clock: Arc<dyn Clock>,
        catalog: Arc<Catalog>,
        config: ApiConfig,
        failpoints: Arc<Failpoints>,
    ) -> Self {
        let catalog_json =
            Bytes::from(serde_json::to_vec(&catalog.public_json()).expect("catalog serializes"));
        let limiter = (config.rate_limit_per_minute > 0)
            .then(|| rate_limit::RateLimiter::new(config.rate_limit_per_minute, rand::random()));
        Self {
            inner: Arc::new(Inner {
                store,
                blobs,
                clock,
                catalog,
                catalog_json,
                config,
                failpoints,
                limiter,
                hook: None,
            }),
        }
    }

    /// Same state, with a hook called after each new commit.
    pub fn with_hook(self, hook: Arc<dyn AcceptedHook>) -> Self {
        let mut inner = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| panic!("with_hook before sharing the state"));
        inner.hook = Some(hook);
        Self {
            inner: Arc::new(inner),
        }
    }
}

/// The API's routes with their middleware. Unknown paths are plain 404s (not redirects).
pub fn router(state: AppState) -> Router {
    let cors = request::cors(&state.inner.config.allowed_origins);
    Router::new()
        .route("/registro/delegaciones", post(accept::delegaciones))
        .route("/registro/faculty", post(accept::faculty))
        .route("/registro/catalogo", get(request::catalogo))
        .route("/healthz", get(request::healthz))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request::observe,
        ))
        .layer(cors)
        .with_state(state)
}

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
