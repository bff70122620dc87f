//! The three Sheets v4 calls the adapter makes, paced under the per-minute quotas and with every
//! failure classified once, here:
//! - `GET /v4/spreadsheets/{id}?fields=sheets.properties(sheetId,title)`: the tabs;
//! - `GET /v4/spreadsheets/{id}/values:batchGet`: what the target tabs hold;
//! - `POST /v4/spreadsheets/{id}:batchUpdate`: all of a batch's writes, atomically.
//!
//! 429, 5xx, 408, 401 (a token that just expired), timeouts and connection errors are worth
//! retrying; 400 is the request's fault (the batcher splits a batch to find the culprit);
//! 403 and 404 are the deployment's (the spreadsheet is not shared with the service account, or
//! the id is wrong) and stay permanent until someone fixes it. Messages carry the HTTP status,
//! the API's `status` and `ErrorInfo.reason`, never the API's message, which can quote cell text.

use google_cloud_auth::credentials::{
    AccessTokenCredentials, CacheableResource, CredentialsProvider,
};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A failed call, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// Try again (after `after` when the API said so). A write may or may not have happened.
    Retry {
        message: String,
        after: Option<Duration>,
    },
    /// 400: the request itself is wrong; nothing was applied.
    BadRequest(String),
    /// Will fail again until someone changes the deployment.
    Permanent(String),
}

