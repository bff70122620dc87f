//! `POST /pubsub/push`: the Pub/Sub push envelope (`{message: {data: <base64>, messageId, …},
//! subscription}`). Poison messages (bad envelope, bad base64/JSON, no `submission_id`) are
//! logged and acked, not redelivered for a day; 503 asks Pub/Sub to redeliver with backoff.
//! Caller authentication (Google OIDC) is layered on by the runtime.

use crate::{Delivery, Worker};
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use domain::outbox::WorkMessage;
use http::StatusCode;
use serde::Deserialize;

#[derive(Deserialize)]
struct Envelope {
    message: PushMessage,
}

#[derive(Deserialize)]
struct PushMessage {
    #[serde(default)]
    data: Option<String>,
    #[serde(default, rename = "messageId")]
    message_id: Option<String>,
    #[serde(default)]
    attributes: std::collections::HashMap<String, String>,
}

pub fn router(worker: Worker) -> Router {
    Router::new()
        .route("/pubsub/push", post(push))
        .with_state(worker)
}

/// Decodes a push body into the work message, or says why it is poison.
pub fn decode(body: &[u8]) -> Result<(WorkMessage, Option<String>), &'static str> {
    let env: Envelope = serde_json::from_slice(body).map_err(|_| "bad envelope")?;
    let data = env
        .message
        .data
        .filter(|d| !d.is_empty())
        .ok_or("missing data")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(data.as_bytes())
        .map_err(|_| "bad base64")?;
    #[derive(Deserialize)]
    struct Body {
        submission_id: String,
        #[serde(default)]
        request_id: Option<String>,
        #[serde(default)]
        submission_type: Option<String>,
    }
    let b: Body = serde_json::from_slice(&raw).map_err(|_| "bad message json")?;
    Ok((
        WorkMessage {
            submission_id: b.submission_id,
            request_id: b.request_id.unwrap_or_default(),
            submission_type: b.submission_type.unwrap_or_default(),
            traceparent: env.message.attributes.get("traceparent").cloned(),
        },
        env.message.message_id,
    ))
}

async fn push(State(worker): State<Worker>, body: axum::body::Bytes) -> Response {
    let (message, message_id) = match decode(&body) {
        Ok(m) => m,
        Err(reason) => {
            tracing::warn!(reason, "pubsub_message_poison");
            return StatusCode::NO_CONTENT.into_response();
        }
    };
    tracing::info!(
        message_id = message_id.as_deref().unwrap_or(""),
        "pubsub_message_received"
    );
    match worker.handle(&message).await {
        Delivery::Ack(_) => StatusCode::NO_CONTENT.into_response(),
        Delivery::Retry(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(data: &str) -> Vec<u8> {
        serde_json::json!({"message": {"data": data, "messageId": "1"}, "subscription": "s"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn push_envelopes_decode_or_are_poison() {
        let ok = base64::engine::general_purpose::STANDARD
            .encode(br#"{"submission_id":"AAAAAAAAAAAAAAAAAAAA","request_id":"r","submission_type":"faculty"}"#);
        let (m, id) = decode(&envelope(&ok)).unwrap();
        assert_eq!(m.submission_id, "AAAAAAAAAAAAAAAAAAAA");
        assert_eq!(m.submission_type, "faculty");
        assert_eq!(id.as_deref(), Some("1"));
        assert_eq!(m.traceparent, None);
        let traced = serde_json::json!({"message": {"data": ok, "messageId": "2",
            "attributes": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}})
        .to_string();
        let (m, _) = decode(traced.as_bytes()).unwrap();
        assert_eq!(
            m.traceparent.as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "the trace of the request comes with the message"
        );
        assert_eq!(decode(b"not json").unwrap_err(), "bad envelope");
        assert_eq!(decode(&envelope("")).unwrap_err(), "missing data");
        assert_eq!(decode(&envelope("***")).unwrap_err(), "bad base64");
        let no_id = base64::engine::general_purpose::STANDARD.encode(br#"{"request_id":"r"}"#);
        assert_eq!(decode(&envelope(&no_id)).unwrap_err(), "bad message json");
    }
}
