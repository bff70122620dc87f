//! Rules of the operator commands (`registro admin`), kept pure like every other rule.
//!
//! `retry` re-drives a `failed` submission. That is only safe while nobody has registered the
//! same thing again since: the person who saw the error page usually posts again, and a retry
//! of the old submission would then give them a second sheet row and a second e-mail.

use crate::SubmissionId;
use crate::model::{IdempotencyRecord, Submission, SubmissionData};

/// The submission that replaced `sub`, if any:
/// - its idempotency record now points to another submission (a post without an explicit key
///   reopened it: `failed_submission_fallback_retry_reclaimed`), or
/// - a later submission of the same form goes to the same first e-mail address, compared
///   case-insensitively (the browser rotated its key after `registro_fallido` and the person
///   posted again, maybe with another receipt). The receipt alone is no sign: a school may pay
///   for several people with one transfer.
///
/// `record` is the idempotency record of `sub` (`IdempotencyRecord::doc_id(type, key)`),
/// `others` any set of submissions to compare with (`sub` itself among them is ignored).
pub fn superseded_by<'a>(
    sub: &Submission,
    record: Option<&IdempotencyRecord>,
    others: impl IntoIterator<Item = &'a Submission>,
) -> Option<SubmissionId> {
    if let Some(current) = record.and_then(|r| r.submission_id.as_ref())
        && *current != sub.submission_id
    {
        return Some(current.clone());
    }
    let email = first_email(&sub.data)?;
    others
        .into_iter()
        .filter(|o| {
            o.submission_id != sub.submission_id
                && o.submission_type == sub.submission_type
                && o.created_at > sub.created_at
        })
        .find(|o| first_email(&o.data).as_ref() == Some(&email))
        .map(|o| o.submission_id.clone())
}

/// The address the confirmation goes to, compared case-insensitively.
fn first_email(data: &SubmissionData) -> Option<String> {
    let e = match data {
        SubmissionData::Delegacion(d) => d.participantes.first().map(|p| p.correo.as_str()),
        SubmissionData::Faculty(f) => Some(f.faculty.correo.as_str()),
    }?;
    let e = e.trim().to_lowercase();
    (!e.is_empty()).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubmissionType;
    use crate::model::{IdempotencyStatus, ReceiptMeta};
    use crate::sheets::fixtures;
    use chrono::{Duration, TimeZone, Utc};

    fn sub(id: &str, minutes: i64, sha: &str, email: &str) -> Submission {
        let mut s = fixtures::individual();
        s.submission_id = SubmissionId::parse(id).unwrap();
        s.created_at =
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes);
        s.receipt = Some(ReceiptMeta {
            content_type: "application/pdf".into(),
            extension: ".pdf".into(),
            size_bytes: 10,
            sha256: sha.into(),
        });
        let SubmissionData::Delegacion(d) = &mut s.data else {
            unreachable!()
        };
        d.participantes[0].correo = email.into();
        s
    }

    fn record(points_to: &str) -> IdempotencyRecord {
        IdempotencyRecord {
            submission_type: SubmissionType::Delegacion,
            idempotency_key: "k".into(),
            payload_hash: "h".into(),
            request_id: "r".into(),
            status: IdempotencyStatus::Committed,
            submission_id: Some(SubmissionId::parse(points_to).unwrap()),
            created_at: Utc::now(),
            updated_at: None,
            owner_token: None,
            expires_at: None,
        }
    }

    /// (what, the record of the old submission, the others, who supersedes it)
    type Case = (
        &'static str,
        Option<IdempotencyRecord>,
        Vec<Submission>,
        Option<&'static str>,
    );

    const OLD: &str = "AAAAAAAAAAAAAAAAAAAA";
    const NEW: &str = "BBBBBBBBBBBBBBBBBBBB";

    #[test]
    fn item_02_a_submission_is_superseded_by_what_replaced_it_and_by_nothing_else() {
        let old = sub(OLD, 0, "s1", "ana@example.com");
        let cases: Vec<Case> = vec![
            ("its record points to it", Some(record(OLD)), vec![], None),
            (
                "its record was reopened",
                Some(record(NEW)),
                vec![],
                Some(NEW),
            ),
            ("no record, nothing later", None, vec![old.clone()], None),
            (
                "later, same receipt, someone else",
                Some(record(OLD)),
                vec![sub(NEW, 5, "s1", "otra@example.com")],
                None,
            ),
            (
                "later, same e-mail in other case",
                Some(record(OLD)),
                vec![sub(NEW, 5, "s2", " ANA@example.com")],
                Some(NEW),
            ),
            (
                "earlier, same e-mail",
                Some(record(OLD)),
                vec![sub(NEW, -5, "s1", "ana@example.com")],
                None,
            ),
        ];
        for (what, rec, others, want) in cases {
            assert_eq!(
                superseded_by(&old, rec.as_ref(), &others).map(|i| i.to_string()),
                want.map(str::to_owned),
                "{what}"
            );
        }
    }

    #[test]
    fn item_02_another_form_type_never_supersedes() {
        let old = sub(OLD, 0, "s1", "ana@example.com");
        let mut other = sub(NEW, 5, "s1", "ana@example.com");
        other.submission_type = SubmissionType::Faculty;
        assert_eq!(superseded_by(&old, None, [&other]), None);
    }
}
