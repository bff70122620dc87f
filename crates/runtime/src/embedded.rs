//! The embedded application: every port on this machine (SQLite, files), no cloud account.
//! `Application::build` binds the listener first (port 0 in tests) and reports the real address.
//! The built front, when there is one, is served at `/` behind the API (`front`).

use crate::config::ServeConfig;
use chrono::Utc;
use domain::Catalog;
use domain::ports::{Clock, SystemClock};
use local::{CsvSheet, FileMailer, FsBlobs, LocalBus, SqliteStore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Orphan receipts younger than this may belong to a request still in flight.
const ORPHAN_GRACE: chrono::Duration = chrono::Duration::minutes(10);
const SWEEP_EVERY: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("cannot open the embedded store: {0}")]
    Store(String),
    #[error("cannot bind {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("cannot set up the Resend mailer: {0}")]
    Mailer(resend::ConfigError),
    #[error("cannot set up the Google Sheets writer: {0}")]
    Sheet(sheets::ConfigError),
    #[error("invalid catalog: {0}")]
    Catalog(String),
    #[error("another registro process is using the data directory {0} (its lock is held)")]
    Locked(String),
    #[error(transparent)]
    LinkKey(#[from] crate::links::KeyError),
}

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    store: Arc<SqliteStore>,
    blobs: Arc<FsBlobs>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Held for the life of the process: one server per data directory.
    _lock: std::fs::File,
}

/// Takes the data directory's lock, so a second server cannot sweep away the receipts of the
/// first one's in-flight requests. Operator commands read and write through SQLite's own
/// locking and do not take it.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, StartupError> {
    let path = dir.join("registro.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StartupError::DataDir(path.display().to_string(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StartupError::Locked(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StartupError::DataDir(path.display().to_string(), e))
        }
    }
}

impl Application {
    pub async fn build(config: ServeConfig) -> Result<Self, StartupError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| StartupError::DataDir(dir.display().to_string(), e))?;
        restrict_dir(dir);
        let lock = lock_data_dir(dir)?;
        // A data directory without a database holds nothing yet: the only start allowed to
        // create the receipt-link key.
        let fresh = !dir.join(local::DB_FILE).exists();
        let (secret, previous_keys) = crate::links::load_keys(dir, fresh)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = Arc::new(
            SqliteStore::open(&dir.join(local::DB_FILE), clock.clone())
                .map_err(|e| StartupError::Store(e.to_string()))?,
        );
        let blobs = Arc::new(
            FsBlobs::new(dir.join(local::BLOBS_DIR))
                .map_err(|e| StartupError::Store(e.to_string()))?,
        );
        // We hold the data directory's lock and do not listen yet: nothing can be in flight, so
        // every unreferenced receipt is an orphan of a crash between upload and commit.
        if let Some(report) = sweep_receipts(
            store.as_ref(),
            &blobs,
            clock.now(),
            chrono::Duration::zero(),
        )
        .await
        {
            tracing::info!(
                scanned = report.scanned,
                deleted_orphans = report.deleted_orphans,
                "startup_orphan_sweep"
            );
        }
        recover_after_restart(&store).await;
        let catalog = Arc::new(
            Catalog::from_json(&config.catalog_json)
                .map_err(|e| StartupError::Catalog(e.to_string()))?,
        );
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| StartupError::Bind(config.addr, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartupError::Bind(config.addr, e))?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));

        // The asynchronous half: publisher → in-process bus → worker.
        let setup = |e: local::LocalError| StartupError::Store(e.to_string());
        let sheet: Arc<dyn domain::ports::Sheet> = match &config.sheets {
            Some(c) => {
                tracing::info!(api_url = %c.api_url, "sheet_google_sheets");
                let credentials = sheets::adc_credentials().map_err(StartupError::Sheet)?;
                Arc::new(
                    sheets::SheetsSheet::new(c.clone(), credentials)
                        .map_err(StartupError::Sheet)?,
                )
            }
            None => Arc::new(CsvSheet::new(dir.join(local::SHEETS_DIR)).map_err(setup)?),
        };
        let mailer: Arc<dyn domain::ports::Mailer> = match &config.resend {
            Some(c) => {
                tracing::info!(api_url = %c.api_url, "mailer_resend");
                Arc::new(resend::ResendMailer::new(c.clone()).map_err(StartupError::Mailer)?)
            }
            None => Arc::new(FileMailer::new(dir.join(local::MAIL_DIR)).map_err(setup)?),
        };
        let signer = crate::links::LinkSigner::with_previous(secret, previous_keys, public_url);
        let (bus, messages) = LocalBus::new();
        let redeliver = bus.sender();
        let publisher = outbox::Publisher::new(
            store.clone(),
            Arc::new(bus),
            clock.clone(),
            config.failpoints.clone(),
        );
        let worker = worker::Worker::new(worker::Deps {
            store: store.clone(),
            sheet,
            mailer,
            catalog: catalog.clone(),
            mail: config.mail.clone(),
            links: Arc::new(signer.clone()),
            config: config.worker.clone(),
            failpoints: config.failpoints.clone(),
        });
        let (created_tx, created_rx) = tokio::sync::mpsc::unbounded_channel();
        // The cloud triggers' endpoints are served too, next to the background loops, for
        // loopback callers or holders of the trigger token (`triggers`).
        let access = if config.open_triggers {
            tracing::warn!("trigger_routes_open");
            crate::triggers::TriggerAccess::open()
        } else {
            crate::triggers::TriggerAccess::load_or_create(dir)
                .map_err(|e| StartupError::DataDir(dir.display().to_string(), e))?
        };
        let triggers = outbox::http::router(publisher.clone())
            .merge(worker::http::router(worker.clone()))
            .layer(axum::middleware::from_fn_with_state(
                access,
                crate::triggers::guard,
            ));
        let background = vec![
            crate::pipeline::spawn_publisher(publisher, created_rx),
            crate::pipeline::spawn_dispatcher(
                worker,
                config.worker_concurrency,
                messages,
                redeliver,
            ),
        ];

        let state = api::AppState::new(
            store.clone(),
            blobs.clone(),
            clock.clone(),
            catalog,
            config.api.clone(),
            config.failpoints.clone(),
        )
        .with_hook(Arc::new(crate::pipeline::Notifier(created_tx)));
        let router = api::router(state)
            .merge(crate::links::router(
                signer,
                store.clone(),
                blobs.clone(),
                clock.clone(),
            ))
            .merge(triggers);
        // The front last, as the fallback: every route above keeps precedence.
        match &config.front_dir {
            Some(dir) => tracing::info!(front_dir = %dir.display(), "front_served"),
            None => tracing::warn!(
                front_dir = crate::front::DEFAULT_DIR,
                hint = crate::front::BUILD_HINT,
                "front_not_built"
            ),
        }
        let router = crate::front::with_front(router, config.front_dir.as_deref());
        Ok(Self {
            listener,
            addr,
            router,
            store,
            blobs,
            background,
            _lock: lock,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests finish (bounded by
    /// `api::SHUTDOWN_GRACE`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            listener,
            addr,
            router,
            store,
            blobs,
            background,
            _lock,
        } = self;
        tracing::info!(addr = %addr, "listening");
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                sweep_receipts(store.as_ref(), &blobs, Utc::now(), ORPHAN_GRACE).await;
            }
        });
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        // Header and body read timeouts and a connection cap (axum::serve has none).
        let serve = api::server::serve(
            listener,
            router,
            api::server::ServerLimits::default(),
            async move {
                shutdown_signal().await;
                let _ = signalled_tx.send(());
            },
        );
        // In-flight requests get a bounded grace period after the signal, not forever.
        let grace = async move {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(api::SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let served = tokio::select! {
            r = serve => r,
            () = grace => {
                tracing::warn!("shutdown_grace_expired");
                Ok(())
            }
        };
        sweeper.abort();
        for task in background {
            task.abort();
        }
        tracing::info!("stopped");
        served
    }
}

