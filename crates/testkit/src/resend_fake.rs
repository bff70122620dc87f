//! A fake of the Resend e-mail API (`POST /emails`) on 127.0.0.1:0 for the `resend` adapter's
//! tests. It mimics the parts of Resend the adapter relies on: bearer-token auth (401
//! `missing_api_key`/`invalid_api_key`), body validation (422 `validation_error`),
//! idempotency keys (same key + same body → same id, stored once; different body → 409
//! `invalid_idempotent_request`; first request still in flight → 409
//! `concurrent_idempotent_requests`), a per-second rate limit (429 with `retry-after` and
//! `ratelimit-*` headers), and faults injected on demand. Stops when dropped.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A failure the next request (after auth, rate limit and validation pass) answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 without storing anything.
    Status500,
    /// 429 with `retry-after: 1`.
    Status429,
    /// Sleeps [`FakeConfig::timeout_sleep`] (longer than the client timeout), stores nothing.
    Timeout,
    /// Stores the message, then answers 500 (the response is "lost").
    LostResponse,
    /// 422 `validation_error` without storing anything: a message Resend refuses.
    Status422,
}

#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub api_key: String,
    pub requests_per_second: usize,
    /// How long a [`Fault::Timeout`] sleeps.
    pub timeout_sleep: Duration,
    /// How long every accepted request stays "in flight" before it is stored.
    pub processing_delay: Duration,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            api_key: "re_test_0123456789abcdef".into(),
            requests_per_second: 2,
            timeout_sleep: Duration::from_secs(5),
            processing_delay: Duration::ZERO,
        }
    }
}

/// A stored message (one per idempotency key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub id: String,
    pub idempotency_key: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: Option<String>,
}

enum Entry {
    InFlight,
    Done(Value, String),
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<Fault>,
    keys: HashMap<String, Entry>,
    messages: Vec<Delivered>,
    window: VecDeque<Instant>,
}

struct Shared {
    config: FakeConfig,
    inner: Mutex<Inner>,
    requests: AtomicU64,
    rate_limited: AtomicU64,
    next_id: AtomicU64,
}

pub struct ResendFake {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ResendFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ResendFake {
    pub async fn start() -> Self {
        Self::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> Self {
        let shared = Arc::new(Shared {
            config,
            inner: Mutex::new(Inner::default()),
            requests: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Resend fake");
        let addr = listener.local_addr().expect("fake address");
        let app = Router::new()
            .route("/emails", post(send))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// Base URL (what `RESEND_API_URL` would be).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn api_key(&self) -> &str {
        &self.shared.config.api_key
    }

    /// Queue a fault for a coming request (first in, first out).
    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    pub fn messages(&self) -> Vec<Delivered> {
        self.lock().messages.clone()
    }

    /// Every request received.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests refused by the rate limit (not counting injected [`Fault::Status429`]).
    pub fn rate_limited(&self) -> u64 {
        self.shared.rate_limited.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"statusCode": status.as_u16(), "name": name, "message": message})),
    )
        .into_response()
}

fn too_many(limit: usize, reset_secs: u64) -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
        "Too many requests. You can only make 2 requests per second.",
    );
    let h = r.headers_mut();
    h.insert("retry-after", HeaderValue::from(reset_secs));
    h.insert("ratelimit-limit", HeaderValue::from(limit as u64));
    h.insert("ratelimit-remaining", HeaderValue::from(0u64));
    h.insert("ratelimit-reset", HeaderValue::from(reset_secs));
    r
}

fn validate(body: &Value) -> Result<(), &'static str> {
    let obj = body.as_object().ok_or("The body must be a JSON object.")?;
    let nonempty = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !nonempty("from") {
        return Err("Missing `from` field.");
    }
    let to_ok = match obj.get("to") {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => {
            !a.is_empty() && a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        }
        _ => false,
    };
    if !to_ok {
        return Err("Missing `to` field.");
    }
    if !nonempty("subject") {
        return Err("Missing `subject` field.");
    }
    if !nonempty("html") {
        return Err("Missing `html` field.");
    }
    Ok(())
}

fn delivered(id: String, key: Option<String>, body: &Value) -> Delivered {
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let to = match body.get("to") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => vec![],
    };
    Delivered {
        id,
        idempotency_key: key,
        from: s("from"),
        to,
        subject: s("subject"),
        html: s("html"),
        text: body.get("text").and_then(Value::as_str).map(String::from),
    }
}

async fn send(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let cfg = &shared.config;

    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "missing_api_key",
                "Missing API key.",
            );
        }
        Some(t) if t != cfg.api_key => {
            return error(
                StatusCode::FORBIDDEN,
                "invalid_api_key",
                "API key is invalid.",
            );
        }
        Some(_) => {}
    }

    // Sliding one-second window.
    {
        let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while inner
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            inner.window.pop_front();
        }
        if inner.window.len() >= cfg.requests_per_second.max(1) {
            drop(inner);
            shared.rate_limited.fetch_add(1, Ordering::SeqCst);
            return too_many(cfg.requests_per_second, 1);
        }
        inner.window.push_back(now);
    }

    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                "Invalid JSON body.",
            );
        }
    };
    if let Err(m) = validate(&body) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", m);
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(String::from);

    let fault = {
        let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = &key {
            match inner.keys.get(k) {
                Some(Entry::InFlight) => {
                    return error(
                        StatusCode::CONFLICT,
                        "concurrent_idempotent_requests",
                        "Same idempotency key used while original request is still in progress.",
                    );
                }
                Some(Entry::Done(b, id)) => {
                    return if *b == body {
                        axum::Json(json!({"id": id})).into_response()
                    } else {
                        error(
                            StatusCode::CONFLICT,
                            "invalid_idempotent_request",
                            "Same idempotency key used with a different request payload.",
                        )
                    };
                }
                None => {}
            }
        }
        let fault = inner.faults.pop_front();
        match fault {
            Some(Fault::Status500) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_server_error",
                    "boom",
                );
            }
            Some(Fault::Status429) => return too_many(cfg.requests_per_second, 1),
            Some(Fault::Status422) => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_error",
                    "The message was refused.",
                );
            }
            _ => {}
        }
        // A request stuck before processing (Timeout) holds no key.
        if let (Some(k), false) = (&key, fault == Some(Fault::Timeout)) {
            inner.keys.insert(k.clone(), Entry::InFlight);
        }
        fault
    };

    let finish = || {
        let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        let id = format!(
            "fake-{:08}-0000-4000-8000-000000000000",
            shared.next_id.fetch_add(1, Ordering::SeqCst)
        );
        if let Some(k) = &key {
            inner
                .keys
                .insert(k.clone(), Entry::Done(body.clone(), id.clone()));
        }
        inner
            .messages
            .push(delivered(id.clone(), key.clone(), &body));
        Some(id)
    };

    if fault == Some(Fault::Timeout) {
        tokio::time::sleep(cfg.timeout_sleep).await;
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "slow",
        );
    }
    if !cfg.processing_delay.is_zero() {
        tokio::time::sleep(cfg.processing_delay).await;
    }
    let id = finish();
    if fault == Some(Fault::LostResponse) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "lost",
        );
    }
    axum::Json(json!({"id": id})).into_response()
}
