//! `registro-bench startup`: how long `registro serve` takes from spawn to its first durably
//! accepted submission, and how much memory it holds once idle.
//!
//! The server is started on port 0 and announces its address in a JSON log line
//! (`"message":"listening"`, `"addr":"127.0.0.1:PORT"`). The form needs the catalog, so an
//! unmeasured probe start fetches it first; every measured run is therefore a warm start (binary
//! in the page cache) on a fresh, empty data directory.

use crate::catalog::{self, Pick};
use crate::form::Submission;
use crate::load;
use crate::outcome::{self, Kind};
use crate::stats;
use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

pub struct Options {
    pub registro_bin: PathBuf,
    pub data_dir: PathBuf,
    pub runs: usize,
    pub idle: Duration,
    pub timeout: Duration,
    pub receipt: &'static [u8],
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub startup_to_listening_ms: f64,
    pub startup_to_first_accept_ms: f64,
    /// Posts until the first confirmation (1 = the first post was accepted).
    pub attempts: u64,
    pub idle_rss_kib: u64,
    pub idle_hwm_kib: u64,
    /// SIGTERM to exit.
    pub shutdown_ms: f64,
    pub exit: String,
}

#[derive(Debug, Serialize)]
pub struct MinMedian {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

#[derive(Debug, Serialize)]
pub struct StartupReport {
    pub kind: &'static str,
    pub label: String,
    pub runs: usize,
    pub startup_to_first_accept_ms: MinMedian,
    pub idle_rss_kib: MinMedian,
    pub startup_to_listening_ms: MinMedian,
    pub shutdown_ms: MinMedian,
    pub idle_secs: f64,
    pub per_run: Vec<RunReport>,
}

struct Server {
    child: Child,
    pid: u32,
    addr: String,
    started: Instant,
    listening_after: Duration,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

pub async fn run(opts: &Options) -> Result<StartupReport, String> {
    let client = load::client(Duration::from_secs(10))?;
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| format!("creating {}: {e}", opts.data_dir.display()))?;

    // Unmeasured probe: learn the catalog (and warm the page cache).
    let mut probe = spawn(opts, &fresh_dir(&opts.data_dir, "probe")?).await?;
    let pick = catalog::fetch(&client, &format!("http://{}", probe.addr)).await;
    stop(&mut probe).await;
    let pick = pick?;

