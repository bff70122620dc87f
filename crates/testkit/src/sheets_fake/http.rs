//! The HTTP side: the axum routes, the OAuth2 token endpoint, bearer auth, the per-minute read
//! and write quota windows, injected faults, query validation and the google.rpc error bodies.

use super::batch_update::apply;
use super::grid::{Book, col_name, quoted, range_title, spreadsheet_json, trim_grid};
use super::{FakeConfig, Fault, Shared};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// The fake's routes, serving `shared`.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/token", post(token))
        .route(
            "/v4/spreadsheets/{rest}",
            get(get_spreadsheet).post(batch_update),
        )
        .route("/v4/spreadsheets/{id}/{op}", get(batch_get))
        .fallback(|| async { rpc(StatusCode::NOT_FOUND, "Not found.", "NOT_FOUND") })
        .with_state(shared)
}

// ---------------------------------------------------------------- errors

fn rpc_body(code: StatusCode, message: &str, reason: &str) -> Value {
    let status = match code.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    json!({"error": {"code": code.as_u16(), "message": message, "status": status, "details": [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
        "domain": "googleapis.com", "metadata": {"service": "sheets.googleapis.com"}}]}})
}

fn rpc(code: StatusCode, message: &str, reason: &str) -> Response {
    (code, axum::Json(rpc_body(code, message, reason))).into_response()
}

fn bad_request(message: &str) -> Response {
    rpc(StatusCode::BAD_REQUEST, message, "BAD_REQUEST")
}

