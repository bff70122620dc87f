//! `registro-bench`: load generator for registro (DESIGN.md §9). Posts browser-like multipart
//! forms to `POST /registro/delegaciones` and reports one JSON line per concurrency level;
//! `startup` measures spawn-to-first-accept time and idle RSS of `registro serve`;
//! `pipeline-latency` reads a data directory back for acceptance → confirmation e-mail times.
//! See bench/README.md.

mod catalog;
mod drain;
mod form;
mod load;
mod machine;
mod outcome;
mod pipeline;
mod slow;
mod startup;
mod stats;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "registro-bench",
    about = "Load generator for registro",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Post forms at each concurrency level (the default when no subcommand is given).
    Load(LoadArgs),
    /// Time from spawning `registro serve` to its first accepted submission, and idle RSS.
    Startup(StartupArgs),
    /// Print the results-file header: machine, commit and date.
    Machine(MachineArgs),
    /// Acceptance → confirmation e-mail latency of every submission in a `registro serve`
    /// data directory (waits for the pipeline to finish first).
    PipelineLatency(PipelineArgs),
    /// Spawns `registro serve` on the Sheets and Resend fakes (quota-limited), posts a burst
    /// and times until every row is in the sheet, every e-mail sent, every submission completed.
    VendorDrain(DrainArgs),
}

