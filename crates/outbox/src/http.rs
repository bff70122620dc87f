//! HTTP triggers of the publisher, as Cloud Run receives them:
//! - `POST /events/outbox`: an Eventarc Firestore `document.created` CloudEvent in binary mode;
//!   the row id is read from `ce-subject` (`documents/<collection>/<id>`), never from the
//!   protobuf body. 2xx acks; 503 asks Eventarc to retry (busy lease, failed publish, store
//!   trouble).
//! - `POST /sweep`: Cloud Scheduler's periodic safety net; answers the sweep report as JSON.
//!
//! Caller authentication (Google OIDC) is layered on by the runtime.

use crate::{PublishReport, Publisher};
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use domain::SubmissionId;
use http::{HeaderMap, StatusCode};

pub fn router(publisher: Publisher) -> Router {
    Router::new()
        .route("/events/outbox", post(created))
        .route("/sweep", post(sweep))
        .with_state(publisher)
}

/// `documents/inscripciones_outbox/<id>` (with or without a leading `/`) → `<id>`.
pub fn id_from_subject(subject: &str) -> Option<SubmissionId> {
    let s = subject.trim_start_matches('/');
    let s = s.strip_prefix("documents/").unwrap_or(s);
    SubmissionId::parse(s.rsplit('/').next()?).ok()
}

async fn created(State(p): State<Publisher>, headers: HeaderMap) -> Response {
    let subject = headers
        .get("ce-subject")
        .or_else(|| headers.get("ce-document"))
        .and_then(|v| v.to_str().ok());
    let Some(id) = subject.and_then(id_from_subject) else {
        tracing::warn!("outbox_event_missing_document_name");
        return StatusCode::NO_CONTENT.into_response();
    };
    match p.publish_one(&id).await {
        Ok(report) if report.wants_retry() => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Ok(PublishReport::Sent | PublishReport::Skipped(_))
        | Ok(PublishReport::SentAfterLeaseLost | PublishReport::FailedAfterLeaseLost) => {
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Err(e) => {
            tracing::error!(submission_id = %id, error = %e, "outbox_event_failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn sweep(State(p): State<Publisher>) -> Response {
    tracing::info!("outbox_sweep_started");
    match p.sweep().await {
        Ok(report) => {
            tracing::info!(
                oldest_due_secs = report.oldest_due_secs,
                ?report,
                "outbox_sweep_finished"
            );
            axum::Json(report).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "outbox_sweep_failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_id_comes_from_the_subject() {
        let id = "AAAAAAAAAAAAAAAAAAAA";
        for s in [
            format!("documents/inscripciones_outbox/{id}"),
            format!("/documents/inscripciones_outbox/{id}"),
            format!("inscripciones_outbox/{id}"),
        ] {
            assert_eq!(id_from_subject(&s).unwrap().as_str(), id, "{s}");
        }
        assert!(id_from_subject("documents/inscripciones_outbox/").is_none());
        assert!(id_from_subject("documents/x/not-an-id").is_none());
    }
}