fn internal() -> Response {
    rpc(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error encountered.",
        "BACKEND_ERROR",
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

fn too_many(cfg: &FakeConfig, kind: Kind) -> Response {
    let (metric, limit) = match kind {
        Kind::Read => ("Read requests", "ReadRequestsPerMinutePerUser"),
        Kind::Write => ("Write requests", "WriteRequestsPerMinutePerUser"),
    };
    let message = format!(
        "Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' of \
         service 'sheets.googleapis.com' for consumer 'project_number:0'."
    );
    let mut body = rpc_body(
        StatusCode::TOO_MANY_REQUESTS,
        &message,
        "RATE_LIMIT_EXCEEDED",
    );
    let meta = &mut body["error"]["details"][0]["metadata"];
    meta["quota_limit"] = json!(limit);
    meta["quota_metric"] = json!(format!(
        "sheets.googleapis.com/{}",
        metric.replace(' ', "_").to_lowercase()
    ));
    let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    if let Some(secs) = cfg.retry_after_secs {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    r
}

/// The spreadsheet, or why not: `(status, message, reason)` for [`rpc`].
type Refusal = (StatusCode, &'static str, &'static str);

fn lookup<'a>(books: &'a HashMap<String, Book>, id: &str) -> Result<&'a Book, Refusal> {
    match books.get(id) {
        None => Err((
            StatusCode::NOT_FOUND,
            "Requested entity was not found.",
            "NOT_FOUND",
        )),
        Some(b) if !b.shared => Err((
            StatusCode::FORBIDDEN,
            "The caller does not have permission",
            "PERMISSION_DENIED",
        )),
        Some(b) => Ok(b),
    }
}

// ---------------------------------------------------------------- handlers

/// Auth, then the quota window, then the next queued fault. `Ok(true)`: a write whose response
/// must be lost after it is applied.
async fn gate(shared: &Shared, headers: &HeaderMap, kind: Kind) -> Result<bool, Response> {
    let cfg = &shared.config;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(cfg.access_token.as_str()) {
        let (msg, reason) = match token {
            None => (
                "Request is missing required authentication credential. Expected OAuth 2 \
                 access token, login cookie or other valid authentication credential.",
                "CREDENTIALS_MISSING",
            ),
            Some(_) => (
                "Request had invalid authentication credentials. Expected OAuth 2 access \
                 token, login cookie or other valid authentication credential.",
                "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            ),
        };
        let mut r = rpc(StatusCode::UNAUTHORIZED, msg, reason);
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
        );
        return Err(r);
    }
    if let Some(project) = &cfg.user_project
        && headers
            .get("x-goog-user-project")
            .and_then(|v| v.to_str().ok())
            != Some(project)
    {
        return Err(rpc(
            StatusCode::FORBIDDEN,
            "Your application is authenticating by using local Application Default Credentials. \
             The sheets.googleapis.com API requires a quota project, which is not set by default.",
            "SERVICE_DISABLED",
        ));
    }
    let fault = {
        let mut guard = shared.lock();
        let inner = &mut *guard;
        let (window, limit, faults, counter) = match kind {
            Kind::Read => (
                &mut inner.read_window,
                cfg.reads_per_minute,
                &mut inner.read_faults,
                &mut inner.stats.reads,
            ),
            Kind::Write => (
                &mut inner.write_window,
                cfg.writes_per_minute,
                &mut inner.write_faults,
                &mut inner.stats.writes,
            ),
        };
        *counter += 1;
        let now = Instant::now();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= cfg.quota_window)
        {
            window.pop_front();
        }
        if window.len() >= limit {
            inner.stats.rate_limited += 1;
            return Err(too_many(cfg, kind));
        }
        window.push_back(now);
        let fault = faults.pop_front();
        if fault.is_some() {
            inner.stats.faults_served += 1;
        }
        fault
    };
    match fault {
        None => Ok(false),
        Some(Fault::LostResponse) if kind == Kind::Write => Ok(true),
        Some(Fault::Status429) => Err(too_many(cfg, kind)),
        Some(Fault::Status503) => Err(rpc(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is currently unavailable.",
            "SERVICE_UNAVAILABLE",
        )),
        Some(Fault::Timeout) => {
            tokio::time::sleep(cfg.timeout_sleep).await;
            Err(internal())
        }
        Some(Fault::Status500 | Fault::LostResponse) => Err(internal()),
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'+', ..) => out.push(b' '),
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            (c, ..) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_decode(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

/// Query parameters outside `allowed` (plus the system ones) are refused, as the API does.
fn check_params(q: &[(String, String)], allowed: &[&str]) -> Result<(), String> {
    const SYSTEM: [&str; 5] = ["fields", "alt", "prettyPrint", "key", "quotaUser"];
    match q
        .iter()
        .find(|(k, _)| !allowed.contains(&k.as_str()) && !SYSTEM.contains(&k.as_str()))
    {
        Some((k, _)) => Err(format!(
            "Invalid JSON payload received. Unknown name \"{k}\": Cannot bind query parameter."
        )),
        None => Ok(()),
    }
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let cfg = &shared.config;
    shared.lock().stats.token_requests += 1;
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let params: HashMap<String, String> = if is_json {
        serde_json::from_slice::<Map<String, Value>>(&body)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
            .collect()
    } else {
        form_decode(&String::from_utf8_lossy(&body))
            .into_iter()
            .collect()
    };
    let refuse = |error: &str, description: &str| {
        let body = json!({"error": error, "error_description": description});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    let given = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    match given("grant_type") {
        "refresh_token" if given("client_id").is_empty() => {
            return refuse(
                "invalid_request",
                "Could not determine client ID from request.",
            );
        }
        "refresh_token" if given("refresh_token") != cfg.refresh_token => {
            return refuse("invalid_grant", "Bad Request");
        }
        "refresh_token" => {}
        "urn:ietf:params:oauth:grant-type:jwt-bearer" if given("assertion").is_empty() => {
            return refuse("invalid_request", "Missing required parameter: assertion");
        }
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {}
        other => {
            return refuse(
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
    }
    axum::Json(json!({
        "access_token": cfg.access_token, "expires_in": 3599, "token_type": "Bearer",
        "scope": "https://www.googleapis.com/auth/spreadsheets",
    }))
    .into_response()
}

async fn get_spreadsheet(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if id.contains(':') {
        return rpc(StatusCode::NOT_FOUND, "Not found.", "NOT_FOUND");
    }
    if let Err(r) = gate(&shared, &headers, Kind::Read).await {
        return r;
    }
    let q = form_decode(query.as_deref().unwrap_or(""));
    if let Err(r) = check_params(
        &q,
        &["includeGridData", "ranges", "excludeTablesInBandedRanges"],
    ) {
        return bad_request(&r);
    }
    let inner = shared.lock();
    match lookup(&inner.books, &id) {
        Err((c, m, why)) => rpc(c, m, why),
        Ok(book) => {
            let with_tables = param(&q, "fields").is_none_or(|f| f.contains("tables"));
            axum::Json(spreadsheet_json(&id, book, with_tables)).into_response()
        }
    }
}

async fn batch_get(
    State(shared): State<Arc<Shared>>,
    Path((id, op)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if op != "values:batchGet" {
        return rpc(StatusCode::NOT_FOUND, "Not found.", "NOT_FOUND");
    }
    if let Err(r) = gate(&shared, &headers, Kind::Read).await {
        return r;
    }
    let q = form_decode(query.as_deref().unwrap_or(""));
    let allowed = [
        "ranges",
        "valueRenderOption",
        "majorDimension",
        "dateTimeRenderOption",
    ];
    if let Err(r) = check_params(&q, &allowed) {
        return bad_request(&r);
    }
    let formatted = match param(&q, "valueRenderOption") {
        None | Some("UNFORMATTED_VALUE" | "FORMULA") => false,
        Some("FORMATTED_VALUE") => true,
        Some(other) => {
            return bad_request(&format!(
                "Invalid value at 'value_render_option' \
                 (type.googleapis.com/google.apps.sheets.v4.ValueRenderOption), \"{other}\""
            ));
        }
    };
    match param(&q, "majorDimension") {
        None | Some("ROWS") => {}
        Some(other) => {
            return bad_request(&format!(
                "The fake supports majorDimension=ROWS only, got \"{other}\""
            ));
        }
    }
    let inner = shared.lock();
    let book = match lookup(&inner.books, &id) {
        Ok(b) => b,
        Err((c, m, why)) => return rpc(c, m, why),
    };
    let mut ranges = vec![];
    for (_, range) in q.iter().filter(|(k, _)| k == "ranges") {
        let tab = range_title(range).and_then(|title| {
            let lower = title.to_lowercase();
            book.tabs.iter().find(|t| t.title.to_lowercase() == lower)
        });
        let Some(tab) = tab else {
            return bad_request(&format!("Unable to parse range: {range}"));
        };
        let props = tab.properties(0);
        let grid = &props["gridProperties"];
        let cols = grid["columnCount"].as_u64().unwrap_or(26) as usize;
        let a1 = format!(
            "{}!A1:{}{}",
            quoted(&tab.title),
            col_name(cols),
            grid["rowCount"]
        );
        let mut vr = json!({"range": a1, "majorDimension": "ROWS"});
        let values = trim_grid(&tab.grid, formatted);
        if !values.is_empty() {
            vr["values"] = json!(values);
        }
        ranges.push(vr);
    }
    let mut out = json!({"spreadsheetId": id});
    if !ranges.is_empty() {
        out["valueRanges"] = json!(ranges);
    }
    axum::Json(out).into_response()
}

async fn batch_update(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((id, "batchUpdate")) = rest.split_once(':') else {
        return rpc(StatusCode::NOT_FOUND, "Not found.", "NOT_FOUND");
    };
    let lost = match gate(&shared, &headers, Kind::Write).await {
        Ok(lost) => lost,
        Err(r) => return r,
    };
    if !shared.config.processing_delay.is_zero() {
        tokio::time::sleep(shared.config.processing_delay).await;
    }
    let answer = {
        let mut inner = shared.lock();
        let mut book = match lookup(&inner.books, id) {
            Ok(b) => b.clone(),
            Err((c, m, why)) => return rpc(c, m, why),
        };
        let body: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return bad_request(&format!("Invalid JSON payload received. {e}")),
        };
        // Applied to a copy, swapped in only if every request succeeded: atomic.
        let (replies, include) = match apply(&mut book, &body) {
            Ok(r) => r,
            Err(m) => return bad_request(&m),
        };
        let mut out = json!({"spreadsheetId": id, "replies": replies});
        if include {
            out["updatedSpreadsheet"] = spreadsheet_json(id, &book, true);
        }
        inner.books.insert(id.to_string(), book);
        inner.stats.batch_updates_applied += 1;
        inner.write_times.push(Instant::now());
        out
    };
    if lost {
        return internal();
    }
    axum::Json(answer).into_response()
}
