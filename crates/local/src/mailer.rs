//! The embedded mailer: each e-mail becomes `DATA_DIR/mail/<key>.eml` (RFC 5322, text + HTML)
//! and a JSON twin with the envelope, where `<key>` is the Resend idempotency key with `/`
//! replaced by `__` (e.g. `delegacion-confirmation__<submission_id>`). Idempotent per key like
//! Resend: a second send with the same key returns the first message id and writes nothing.
//! The JSON twin is written last (after the .eml is durable), so its presence means "sent";
//! both renames share one directory fsync, and a send that finds the record without its .eml
//! (a crash before that fsync) writes the .eml again. Sends are serialized per instance, so
//! concurrent sends of one key (a redelivery racing the first delivery) find the first record
//! instead of each writing its own; one `registro serve` per data directory makes the instance
//! the only writer.

use crate::LocalError;
use async_trait::async_trait;
use base64::Engine;
use domain::mail::Email;
use domain::ports::{Mailer, SideEffectError};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct FileMailer {
    dir: PathBuf,
    /// Held for a whole send: the check for the record and its writing are one step.
    sending: tokio::sync::Mutex<()>,
}

impl FileMailer {
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, LocalError> {
        let dir = crate::ensure_dir(dir.into())?;
        Ok(Self {
            dir,
            sending: tokio::sync::Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn file_stem(key: &str) -> Result<String, SideEffectError> {
    let stem = key.replace('/', "__");
    if stem.is_empty()
        || !stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(SideEffectError::Permanent("invalid idempotency key".into()));
    }
    Ok(stem)
}

fn encoded_word(s: &str) -> String {
    if s.is_ascii() {
        s.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }
}

fn wrapped_base64(s: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(s);
    b64.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The message as RFC 5322 text with a multipart/alternative body.
pub fn to_eml(email: &Email, message_id: &str, date: &str) -> String {
    let boundary = format!("registro-{message_id}");
    let from = match email.from.rsplit_once(" <") {
        Some((name, addr)) => format!("{} <{addr}", encoded_word(name)),
        None => email.from.clone(),
    };
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{message_id}@registro.local>\r\n\
         X-Idempotency-Key: {key}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{text}\r\n\
         --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{html}\r\n\
         --{boundary}--\r\n",
        to = email.to.join(", "),
        subject = encoded_word(&email.subject),
        key = email.idempotency_key,
        text = wrapped_base64(&email.text),
        html = wrapped_base64(&email.html),
    )
}

/// Writes `bytes` to a temp file, fsyncs it and renames it into place. The caller fsyncs the
/// directory once for all the renames it made.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut f = crate::private_file(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<String, SideEffectError> {
        let stem = file_stem(&email.idempotency_key)?;
        let json_path = self.dir.join(format!("{stem}.json"));
        let eml_path = self.dir.join(format!("{stem}.eml"));
        let email = email.clone();
        let _sending = self.sending.lock().await;
        tokio::task::spawn_blocking(move || {
            let io = |e: std::io::Error| SideEffectError::Retryable(format!("mail file: {e}"));
            let dir = json_path.parent().unwrap_or(Path::new("."));
            if let Ok(existing) = std::fs::read(&json_path) {
                let v: serde_json::Value = serde_json::from_slice(&existing)
                    .map_err(|e| SideEffectError::Permanent(format!("corrupt mail record: {e}")))?;
                let id = v["id"].as_str().unwrap_or_default().to_owned();
                // Both renames share one directory fsync, so a crash before it may keep the
                // record and lose the message: the retry (same key, same message) restores it.
                if !eml_path.exists() {
                    let date = v["sent_at"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .map_or_else(|| chrono::Utc::now().to_rfc2822(), |t| t.to_rfc2822());
                    write_synced(&eml_path, to_eml(&email, &id, &date).as_bytes()).map_err(io)?;
                    sync_dir(dir).map_err(io)?;
                }
                return Ok(id);
            }
            let id = format!("local-{}", uuid::Uuid::new_v4());
            let now = chrono::Utc::now();
            write_synced(&eml_path, to_eml(&email, &id, &now.to_rfc2822()).as_bytes())
                .map_err(io)?;
            let record = serde_json::json!({
                "id": id,
                "idempotency_key": email.idempotency_key,
                "kind": email.kind.checkpoint(),
                "from": email.from,
                "to": email.to,
                "subject": email.subject,
                "sent_at": now.to_rfc3339(),
                "eml": eml_path.file_name().map(|n| n.to_string_lossy().into_owned()),
            });
            // The record is written last: its presence means "sent".
            write_synced(&json_path, record.to_string().as_bytes()).map_err(io)?;
            sync_dir(dir).map_err(io)?;
            Ok(id)
        })
        .await
        .map_err(|e| SideEffectError::Retryable(e.to_string()))?
    }
}