pub(crate) async fn shutdown_signal() {
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

/// The data directory holds personal data: owner-only.
fn restrict_dir(dir: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Deletes unreferenced receipts (`api::orphans`, through the ports) and the temporary files
/// of interrupted writes (this backend's own leftovers). Errors are logged; the next sweep
/// tries again.
async fn sweep_receipts(
    store: &SqliteStore,
    blobs: &FsBlobs,
    now: chrono::DateTime<Utc>,
    grace: chrono::Duration,
) -> Option<api::orphans::OrphanReport> {
    match blobs
        .remove_stale_temp_files(api::orphans::UPLOADS_PREFIX, now, grace)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted_temp = n, "temp_receipts_swept"),
        Err(e) => tracing::error!(error = %e, "temp_receipt_sweep_failed"),
    }
    match api::orphans::sweep_orphans(store, blobs, now, grace).await {
        Ok(report) => Some(report),
        Err(e) => {
            tracing::error!(error = %e, "orphan_sweep_failed");
            None
        }
    }
}

/// Resumes the work of a previous process of this data directory at once, instead of waiting
/// for its leases to expire: we hold the directory's lock, so every lease still recorded
/// belongs to a dead process. Unfinished submissions are released and their outbox rows
/// re-queued; the first sweep publishes them, and completed checkpoints are kept.
async fn recover_after_restart(store: &SqliteStore) {
    use domain::ports::PipelineStore;
    let mut unfinished = Vec::new();
    for status in [
        domain::SubmissionStatus::Processing,
        domain::SubmissionStatus::Pending,
    ] {
        let mut after = None;
        loop {
            match PipelineStore::list_submissions(store, Some(status), after.as_ref(), 500).await {
                Ok(page) => {
                    let Some(last) = page.last() else { break };
                    after = Some(domain::ports::SubmissionCursor::after(last));
                    unfinished.extend(page);
                }
                Err(e) => {
                    tracing::error!(error = %e, "startup_recovery_failed");
                    return;
                }
            }
        }
    }
    let mut requeued = 0usize;
    for sub in unfinished {
        let id = sub.submission_id;
        let released = store
            .change_submission(&id, Box::new(domain::worker::release_after_restart))
            .await;
        let row = store
            .change_outbox(&id, Box::new(domain::outbox::requeue_after_restart))
            .await;
        match (released, row) {
            (Ok(Ok(_)), Ok(Ok(_))) => requeued += 1,
            (a, b) => tracing::error!(
                submission_id = %id,
                submission = ?a.err(),
                outbox = ?b.err(),
                "startup_recovery_row_failed"
            ),
        }
    }
    tracing::info!(requeued, "startup_recovery");
}
