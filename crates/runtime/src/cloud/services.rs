//! The three Cloud Run services, each built from its environment:
//! - `registro-api`: the form endpoints, the catalog, receipt links (stable link → a fresh V4
//!   signed Cloud Storage URL), on Firestore and Cloud Storage;
//! - `registro-outbox`: `POST /events/outbox` (Eventarc's Firestore-create CloudEvent) and
//!   `POST /sweep` (Cloud Scheduler), publishing to Pub/Sub;
//! - `registro-worker`: `POST /pubsub/push`, with Google Sheets and Resend as side effects.
//!
//! Every service answers `GET /healthz`, listens on `PORT`, logs JSON for Cloud Logging, and
//! on SIGTERM stops accepting, lets in-flight requests finish for [`DRAIN`], then (the worker)
//! hands back the leases it still holds, all within Cloud Run's 10 s before SIGKILL.
//! The outbox and worker routes take Google OIDC callers only ([`super::oidc`]).

use super::oidc::CallerAuth;
use super::settings::{Common, OidcSettings, Vars};
use crate::config::{ConfigError, Environment, parse_failpoints, parse_origin, parse_origins};
use crate::links::{LinkSigner, ReceiptUrls};
use axum::Router;
use domain::Catalog;
use domain::failpoints::Failpoints;
use domain::ports::{Clock, SystemClock};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// In-flight requests get this long after SIGTERM (Cloud Run kills at 10 s).
pub const DRAIN: Duration = Duration::from_secs(8);