#[derive(Args)]
struct DrainArgs {
    /// Path of the `registro` binary.
    #[arg(long, default_value = "target/release/registro")]
    registro_bin: PathBuf,
    #[arg(long, default_value_t = 300)]
    submissions: u32,
    /// Every Nth submission is a faculty registration (4–6 delegates); the rest delegaciones.
    #[arg(long, default_value_t = 3)]
    faculty_every: u32,
    /// The Sheets quota the fake enforces and the adapter paces to (writes and reads per minute).
    #[arg(long, default_value_t = 60)]
    sheets_per_minute: usize,
    /// Resend's limit the fake enforces and the adapter paces to.
    #[arg(long, default_value_t = 2)]
    resend_per_second: usize,
    #[arg(long, default_value_t = 16)]
    worker_concurrency: usize,
    /// Longest wait for the burst to drain.
    #[arg(long, default_value_t = 900.0)]
    wait_secs: f64,
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Args, Clone)]
struct Common {
    /// Appends each JSON line to this file as well as printing it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Free text copied into every JSON line (e.g. `embedded`, `emulators`).
    #[arg(long, default_value = "")]
    label: String,
    /// Receipt size in KiB (a valid-looking PDF padded to exactly this size).
    #[arg(long, default_value_t = 100)]
    receipt_kb: usize,
    /// Tokio worker threads for the generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

#[derive(Args, Clone)]
struct LoadArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long, required = true)]
    target: Option<String>,
    #[arg(long, value_enum, default_value = "unique")]
    scenario: load::Scenario,
    /// Concurrency levels (repeatable or comma separated); with --rate, the in-flight cap.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 8, 32])]
    concurrency: Vec<usize>,
    /// Length of each level in seconds (default 10 unless --requests is given).
    #[arg(long, conflicts_with = "requests")]
    duration_secs: Option<f64>,
    /// Number of requests per level instead of a duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Open loop: a fixed arrival rate (requests per second) instead of closed-loop workers.
    #[arg(long)]
    rate: Option<f64>,
    /// Submissions posted first and then replayed (replay and mixed scenarios).
    #[arg(long, default_value_t = 50)]
    replay_pool: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout_secs: f64,
    /// Slow uploads running alongside the levels (0 = none): raw TCP clients trickling a
    /// large body, each starting another upload when one ends.
    #[arg(long, default_value_t = 0)]
    slow_clients: usize,
    /// Size of each slow upload's whole body in bytes (a valid form, padded receipt).
    #[arg(long, default_value_t = 6_000_000)]
    slow_body_bytes: usize,
    /// Sending rate of each slow client in KiB/s.
    #[arg(long, default_value_t = 256)]
    slow_rate_kib: u64,
    /// Seconds the slow clients run before the first level starts.
    #[arg(long, default_value_t = 5.0)]
    slow_warmup_secs: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct StartupArgs {
    /// Path of the `registro` binary.
    #[arg(long, default_value = "target/release/registro")]
    registro_bin: PathBuf,
    /// Base directory; each run gets a fresh empty subdirectory in it.
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Idle time after the first accept before RSS is read.
    #[arg(long, default_value_t = 2.0)]
    idle_secs: f64,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout_secs: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct PipelineArgs {
    /// Path of the `registro` binary (runs `registro admin --data-dir DIR list --json`).
    #[arg(long, default_value = "target/release/registro")]
    registro_bin: PathBuf,
    /// The data directory of the `registro serve` that took the load (it may still be running:
    /// its worker is what completes the submissions).
    #[arg(long)]
    data_dir: PathBuf,
    /// Longest wait for every submission to be completed (or failed) before measuring.
    #[arg(long, default_value_t = 30.0)]
    wait_secs: f64,
    /// Pause between two `admin list` calls while waiting.
    #[arg(long, default_value_t = 1.0)]
    poll_secs: f64,
    /// Appends the JSON line to this file as well as printing it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Free text copied into the JSON line.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Args)]
struct MachineArgs {
    #[arg(long, default_value = "unknown")]
    commit: String,
    #[arg(long, default_value = "")]
    date: String,
    #[arg(long)]
    note: Option<String>,
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Machine(m)) => {
            emit(&machine::header(m.commit, m.date, m.note), m.out.as_deref())
        }
        Some(Command::PipelineLatency(p)) => pipeline(p),
        Some(Command::VendorDrain(d)) => runtime(2).and_then(|rt| rt.block_on(vendor_drain(d))),
        Some(Command::Startup(s)) => {
            runtime(s.common.client_threads).and_then(|rt| rt.block_on(startup(s)))
        }
        Some(Command::Load(l)) => {
            runtime(l.common.client_threads).and_then(|rt| rt.block_on(load(l)))
        }
        None => runtime(cli.load.common.client_threads).and_then(|rt| rt.block_on(load(cli.load))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registro-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn vendor_drain(d: DrainArgs) -> Result<(), String> {
    let report = drain::run(drain::DrainOptions {
        registro_bin: d.registro_bin,
        submissions: d.submissions,
        faculty_every: d.faculty_every,
        sheets_per_minute: d.sheets_per_minute,
        resend_per_second: d.resend_per_second,
        worker_concurrency: d.worker_concurrency,
        wait: Duration::from_secs_f64(d.wait_secs),
        label: d.label,
    })
    .await?;
    emit(&report, d.out.as_deref())
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("starting tokio: {e}"))
}

/// Prints one JSON line and appends it to `out`.
fn emit<T: Serialize>(value: &T, out: Option<&Path>) -> Result<(), String> {
    let line = serde_json::to_string(value).map_err(|e| e.to_string())?;
    println!("{line}");
    if let Some(path) = out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        writeln!(f, "{line}").map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

fn receipt(kb: usize) -> &'static [u8] {
    // Built once and shared by every request for the life of the process.
    Box::leak(form::pdf_receipt(kb * 1024).into_boxed_slice())
}

async fn load(args: LoadArgs) -> Result<(), String> {
    let target = args
        .target
        .as_deref()
        .ok_or("--target is required")?
        .trim_end_matches('/')
        .to_string();
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err("--rate must be positive".into());
    }
    let stop = match (args.requests, args.duration_secs) {
        (Some(n), _) => load::Stop::Requests(n),
        (None, d) => load::Stop::Duration(Duration::from_secs_f64(d.unwrap_or(10.0))),
    };
    let client = load::client(Duration::from_secs_f64(args.timeout_secs))?;
    let pick = catalog::fetch(&client, &target).await?;
    eprintln!(
        "catalog: committees {}",
        pick.comites
            .iter()
            .map(|c| c.codigo.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let receipt = receipt(args.common.receipt_kb);
    let slow = (args.slow_clients > 0).then(|| {
        let submission = form::Submission::valid(&pick, u64::MAX / 2);
        let overhead = submission.to_raw_body(slow::BOUNDARY, &[]).len();
        let pdf = form::pdf_receipt(args.slow_body_bytes.saturating_sub(overhead).max(1024));
        let body = submission.to_raw_body(slow::BOUNDARY, &pdf);
        slow::start(slow::Options {
            clients: args.slow_clients,
            addr: target
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            body: std::sync::Arc::new(body),
            rate_bytes_per_s: args.slow_rate_kib * 1024,
        })
    });
    if slow.is_some() {
        eprintln!(
            "slow uploads: {} clients, {} bytes at {} KiB/s each",
            args.slow_clients, args.slow_body_bytes, args.slow_rate_kib
        );
        tokio::time::sleep(Duration::from_secs_f64(args.slow_warmup_secs)).await;
    }
    let shared = load::Shared::new(
        client,
        &target,
        pick,
        receipt,
        args.scenario,
        args.replay_pool,
    )
    .await?;
    for &concurrency in &args.concurrency {
        let level = load::Level {
            concurrency,
            stop,
            rate: args.rate,
        };
        let report = load::run_level(&shared, &level, &args.common.label).await;
        eprintln!(
            "{} c={} {}: {} req, {} errors, {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms",
            report.scenario.name(),
            concurrency,
            report.mode,
            report.requests,
            report.errors,
            report.req_per_s,
            report.latency_ms.p50,
            report.latency_ms.p99
        );
        emit(&report, args.common.out.as_deref())?;
    }
    if let Some(slow) = slow {
        let report = slow.stop(&args.common.label);
        eprintln!(
            "slow uploads: {} started, {} answered {:?}, {} broken",
            report.uploads_started,
            report.answered,
            report.answered_by_code,
            report.transport_errors
        );
        emit(&report, args.common.out.as_deref())?;
    }
    Ok(())
}

async fn startup(args: StartupArgs) -> Result<(), String> {
    let opts = startup::Options {
        registro_bin: args.registro_bin,
        data_dir: args.data_dir,
        runs: args.runs.max(1),
        idle: Duration::from_secs_f64(args.idle_secs),
        timeout: Duration::from_secs_f64(args.timeout_secs),
        receipt: receipt(args.common.receipt_kb),
        label: args.common.label.clone(),
    };
    let report = startup::run(&opts).await?;
    emit(&report, args.common.out.as_deref())
}

fn pipeline(args: PipelineArgs) -> Result<(), String> {
    let secs = |what: &str, v: f64| {
        Duration::try_from_secs_f64(v)
            .map_err(|_| format!("--{what} must be a non-negative number"))
    };
    let opts = pipeline::Options {
        registro_bin: args.registro_bin,
        data_dir: args.data_dir,
        wait: secs("wait-secs", args.wait_secs)?,
        poll: secs("poll-secs", args.poll_secs)?,
        label: args.label,
    };
    let report = pipeline::run(&opts)?;
    eprintln!(
        "pipeline: {} submissions, {} completed, {} missing confirmation; accept → confirmation p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        report.submissions,
        report.completed,
        report.missing_confirmation,
        report.latency_ms.p50,
        report.latency_ms.p99,
        report.latency_ms.max
    );
    emit(&report, args.out.as_deref())
}
