//! Parsing and validation of the two registration forms (reference/api.md §1–2), with the gaps
//! of §10 closed. Input is the raw multipart content; output is either the document to store
//! plus its fingerprint, or the first rule that failed, with its reference message.
//!
//! IMPLEMENTATION PENDING (helper): see the module-level contract in `RawForm`, `Validated`,
//! `Rejection`, `parse_delegaciones` and `parse_faculty`.

use crate::model::{SubmissionData, SubmissionType};
use crate::receipt::ValidReceipt;

/// The uploaded `comprobante` part.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// A multipart body as received: text fields in order (duplicates kept) and the file part.
#[derive(Debug, Clone, Default)]
pub struct RawForm {
    fields: Vec<(String, String)>,
    pub file: Option<Upload>,
}

impl RawForm {
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Last occurrence wins; the empty string counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A form that passed every rule.
#[derive(Debug, Clone)]
pub struct Validated {
    pub submission_type: SubmissionType,
    /// The trimmed explicit key, if the browser sent a usable one.
    pub explicit_key: Option<String>,
    /// Payload hash of reference/api.md §5.3 (also the fallback key).
    pub fingerprint: String,
    pub data: SubmissionData,
    pub receipt: ValidReceipt,
}

impl Validated {
    /// Explicit key, else the fingerprint.
    pub fn effective_key(&self) -> &str {
        self.explicit_key.as_deref().unwrap_or(&self.fingerprint)
    }
}

/// The first rule a form broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable machine-readable code (goes on the error redirect as `code=`).
    pub code: &'static str,
    /// The reference's Spanish message (logged as `reason`), or a new one for new rules.
    pub message: &'static str,
    /// Name of the offending field, when there is one (never its value).
    pub field: Option<String>,
}
