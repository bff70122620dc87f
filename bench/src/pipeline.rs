//! `registro-bench pipeline-latency`: how long the asynchronous pipeline of `registro serve`
//! takes from a submission's acceptance to its confirmation e-mail, read back from the data
//! directory after a load.
//!
//! The submissions come from `registro admin --data-dir DIR list --json` (`submission_id`,
//! `type`, `status`, `created_at` = the clock reading of the acceptance transaction). The
//! confirmation is the file mailer's JSON record
//! `DIR/mail/<type>-confirmation__<submission_id>.json`, whose `sent_at` the mailer stamps just
//! before it writes (and fsyncs) the message. Both clocks are the server's own wall clock.

use crate::stats::{self, Latency};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Options {
    pub registro_bin: PathBuf,
    pub data_dir: PathBuf,
    /// Longest wait for every submission to be completed.
    pub wait: Duration,
    /// Pause between two `admin list` calls while waiting.
    pub poll: Duration,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct PipelineReport {
    pub kind: &'static str,
    pub label: String,
    pub submissions: u64,
    pub completed: u64,
    pub not_completed: u64,
    /// Submissions whose confirmation e-mail record is absent (or unreadable).
    pub missing_confirmation: u64,
    /// `sent_at` of the confirmation − `created_at` of the submission, over every submission
    /// that has a confirmation record.
    pub latency_ms: Latency,
    /// Not-completed submissions by status (`pending`, `processing`, `failed`).
    pub not_completed_by_status: BTreeMap<String, u64>,
    /// From the first `admin list` to the one the figures come from.
    pub waited_s: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Listed {
    submission_id: String,
    #[serde(rename = "type")]
    submission_type: String,
    pub(crate) status: String,
    created_at: String,
}

#[derive(Debug, Deserialize)]
struct MailRecord {
    sent_at: String,
}

pub fn run(opts: &Options) -> Result<PipelineReport, String> {
    let started = Instant::now();
    let deadline = started + opts.wait;
    let mut listed = list(opts)?;
    loop {
        // Completed and failed are final (a failed submission only moves on an operator's
        // `admin retry`), so the wait ends as soon as nothing is pending or processing.
        let unfinished = listed
            .iter()
            .filter(|s| s.status != "completed" && s.status != "failed")
            .count();
        if unfinished == 0 {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "pipeline: {unfinished} of {} submissions still unfinished after {:?}",
                listed.len(),
                opts.wait
            );
            break;
        }
        eprintln!(
            "pipeline: {unfinished} of {} submissions unfinished, waiting",
            listed.len()
        );
        std::thread::sleep(
            opts.poll
                .min(deadline.saturating_duration_since(Instant::now())),
        );
        listed = list(opts)?;
    }
    let waited = started.elapsed();

    let mail_dir = opts.data_dir.join("mail");
    let mut samples = Vec::with_capacity(listed.len());
    let mut missing = 0u64;
    let mut completed = 0u64;
    let mut not_completed_by_status = BTreeMap::new();
    for s in &listed {
        if s.status == "completed" {
            completed += 1;
        } else {
            *not_completed_by_status.entry(s.status.clone()).or_insert(0) += 1;
        }
        match confirmation_latency(&mail_dir, s) {
            Ok(Some(d)) => samples.push(d),
            Ok(None) => missing += 1,
            Err(why) => {
                eprintln!("pipeline: {}: {why}", s.submission_id);
                missing += 1;
            }
        }
    }
    let submissions = listed.len() as u64;
    Ok(PipelineReport {
        kind: "pipeline",
        label: opts.label.clone(),
        submissions,
        completed,
        not_completed: submissions - completed,
        missing_confirmation: missing,
        latency_ms: stats::summarize(&mut samples),
        not_completed_by_status,
        waited_s: (waited.as_secs_f64() * 1e3).round() / 1e3,
    })
}

/// Every submission, through `registro admin --data-dir DIR list --json`.
pub(crate) fn list(opts: &Options) -> Result<Vec<Listed>, String> {
    let out = Command::new(&opts.registro_bin)
        .arg("admin")
        .arg("--data-dir")
        .arg(&opts.data_dir)
        .args(["list", "--json"])
        .output()
        .map_err(|e| format!("running {}: {e}", opts.registro_bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "registro admin list failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("parsing admin list --json: {e}"))
}

/// `sent_at − created_at`, or `None` when the confirmation has not been written.
fn confirmation_latency(mail_dir: &Path, s: &Listed) -> Result<Option<Duration>, String> {
    let path = mail_dir.join(format!(
        "{}-confirmation__{}.json",
        s.submission_type, s.submission_id
    ));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let record: MailRecord =
        serde_json::from_slice(&bytes).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    let created =
        rfc3339_nanos(&s.created_at).ok_or_else(|| format!("bad created_at {:?}", s.created_at))?;
    let sent = rfc3339_nanos(&record.sent_at)
        .ok_or_else(|| format!("bad sent_at {:?}", record.sent_at))?;
    let delta = sent - created;
    if delta < 0 {
        return Err(format!(
            "confirmation sent_at {} before created_at {}",
            record.sent_at, s.created_at
        ));
    }
    Ok(Some(Duration::from_nanos(delta as u64)))
}

/// Nanoseconds since the Unix epoch of an RFC 3339 timestamp
/// (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`). Small on purpose: the bench needs only these
/// two timestamps and no date library.
pub fn rfc3339_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // A leap second (:60) counts as the next second's start, good enough for a latency.
    if second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b[i] == b'.' {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            return None;
        }
        // Digits past the ninth are below a nanosecond.
        let digits = &s[start..end.min(start + 9)];
        nanos = digits.parse::<i128>().ok()? * 10i128.pow(9 - digits.len() as u32);
        i = end;
    }
    let offset_secs: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs as i128 * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn parses_rfc3339_in_the_forms_the_server_writes() {
        assert_eq!(rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_nanos("1970-01-01T00:00:01+00:00"), Some(S));
        // `date -u -d 2026-11-22T05:43:04Z +%s` = 1795326184
        assert_eq!(
            rfc3339_nanos("2026-11-22T05:43:04Z"),
            Some(1_795_326_184 * S)
        );
        assert_eq!(
            rfc3339_nanos("2026-11-22T05:43:04.123456789Z"),
            Some(1_795_326_184 * S + 123_456_789)
        );
        assert_eq!(
            rfc3339_nanos("2026-11-22T05:43:04.5+00:00"),
            Some(1_795_326_184 * S + 500_000_000)
        );
        assert_eq!(
            rfc3339_nanos("2026-11-22T06:43:04.000001+01:00"),
            Some(1_795_326_184 * S + 1_000)
        );
        assert_eq!(
            rfc3339_nanos("2026-11-22T00:13:04-05:30"),
            Some(1_795_326_184 * S)
        );
        // Leap day, and sub-nanosecond digits dropped.
        assert_eq!(
            rfc3339_nanos("2024-02-29T00:00:00.0000000019Z"),
            Some(1_709_164_800 * S + 1)
        );
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T05:43:04",
            "2026-11-22T05:43:04.Z",
            "2026-13-22T05:43:04Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T05:43:04+0100",
            "2026-11-22T05:43:04Zjunk",
            "2026/11/22T05:43:04Z",
            "2026-11-22T05:4a:04Z",
        ] {
            assert_eq!(rfc3339_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn latency_from_the_confirmation_record() {
        let dir = std::env::temp_dir().join(format!("registro-bench-pl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let listed = |id: &str| Listed {
            submission_id: id.into(),
            submission_type: "delegacion".into(),
            status: "completed".into(),
            created_at: "2026-11-22T05:43:04.100000000Z".into(),
        };
        std::fs::write(
            dir.join("delegacion-confirmation__A1.json"),
            r#"{"id":"local-x","idempotency_key":"delegacion-confirmation/A1","kind":"resend_confirmation","sent_at":"2026-11-22T05:43:04.350+00:00"}"#,
        )
        .unwrap();
        assert_eq!(
            confirmation_latency(&dir, &listed("A1")),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(confirmation_latency(&dir, &listed("B2")), Ok(None));
        std::fs::write(
            dir.join("delegacion-confirmation__C3.json"),
            r#"{"sent_at":"2026-11-22T05:43:04Z"}"#,
        )
        .unwrap();
        assert!(confirmation_latency(&dir, &listed("C3")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