    let mut per_run = Vec::with_capacity(opts.runs);
    for i in 0..opts.runs {
        let dir = fresh_dir(&opts.data_dir, &format!("run-{i}"))?;
        let report = measure(opts, &client, &pick, &dir).await?;
        eprintln!(
            "startup run {}: first accept {:.1} ms (listening {:.1} ms, {} attempts), idle RSS {} KiB",
            i + 1,
            report.startup_to_first_accept_ms,
            report.startup_to_listening_ms,
            report.attempts,
            report.idle_rss_kib
        );
        per_run.push(report);
    }
    let summary = |f: &dyn Fn(&RunReport) -> f64| {
        let mut v: Vec<f64> = per_run.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        MinMedian {
            min: v.first().copied().unwrap_or(0.0),
            median: stats::median(&v),
            max: v.last().copied().unwrap_or(0.0),
        }
    };
    Ok(StartupReport {
        kind: "startup",
        label: opts.label.clone(),
        runs: opts.runs,
        startup_to_first_accept_ms: summary(&|r| r.startup_to_first_accept_ms),
        idle_rss_kib: summary(&|r| r.idle_rss_kib as f64),
        startup_to_listening_ms: summary(&|r| r.startup_to_listening_ms),
        shutdown_ms: summary(&|r| r.shutdown_ms),
        idle_secs: opts.idle.as_secs_f64(),
        per_run,
    })
}

async fn measure(
    opts: &Options,
    client: &reqwest::Client,
    pick: &Pick,
    dir: &Path,
) -> Result<RunReport, String> {
    // Built before the spawn so only the server's time is measured.
    let submission = Submission::valid(pick, 0);
    let mut server = spawn(opts, dir).await?;
    let url = format!("http://{}/registro/delegaciones", server.addr);
    let mut attempts = 0u64;
    let first_accept = loop {
        attempts += 1;
        // A refused connection or a not-yet-ready answer is retried at once.
        if let Ok((status, location)) = load::post(client, &url, &submission, opts.receipt).await
            && outcome::check(Kind::Unique, status, location.as_deref(), None).is_ok()
        {
            break server.started.elapsed();
        }
        if server.started.elapsed() > opts.timeout {
            let tail = server.tail();
            stop(&mut server).await;
            return Err(format!(
                "no accepted submission within {:?} ({attempts} attempts); server stderr:\n{tail}",
                opts.timeout
            ));
        }
        tokio::task::yield_now().await;
    };
    tokio::time::sleep(opts.idle).await;
    let (rss, hwm) = read_rss(server.pid)?;
    let (shutdown, exit) = stop(&mut server).await;
    Ok(RunReport {
        startup_to_listening_ms: ms(server.listening_after),
        startup_to_first_accept_ms: ms(first_accept),
        attempts,
        idle_rss_kib: rss,
        idle_hwm_kib: hwm,
        shutdown_ms: ms(shutdown),
        exit,
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn fresh_dir(base: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = base.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("clearing {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

async fn spawn(opts: &Options, dir: &Path) -> Result<Server, String> {
    let started = Instant::now();
    let mut child = Command::new(&opts.registro_bin)
        .arg("serve")
        .arg("--addr")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", opts.registro_bin.display()))?;
    let pid = child.id().ok_or("child exited at once")?;

    let (tx, rx) = oneshot::channel::<String>();
    let stdout = child.stdout.take().expect("stdout piped");
    tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut lines = BufReader::new(stdout).lines();
        // Keep draining after the address is known so the server never blocks on a full pipe.
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = tx.is_some().then(|| listening_addr(&line)).flatten()
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr);
            }
        }
    });
    let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
    let tail = Arc::clone(&stderr_tail);
    let stderr = child.stderr.take().expect("stderr piped");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
            if t.len() == 40 {
                t.pop_front();
            }
            t.push_back(line);
        }
    });

    let addr = match tokio::time::timeout(opts.timeout, rx).await {
        Ok(Ok(addr)) => addr,
        other => {
            let why = if other.is_err() {
                "timed out waiting for the `listening` log line"
            } else {
                "server exited before logging `listening`"
            };
            let _ = child.kill().await;
            let t = stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
            return Err(format!(
                "{why}; stderr:\n{}",
                t.iter().cloned().collect::<Vec<_>>().join("\n")
            ));
        }
    };
    Ok(Server {
        child,
        pid,
        addr,
        started,
        listening_after: started.elapsed(),
        stderr_tail,
    })
}

impl Server {
    fn tail(&self) -> String {
        let t = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// The `addr` of a `listening` log line, wherever the logger nests its fields.
pub fn listening_addr(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    if find(&v, "message")?.as_str()? != "listening" {
        return None;
    }
    let addr = find(&v, "addr")?.as_str()?;
    Some(addr.to_string())
}

fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    if let Some(found) = obj.get(key) {
        return Some(found);
    }
    obj.values().find_map(|inner| find(inner, key))
}

/// SIGTERM, then wait (SIGKILL after 10 s). Returns the time to exit and how it exited.
async fn stop(server: &mut Server) -> (Duration, String) {
    let sent = Instant::now();
    // No `unsafe` here (workspace lint), so the signal goes through kill(1).
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &server.pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if signalled
        && let Ok(Ok(status)) =
            tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await
    {
        return (sent.elapsed(), status.to_string());
    }
    let _ = server.child.kill().await;
    (sent.elapsed(), "killed after SIGTERM timeout".into())
}

/// `VmRSS` and `VmHWM` in KiB from `/proc/<pid>/status`.
fn read_rss(pid: u32) -> Result<(u64, u64), String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(hwm)) => Ok((rss, hwm)),
        _ => Err(format!("no VmRSS/VmHWM in {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_listening_address_at_any_depth() {
        let top = r#"{"severity":"INFO","message":"listening","addr":"127.0.0.1:4123"}"#;
        let nested = r#"{"level":"INFO","fields":{"message":"listening","addr":"127.0.0.1:9"}}"#;
        assert_eq!(listening_addr(top).as_deref(), Some("127.0.0.1:4123"));
        assert_eq!(listening_addr(nested).as_deref(), Some("127.0.0.1:9"));
        assert_eq!(listening_addr(r#"{"message":"ready","addr":"x"}"#), None);
        assert_eq!(listening_addr("not json"), None);
    }

    #[test]
    fn reads_our_own_rss() {
        let (rss, hwm) = read_rss(std::process::id()).unwrap();
        assert!(rss > 0 && hwm >= rss);
    }
}
