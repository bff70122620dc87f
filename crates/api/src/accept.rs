//! The acceptance flow of DESIGN.md §4: validate → fingerprint → plain read answers replays and
//! conflicts → upload under a fresh id → ONE transaction decides and writes → 303.
//!
//! Every path ends in a redirect; infrastructure trouble is "retry with the same key", never a
//! raw 500. Logs carry ids, codes and sizes, never names, e-mails, phones or file names.

use crate::redirect::{self, Outcome};
use crate::request::RequestContext;
use crate::{AppState, multipart, rate_limit};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use domain::failpoints::FailAction;
use domain::form::{Rejection, Validated};
use domain::idempotency::{self, Accept, Answer, Decision};
use domain::model::{Submission, SubmissionStatus, WorkerFields};
use domain::ports::{AcceptOutcome, Acceptance};
use domain::{IdempotencyRecord, SubmissionId, SubmissionType, receipt};
use std::net::SocketAddr;
use std::time::Instant;

pub async fn delegaciones(State(state): State<AppState>, req: Request) -> Response {
    submit(state, SubmissionType::Delegacion, req).await
}

pub async fn faculty(State(state): State<AppState>, req: Request) -> Response {
    submit(state, SubmissionType::Faculty, req).await
}

async fn submit(state: AppState, kind: SubmissionType, req: Request) -> Response {
    let cfg = &state.inner.config;
    let origin = redirect::resolve_origin(req.headers(), req.uri(), cfg);
    let outcome = run(&state, kind, req).await;
    redirect::see_other(redirect::location(&origin, kind, &outcome))
}

async fn run(state: &AppState, kind: SubmissionType, req: Request) -> Outcome {
    let inner = &state.inner;
    let ctx = req
        .extensions()
        .get::<RequestContext>()
        .cloned()
        .expect("observe middleware sets the request context");

    if let Some(limiter) = &inner.limiter {
        // (A limited request's body is still read, bounded, so the browser gets the redirect
        // instead of a broken pipe.)
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(ip) =
            rate_limit::client_ip(peer, req.headers(), inner.config.trust_forwarded_for)
            && let rate_limit::Verdict::Limited { source_hash } = limiter.check(ip, Instant::now())
        {
            tracing::warn!(
                source_hash,
                limit_per_minute = inner.config.rate_limit_per_minute,
                "rate_limited"
            );
            multipart::drain(req.into_body(), &inner.body).await;
            return Outcome::KeepKey {
                code: "demasiadas_solicitudes",
            };
        }
    }

    let (parts, body) = req.into_parts();
    // `_held` is this request's share of the body budget: it lives until the answer.
    let (mut form, _held) = match multipart::read_form(&parts.headers, body, &inner.body).await {
        Ok(f) => f,
        Err(multipart::FormError::Invalid(rejection)) => return invalid(rejection),
        Err(multipart::FormError::Busy) => {
            tracing::warn!(
                budget_bytes = inner.config.body_budget_bytes,
                "body_budget_exhausted"
            );
            return Outcome::KeepKey {
                code: "servidor_ocupado",
            };
        }
    };
    let validated = match kind {
        SubmissionType::Delegacion => domain::form::parse_delegaciones(&form, &inner.catalog),
        SubmissionType::Faculty => domain::form::parse_faculty(&form),
    };
    let bytes = form.file.take().map(|u| u.bytes).unwrap_or_default();
    drop(form);
    let validated = match validated {
        Ok(v) => v,
        Err(rejection) => return invalid(rejection),
    };
    match &validated.data {
        domain::model::SubmissionData::Delegacion(d) => {
            tracing::info!(modalidad = %d.modalidad, "delegaciones_start")
        }
        domain::model::SubmissionData::Faculty(f) => {
            tracing::info!(numero_delegaciones = f.numero_delegaciones, "faculty_start")
        }
    }
    accept(state, &ctx, validated, &bytes).await
}

fn invalid(rejection: Rejection) -> Outcome {
    tracing::warn!(
        reason = rejection.message,
        code = rejection.code,
        field = rejection.field.as_deref().unwrap_or(""),
        "validation_failed"
    );
    Outcome::Invalid {
        code: rejection.code,
        // `redirect::location` passes on declared names only.
        field: rejection.field,
    }
}

