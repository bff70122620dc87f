//! The registration API: the two form endpoints (`POST`; a `GET` is sent on to the form page),
//! the catalog for the front, and health.
//!
//! Handlers are thin: parse the multipart body, let `domain` validate and decide, let the ports
//! store, and map every outcome to a 303 in `redirect`. Which backends fill the ports is decided
//! by the `runtime` crate; this crate only sees `Arc<dyn Port>`.

mod accept;
pub mod multipart;
pub mod orphans;
pub mod rate_limit;
pub mod redirect;
mod request;
pub use request::healthz;
pub mod server;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use domain::Catalog;
use domain::failpoints::Failpoints;
use domain::ports::{Blobs, Clock, Store};
use std::sync::Arc;
use std::time::Duration;

/// 5 MiB receipt + 1 MiB for the fields and the multipart framing.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 6 * 1024 * 1024;

/// Typed API configuration (validated by the runtime before it gets here).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Exact origins allowed for redirects and CORS (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// Where redirects go when neither Origin nor Referer is allowed.
    pub frontend_url: String,
    /// The front is served by this same process (`registro serve` with a built front): an
    /// `Origin` / `Referer` naming the request's own `Host` is accepted for redirects too, and
    /// `GET` on a form endpoint redirects to the form page on the same host (`redirect`).
    pub same_origin_front: bool,
    /// Form posts per client per minute; 0 switches the limit off.
    pub rate_limit_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Hard cap on a request body: what the form needs (a 5 MiB receipt, its fields and the
    /// multipart framing; the real fields are a few KiB), with 1 MiB of headroom.
    pub max_body_bytes: u64,
    /// Bytes of request bodies all requests together may hold in memory.
    pub body_budget_bytes: u64,
    /// How long a request waits for its share of the budget before the keep-key page
    /// `servidor_ocupado`.
    pub body_budget_wait: Duration,
    /// After an early rejection, how many more bytes are read and discarded so the client
    /// is reading when the answer comes…
    pub drain_max_bytes: u64,
    /// …and for how long at most.
    pub drain_timeout: Duration,
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
            same_origin_front: false,
            rate_limit_per_minute: 0,
            trust_forwarded_for: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            // Cloud Run: 512 MiB per instance at concurrency 80. Eighty full 6 MiB bodies
            // would be 480 MiB; 64 MiB holds ten full-size receipts at once (typical
            // receipts are well under 1 MiB, so dozens of ordinary posts), and leaves the
            // rest of the instance for the process, connection buffers and the pipeline.
            body_budget_bytes: 64 * 1024 * 1024,
            // Long enough to ride out a burst of large uploads finishing, short enough that
            // the browser gets an answer instead of a hung page.
            body_budget_wait: Duration::from_secs(3),
            // Draining costs bandwidth, not memory (chunks are dropped as read). 16 MiB is
            // what the previous server accepted, so any client that worked before still
            // reads its answer; the 10 s bound stops a trickle from holding a connection.
            drain_max_bytes: 16 * 1024 * 1024,
            drain_timeout: Duration::from_secs(10),
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
    body: multipart::BodyLimits,
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
                body: multipart::BodyLimits {
                    max_body_bytes: config.max_body_bytes,
                    budget: multipart::BodyBudget::new(
                        config.body_budget_bytes,
                        config.body_budget_wait,
                    ),
                    drain_max_bytes: config.drain_max_bytes,
                    drain_timeout: config.drain_timeout,
                },
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

/// The API's routes with their middleware. Unknown paths are plain 404s (not redirects); a
/// `GET` on a form endpoint is a 308 to its form page.
pub fn router(state: AppState) -> Router {
    let cors = request::cors(&state.inner.config.allowed_origins);
    Router::new()
        .route(
            "/registro/delegaciones",
            post(accept::delegaciones).get(request::delegaciones_page),
        )
        .route(
            "/registro/faculty",
            post(accept::faculty).get(request::faculty_page),
        )
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
