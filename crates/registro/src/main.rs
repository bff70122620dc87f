//! `registro`: the whole registration backend in one process on the embedded backend.
//! Thin by design: parse settings → validate → telemetry → build → run until SIGTERM.

use clap::{Args, Parser, Subcommand};
use runtime::config::ServeSettings;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "registro", version, about = "SMMUN registration backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline (api + outbox publisher + worker) on the embedded backend.
    Serve(Box<ServeArgs>),
    /// Operator commands on a data directory (safe while `serve` runs on it), or on the
    /// Google Cloud deployment's Firestore (`--backend firestore`).
    Admin(AdminArgs),
}

#[derive(Args)]
struct AdminArgs {
    /// The data directory of `registro serve`.
    #[arg(
        long,
        env = "REGISTRO_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// Where the submissions are: `embedded` (the data directory) or `firestore` (the cloud
    /// deployment, from GOOGLE_CLOUD_PROJECT, FIRESTORE_COLLECTION_NAME, … as the services).
    #[arg(
        long,
        env = "REGISTRO_BACKEND",
        default_value = "embedded",
        global = true,
        value_parser = ["embedded", "firestore"]
    )]
    backend: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// List submissions (oldest first).
    List {
        /// Only this status: pending, processing, completed or failed.
        #[arg(long)]
        status: Option<String>,
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one submission and its outbox row as JSON.
    Show { id: String },
    /// Re-drive a failed submission from its first unfinished checkpoint.
    Retry {
        id: String,
        /// Retry even a submission that a later one replaced (a second row and e-mail).
        #[arg(long)]
        force: bool,
    },
    /// Make a new receipt-link key; links signed with the current one keep working. Takes
    /// effect when `registro serve` next starts.
    RotateLinkKey {
        /// The current key is lost or corrupt: make a new one anyway (the links already in the
        /// sheet and the e-mails stop working).
        #[arg(long)]
        replace_lost: bool,
    },
    /// Export every submission as CSV on standard output.
    Export {
        /// CSV (the only format, and the default; accepted for scripts that name it).
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the log line `listening` tells which).
    #[arg(long, env = "REGISTRO_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Directory for the database and the stored receipts.
    #[arg(long, env = "REGISTRO_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Catalog JSON (structure of delegaciones.json); defaults to the shipped example.
    #[arg(long, env = "REGISTRO_CATALOG")]
    catalog: Option<PathBuf>,
    /// Comma-separated origins allowed for redirects and CORS.
    #[arg(
        long,
        env = "REGISTRO_ALLOWED_ORIGINS",
        default_value = "http://localhost:8080,http://127.0.0.1:8080,http://localhost:5173"
    )]
    allowed_origins: String,
    /// Origin redirects use when neither Origin nor Referer is allowed.
    #[arg(
        long,
        env = "REGISTRO_FRONTEND_URL",
        default_value = "http://localhost:8080"
    )]
    frontend_url: String,
    /// Form posts allowed per client per minute (0 = off).
    #[arg(long, env = "REGISTRO_RATE_LIMIT_PER_MINUTE", default_value_t = 0)]
    rate_limit_per_minute: u32,
    /// Trust the right-most X-Forwarded-For entry as the client address (behind a proxy only).
    #[arg(long, env = "REGISTRO_TRUST_FORWARDED_FOR", default_value_t = false)]
    trust_forwarded_for: bool,
    /// development | production (production refuses the embedded backend).
    #[arg(long, env = "REGISTRO_ENV", default_value = "development")]
    env: String,
    /// Fault injection for crash tests, e.g. `after_upload=abort` (refused in production).
    #[arg(long, env = "REGISTRO_FAILPOINTS", default_value = "", hide = true)]
    failpoints: String,
    /// Log level filter (error, warn, info, debug).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Base URL organizers use to reach this server (receipt links); defaults to the listen address.
    #[arg(long, env = "REGISTRO_PUBLIC_URL")]
    public_url: Option<String>,
    /// Recipient of the internal notification e-mails.
    #[arg(
        long,
        env = "REGISTRO_INTERNAL_EMAIL",
        default_value = "secretariadefinanzas@smmun.com"
    )]
    internal_email: String,
    /// Deliveries before a retryable failure marks a submission failed.
    #[arg(long, env = "REGISTRO_WORKER_MAX_ATTEMPTS", default_value_t = 10)]
    worker_max_attempts: i64,
    /// Deliveries the worker runs at once (the API keeps the rest of the CPU).
    #[arg(long, env = "REGISTRO_WORKER_CONCURRENCY", default_value_t = 4)]
    worker_concurrency: usize,
    /// Serve /events/outbox, /sweep and /pubsub/push to any caller. By default only loopback
    /// callers and holders of the token in DATA_DIR/trigger-token may call them.
    #[arg(long, env = "REGISTRO_OPEN_TRIGGERS", default_value_t = false)]
    open_triggers: bool,
    /// The built front to serve at / (must hold index.html); defaults to front/build under the
    /// current directory when it is built.
    #[arg(long, env = "REGISTRO_FRONT_DIR")]
    front_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
        Command::Admin(args) => admin(args).await,
    }
}

