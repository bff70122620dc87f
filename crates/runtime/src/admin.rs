//! Operator commands (`registro admin …`). They work through the `PipelineStore` port, so the
//! same commands serve any backend; `open` gives the embedded one (a data directory). Safe
//! while the services run: reads are plain reads, listings go page by page with a cursor, and
//! writes are fenced domain transitions in their own transactions.

use domain::ports::{PipelineStore, SubmissionCursor};
use domain::{Submission, SubmissionId, SubmissionStatus};
use local::SqliteStore;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no database in {0} (is this the data directory of registro serve?)")]
    NoDatabase(String),
    #[error("{0}")]
    Store(String),
    #[error("invalid submission id {0:?}")]
    BadId(String),
    #[error("submission {0} not found")]
    NotFound(String),
    #[error("invalid status {0:?}: use pending, processing, completed or failed")]
    BadStatus(String),
    #[error("submission {id} is {status}; only failed submissions can be retried")]
    NotFailed { id: String, status: &'static str },
    #[error(
        "submission {id} was replaced by submission {by} (the same registration posted again); \
         retrying it would register the person twice. Check `registro admin show {by}`; \
         `retry --force {id}` re-drives it anyway"
    )]
    Superseded { id: String, by: String },
    #[error(transparent)]
    LinkKey(#[from] crate::links::KeyError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

fn store_err(e: impl std::fmt::Display) -> AdminError {
    AdminError::Store(e.to_string())
}

/// The store of the Google Cloud deployment, from the same variables the services read
/// (`GOOGLE_CLOUD_PROJECT`, `FIRESTORE_COLLECTION_NAME`, …, `FIRESTORE_EMULATOR_HOST`).
pub async fn open_firestore() -> Result<firestore_store::FirestoreStore, AdminError> {
    let config = firestore_store::FirestoreConfig::from_env().map_err(store_err)?;
    firestore_store::FirestoreStore::connect(&config, Arc::new(domain::ports::SystemClock))
        .await
        .map_err(store_err)
}

/// The embedded store of a data directory.
pub fn open(data_dir: &Path) -> Result<SqliteStore, AdminError> {
    let path = data_dir.join(local::DB_FILE);
    if !path.exists() {
        return Err(AdminError::NoDatabase(data_dir.display().to_string()));
    }
    SqliteStore::open(&path, Arc::new(domain::ports::SystemClock)).map_err(store_err)
}

/// Submissions read per page of a listing.
const PAGE: usize = 200;

/// Calls `f` on every submission (of `status`, if given) in `(created_at, id)` order, starting
/// after `start`, one page at a time; stops early when `f` returns `false`.
async fn each_submission(
    store: &dyn PipelineStore,
    status: Option<SubmissionStatus>,
    start: Option<SubmissionCursor>,
    mut f: impl FnMut(&Submission) -> Result<bool, AdminError>,
) -> Result<(), AdminError> {
    let mut after = start;
    loop {
        let page = store
            .list_submissions(status, after.as_ref(), PAGE)
            .await
            .map_err(store_err)?;
        for s in &page {
            if !f(s)? {
                return Ok(());
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some(SubmissionCursor::after(last)),
            _ => return Ok(()),
        }
    }
}

fn parse_id(id: &str) -> Result<SubmissionId, AdminError> {
    SubmissionId::parse(id).map_err(|_| AdminError::BadId(id.to_owned()))
}

fn summary(s: &Submission) -> serde_json::Value {
    serde_json::json!({
        "submission_id": s.submission_id,
        "type": s.submission_type.as_str(),
        "status": s.status.as_str(),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "attempts": s.worker.worker_attempt_count,
        "error_message": s.worker.error_message,
        "checkpoints": s.worker.worker_checkpoints.iter().map(|(k, v)| (k.clone(), v.status.clone())).collect::<std::collections::BTreeMap<_, _>>(),
    })
}

pub async fn list(
    store: &dyn PipelineStore,
    status: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let status = status
        .map(|s| SubmissionStatus::parse(s).ok_or_else(|| AdminError::BadStatus(s.to_owned())))
        .transpose()?;
    let mut n = 0usize;
    if json {
        // A JSON array written element by element: memory stays one page whatever the count.
        write!(out, "[")?;
        each_submission(store, status, None, |s| {
            writeln!(out, "{}", if n == 0 { "" } else { "," })?;
            serde_json::to_writer_pretty(&mut *out, &summary(s)).map_err(std::io::Error::other)?;
            n += 1;
            Ok(true)
        })
        .await?;
        writeln!(out, "{}]", if n == 0 { "" } else { "\n" })?;
    } else {
        writeln!(
            out,
            "{:<20}  {:<10}  {:<10}  {:<25}  {:>8}  error",
            "submission_id", "type", "status", "created_at", "attempts"
        )?;
        each_submission(store, status, None, |s| {
            n += 1;
            writeln!(
                out,
                "{:<20}  {:<10}  {:<10}  {:<25}  {:>8}  {}",
                s.submission_id,
                s.submission_type.as_str(),
                s.status.as_str(),
                s.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                s.worker.worker_attempt_count,
                s.worker.error_message.as_deref().unwrap_or("")
            )?;
            Ok(true)
        })
        .await?;
        writeln!(out, "{n} submission(s)")?;
    }
    Ok(())
}

pub async fn show(
    store: &dyn PipelineStore,
    id: &str,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let id = parse_id(id)?;
    let sub = store
        .submission(&id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
    let row = store.outbox_row(&id).await.map_err(store_err)?;
    let doc = serde_json::json!({ "submission": sub, "outbox": row });
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(std::io::Error::other)?;
    writeln!(out)?;
    Ok(())
}

/// Re-drives a failed submission from its first unfinished checkpoint: back to `pending`, and
/// its outbox row re-queued so the running server publishes it again within a second.
///
/// A submission that a later one replaced (`domain::admin::superseded_by`) is refused unless
/// `force`: retrying it would give the person a second sheet row and a second e-mail.
pub async fn retry(
    store: &dyn PipelineStore,
    id: &str,
    force: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let id = parse_id(id)?;
    let current = store
        .submission(&id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
    if current.status == SubmissionStatus::Failed {
        let record_id =
            domain::IdempotencyRecord::doc_id(current.submission_type, &current.idempotency_key);
        let record = store
            .idempotency_record(&record_id)
            .await
            .map_err(store_err)?;
        // The record first; then only the submissions created after this one can replace it.
        let mut by = domain::admin::superseded_by(&current, record.as_ref(), []);
        if by.is_none() {
            each_submission(store, None, Some(SubmissionCursor::after(&current)), |s| {
                by = domain::admin::superseded_by(&current, None, [s]);
                Ok(by.is_none())
            })
            .await?;
        }
        if let Some(by) = by {
            if !force {
                return Err(AdminError::Superseded {
                    id: id.to_string(),
                    by: by.to_string(),
                });
            }
            tracing::warn!(submission_id = %id, superseded_by = %by, "admin_retry_forced_despite_superseded");
        }
    }
    let changed = store
        .change_submission(&id, Box::new(domain::worker::admin_retry))
        .await
        .map_err(store_err)?;
    let sub = match changed {
        Ok(s) => s,
        Err(domain::worker::WorkerRefusal::Missing) => {
            return Err(AdminError::NotFound(id.to_string()));
        }
        Err(domain::worker::WorkerRefusal::NotFailed(st)) => {
            return Err(AdminError::NotFailed {
                id: id.to_string(),
                status: st.as_str(),
            });
        }
        Err(other) => return Err(AdminError::Store(format!("{other:?}"))),
    };
    tracing::warn!(submission_id = %id, "admin_retry");
    let resumes = domain::worker::next_step(&sub).unwrap_or("completion");
    // The submission is `pending` now; re-queueing its row gets it published within a second.
    // If that is refused (a publisher holds the row), the reconciler re-publishes the pending
    // submission within a minute anyway: the retry stands either way.
    let requeued = store
        .change_outbox(
            &id,
            Box::new(move |row, now| domain::outbox::requeue_for(&sub, row, now)),
        )
        .await;
    match requeued {
        Ok(Ok(_)) => writeln!(out, "{id}: failed → pending; resumes at {resumes}")?,
        other => {
            tracing::warn!(submission_id = %id, outcome = ?other, "admin_retry_requeue_deferred");
            writeln!(
                out,
                "{id}: failed → pending; resumes at {resumes} (published by the next reconciler pass)"
            )?;
        }
    }
    Ok(())
}

/// `registro admin rotate-link-key`: see [`crate::links::rotate_key`].
pub fn rotate_link_key(
    data_dir: &Path,
    replace_lost: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let kept = crate::links::rotate_key(data_dir, replace_lost)?;
    tracing::warn!(previous_keys = kept, replace_lost, "admin_rotate_link_key");
    writeln!(
        out,
        "new receipt-link key written; {kept} previous key(s) still verify old links. \
         Restart `registro serve` to sign new links with it."
    )?;
    Ok(())
}

/// Every submission as CSV, one row each, for spreadsheets and audits.
pub async fn export_csv(store: &dyn PipelineStore, out: &mut dyn Write) -> Result<(), AdminError> {
    let mut w = csv::Writer::from_writer(out);
    let csv_err = |e: csv::Error| AdminError::Output(std::io::Error::other(e));
    w.write_record([
        "submission_id",
        "type",
        "status",
        "created_at",
        "fecha",
        "modalidad_o_institucion",
        "nombre",
        "apellido",
        "correo",
        "celular",
        "comites",
        "attempts",
        "error_message",
    ])
    .map_err(csv_err)?;
    each_submission(store, None, None, |s| {
        let (what, nombre, apellido, correo, celular, comites) = match &s.data {
            domain::model::SubmissionData::Delegacion(d) => {
                let p = d.participantes.first();
                (
                    d.modalidad.clone(),
                    p.map(|p| p.nombre.clone()).unwrap_or_default(),
                    p.map(|p| p.apellido.clone()).unwrap_or_default(),
                    d.participantes
                        .iter()
                        .map(|p| p.correo.clone())
                        .collect::<Vec<_>>()
                        .join(" "),
                    p.map(|p| p.celular.clone()).unwrap_or_default(),
                    d.comites
                        .iter()
                        .map(|c| c.nombre.clone())
                        .collect::<Vec<_>>()
                        .join(" | "),
                )
            }
            domain::model::SubmissionData::Faculty(f) => (
                f.institucion.clone(),
                f.faculty.nombre.clone(),
                f.faculty.apellido.clone(),
                f.faculty.correo.clone(),
                f.faculty.celular.clone(),
                String::new(),
            ),
        };
        let cells = [
            s.submission_id.to_string(),
            s.submission_type.as_str().to_owned(),
            s.status.as_str().to_owned(),
            s.created_at.to_rfc3339(),
            domain::sheets::format_date(s.created_at),
            what,
            nombre,
            apellido,
            correo,
            celular,
            comites,
            s.worker.worker_attempt_count.to_string(),
            s.worker.error_message.clone().unwrap_or_default(),
        ];
        let cells: Vec<String> = cells
            .iter()
            .map(|c| local::cell_text(&domain::sheets::Cell::Text(c.clone())))
            .collect();
        w.write_record(&cells).map_err(csv_err)?;
        Ok(true)
    })
    .await?;
    w.flush()?;
    Ok(())
}
