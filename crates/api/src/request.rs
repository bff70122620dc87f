//! Per-request plumbing: request ids, trace ids, the request span and its two log lines,
//! CORS, and the small GET endpoints.

use crate::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::RequestId;
use http::{HeaderValue, Method, StatusCode, header};
use std::time::Instant;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

/// Request-scoped facts handlers read from the extensions.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: RequestId,
    /// The 32-hex trace id of `traceparent` / `X-Cloud-Trace-Context`, when valid.
    pub trace_id: Option<String>,
}

impl RequestContext {
    /// A `traceparent` that continues this request's trace (a fresh parent span id), for the
    /// work this request leaves behind; `None` without a trace.
    pub fn traceparent(&self) -> Option<String> {
        let trace = self.trace_id.as_deref()?;
        let span: u64 = rand::random::<u64>() | 1;
        Some(format!("00-{trace}-{span:016x}-01"))
    }
}

/// W3C `traceparent` or Cloud's `X-Cloud-Trace-Context`: the 32-hex trace id, if valid.
fn trace_id(headers: &http::HeaderMap) -> Option<String> {
    if let Some(t) = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(domain::ids::traceparent_trace_id)
    {
        return Some(t);
    }
    let ctx = headers
        .get("x-cloud-trace-context")
        .and_then(|v| v.to_str().ok())?;
    domain::ids::trace_id(ctx.split('/').next()?)
}

/// Resolves the request id, opens the request span (so every line of the flow carries
/// `request_id`), logs start and finish, and echoes `X-Request-ID`.
pub async fn observe(State(_state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(|| RequestId::generated(uuid::Uuid::new_v4().to_string()));
    let trace = trace_id(req.headers());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    req.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        trace_id: trace.clone(),
    });
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = trace.as_deref().unwrap_or(""),
    );
    async move {
        let started = Instant::now();
        let quiet = path == "/healthz";
        if !quiet {
            tracing::info!(method = %method, path = %path, "request_started");
        }
        let mut res = next.run(req).await;
        if let Ok(v) = HeaderValue::from_str(request_id.as_str()) {
            res.headers_mut().insert(REQUEST_ID, v);
        }
        if !quiet {
            tracing::info!(
                method = %method,
                path = %path,
                status_code = res.status().as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request_finished"
            );
        }
        res
    }
    .instrument(span)
    .await
}

pub fn cors(allowed: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = allowed.iter().filter_map(|o| o.parse().ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST, Method::GET])
        .allow_headers(AllowHeaders::mirror_request())
        .allow_credentials(true)
        .expose_headers([header::HeaderName::from_static(REQUEST_ID)])
        .max_age(std::time::Duration::from_secs(600))
}

pub async fn catalogo(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        state.inner.catalog_json.clone(),
    )
        .into_response()
}

/// `GET /registro/delegaciones`: a browser that lands on the endpoint goes to the form.
pub async fn delegaciones_page(State(state): State<AppState>) -> Response {
    crate::redirect::form_page(&state.inner.config, domain::SubmissionType::Delegacion)
}

/// `GET /registro/faculty`: likewise.
pub async fn faculty_page(State(state): State<AppState>) -> Response {
    crate::redirect::form_page(&state.inner.config, domain::SubmissionType::Faculty)
}

pub async fn healthz() -> Response {
    (StatusCode::OK, "ok").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn cors_lets_allowed_origins_get_and_post_and_no_one_else() {
        let app = axum::Router::new()
            .route(
                "/registro/catalogo",
                axum::routing::get(|| async { "{}" }).post(|| async { "" }),
            )
            .layer(cors(&["https://smmun.com".to_owned()]));
        let send = |method: &str, origin: &str, preflight: Option<&str>| {
            let mut req = http::Request::builder()
                .method(method)
                .uri("/registro/catalogo")
                .header(header::ORIGIN, origin);
            if let Some(m) = preflight {
                req = req.header(header::ACCESS_CONTROL_REQUEST_METHOD, m);
            }
            app.clone()
                .oneshot(req.body(axum::body::Body::empty()).unwrap())
        };
        for method in ["GET", "POST"] {
            let pre = send("OPTIONS", "https://smmun.com", Some(method))
                .await
                .unwrap();
            assert_eq!(
                pre.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
                "https://smmun.com"
            );
            let allowed = pre.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
                .to_str()
                .unwrap();
            assert!(allowed.contains(method), "{allowed}");
            let res = send(method, "https://smmun.com", None).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{method}");
            assert_eq!(
                res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
                "https://smmun.com",
                "{method}"
            );
            assert_eq!(
                res.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS],
                REQUEST_ID,
                "{method}"
            );
            let foreign = send(method, "https://evil.example", None).await.unwrap();
            assert!(
                foreign
                    .headers()
                    .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                    .is_none(),
                "{method}"
            );
        }
        let pre = send("OPTIONS", "https://smmun.com", Some("DELETE"))
            .await
            .unwrap();
        let allowed = pre.headers()[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap();
        assert!(!allowed.contains("DELETE"), "{allowed}");
    }

    #[test]
    fn trace_ids_come_from_traceparent_or_cloud_header() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            trace_id(&h).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-cloud-trace-context",
            "105445aa7843bc8bf206b12000100000/1;o=1".parse().unwrap(),
        );
        assert_eq!(
            trace_id(&h).as_deref(),
            Some("105445aa7843bc8bf206b12000100000")
        );
        let mut h = http::HeaderMap::new();
        h.insert("traceparent", "00-zz-00f067aa0ba902b7-01".parse().unwrap());
        assert_eq!(trace_id(&h), None);
    }
}