async fn admin(a: AdminArgs) -> ExitCode {
    use runtime::admin;
    // Operator actions are audit-logged (to stderr: stdout is the command's output).
    runtime::telemetry::init(
        "registro-admin",
        "info",
        None,
        runtime::telemetry::Sink::Stderr,
    );
    let firestore = a.backend == "firestore";
    if firestore && matches!(a.command, AdminCommand::RotateLinkKey { .. }) {
        eprintln!(
            "registro admin: rotate-link-key works on a data directory; on Google Cloud the \
             key is a Secret Manager secret: add a version (see docs/runbook.md)"
        );
        return ExitCode::from(2);
    }
    let opened: Result<Box<dyn domain::ports::PipelineStore>, admin::AdminError> = if firestore {
        admin::open_firestore().await.map(|s| Box::new(s) as _)
    } else {
        admin::open(&a.data_dir).map(|s| Box::new(s) as _)
    };
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            eprintln!("registro admin: {e}");
            return ExitCode::from(2);
        }
    };
    let store = store.as_ref();
    let mut out = std::io::stdout().lock();
    let result = match a.command {
        AdminCommand::List { status, json } => {
            admin::list(store, status.as_deref(), json, &mut out).await
        }
        AdminCommand::Show { id } => admin::show(store, &id, &mut out).await,
        AdminCommand::Retry { id, force } => admin::retry(store, &id, force, &mut out).await,
        AdminCommand::Export { csv: _ } => admin::export_csv(store, &mut out).await,
        AdminCommand::RotateLinkKey { replace_lost } => {
            admin::rotate_link_key(&a.data_dir, replace_lost, &mut out)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registro admin: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(a: ServeArgs) -> ExitCode {
    let settings = ServeSettings {
        addr: a.addr,
        data_dir: a.data_dir,
        catalog: a.catalog,
        allowed_origins: a.allowed_origins,
        frontend_url: a.frontend_url,
        rate_limit_per_minute: a.rate_limit_per_minute,
        trust_forwarded_for: a.trust_forwarded_for,
        env: a.env,
        failpoints: a.failpoints,
        log_level: a.log_level,
        public_url: a.public_url,
        internal_email: a.internal_email,
        worker_max_attempts: a.worker_max_attempts,
        worker_concurrency: a.worker_concurrency,
        open_triggers: a.open_triggers,
        front_dir: a.front_dir,
    };
    let config = match settings.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("registro: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    runtime::telemetry::init(
        "registro",
        &config.log_level,
        None,
        runtime::telemetry::Sink::Stdout,
    );
    let app = match runtime::embedded::Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "startup_failed");
            eprintln!("registro: {e}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server_failed");
            ExitCode::FAILURE
        }
    }
}
