//! Load levels: closed loop (N workers, each posting as soon as its last answer arrived) or open
//! loop (a fixed arrival rate, latency counted from the intended send time so a slow server
//! cannot hide its queueing by slowing the generator down).

use crate::catalog::Pick;
use crate::form::Submission;
use crate::outcome::{self, Kind};
use crate::stats::{self, Latency};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Valid forms, each with a fresh key: every one must be accepted.
    Unique,
    /// The same K submissions posted again with their keys: confirmation, no new submission.
    Replay,
    /// Invalid forms (`edad_0=99`): the plain error page.
    Invalid,
    /// 80 % unique, 15 % replay, 5 % invalid.
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Unique => "unique",
            Scenario::Replay => "replay",
            Scenario::Invalid => "invalid",
            Scenario::Mixed => "mixed",
        }
    }

    fn needs_pool(self) -> bool {
        matches!(self, Scenario::Replay | Scenario::Mixed)
    }

    /// Deterministic mix, so the ratios are exact for any request count multiple of 20.
    fn kind(self, n: u64) -> Kind {
        match self {
            Scenario::Unique => Kind::Unique,
            Scenario::Replay => Kind::Replay,
            Scenario::Invalid => Kind::Invalid,
            Scenario::Mixed => match n % 20 {
                0..16 => Kind::Unique,
                16..19 => Kind::Replay,
                _ => Kind::Invalid,
            },
        }
    }
}

/// How long a level lasts.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    Duration(Duration),
    Requests(u64),
}

/// A submission already accepted, with the id it got, for replays.
struct Seeded {
    submission: Submission,
    folio: Option<String>,
}

/// Everything the request tasks share.
pub struct Shared {
    client: reqwest::Client,
    url: String,
    pick: Pick,
    receipt: &'static [u8],
    scenario: Scenario,
    pool: Vec<Seeded>,
    /// Form counter: varies payloads.
    seq: AtomicU64,
    /// Request counter: picks the kind in `mixed`.
    mix: AtomicU64,
    /// Round-robin position in `pool`.
    replay: AtomicU64,
}

struct Sample {
    kind: Kind,
    latency: Duration,
    result: Result<(), String>,
}

pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    use reqwest::header::{ACCEPT, HeaderMap, HeaderValue, ORIGIN, USER_AGENT};
    let mut headers = HeaderMap::new();
    headers.insert(ORIGIN, HeaderValue::from_static("http://localhost:5173"));
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    );
    headers.insert(USER_AGENT, HeaderValue::from_static("registro-bench/0.1"));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("building HTTP client: {e}"))
}

/// One post; returns the status and `Location` after draining the (empty) body.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    submission: &Submission,
    receipt: &'static [u8],
) -> Result<(u16, Option<String>), reqwest::Error> {
    let resp = client
        .post(url)
        .multipart(submission.to_form(receipt))
        .send()
        .await?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    resp.bytes().await?;
    Ok((status, location))
}

impl Shared {
    pub async fn new(
        client: reqwest::Client,
        target: &str,
        pick: Pick,
        receipt: &'static [u8],
        scenario: Scenario,
        pool_size: usize,
    ) -> Result<Arc<Self>, String> {
        let mut shared = Self {
            client,
            url: format!("{target}/registro/delegaciones"),
            pick,
            receipt,
            scenario,
            pool: Vec::new(),
            seq: AtomicU64::new(0),
            mix: AtomicU64::new(0),
            replay: AtomicU64::new(0),
        };
        if scenario.needs_pool() {
            shared.pool = shared.seed(pool_size.max(1)).await?;
        }
        Ok(Arc::new(shared))
    }

