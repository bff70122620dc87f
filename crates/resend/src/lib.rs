//! The Resend mailer: `POST {RESEND_API_URL}/emails` with the message's idempotency key in the
//! `Idempotency-Key` header, so a retry (ours, or the worker's after a crash) never sends twice:
//! Resend answers the same key with the first message id for 24 h.
//!
//! Why the behaviour below:
//! - One shared pacer keeps the adapter under Resend's per-second limit (2/s by default) across
//!   every concurrent caller, so 429s are rare rather than routine.
//! - `send` retries transient failures itself (429 honouring `retry-after`/`ratelimit-reset`,
//!   5xx, timeouts, connection errors, 409 `concurrent_idempotent_requests`) within a bounded
//!   budget, then hands back `Retryable` for the worker's own backoff. Other 4xx are `Permanent`.
//! - Error messages and logs name only the status and Resend's error `name`; never the
//!   recipients, the subject or the API key.

use async_trait::async_trait;
use domain::mail::Email;
use domain::ports::{Mailer, SideEffectError};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub const DEFAULT_API_URL: &str = "https://api.resend.com";
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 2;
const PACING_MARGIN: Duration = Duration::from_millis(15);

/// Configuration errors; each names the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("RESEND_API_KEY is required")]
    MissingApiKey,
    #[error("RESEND_API_URL must be an http(s) URL: {0}")]
    InvalidApiUrl(String),
    #[error("RESEND_REQUESTS_PER_SECOND must be a whole number greater than 0")]
    InvalidRequestsPerSecond,
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

#[derive(Clone)]
pub struct Config {
    pub api_url: Url,
    pub api_key: String,
    pub requests_per_second: u32,
    /// Timeout of each HTTP request.
    pub request_timeout: Duration,
    /// Attempts per `send` before giving up with `Retryable`.
    pub max_attempts: u32,
    /// Total time per `send` (waits included) before giving up with `Retryable`.
    pub retry_budget: Duration,
    /// First exponential-backoff delay (doubles each attempt).
    pub initial_backoff: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_url", &self.api_url.as_str())
            .field("api_key", &"<redacted>")
            .field("requests_per_second", &self.requests_per_second)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("retry_budget", &self.retry_budget)
            .field("initial_backoff", &self.initial_backoff)
            .finish()
    }
}

fn parse_url(s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s.trim()).map_err(|e| ConfigError::InvalidApiUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::InvalidApiUrl(
            "scheme must be http or https".into(),
        ));
    }
    Ok(url)
}

impl Config {
    /// Defaults for everything but the URL and key.
    pub fn new(api_url: &str, api_key: impl Into<String>) -> Result<Self, ConfigError> {
        let api_key = api_key.into();
        if api_key.trim().is_empty() {
            return Err(ConfigError::MissingApiKey);
        }
        Ok(Self {
            api_url: parse_url(api_url)?,
            api_key,
            requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            retry_budget: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(500),
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `from_env` over any lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let key = get("RESEND_API_KEY").unwrap_or_default();
        let url = get("RESEND_API_URL")
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let mut config = Self::new(&url, key)?;
        if let Some(rps) = get("RESEND_REQUESTS_PER_SECOND").filter(|s| !s.trim().is_empty()) {
            config.requests_per_second = match rps.trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => return Err(ConfigError::InvalidRequestsPerSecond),
            };
        }
        Ok(config)
    }
}

/// Spaces requests `1/N` seconds (plus a small margin for network jitter, so a sliding window
/// on the server never sees N+1 in one second) apart across every caller.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(rps: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / rps.max(1) + PACING_MARGIN,
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// After a 429: nobody sends before `until`.
    async fn hold_until(&self, until: Instant) {
        let mut next = self.next.lock().await;
        if *next < until {
            *next = until;
        }
    }
}

#[derive(Clone)]
pub struct ResendMailer {
    config: Arc<Config>,
    client: reqwest::Client,
    endpoint: Url,
    pacer: Arc<Pacer>,
}

impl fmt::Debug for ResendMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResendMailer")
            .field("config", &self.config)
            .finish()
    }
}

#[derive(serde::Serialize)]
struct Body<'a> {
    from: &'a str,
    to: &'a [String],
    subject: &'a str,
    html: &'a str,
    text: &'a str,
}

#[derive(Deserialize)]
struct Sent {
    id: String,
}

#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    name: String,
}