fn new_submission_id() -> SubmissionId {
    let mut idx = [0u8; SubmissionId::LEN];
    let mut filled = 0;
    while filled < idx.len() {
        let b: u8 = rand::random();
        if SubmissionId::accepts_byte(b) {
            idx[filled] = b;
            filled += 1;
        }
    }
    SubmissionId::from_alphabet_indices(idx)
}

fn fail(state: &AppState, point: &str) -> Result<(), ()> {
    match state.inner.failpoints.hit(point) {
        None => Ok(()),
        Some(FailAction::Abort) => {
            tracing::error!(failpoint = point, "failpoint_abort");
            std::process::abort()
        }
        Some(FailAction::Error) => {
            tracing::warn!(failpoint = point, "failpoint_error");
            Err(())
        }
    }
}

async fn accept(state: &AppState, ctx: &RequestContext, v: Validated, upload: &[u8]) -> Outcome {
    let inner = &state.inner;
    let kind = v.submission_type;
    let record_id = IdempotencyRecord::doc_id(kind, v.effective_key());
    let explicit = v.explicit_key.is_some();

    // 1. A plain read answers replays and conflicts before any upload.
    let record = match inner.store.idempotency_record(&record_id).await {
        Ok(r) => r,
        Err(e) => return unavailable("idempotency_read_failed", &e.to_string()),
    };
    let referenced = match record.as_ref().and_then(|r| r.submission_id.as_ref()) {
        Some(id) => match inner.store.submission(id).await {
            Ok(s) => s.map(|s| s.status),
            Err(e) => return unavailable("submission_read_failed", &e.to_string()),
        },
        None => None,
    };
    let early = idempotency::decide(
        record.as_ref(),
        referenced,
        &v.fingerprint,
        explicit,
        inner.clock.now(),
    );
    if let Decision::Answer(early) = early {
        return answer(kind, early);
    }

    // 2. Upload under a fresh id: create-only, checksum-verified, no personal data in the name.
    let submission_id = new_submission_id();
    let object = receipt::object_name(kind, &submission_id, &v.receipt.extension);
    if let Err(e) = inner
        .blobs
        .put_new(
            &object,
            upload,
            v.receipt.stored_content_type(),
            &v.receipt.sha256,
        )
        .await
    {
        tracing::error!(submission_id = %submission_id, submission_type = kind.as_str(), error = %e, "upload_failed");
        return Outcome::KeepKey {
            code: "almacenamiento_no_disponible",
        };
    }
    tracing::info!(
        submission_id = %submission_id,
        submission_type = kind.as_str(),
        content_type = v.receipt.stored_content_type(),
        size_bytes = v.receipt.size,
        extension = %v.receipt.extension,
        "upload_succeeded"
    );
    if fail(state, "after_upload").is_err() {
        cleanup(state, &submission_id, &object).await;
        return Outcome::KeepKey {
            code: "almacenamiento_no_disponible",
        };
    }

    // 3. One transaction decides again, authoritatively, and writes all three documents.
    let now = inner.clock.now();
    let submission = Submission {
        submission_id: submission_id.clone(),
        submission_type: kind,
        status: SubmissionStatus::Pending,
        created_at: now,
        updated_at: now,
        file_path: object.clone(),
        request_id: ctx.request_id.to_string(),
        idempotency_key: v.effective_key().to_owned(),
        data: v.data.clone(),
        receipt: Some(domain::model::ReceiptMeta {
            content_type: v.receipt.stored_content_type().to_owned(),
            extension: v.receipt.extension.clone(),
            size_bytes: v.receipt.size as u64,
            sha256: v.receipt.sha256.clone(),
        }),
        worker: WorkerFields::default(),
    };
    let acceptance = Acceptance {
        record_id,
        effective_key: v.effective_key().to_owned(),
        fingerprint: v.fingerprint.clone(),
        explicit_key: explicit,
        owner_token: uuid::Uuid::new_v4().to_string(),
        submission,
        traceparent: ctx.traceparent(),
    };
    match inner.store.accept(acceptance).await {
        Ok(AcceptOutcome::Accepted {
            submission_id: id,
            decision,
        }) => {
            match decision {
                Accept::TakeOver => {
                    tracing::warn!(submission_id = %id, submission_type = kind.as_str(), "idempotency_claim_recovered")
                }
                Accept::Reopen { previous } => {
                    tracing::warn!(submission_id = %id, previous_submission_id = %previous, submission_type = kind.as_str(), "failed_submission_fallback_retry_reclaimed")
                }
                Accept::Commit => {}
            }
            if fail(state, "after_commit").is_err() {
                // As if the commit's acknowledgement were lost: only a read-back can tell.
                return reconcile(state, kind, &id, &object, "injected after_commit").await;
            }
            tracing::info!(submission_id = %id, submission_type = kind.as_str(), "submission_committed");
            if let Some(hook) = &inner.hook {
                hook.accepted(&id);
            }
            Outcome::Confirmed {
                folio: id.to_string(),
            }
        }
        Ok(AcceptOutcome::NotWritten(decision)) => {
            cleanup(state, &submission_id, &object).await;
            answer(kind, decision)
        }
        Err(e) => reconcile(state, kind, &submission_id, &object, &e.to_string()).await,
    }
}

