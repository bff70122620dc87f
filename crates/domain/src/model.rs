//! The persisted documents, with the Firestore field names of the system SMMUN runs today
//! (reference/api.md §5–6, reference/pipeline.md §0.1), so both systems can share one database.
//! Fields this system adds are optional and ignored by the older code.

use crate::ids::SubmissionId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionType {
    /// Individual delegation or codelegation (`data.modalidad` tells which).
    Delegacion,
    Faculty,
}

impl SubmissionType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delegacion => "delegacion",
            Self::Faculty => "faculty",
        }
    }

    /// The value of the `form` query flag on redirects.
    pub fn form_name(self) -> &'static str {
        match self {
            Self::Delegacion => "delegaciones",
            Self::Faculty => "faculty",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delegacion" => Some(Self::Delegacion),
            "faculty" => Some(Self::Faculty),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "processing" => Some(Self::Processing),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Facts about the stored receipt. The original file name is deliberately not kept: it often
/// carries the person's name and nothing downstream needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptMeta {
    pub content_type: String,
    pub extension: String,
    pub size_bytes: u64,
    pub sha256: String,
}

/// One side-effect checkpoint of the worker (reference/pipeline.md §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Checkpoint {
    pub status: String,
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Provider id of the finished side effect (e.g. the Resend message id), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// Fields the worker adds to a submission. All absent on a fresh submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WorkerFields {
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub worker_lease_owner: Option<String>,
    #[serde(default)]
    pub worker_lease_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub worker_started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub worker_attempt_count: i64,
    #[serde(default)]
    pub worker_checkpoints: BTreeMap<String, Checkpoint>,
}

/// The submission document (collection `inscripciones` by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// Also the document id; kept as a field so exports and the local store are self-describing.
    pub submission_id: SubmissionId,
    #[serde(rename = "type")]
    pub submission_type: SubmissionType,
    pub status: SubmissionStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Object name of the receipt: `uploads/<type>/<submission_id><ext>`, no personal data.
    pub file_path: String,
    pub request_id: String,
    pub idempotency_key: String,
    pub data: SubmissionData,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptMeta>,
    #[serde(flatten)]
    pub worker: WorkerFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SubmissionData {
    Delegacion(DelegacionData),
    Faculty(FacultyData),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegacionData {
    /// `individual` | `pareja`.
    pub modalidad: String,
    pub delegacion_oficial: DelegacionOficial,
    pub participantes: Vec<Participante>,
    pub comites: Vec<ComiteChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegacionOficial {
    pub is_oficial: bool,
    pub nombre: String,
    pub responsable: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participante {
    pub nombre: String,
    pub apellido: String,
    pub edad: i64,
    pub celular: String,
    pub correo: String,
    pub pais: String,
    pub ciudad_estado: String,
    pub escolaridad: String,
    pub escuela: String,
    /// `"<nombre> (<relación>): <celular>"`, pre-formatted as the older system stores it.
    pub contacto_emergencia: String,
    pub info_extra: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComiteChoice {
    /// Committee code (`SOCHUM`, `ONU-Hábitat`, …).
    pub nombre: String,
    /// Delegation names in preference order, without the `SIGLAS:` prefix.
    pub opciones: Vec<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacultyData {
    pub institucion: String,
    pub faculty: FacultyPerson,
    pub numero_delegaciones: i64,
    pub delegaciones: Vec<FacultyRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacultyPerson {
    pub nombre: String,
    pub apellido: String,
    pub celular: String,
    pub correo: String,
    pub ciudad_estado: String,
    pub pais: String,
}

/// A delegate row of a faculty registration. The older system may have stored nulls here, so
/// reading tolerates them (as empty strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacultyRow {
    #[serde(deserialize_with = "null_as_empty")]
    pub nombre: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub apellido: String,
    pub edad: Option<i64>,
    #[serde(deserialize_with = "null_as_empty")]
    pub celular: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub correo: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub pais: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub ciudad_estado: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub escolaridad: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub escuela: String,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdempotencyStatus {
    /// Written only by the older system (claim → upload → commit). Still honoured.
    Claimed,
    Committed,
}

/// The idempotency record (collection `inscripciones_idempotencia`, id `"<type>:<key>"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub submission_type: SubmissionType,
    pub idempotency_key: String,
    pub payload_hash: String,
    pub request_id: String,
    pub status: IdempotencyStatus,
    pub submission_id: Option<SubmissionId>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Server-generated token of the request that last wrote the record (never client input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_token: Option<String>,
    /// Firestore TTL field: the record may be deleted after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl IdempotencyRecord {
    pub fn doc_id(submission_type: SubmissionType, effective_key: &str) -> String {
        format!("{}:{effective_key}", submission_type.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    Pending,
    Publishing,
    Sent,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Publishing => "publishing",
            Self::Sent => "sent",
        }
    }
}

/// The outbox row (collection `inscripciones_outbox`, id = submission id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRow {
    pub submission_id: SubmissionId,
    pub submission_type: SubmissionType,
    pub request_id: String,
    pub status: OutboxStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub publish_started_at: Option<DateTime<Utc>>,
    pub publish_lease_expires_at: Option<DateTime<Utc>>,
    pub publisher_request_id: Option<String>,
    pub last_error: Option<String>,
    pub attempt_count: i64,
    /// Firestore TTL field, set when the row is `sent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// W3C `traceparent` of the accepting request (an addition: the older system ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl OutboxRow {
    /// The row the API writes together with a new submission.
    pub fn for_new_submission(s: &Submission) -> Self {
        Self {
            submission_id: s.submission_id.clone(),
            submission_type: s.submission_type,
            request_id: s.request_id.clone(),
            status: OutboxStatus::Pending,
            created_at: s.created_at,
            updated_at: s.created_at,
            publish_started_at: None,
            publish_lease_expires_at: None,
            publisher_request_id: None,
            last_error: None,
            attempt_count: 0,
            expires_at: None,
            traceparent: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_row_serializes_with_the_reference_field_names() {
        let now = DateTime::parse_from_rfc3339("2026-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let row = OutboxRow {
            submission_id: SubmissionId::parse("AAAAAAAAAAAAAAAAAAAA").unwrap(),
            submission_type: SubmissionType::Delegacion,
            request_id: "r".into(),
            status: OutboxStatus::Pending,
            created_at: now,
            updated_at: now,
            publish_started_at: None,
            publish_lease_expires_at: None,
            publisher_request_id: None,
            last_error: None,
            attempt_count: 0,
            expires_at: None,
            traceparent: None,
        };
        let v = serde_json::to_value(&row).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "attempt_count",
                "created_at",
                "last_error",
                "publish_lease_expires_at",
                "publish_started_at",
                "publisher_request_id",
                "request_id",
                "status",
                "submission_id",
                "submission_type",
                "updated_at"
            ]
        );
        assert_eq!(v["status"], "pending");
        assert_eq!(v["submission_type"], "delegacion");
    }

    #[test]
    fn faculty_rows_written_with_nulls_by_the_older_system_still_load() {
        let row: FacultyRow = serde_json::from_value(serde_json::json!({
            "nombre": "Ana", "apellido": null, "edad": null, "celular": null, "correo": null,
            "pais": null, "ciudad_estado": null, "escolaridad": null, "escuela": "No aplica"
        }))
        .unwrap();
        assert_eq!(row.apellido, "");
        assert_eq!(row.edad, None);
    }
}
