//! Slow uploads: clients that trickle a large body at a fixed rate, the way a crowd on poor
//! mobile links (or an attacker) would, while the normal load runs. They measure that the
//! server's memory stays bounded and that ordinary posts still get through (hardening issue,
//! item 4). Each client writes its request over raw TCP, paced, then reads the answer; when it
//! has one (or the connection broke) it starts again, until the run ends.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const BOUNDARY: &str = "benchSlowUploadBoundary1n9x";

pub struct Options {
    pub clients: usize,
    /// `host:port` of the server.
    pub addr: String,
    /// Whole multipart body (with [`BOUNDARY`]).
    pub body: Arc<Vec<u8>>,
    pub rate_bytes_per_s: u64,
}

#[derive(Default)]
struct Stats {
    started: AtomicU64,
    answered: AtomicU64,
    transport_errors: AtomicU64,
    by_code: Mutex<BTreeMap<String, u64>>,
}

pub struct Running {
    stats: Arc<Stats>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    clients: usize,
    body_bytes: usize,
    rate_bytes_per_s: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub kind: &'static str,
    pub label: String,
    pub clients: usize,
    pub body_bytes: usize,
    pub rate_kib_per_s: f64,
    /// Uploads begun (each client starts a new one after an answer or a broken connection).
    pub uploads_started: u64,
    /// Uploads that got an HTTP answer, by its `code=` (or `confirmation`, or `status_<n>`).
    pub answered: u64,
    pub answered_by_code: BTreeMap<String, u64>,
    /// Uploads whose connection broke before an answer (e.g. a drain that gave up on a client
    /// too slow to finish within the drain timeout).
    pub transport_errors: u64,
}

pub fn start(opts: Options) -> Running {
    let stats = Arc::new(Stats::default());
    let chunk = 16 * 1024usize;
    let every = Duration::from_secs_f64(chunk as f64 / opts.rate_bytes_per_s.max(1) as f64);
    let mut tasks = vec![];
    for i in 0..opts.clients {
        let stats = stats.clone();
        let body = opts.body.clone();
        let addr = opts.addr.clone();
        // Staggered starts, so the clients do not write in lockstep.
        let offset = every.mul_f64(i as f64 / opts.clients.max(1) as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            loop {
                stats.started.fetch_add(1, Ordering::Relaxed);
                match upload(&addr, &body, chunk, every).await {
                    Ok(code) => {
                        stats.answered.fetch_add(1, Ordering::Relaxed);
                        *stats.by_code.lock().unwrap().entry(code).or_default() += 1;
                    }
                    Err(_) => {
                        stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    Running {
        stats,
        tasks,
        clients: opts.clients,
        body_bytes: opts.body.len(),
        rate_bytes_per_s: opts.rate_bytes_per_s,
    }
}

impl Running {
    /// Stops every client (open uploads are dropped) and reports.
    pub fn stop(self, label: &str) -> Report {
        for t in &self.tasks {
            t.abort();
        }
        let s = &self.stats;
        Report {
            kind: "slow_uploads",
            label: label.to_owned(),
            clients: self.clients,
            body_bytes: self.body_bytes,
            rate_kib_per_s: self.rate_bytes_per_s as f64 / 1024.0,
            uploads_started: s.started.load(Ordering::Relaxed),
            answered: s.answered.load(Ordering::Relaxed),
            answered_by_code: s.by_code.lock().unwrap().clone(),
            transport_errors: s.transport_errors.load(Ordering::Relaxed),
        }
    }
}

async fn upload(addr: &str, body: &[u8], chunk: usize, every: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    let head = format!(
        "POST /registro/delegaciones HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://localhost:5173\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut answer = Vec::new();
    for piece in body.chunks(chunk) {
        tick.tick().await;
        // The server may answer early (busy, too large) and close after a bounded drain.
        if let Err(e) = s.write_all(piece).await {
            let _ = s.read_to_end(&mut answer).await;
            return classify(&answer).ok_or(e);
        }
    }
    s.read_to_end(&mut answer).await?;
    classify(&answer).ok_or_else(|| std::io::Error::other("no HTTP answer"))
}

fn classify(answer: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(answer);
    let status: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    let location = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    if status != 303 {
        return Some(format!("status_{status}"));
    }
    if location.contains("/registro/confirmacion/") {
        return Some("confirmation".into());
    }
    Some(
        location
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("code="))
            .unwrap_or("other")
            .to_owned(),
    )
}
