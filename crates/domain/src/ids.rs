//! Identifier newtypes. Ids are made outside the domain (randomness is I/O) and parsed here.

use serde::{Deserialize, Serialize};
use std::fmt;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A submission id in Firestore's auto-id shape: 20 ASCII alphanumerics. It is also the outbox
/// row id, the folio shown to the user and the only variable part of the receipt's object name,
/// so it must never carry personal data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubmissionId(String);

impl SubmissionId {
    pub const LEN: usize = 20;

    /// Builds an id from random bytes supplied by the caller (uniform over the alphabet:
    /// bytes ≥ 248 are skipped by the caller's generator, see [`SubmissionId::accepts_byte`]).
    pub fn from_alphabet_indices(indices: [u8; Self::LEN]) -> Self {
        let s = indices
            .iter()
            .map(|i| ALPHABET[usize::from(*i) % ALPHABET.len()] as char)
            .collect();
        Self(s)
    }

    /// Rejection sampling helper for generators: a byte maps uniformly onto the 62-symbol
    /// alphabet only when it is below 248 (= 4 × 62).
    pub fn accepts_byte(b: u8) -> bool {
        b < 248
    }

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SubmissionId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<SubmissionId> for String {
    fn from(id: SubmissionId) -> Self {
        id.0
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid identifier")]
pub struct InvalidId;

/// A request id as it travels in logs, documents and messages. Client-supplied `X-Request-ID`
/// values are accepted only when short and plain, so they cannot inject into logs or traces;
/// otherwise the server generates one. It is *not* an ownership token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_LEN: usize = 128;

    /// Accepts 1–128 characters of `[A-Za-z0-9._-]`.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| Self(s.to_owned()))
    }

    /// Wraps a server-generated id (a UUID). Callers pass only values they generated.
    pub fn generated(uuid: String) -> Self {
        Self(uuid)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_ids_are_twenty_alphanumerics() {
        let id = SubmissionId::from_alphabet_indices([61; 20]);
        assert_eq!(id.as_str(), "99999999999999999999");
        assert!(SubmissionId::parse(id.as_str()).is_ok());
        assert!(SubmissionId::parse("short").is_err());
        assert!(SubmissionId::parse("aaaaaaaaaaaaaaaaaaa/").is_err());
    }

    #[test]
    fn request_ids_reject_long_or_odd_values() {
        assert!(RequestId::parse("abc-123_x.y").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("a b").is_none());
        assert!(RequestId::parse("x\n{\"severity\":\"ERROR\"}").is_none());
        assert!(RequestId::parse(&"a".repeat(129)).is_none());
        assert!(RequestId::parse(&"a".repeat(128)).is_some());
    }
}

/// The 32-hex trace id (lower case) of a trace id, or `None` unless it is one: 32 hex digits,
/// not all zero (W3C's invalid trace id).
pub fn trace_id(candidate: &str) -> Option<String> {
    (candidate.len() == 32
        && candidate.bytes().all(|b| b.is_ascii_hexdigit())
        && candidate.bytes().any(|b| b != b'0'))
    .then(|| candidate.to_ascii_lowercase())
}

/// The trace id of a W3C `traceparent` (`<version>-<trace id>-<parent id>-<flags>`).
pub fn traceparent_trace_id(traceparent: &str) -> Option<String> {
    trace_id(traceparent.split('-').nth(1)?)
}

#[cfg(test)]
mod trace_tests {
    use super::*;

    #[test]
    fn trace_ids_are_32_hex_digits_not_all_zero() {
        let tp = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
        assert_eq!(
            traceparent_trace_id(tp).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(traceparent_trace_id("00-zz-00f067aa0ba902b7-01"), None);
        assert_eq!(
            traceparent_trace_id(&format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32))),
            None
        );
        assert_eq!(traceparent_trace_id("garbage"), None);
        assert_eq!(trace_id(&"a".repeat(31)), None);
    }
}