    /// Posts the submissions later replayed; each must be accepted.
    async fn seed(&self, n: usize) -> Result<Vec<Seeded>, String> {
        let mut pool = Vec::with_capacity(n);
        for _ in 0..n {
            let submission =
                Submission::valid(&self.pick, self.seq.fetch_add(1, Ordering::Relaxed));
            let (status, location) = post(&self.client, &self.url, &submission, self.receipt)
                .await
                .map_err(|e| format!("seeding replay pool: {e}"))?;
            let folio = outcome::check(Kind::Unique, status, location.as_deref(), None).map_err(
                |kind| {
                    format!("seeding replay pool: {kind} (status {status}, location {location:?})")
                },
            )?;
            pool.push(Seeded { submission, folio });
        }
        Ok(pool)
    }

    async fn one(&self, kind: Kind, started: Option<Instant>) -> Sample {
        let (submission, expected_folio) = match kind {
            Kind::Unique => (
                Submission::valid(&self.pick, self.seq.fetch_add(1, Ordering::Relaxed)),
                None,
            ),
            Kind::Invalid => (
                Submission::invalid(&self.pick, self.seq.fetch_add(1, Ordering::Relaxed)),
                None,
            ),
            Kind::Replay => {
                let i = self.replay.fetch_add(1, Ordering::Relaxed) as usize % self.pool.len();
                let s = &self.pool[i];
                (s.submission.clone(), s.folio.clone())
            }
        };
        let started = started.unwrap_or_else(Instant::now);
        let result = match post(&self.client, &self.url, &submission, self.receipt).await {
            Ok((status, location)) => {
                outcome::check(kind, status, location.as_deref(), expected_folio.as_deref())
                    .map(|_| ())
            }
            Err(e) => Err(outcome::transport_kind(&e)),
        };
        Sample {
            kind,
            latency: started.elapsed(),
            result,
        }
    }