/// At most `limit` requests in any `span`: the timestamps of the last `limit` requests are
/// kept, and the next one waits until the oldest leaves the window. A sliding window is never
/// looser than the API's per-minute accounting, whichever way Google cuts its minutes.
pub(crate) struct Window {
    limit: usize,
    span: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl Window {
    pub(crate) fn per_minute(limit: u32) -> Self {
        Self {
            limit: limit.max(1) as usize,
            // A second of margin for clock skew and requests in flight.
            span: Duration::from_secs(61),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) async fn acquire(&self) {
        let mut sent = self.sent.lock().await;
        loop {
            let now = Instant::now();
            while sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.span)
            {
                sent.pop_front();
            }
            if sent.len() < self.limit {
                sent.push_back(now);
                return;
            }
            let oldest = *sent.front().expect("full window");
            tokio::time::sleep_until(oldest + self.span).await;
        }
    }

    /// After a 429: count the window as full for a while, so no caller adds to the overload.
    pub(crate) async fn hold(&self, pause: Duration) {
        let mut sent = self.sent.lock().await;
        let until = Instant::now() + pause;
        sent.clear();
        let start = until.checked_sub(self.span).unwrap_or(until);
        sent.extend(std::iter::repeat_n(start, self.limit));
    }
}

pub(crate) struct Api {
    client: reqwest::Client,
    base: Url,
    credentials: AccessTokenCredentials,
    pub(crate) reads: Window,
    pub(crate) writes: Window,
}

#[derive(Deserialize)]
struct Spreadsheet {
    #[serde(default)]
    sheets: Vec<SheetEntry>,
}

#[derive(Deserialize)]
struct SheetEntry {
    properties: SheetProperties,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SheetProperties {
    #[serde(default)]
    sheet_id: i32,
    #[serde(default)]
    title: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchGet {
    #[serde(default)]
    value_ranges: Vec<ValueRange>,
}

#[derive(Deserialize)]
struct ValueRange {
    #[serde(default)]
    values: Vec<Vec<Value>>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorStatus,
}

#[derive(Deserialize, Default)]
struct ErrorStatus {
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Value>,
}

/// `'Title'` with inner quotes doubled: the A1 notation of a whole tab, whatever its title.
pub(crate) fn quoted_range(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

/// Keeps an identifier-like token from an error body (never free text).
fn ident(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

impl Api {
    pub(crate) fn new(
        base: Url,
        credentials: AccessTokenCredentials,
        timeout: Duration,
        reads_per_minute: u32,
        writes_per_minute: u32,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(timeout).build()?,
            base,
            credentials,
            reads: Window::per_minute(reads_per_minute),
            writes: Window::per_minute(writes_per_minute),
        })
    }

    fn url(&self, spreadsheet: &str, suffix: &str) -> Url {
        let mut url = self.base.clone();
        let path = format!(
            "{}/v4/spreadsheets/{spreadsheet}{suffix}",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        url
    }

    /// The credentials' request headers: `Authorization: Bearer …`, plus `x-goog-user-project`
    /// when the credentials name a quota project (user credentials from `gcloud auth
    /// application-default login` need it for the API to accept the call).
    async fn auth_headers(&self) -> Result<reqwest::header::HeaderMap, ApiError> {
        match self.credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(data),
            Ok(CacheableResource::NotModified) => Err(ApiError::Retry {
                message: "sheets: credentials returned no headers".into(),
                after: None,
            }),
            Err(e) if e.is_transient() => Err(ApiError::Retry {
                message: "sheets: access token temporarily unavailable".into(),
                after: None,
            }),
            Err(e) => Err(ApiError::Permanent(format!(
                "sheets: cannot get an access token: {e}"
            ))),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let headers = self.auth_headers().await?;
        let response = request.headers(headers).send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "request timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            };
            ApiError::Retry {
                message: format!("sheets: {what}"),
                after: None,
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(600)));
        let body: ErrorBody = response.json().await.unwrap_or_default();
        let reason = body
            .error
            .details
            .iter()
            .find(|d| {
                d.get("@type").and_then(Value::as_str)
                    == Some("type.googleapis.com/google.rpc.ErrorInfo")
            })
            .and_then(|d| d.get("reason").and_then(Value::as_str))
            .map(ident)
            .unwrap_or_default();
        let message = format!(
            "sheets: HTTP {} {}{}",
            status.as_u16(),
            match ident(&body.error.status) {
                s if s.is_empty() => "(no status)".to_owned(),
                s => s,
            },
            if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            }
        );
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => ApiError::Retry { message, after },
            StatusCode::REQUEST_TIMEOUT | StatusCode::UNAUTHORIZED => {
                ApiError::Retry { message, after }
            }
            s if s.is_server_error() => ApiError::Retry { message, after },
            StatusCode::BAD_REQUEST => ApiError::BadRequest(message),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                let hint = match reason.as_str() {
                    "SERVICE_DISABLED" => {
                        "enable the Google Sheets API in the project, and give user credentials \
                         a quota project (GOOGLE_CLOUD_QUOTA_PROJECT)"
                    }
                    "ACCESS_TOKEN_SCOPE_INSUFFICIENT" => {
                        "the credentials lack the https://www.googleapis.com/auth/spreadsheets scope"
                    }
                    _ => {
                        "check that the spreadsheet id is right and that the spreadsheet is \
                         shared with the worker's service account as an editor"
                    }
                };
                ApiError::Permanent(format!("{message}: {hint}"))
            }
            _ => ApiError::Permanent(message),
        })
    }

    async fn read_json<T: for<'de> Deserialize<'de>>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, ApiError> {
        response.json::<T>().await.map_err(|_| ApiError::Retry {
            message: "sheets: unreadable response".into(),
            after: None,
        })
    }

    /// `(sheetId, title)` of every tab.
    pub(crate) async fn tabs(&self, spreadsheet: &str) -> Result<Vec<(i32, String)>, ApiError> {
        self.reads.acquire().await;
        let request = self
            .client
            .get(self.url(spreadsheet, ""))
            .query(&[("fields", "sheets.properties(sheetId,title)")]);
        let body: Spreadsheet = self.read_json(self.send(request).await?).await?;
        Ok(body
            .sheets
            .into_iter()
            .map(|s| (s.properties.sheet_id, s.properties.title))
            .collect())
    }

    /// The cells of whole tabs, by title, in the order asked.
    pub(crate) async fn values(
        &self,
        spreadsheet: &str,
        titles: &[String],
    ) -> Result<Vec<Vec<Vec<Value>>>, ApiError> {
        if titles.is_empty() {
            return Ok(Vec::new());
        }
        self.reads.acquire().await;
        let mut query: Vec<(&str, String)> =
            titles.iter().map(|t| ("ranges", quoted_range(t))).collect();
        query.push(("valueRenderOption", "UNFORMATTED_VALUE".into()));
        query.push(("majorDimension", "ROWS".into()));
        let request = self
            .client
            .get(self.url(spreadsheet, "/values:batchGet"))
            .query(&query);
        let body: BatchGet = self.read_json(self.send(request).await?).await?;
        if body.value_ranges.len() != titles.len() {
            return Err(ApiError::Retry {
                message: "sheets: batchGet answered a different number of ranges".into(),
                after: None,
            });
        }
        Ok(body.value_ranges.into_iter().map(|r| r.values).collect())
    }

    /// One atomic `batchUpdate`.
    pub(crate) async fn batch_update(
        &self,
        spreadsheet: &str,
        requests: Vec<Value>,
    ) -> Result<(), ApiError> {
        self.writes.acquire().await;
        let body =
            serde_json::json!({ "requests": requests, "includeSpreadsheetInResponse": false });
        let request = self
            .client
            .post(self.url(spreadsheet, ":batchUpdate"))
            .json(&body);
        self.send(request).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_quote_any_title() {
        assert_eq!(quoted_range("delegaciones"), "'delegaciones'");
        assert_eq!(quoted_range("O'Higgins_x"), "'O''Higgins_x'");
        assert_eq!(quoted_range("Sheet1!A1"), "'Sheet1!A1'");
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_lets_n_through_then_waits_for_the_oldest_to_leave() {
        let w = Window::per_minute(3);
        let start = Instant::now();
        for _ in 0..3 {
            w.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        w.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(61));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_blocks_everyone_for_the_pause() {
        let w = Window::per_minute(60);
        let start = Instant::now();
        w.hold(Duration::from_secs(5)).await;
        w.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