pub const CATALOG_VAR: &str = "REGISTRO_CATALOG";
pub const LINK_KEY_VAR: &str = "RECEIPT_LINK_KEY";
pub const LINK_PREVIOUS_KEYS_VAR: &str = "RECEIPT_LINK_PREVIOUS_KEYS";
pub const PUBLIC_URL_VAR: &str = "REGISTRO_PUBLIC_URL";
pub const ALLOWED_ORIGINS_VAR: &str = "REGISTRO_ALLOWED_ORIGINS";
pub const FRONTEND_URL_VAR: &str = "REGISTRO_FRONTEND_URL";
pub const RATE_LIMIT_VAR: &str = "REGISTRO_RATE_LIMIT_PER_MINUTE";
pub const TRUST_XFF_VAR: &str = "REGISTRO_TRUST_FORWARDED_FOR";
pub const INTERNAL_EMAIL_VAR: &str = "REGISTRO_INTERNAL_EMAIL";
pub const MAX_ATTEMPTS_VAR: &str = "REGISTRO_WORKER_MAX_ATTEMPTS";
pub const FAILPOINTS_VAR: &str = "REGISTRO_FAILPOINTS";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("Firestore: {0}")]
    Firestore(String),
    #[error("Cloud Storage: {0}")]
    Storage(String),
    #[error("Pub/Sub: {0}")]
    PubSub(String),
    #[error("Google Sheets: {0}")]
    Sheets(String),
    #[error("Resend: {0}")]
    Resend(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// A built service, bound and ready to run.
pub struct Service {
    pub name: &'static str,
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    /// The worker: its leases are handed back on shutdown.
    worker: Option<worker::Worker>,
}

impl Service {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until SIGTERM/SIGINT, then drains (see the module header).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            name,
            listener,
            addr,
            router,
            worker,
        } = self;
        tracing::info!(service = name, addr = %addr, "listening");
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        let serve = api::server::serve(
            listener,
            router,
            api::server::ServerLimits::default(),
            async move {
                crate::embedded::shutdown_signal().await;
                let _ = signalled_tx.send(());
            },
        );
        let drained = async move {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(DRAIN).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let served = tokio::select! {
            r = serve => r,
            () = drained => {
                tracing::warn!("shutdown_drain_expired");
                Ok(())
            }
        };
        if let Some(w) = worker {
            let n = w.hand_back().await;
            tracing::info!(leases_handed_back = n, "worker_stopped");
        }
        tracing::info!(service = name, "stopped");
        served
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| StartupError::Bind(addr, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| StartupError::Bind(addr, e))?;
    Ok((listener, bound))
}

fn health() -> Router {
    Router::new().route("/healthz", axum::routing::get(api::healthz))
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// The catalog a deployment supplies (`REGISTRO_CATALOG`, a file); the shipped example only
/// outside production.
fn catalog(v: &impl Vars, env: Environment) -> Result<Arc<Catalog>, ConfigError> {
    let json = match v.var(CATALOG_VAR) {
        Some(path) => std::fs::read_to_string(&path).map_err(|e| ConfigError::Catalog {
            path: path.clone(),
            reason: e.to_string(),
        })?,
        None if env == Environment::Production => {
            return Err(invalid(
                CATALOG_VAR,
                "is required in production (the conference's delegaciones.json)",
            ));
        }
        None => domain::catalog::EXAMPLE_JSON.to_owned(),
    };
    Catalog::from_json(&json)
        .map(Arc::new)
        .map_err(|e| ConfigError::Catalog {
            path: v.var(CATALOG_VAR).unwrap_or_else(|| "(example)".into()),
            reason: e.to_string(),
        })
}

fn key(var: &'static str, hex_key: &str) -> Result<[u8; 32], ConfigError> {
    let bytes = hex::decode(hex_key.trim())
        .map_err(|_| invalid(var, "not hex (64 hex digits: a 32-byte key)"))?;
    bytes
        .try_into()
        .map_err(|_| invalid(var, "must be 32 bytes (64 hex digits)"))
}

/// The receipt-link key (Secret Manager → `RECEIPT_LINK_KEY`), older keys still verifying, and
/// the API's public URL the links point at.
fn link_signer(v: &impl Vars) -> Result<LinkSigner, ConfigError> {
    let current = v.var(LINK_KEY_VAR).ok_or_else(|| {
        invalid(
            LINK_KEY_VAR,
            "is required (64 hex digits, from Secret Manager)",
        )
    })?;
    let current = key(LINK_KEY_VAR, &current)?;
    let previous = v
        .var(LINK_PREVIOUS_KEYS_VAR)
        .map(|list| {
            list.split(',')
                .filter(|k| !k.trim().is_empty())
                .map(|k| key(LINK_PREVIOUS_KEYS_VAR, k))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let public_url = v.var(PUBLIC_URL_VAR).ok_or_else(|| {
        invalid(
            PUBLIC_URL_VAR,
            "is required: the API's public URL (receipt links point there)",
        )
    })?;
    let public_url = parse_origin(PUBLIC_URL_VAR, public_url.trim_end_matches('/'))?;
    Ok(LinkSigner::with_previous(current, previous, public_url))
}

fn failpoints(v: &impl Vars, env: Environment) -> Result<Arc<Failpoints>, ConfigError> {
    parse_failpoints(&v.var(FAILPOINTS_VAR).unwrap_or_default(), env).map(Arc::new)
}

async fn firestore(
    v: &impl Vars,
    clock: Arc<dyn Clock>,
) -> Result<Arc<firestore_store::FirestoreStore>, StartupError> {
    let config = firestore_store::FirestoreConfig::from_lookup(|k| v.get(k))
        .map_err(|e| StartupError::Firestore(e.to_string()))?;
    let store = firestore_store::FirestoreStore::connect(&config, clock)
        .await
        .map_err(|e| StartupError::Firestore(e.to_string()))?;
    tracing::info!(collections = %config.collections, emulator = config.emulator_host.is_some(), "store_firestore");
    Ok(Arc::new(store))
}

fn api_config(v: &impl Vars, env: Environment) -> Result<api::ApiConfig, ConfigError> {
    let allowed_origins = parse_origins(
        ALLOWED_ORIGINS_VAR,
        &v.var(ALLOWED_ORIGINS_VAR).unwrap_or_default(),
    )?;
    if allowed_origins.is_empty() && env == Environment::Production {
        return Err(invalid(
            ALLOWED_ORIGINS_VAR,
            "is required in production (the front's origin, e.g. https://smmun.com)",
        ));
    }
    let frontend_url = v
        .var(FRONTEND_URL_VAR)
        .ok_or_else(|| invalid(FRONTEND_URL_VAR, "is required (where the form pages live)"))?;
    let frontend_url = parse_origin(FRONTEND_URL_VAR, frontend_url.trim_end_matches('/'))?;
    let rate_limit_per_minute = match v.var(RATE_LIMIT_VAR) {
        None => 30,
        Some(n) => n
            .parse()
            .map_err(|_| invalid(RATE_LIMIT_VAR, format!("{n:?} is not a number")))?,
    };
    // Cloud Run's front end appends the caller's address as the last X-Forwarded-For entry.
    let trust_forwarded_for = match v.var(TRUST_XFF_VAR).as_deref() {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => {
            return Err(invalid(
                TRUST_XFF_VAR,
                format!("{other:?} is not true or false"),
            ));
        }
    };
    Ok(api::ApiConfig {
        allowed_origins,
        frontend_url,
        rate_limit_per_minute,
        trust_forwarded_for,
        same_origin_front: false,
        ..api::ApiConfig::default()
    })
}

/// `registro-api`.
pub async fn api_service(v: &impl Vars) -> Result<Service, StartupError> {
    let common = Common::from_vars(v)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let config = api_config(v, common.env)?;
    let catalog = catalog(v, common.env)?;
    let signer = link_signer(v)?;
    let failpoints = failpoints(v, common.env)?;
    let store = firestore(v, clock.clone()).await?;
    let gcs = gcs_blobs::GcsConfig::from_lookup(|k| v.get(k))
        .map_err(|e| StartupError::Storage(e.to_string()))?;
    let blobs = Arc::new(
        gcs_blobs::GcsBlobs::connect(&gcs)
            .await
            .map_err(|e| StartupError::Storage(e.to_string()))?,
    );
    let urls: Arc<dyn ReceiptUrls> = Arc::new(
        GcsUrls::new(&gcs)
            .await
            .map_err(|e| StartupError::Storage(e.to_string()))?,
    );
    let (listener, addr) = bind(common.addr).await?;
    let state = api::AppState::new(
        store.clone(),
        blobs.clone(),
        clock.clone(),
        catalog,
        config,
        failpoints,
    );
    let router = api::router(state).merge(crate::links::stable_router(
        signer, store, blobs, clock, urls,
    ));
    Ok(Service {
        name: "registro-api",
        listener,
        addr,
        router,
        worker: None,
    })
}

/// Stable receipt links on Cloud Run: V4 signed Cloud Storage URLs (IAM signBlob with the
/// service's own account, or a key file), with the embedded mode's inline/download rule.
struct GcsUrls {
    signer: gcs_blobs::ReceiptUrlSigner,
}

impl GcsUrls {
    async fn new(config: &gcs_blobs::GcsConfig) -> Result<Self, gcs_blobs::GcsError> {
        Ok(Self {
            signer: gcs_blobs::ReceiptUrlSigner::from_adc(config)?,
        })
    }
}

#[async_trait::async_trait]
impl ReceiptUrls for GcsUrls {
    async fn fresh_url(
        &self,
        submission: &domain::Submission,
        _now: i64,
    ) -> Result<String, String> {
        let p = crate::links::receipt_presentation(submission);
        let disposition = if p.inline {
            gcs_blobs::Disposition::Inline
        } else {
            gcs_blobs::Disposition::Attachment
        };
        self.signer
            .signed_get(
                &submission.file_path,
                disposition,
                &p.filename,
                &p.content_type,
            )
            .await
            .map_err(|e| e.to_string())
    }
}

/// `registro-outbox`.
pub async fn outbox_service(v: &impl Vars) -> Result<Service, StartupError> {
    let common = Common::from_vars(v)?;
    let oidc = OidcSettings::from_vars(v, common.env)?;
    let failpoints = failpoints(v, common.env)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = firestore(v, clock.clone()).await?;
    let pubsub = pubsub_bus::PubSubConfig::from_lookup(|k| v.get(k))
        .map_err(|e| StartupError::PubSub(e.to_string()))?;
    let bus = Arc::new(
        pubsub_bus::PubSubBus::connect(&pubsub)
            .await
            .map_err(|e| StartupError::PubSub(e.to_string()))?,
    );
    let publisher = outbox::Publisher::new(store, bus, clock, failpoints);
    let (listener, addr) = bind(common.addr).await?;
    let router = CallerAuth::new(&oidc)
        .protect(outbox::http::router(publisher))
        .merge(health());
    Ok(Service {
        name: "registro-outbox",
        listener,
        addr,
        router,
        worker: None,
    })
}

/// `registro-worker`.
pub async fn worker_service(v: &impl Vars) -> Result<Service, StartupError> {
    let common = Common::from_vars(v)?;
    let oidc = OidcSettings::from_vars(v, common.env)?;
    let failpoints = failpoints(v, common.env)?;
    let catalog = catalog(v, common.env)?;
    let signer = link_signer(v)?;
    let internal = v
        .var(INTERNAL_EMAIL_VAR)
        .ok_or_else(|| invalid(INTERNAL_EMAIL_VAR, "is required (internal notifications)"))?;
    let internal_recipient = domain::email::normalize(&internal)
        .map_err(|_| invalid(INTERNAL_EMAIL_VAR, format!("{internal:?} is not an e-mail")))?;
    let max_attempts = match v.var(MAX_ATTEMPTS_VAR) {
        None => domain::worker::DEFAULT_MAX_ATTEMPTS,
        Some(n) => n
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| invalid(MAX_ATTEMPTS_VAR, format!("{n:?} is not between 1 and 100")))?,
    };
    let sheets_config = sheets::Config::from_lookup(|k| v.get(k)).map_err(ConfigError::Sheets)?;
    let resend_config = resend::Config::from_lookup(|k| v.get(k)).map_err(ConfigError::Resend)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = firestore(v, clock).await?;
    let credentials = sheets::adc_credentials().map_err(|e| StartupError::Sheets(e.to_string()))?;
    let sheet = Arc::new(
        sheets::SheetsSheet::new(sheets_config, credentials)
            .map_err(|e| StartupError::Sheets(e.to_string()))?,
    );
    let mailer = Arc::new(
        resend::ResendMailer::new(resend_config)
            .map_err(|e| StartupError::Resend(e.to_string()))?,
    );
    let worker = worker::Worker::new(worker::Deps {
        store,
        sheet,
        mailer,
        catalog,
        mail: domain::mail::MailSettings {
            internal_recipient,
            ..domain::mail::MailSettings::default()
        },
        links: Arc::new(signer),
        config: worker::WorkerConfig {
            max_attempts,
            ..worker::WorkerConfig::default()
        },
        failpoints,
    });
    let (listener, addr) = bind(common.addr).await?;
    let router = CallerAuth::new(&oidc)
        .protect(worker::http::router(worker.clone()))
        .merge(health());
    Ok(Service {
        name: "registro-worker",
        listener,
        addr,
        router,
        worker: Some(worker),
    })
}

/// Common startup of the three mains: settings → telemetry → build → run. Errors before the
/// logger exists go to stderr (and stop the process with status 2).
pub async fn main_of<F, Fut>(name: &'static str, build: F) -> std::process::ExitCode
where
    F: FnOnce(&'static super::settings::Env) -> Fut,
    Fut: std::future::Future<Output = Result<Service, StartupError>>,
{
    static ENV: super::settings::Env = super::settings::Env;
    let common = match Common::from_vars(&ENV) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    crate::telemetry::init(
        name,
        &common.log_level,
        Some(common.project.clone()),
        crate::telemetry::Sink::Stdout,
    );
    let service = match build(&ENV).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "startup_failed");
            eprintln!("{name}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match service.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server_failed");
            std::process::ExitCode::FAILURE
        }
    }
}

const RESEND_VARIABLES: &[&str] = &[
    "RESEND_API_KEY",
    "RESEND_API_URL",
    "RESEND_REQUESTS_PER_SECOND",
];

fn list(parts: &[&[&'static str]]) -> Vec<&'static str> {
    let mut all: Vec<&'static str> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Every variable `registro-api` reads (its `.env.example` lists exactly these).
pub fn api_variables() -> Vec<&'static str> {
    list(&[
        super::settings::COMMON_VARIABLES,
        firestore_store::config::VARIABLES,
        gcs_blobs::VARIABLES,
        &[
            CATALOG_VAR,
            LINK_KEY_VAR,
            LINK_PREVIOUS_KEYS_VAR,
            PUBLIC_URL_VAR,
            ALLOWED_ORIGINS_VAR,
            FRONTEND_URL_VAR,
            RATE_LIMIT_VAR,
            TRUST_XFF_VAR,
            FAILPOINTS_VAR,
        ],
    ])
}

/// Every variable `registro-outbox` reads.
pub fn outbox_variables() -> Vec<&'static str> {
    list(&[
        super::settings::COMMON_VARIABLES,
        super::settings::OIDC_VARIABLES,
        firestore_store::config::VARIABLES,
        pubsub_bus::VARIABLES,
        &[FAILPOINTS_VAR],
    ])
}

/// Every variable `registro-worker` reads.
pub fn worker_variables() -> Vec<&'static str> {
    list(&[
        super::settings::COMMON_VARIABLES,
        super::settings::OIDC_VARIABLES,
        firestore_store::config::VARIABLES,
        sheets::VARIABLES,
        RESEND_VARIABLES,
        &[
            CATALOG_VAR,
            LINK_KEY_VAR,
            LINK_PREVIOUS_KEYS_VAR,
            PUBLIC_URL_VAR,
            INTERNAL_EMAIL_VAR,
            MAX_ATTEMPTS_VAR,
            FAILPOINTS_VAR,
        ],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `deploy/<service>.env.example` names every variable the service reads, and no other.
    #[test]
    fn each_env_example_lists_exactly_the_variables_its_service_reads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        for (service, vars) in [
            ("registro-api", api_variables()),
            ("registro-outbox", outbox_variables()),
            ("registro-worker", worker_variables()),
        ] {
            let path = dir.join(format!("{service}.env.example"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let mut named: Vec<&str> = text
                .lines()
                .map(|l| l.trim().trim_start_matches('#').trim())
                .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
                .filter(|k| {
                    !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
                })
                .collect();
            named.sort_unstable();
            named.dedup();
            assert_eq!(named, vars, "{service}");
        }
    }
}