    fn next_kind(&self) -> Kind {
        self.scenario.kind(self.mix.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a level reports; one JSON line.
#[derive(Debug, Serialize)]
pub struct LevelReport {
    pub kind: &'static str,
    pub label: String,
    pub scenario: Scenario,
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
    pub concurrency: usize,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub duration_s: f64,
    pub req_per_s: f64,
    /// New submissions accepted (ok `unique` requests) per second.
    pub accepted_per_s: f64,
    /// Every ok confirmation redirect (new or replayed) per second.
    pub confirmed_per_s: f64,
    pub latency_ms: Latency,
    /// Per request kind, only when the scenario mixes kinds.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_kind: BTreeMap<&'static str, KindReport>,
    /// Open loop: the worst delay between an intended send time and the actual send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_send_lag_ms: Option<f64>,
    pub receipt_bytes: usize,
    pub replay_pool: usize,
}

#[derive(Debug, Serialize)]
pub struct KindReport {
    pub requests: u64,
    pub ok: u64,
    pub latency_ms: Latency,
}

pub struct Level {
    pub concurrency: usize,
    pub stop: Stop,
    /// `Some(r)`: open loop at `r` requests/s with at most `concurrency` in flight.
    pub rate: Option<f64>,
}

pub async fn run_level(shared: &Arc<Shared>, level: &Level, label: &str) -> LevelReport {
    let started = Instant::now();
    let (samples, max_lag) = match level.rate {
        None => (
            closed_loop(shared, level.concurrency, level.stop).await,
            None,
        ),
        Some(rate) => {
            let (s, lag) = open_loop(shared, level.concurrency, level.stop, rate).await;
            (s, Some(lag))
        }
    };
    let elapsed = started.elapsed();
    report(shared, level, label, samples, elapsed, max_lag)
}

async fn closed_loop(shared: &Arc<Shared>, concurrency: usize, stop: Stop) -> Vec<Sample> {
    let issued = Arc::new(AtomicU64::new(0));
    let deadline = match stop {
        Stop::Duration(d) => Some(Instant::now() + d),
        Stop::Requests(_) => None,
    };
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let shared = Arc::clone(shared);
        let issued = Arc::clone(&issued);
        tasks.spawn(async move {
            let mut samples = Vec::new();
            loop {
                match stop {
                    Stop::Duration(_) => {
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            break;
                        }
                    }
                    Stop::Requests(n) => {
                        if issued.fetch_add(1, Ordering::Relaxed) >= n {
                            break;
                        }
                    }
                }
                let kind = shared.next_kind();
                samples.push(shared.one(kind, None).await);
            }
            samples
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.expect("request task panicked"));
    }
    all
}

async fn open_loop(
    shared: &Arc<Shared>,
    max_in_flight: usize,
    stop: Stop,
    rate: f64,
) -> (Vec<Sample>, Duration) {
    let total = match stop {
        Stop::Requests(n) => n,
        Stop::Duration(d) => (d.as_secs_f64() * rate).round() as u64,
    };
    let interval = Duration::from_secs_f64(1.0 / rate);
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    let mut samples = Vec::with_capacity(total as usize);
    let mut max_lag = Duration::ZERO;
    for i in 0..total {
        let intended = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(intended).await;
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        max_lag = max_lag.max(intended.elapsed());
        let shared = Arc::clone(shared);
        let kind = shared.next_kind();
        tasks.spawn(async move {
            let sample = shared.one(kind, Some(intended.into_std())).await;
            drop(permit);
            sample
        });
        while let Some(r) = tasks.try_join_next() {
            samples.push(r.expect("request task panicked"));
        }
    }
    while let Some(r) = tasks.join_next().await {
        samples.push(r.expect("request task panicked"));
    }
    (samples, max_lag)
}

fn report(
    shared: &Shared,
    level: &Level,
    label: &str,
    samples: Vec<Sample>,
    elapsed: Duration,
    max_lag: Option<Duration>,
) -> LevelReport {
    let secs = elapsed.as_secs_f64();
    let per_s = |n: u64| {
        if secs > 0.0 {
            round3(n as f64 / secs)
        } else {
            0.0
        }
    };
    let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(samples.len());
    let mut per_kind: BTreeMap<Kind, (u64, Vec<Duration>)> = BTreeMap::new();
    let (mut ok, mut accepted, mut confirmed) = (0u64, 0u64, 0u64);
    for s in &samples {
        latencies.push(s.latency);
        let entry = per_kind.entry(s.kind).or_default();
        entry.1.push(s.latency);
        match &s.result {
            Ok(()) => {
                ok += 1;
                entry.0 += 1;
                match s.kind {
                    Kind::Unique => {
                        accepted += 1;
                        confirmed += 1;
                    }
                    Kind::Replay => confirmed += 1,
                    Kind::Invalid => {}
                }
            }
            Err(kind) => {
                *error_kinds
                    .entry(format!("{}:{kind}", s.kind.name()))
                    .or_default() += 1
            }
        }
    }
    let by_kind = if per_kind.len() > 1 {
        per_kind
            .into_iter()
            .map(|(kind, (ok, mut lat))| {
                (
                    kind.name(),
                    KindReport {
                        requests: lat.len() as u64,
                        ok,
                        latency_ms: stats::summarize(&mut lat),
                    },
                )
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    let requests = samples.len() as u64;
    LevelReport {
        kind: "load",
        label: label.to_string(),
        scenario: shared.scenario,
        mode: if level.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        target_rate: level.rate,
        concurrency: level.concurrency,
        requests,
        ok,
        errors: requests - ok,
        error_kinds,
        duration_s: round3(secs),
        req_per_s: per_s(requests),
        accepted_per_s: per_s(accepted),
        confirmed_per_s: per_s(confirmed),
        latency_ms: stats::summarize(&mut latencies),
        by_kind,
        max_send_lag_ms: max_lag.map(|d| round3(d.as_secs_f64() * 1e3)),
        receipt_bytes: shared.receipt.len(),
        replay_pool: shared.pool.len(),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_is_80_15_5() {
        let mut counts: BTreeMap<Kind, u32> = BTreeMap::new();
        for n in 0..100 {
            *counts.entry(Scenario::Mixed.kind(n)).or_default() += 1;
        }
        assert_eq!(counts[&Kind::Unique], 80);
        assert_eq!(counts[&Kind::Replay], 15);
        assert_eq!(counts[&Kind::Invalid], 5);
    }
}
