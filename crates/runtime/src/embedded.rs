//! The embedded application: every port on this machine (SQLite, files), no cloud account.
//! `Application::build` binds the listener first (port 0 in tests) and reports the real address.

use crate::config::ServeConfig;
use chrono::Utc;
use domain::Catalog;
use domain::ports::Clock;
use local::{FsBlobs, SqliteStore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Orphan receipts younger than this may belong to a request still in flight.
const ORPHAN_GRACE: chrono::Duration = chrono::Duration::minutes(10);
const SWEEP_EVERY: Duration = Duration::from_secs(300);

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("cannot open the embedded store: {0}")]
    Store(String),
    #[error("cannot bind {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("invalid catalog: {0}")]
    Catalog(String),
}

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    store: Arc<SqliteStore>,
    blobs: Arc<FsBlobs>,
}

impl Application {
    pub async fn build(config: ServeConfig) -> Result<Self, StartupError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| StartupError::DataDir(dir.display().to_string(), e))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = Arc::new(
            SqliteStore::open(&dir.join("registro.sqlite3"), clock.clone())
                .map_err(|e| StartupError::Store(e.to_string()))?,
        );
        let blobs = Arc::new(
            FsBlobs::new(dir.join("blobs")).map_err(|e| StartupError::Store(e.to_string()))?,
        );
        // Nothing can be in flight before we listen: every unreferenced receipt is an orphan
        // of a crash between upload and commit.
        match local::sweep_orphans(&store, &blobs, clock.now(), chrono::Duration::zero()).await {
            Ok(report) => tracing::info!(?report, "startup_orphan_sweep"),
            Err(e) => tracing::error!(error = %e, "startup_orphan_sweep_failed"),
        }
        let catalog = Arc::new(
            Catalog::from_json(&config.catalog_json)
                .map_err(|e| StartupError::Catalog(e.to_string()))?,
        );
        let state = api::AppState::new(
            store.clone(),
            blobs.clone(),
            clock,
            catalog,
            config.api.clone(),
            config.failpoints.clone(),
        );
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| StartupError::Bind(config.addr, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(config.addr, e))?;
        Ok(Self {
            listener,
            addr,
            router: api::router(state),
            store,
            blobs,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            listener,
            addr,
            router,
            store,
            blobs,
        } = self;
        tracing::info!(addr = %addr, "listening");
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = local::sweep_orphans(&store, &blobs, Utc::now(), ORPHAN_GRACE).await
                {
                    tracing::error!(error = %e, "orphan_sweep_failed");
                }
            }
        });
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await;
        sweeper.abort();
        tracing::info!("stopped");
        served
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown_requested");
}