enum Outcome {
    Sent(String),
    /// Retry after this delay (or the backoff when `None`).
    Retry(String, Option<Duration>),
    Permanent(String),
}

impl ResendMailer {
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let mut endpoint = config.api_url.clone();
        let path = format!("{}/emails", endpoint.path().trim_end_matches('/'));
        endpoint.set_path(&path);
        Ok(Self {
            pacer: Arc::new(Pacer::new(config.requests_per_second)),
            config: Arc::new(config),
            client,
            endpoint,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    async fn attempt(&self, email: &Email) -> Outcome {
        self.pacer.wait().await;
        let body = Body {
            from: &email.from,
            to: &email.to,
            subject: &email.subject,
            html: &email.html,
            text: &email.text,
        };
        let response = self
            .client
            .post(self.endpoint.clone())
            .bearer_auth(&self.config.api_key)
            .header("Idempotency-Key", &email.idempotency_key)
            .json(&body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() {
                    "request timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                return Outcome::Retry(format!("resend: {what}"), None);
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        if status.is_success() {
            return match response.json::<Sent>().await {
                Ok(sent) if !sent.id.is_empty() => Outcome::Sent(sent.id),
                Ok(_) => Outcome::Retry("resend: response without an id".into(), None),
                Err(_) => Outcome::Retry("resend: unreadable success response".into(), None),
            };
        }
        let name = response
            .json::<ApiError>()
            .await
            .unwrap_or_default()
            .name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect::<String>();
        let message = format!(
            "resend: HTTP {} {}",
            status.as_u16(),
            if name.is_empty() {
                "(no error name)"
            } else {
                &name
            }
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            Outcome::Retry(message, retry_after)
        } else if status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || (status == StatusCode::CONFLICT && name == "concurrent_idempotent_requests")
        {
            Outcome::Retry(message, None)
        } else {
            Outcome::Permanent(message)
        }
    }
}

/// `retry-after` (seconds), else `ratelimit-reset` (seconds until the window resets).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["retry-after", "ratelimit-reset"].iter().find_map(|h| {
        let v = headers.get(*h)?.to_str().ok()?.trim().parse::<f64>().ok()?;
        (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(3600.0)))
    })
}

#[async_trait]
impl Mailer for ResendMailer {
    async fn send(&self, email: &Email) -> Result<String, SideEffectError> {
        let started = Instant::now();
        let deadline = started + self.config.retry_budget;
        let mut backoff = self.config.initial_backoff;
        let mut attempt = 1u32;
        loop {
            let (message, wait) = match self.attempt(email).await {
                Outcome::Sent(id) => {
                    tracing::debug!(kind = ?email.kind, attempt, "resend: sent");
                    return Ok(id);
                }
                Outcome::Permanent(m) => {
                    tracing::warn!(kind = ?email.kind, error = %m, "resend: rejected");
                    return Err(SideEffectError::Permanent(m));
                }
                Outcome::Retry(m, wait) => (m, wait),
            };
            let delay = match wait {
                Some(d) => {
                    self.pacer.hold_until(Instant::now() + d).await;
                    d
                }
                None => {
                    let d = backoff;
                    backoff = backoff.saturating_mul(2);
                    d
                }
            };
            if attempt >= self.config.max_attempts || Instant::now() + delay > deadline {
                tracing::warn!(kind = ?email.kind, attempt, error = %message, "resend: giving up for now");
                return Err(SideEffectError::Retryable(message));
            }
            tracing::info!(kind = ?email.kind, attempt, error = %message, ?delay, "resend: retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn config_requires_the_key_and_validates_settings() {
        assert!(matches!(
            Config::from_lookup(env(&[])),
            Err(ConfigError::MissingApiKey)
        ));
        let c = Config::from_lookup(env(&[("RESEND_API_KEY", "re_secret")])).unwrap();
        assert_eq!(c.api_url.as_str(), "https://api.resend.com/");
        assert_eq!(c.requests_per_second, 2);
        assert!(!format!("{c:?}").contains("re_secret"));
        assert!(matches!(
            Config::from_lookup(env(&[
                ("RESEND_API_KEY", "k"),
                ("RESEND_API_URL", "ftp://x")
            ])),
            Err(ConfigError::InvalidApiUrl(_))
        ));
        assert!(matches!(
            Config::from_lookup(env(&[
                ("RESEND_API_KEY", "k"),
                ("RESEND_REQUESTS_PER_SECOND", "0")
            ])),
            Err(ConfigError::InvalidRequestsPerSecond)
        ));
    }
}