/// The commit's outcome is unknown (e.g. an I/O error at COMMIT): re-read and classify.
async fn reconcile(
    state: &AppState,
    kind: SubmissionType,
    id: &SubmissionId,
    object: &str,
    error: &str,
) -> Outcome {
    match state.inner.store.submission(id).await {
        Ok(Some(_)) => {
            if let Some(hook) = &state.inner.hook {
                hook.accepted(id);
            }
            tracing::warn!(submission_id = %id, submission_type = kind.as_str(), "submission_commit_reconciled_after_exception");
            Outcome::Confirmed {
                folio: id.to_string(),
            }
        }
        Ok(None) => {
            tracing::error!(submission_id = %id, submission_type = kind.as_str(), error, "submission_not_committed");
            cleanup(state, id, object).await;
            Outcome::KeepKey {
                code: "almacenamiento_no_disponible",
            }
        }
        Err(e) => {
            // Unknown: keep the object; the orphan sweeper removes it if nothing references it.
            tracing::error!(submission_id = %id, submission_type = kind.as_str(), error = %e, "submission_commit_outcome_ambiguous");
            Outcome::KeepKey {
                code: "almacenamiento_no_disponible",
            }
        }
    }
}

async fn cleanup(state: &AppState, id: &SubmissionId, object: &str) {
    if let Err(e) = state.inner.blobs.delete(object).await {
        // No object name in the log: the sweeper will find it by id.
        tracing::error!(submission_id = %id, error = %e, "upload_cleanup_failed");
    }
}

fn unavailable(event: &'static str, error: &str) -> Outcome {
    tracing::error!(error, "{event}");
    Outcome::KeepKey {
        code: "almacenamiento_no_disponible",
    }
}

/// Decisions that write nothing, as the browser sees them.
fn answer(kind: SubmissionType, decision: Answer) -> Outcome {
    let t = kind.as_str();
    match decision {
        Answer::Replay { submission_id } => {
            tracing::info!(submission_type = t, submission_id = %submission_id, "idempotency_replayed");
            Outcome::Confirmed {
                folio: submission_id.to_string(),
            }
        }
        Answer::Conflict { committed } => {
            let status = if committed.is_some() {
                "committed"
            } else {
                "claimed"
            };
            tracing::warn!(
                submission_type = t,
                idempotency_status = status,
                "idempotency_conflict"
            );
            Outcome::RotateKey {
                code: if committed.is_some() {
                    "registro_existente"
                } else {
                    "conflicto_idempotencia"
                },
            }
        }
        Answer::RetryWithNewKey { submission_id } => {
            tracing::warn!(submission_type = t, submission_id = %submission_id, "failed_submission_replay_requires_new_attempt");
            Outcome::RotateKey {
                code: "registro_fallido",
            }
        }
        Answer::InProgress => {
            tracing::warn!(
                submission_type = t,
                idempotency_status = "claimed",
                "idempotency_in_progress"
            );
            Outcome::KeepKey { code: "en_proceso" }
        }
    }
}
